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
    /// The `Host` and `Origin` headers (`AccessPolicy`).
    var host: String?
    var origin: String?
    /// Who the rate limit counts this request against: its bearer token or, without one, its address.
    var client = ""

    init(method: String, path: String, contentType: String? = nil, authorization: String? = nil,
         requestID: String = "test", body: [UInt8] = [], query: [String: String] = [:], host: String? = nil,
         origin: String? = nil, client: String = "") {
        self.host = host
        self.origin = origin
        self.client = client
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

    /// A process prefix's 8 hex digits, formatted once: the id's first 8 bytes, as one word.
    struct Prefix: Sendable {
        /// The digits as the bytes of a UInt64 in memory order (the first digit in the lowest byte).
        let digits: UInt64

        init(_ value: UInt32) {
            var d: UInt64 = 0
            for i in 0..<8 {
                let nibble = (value >> UInt32(28 - 4 * i)) & 0xF
                d |= UInt64(RequestID.hexDigit(UInt8(nibble))) << UInt64(8 * i)
            }
            digits = UInt64(littleEndian: d)
        }
    }

    /// Writes the generated id into `buf` (`maxGeneratedLength` bytes are always enough); returns its length.
    static func write(prefix: Prefix, number n: UInt64, into buf: UnsafeMutableBufferPointer<UInt8>) -> Int {
        let nd = max(1, (64 - n.leadingZeroBitCount + 3) / 4)
        precondition(buf.count >= 9 + nd)
        let p = buf.baseAddress!
        UnsafeMutableRawPointer(p).storeBytes(of: prefix.digits, as: UInt64.self)
        p[8] = UInt8(ascii: "-")
        var v = n
        var i = 8 + nd
        while i > 8 {
            p[i] = hexDigit(UInt8(truncatingIfNeeded: v & 0xF))
            v >>= 4
            i -= 1
        }
        return 9 + nd
    }

    /// The generated id as a NUL-terminated C string on the stack, for the duration of `body`.
    @inline(__always) static func withCString<R>(prefix: Prefix, number: UInt64, _ body: (UnsafePointer<CChar>) -> R) -> R {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: maxGeneratedLength + 1) { buf in
            let n = write(prefix: prefix, number: number, into: buf)
            buf[n] = 0
            return UnsafeRawPointer(buf.baseAddress!).withMemoryRebound(to: CChar.self, capacity: n + 1) { body($0) }
        }
    }

    @inline(__always) private static func hexDigit(_ d: UInt8) -> UInt8 { d < 10 ? 0x30 &+ d : 0x57 &+ d }

    static func generated(prefix: Prefix, number: UInt64) -> String {
        let nd = max(1, (64 - number.leadingZeroBitCount + 3) / 4)
        // The exact capacity: up to 15 bytes the String is then stored inline, with no allocation.
        return String(unsafeUninitializedCapacity: 9 + nd) { write(prefix: prefix, number: number, into: $0) }
    }

    /// Whether a client's X-Request-ID (a NUL-terminated header value) is kept: 1...128 bytes, each a
    /// visible ASCII character.
    static func isSane(_ s: UnsafePointer<CChar>) -> Bool {
        var i = 0
        while true {
            let c = UInt8(bitPattern: s[i])
            if c == 0 { return i > 0 }
            guard c > 0x20 && c < 0x7F && i < 128 else { return false }
            i += 1
        }
    }

    /// The client's X-Request-ID as a String when it is kept, else nil.
    static func sanitized(_ s: UnsafePointer<CChar>?) -> String? {
        guard let s, isSane(s) else { return nil }
        return String(cString: s)
    }
}
