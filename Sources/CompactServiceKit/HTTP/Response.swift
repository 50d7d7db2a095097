import MMFormat

/// Bytes that live as long as the process, handed to libmicrohttpd without a copy
/// (`MHD_RESPMEM_PERSISTENT`). Used for fixed answers such as /healthz.
final class StaticBytes: Sendable {
    /// The address as an integer: raw pointers are not Sendable, but this memory is written once in
    /// `init` and never written or freed afterwards, so sharing its address between threads is safe.
    let address: UInt
    let count: Int

    init(_ bytes: [UInt8]) {
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
        bytes.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        address = UInt(bitPattern: p)
        count = bytes.count
    }

    convenience init(_ s: String) { self.init(Array(s.utf8)) }

    // No deinit: the memory is meant to outlive every response that points at it.
}

/// An HTTP response: status, content type, extra headers and a body.
struct Response: Sendable {
    enum Body: Sendable {
        case bytes([UInt8])
        case persistent(StaticBytes)
    }

    var status: Int
    var contentType: String?
    var headers: [(String, String)] = []
    var body: Body

    init(status: Int, contentType: String?, body: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.body = .bytes(body)
    }

    init(status: Int, contentType: String?, persistent: StaticBytes) {
        self.status = status
        self.contentType = contentType
        self.body = .persistent(persistent)
    }

    static func json(_ status: Int = 200, _ w: JSONWriter) -> Response {
        Response(status: status, contentType: "application/json", body: w.bytes)
    }

    static func text(_ s: String, status: Int = 200) -> Response {
        Response(status: status, contentType: "text/plain; charset=utf-8", body: Array(s.utf8))
    }

    static func noContent() -> Response { Response(status: 204, contentType: nil, body: []) }

    var bodyCount: Int {
        switch body {
        case .bytes(let b): return b.count
        case .persistent(let s): return s.count
        }
    }
}
