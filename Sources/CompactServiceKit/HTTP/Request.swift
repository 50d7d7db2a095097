/// One HTTP request as the router sees it: everything copied out of libmicrohttpd, so it is a plain
/// `Sendable` value that can cross to a worker thread.
struct Request: Sendable {
    var method: String
    /// The decoded path without the query string.
    var path: String
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
/// one is generated from a per-process random prefix and a counter (unique, cheap, no syscall).
enum RequestID {
    static func sanitized(_ s: String?) -> String? {
        guard let s, (1...128).contains(s.utf8.count), s.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        return s
    }
}
