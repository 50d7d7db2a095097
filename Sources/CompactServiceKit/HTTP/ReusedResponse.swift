import CHTTPD
#if canImport(Glibc)
import Glibc
#endif

/// One connection's last 200 answer to a GET, kept as an MHD response (body and headers) so that the
/// next request on the connection that gets the same answer re-queues it with only its X-Request-ID
/// swapped. libmicrohttpd allows a response to be queued any number of times; building one costs an
/// allocation and a copy of the body, and each header a calloc and two strdups, freed again with the
/// response: ~1k instructions per header, ~8k per /v1/machines/{name}/stats answer (six headers)
/// and ~4k per /healthz, which a client polling on a keep-alive connection (the dashboard, a
/// monitor, `make bench-http`) paid on every request.
///
/// Reached through MHD's socket context (`MHDServer`'s NOTIFY_CONNECTION callback creates it when the
/// connection opens and releases it when it closes), so it is used by the connection's thread only,
/// one callback at a time, and needs no lock. A request on the connection is answered only after the
/// previous one completed, so the response is never changed while it is being sent.
final class ConnectionState {
    /// A body larger than this is not kept: a kept body is an old generation's document once the
    /// machine changes, held until the connection's next answer or its close and not charged against
    /// --memory-budget, so at most this much per open connection.
    static let maxKeptBody = 32 << 10
    /// Longest X-Request-ID (`RequestID.isSane`: 128 bytes).
    static let maxID = 128

    /// The kept response (this object holds one reference), or nil.
    private(set) var response: OpaquePointer?
    /// What the kept response answers: the fixed answer's slot, or -1 with the fields below.
    private var fixedSlot = -1
    private var status = 0
    private var contentType: String?
    private var headers: [(String, String)] = []
    /// The body's address and length. The bytes are kept alive by the response (`BodyOwner`), so the
    /// address cannot be reused for other bytes while it is compared against.
    private var bodyAddress: UInt = 0
    private var bodyCount = 0
    /// The X-Request-ID value on the kept response, NUL-terminated (empty: none yet).
    private let id = UnsafeMutablePointer<CChar>.allocate(capacity: ConnectionState.maxID + 1)

    init() { id[0] = 0 }

    deinit {
        if let response { MHD_destroy_response(response) }
        id.deallocate()
    }

    /// The kept response when it answers fixed answer `slot`.
    func fixed(_ slot: Int) -> OpaquePointer? { fixedSlot == slot ? response : nil }

    /// The kept response when it is this answer: the same status, Content-Type, headers (in order)
    /// and body bytes (the same memory: cached documents are never written after they are cached).
    func document(status: Int, contentType: String?, headers: [(String, String)], body: UInt, count: Int) -> OpaquePointer? {
        guard let response, fixedSlot < 0, self.status == status, bodyAddress == body, bodyCount == count,
              self.contentType == contentType, self.headers.count == headers.count else { return nil }
        for (a, b) in zip(self.headers, headers) where a.0 != b.0 || a.1 != b.1 { return nil }
        return response
    }

    /// Keeps `response` (taking over the caller's reference) for fixed answer `slot`.
    func keep(_ response: OpaquePointer, fixedSlot slot: Int) {
        replace(response)
        fixedSlot = slot
    }

    /// Keeps `response` (taking over the caller's reference) for this answer.
    func keep(_ response: OpaquePointer, status: Int, contentType: String?, headers: [(String, String)], body: UInt, count: Int) {
        replace(response)
        self.status = status
        self.contentType = contentType
        self.headers = headers
        bodyAddress = body
        bodyCount = count
    }

    private func replace(_ r: OpaquePointer) {
        if let response { MHD_destroy_response(response) }
        response = r
        fixedSlot = -1
        status = 0
        contentType = nil
        headers = []
        bodyAddress = 0
        bodyCount = 0
        id[0] = 0
    }

    /// Puts `value` (NUL-terminated, at most `maxID` bytes) on the kept response as its X-Request-ID,
    /// in place of the previous request's.
    func setRequestID(_ value: UnsafePointer<CChar>) {
        guard let response else { return }
        if id[0] != 0 { MHD_del_response_header(response, cString("X-Request-ID"), id) }
        let n = min(strlen(value), ConnectionState.maxID)
        UnsafeMutableRawPointer(id).copyMemory(from: value, byteCount: n)
        id[n] = 0
        MHD_add_response_header(response, cString("X-Request-ID"), id)
    }
}

/// Keeps a document's bytes alive for as long as an MHD response points at them
/// (`MHD_create_response_from_buffer_with_free_callback_cls`, released by `releaseBody`).
final class BodyOwner {
    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }
}

let releaseBody: MHD_ContentReaderFreeCallback = { cls in
    guard let cls else { return }
    Unmanaged<BodyOwner>.fromOpaque(cls).release()
}

/// MHD_OPTION_NOTIFY_CONNECTION: a `ConnectionState` per connection, from open to close.
let connectionNotify: MHD_NotifyConnectionCallback = { _, _, socketContext, code in
    guard let socketContext else { return }
    if code.rawValue == 0 {  // MHD_CONNECTION_NOTIFY_STARTED
        socketContext.pointee = Unmanaged.passRetained(ConnectionState()).toOpaque()
    } else if code.rawValue == 1, let p = socketContext.pointee {
        socketContext.pointee = nil
        Unmanaged<ConnectionState>.fromOpaque(p).release()  // MHD_CONNECTION_NOTIFY_CLOSED
    }
}
