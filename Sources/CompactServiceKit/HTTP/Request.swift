/// One HTTP request as the router sees it: everything copied out of libmicrohttpd, so it is a plain
/// `Sendable` value that can cross to a worker thread.
struct Request: Sendable {
    var method: String
    /// The decoded path without the query string.
    var path: String
    /// Content-Type and Authorization: the HTTP layer reads them only for requests that change state
    /// (nil for GET and HEAD, whose routes read no body and need no token).
    var contentType: String?
    var authorization: String?
    /// The X-Request-ID echoed in the response and logged: the client's (when it is sane) or generated.
    var requestID: String
    var body: [UInt8]
    /// Query arguments (`?wait=true&format=csv`), decoded; the last of a repeated key wins.
    var query: [String: String]

    init(method: String, path: String, contentType: String? = nil, authorization: String? = nil,
         requestID: String = "test", body: [UInt8] = [], query: [String: String] = [:]) {
        self.method = method
        self.path = path
        self.query = query
        self.contentType = contentType
        self.authorization = authorization
        self.requestID = requestID
        self.body = body
    }

    /// The media type without parameters, lower-cased (`application/json; charset=utf-8` → `application/json`).
    var mediaType: String? {
        guard let ct = contentType else { return nil }
        let base = ct.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let t = String(base).trimmingASCIIWhitespace().lowercased()
        return t.isEmpty ? nil : t
    }

    var isMutating: Bool { method != "GET" && method != "HEAD" }
}

/// Request ids: a client's X-Request-ID is kept when it is 1..128 visible ASCII characters; otherwise
/// one is generated from a per-process random prefix and a number (unique, cheap, no syscall):
/// `<8 hex digits of the prefix>-<the number in hex>`.
enum RequestID {
    static let maxGeneratedLength = 8 + 1 + 16

    /// Writes the generated id into `buf` (`maxGeneratedLength` bytes are always enough); returns its length.
    static func write(prefix: UInt32, number n: UInt64, into buf: UnsafeMutableBufferPointer<UInt8>) -> Int {
        let nd = max(1, (64 - n.leadingZeroBitCount + 3) / 4)
        precondition(buf.count >= 9 + nd)
        let p = buf.baseAddress!
        var x = prefix
        for i in stride(from: 7, through: 0, by: -1) {
            p[i] = hexDigit(UInt8(truncatingIfNeeded: x & 0xF))
            x >>= 4
        }
        p[8] = UInt8(ascii: "-")
        var v = n
        for i in stride(from: 8 + nd, to: 8, by: -1) {
            p[i] = hexDigit(UInt8(truncatingIfNeeded: v & 0xF))
            v >>= 4
        }
        return 9 + nd
    }

    @inline(__always) private static func hexDigit(_ d: UInt8) -> UInt8 { d < 10 ? 0x30 &+ d : 0x57 &+ d }

    static func generated(prefix: UInt32, number: UInt64) -> String {
        let nd = max(1, (64 - number.leadingZeroBitCount + 3) / 4)
        // The exact capacity: up to 15 bytes the String is then stored inline, with no allocation.
        return String(unsafeUninitializedCapacity: 9 + nd) { write(prefix: prefix, number: number, into: $0) }
    }

    static func sanitized(_ s: String?) -> String? {
        guard let s, (1...128).contains(s.utf8.count), s.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        return s
    }
}
