#if canImport(Glibc)
import Glibc
#endif

/// A peer instance's base URL (`http://host:port`, from `--peers`): plain HTTP, as the instances of
/// one fleet talk on a private network behind their front.
struct PeerURL: Sendable, Equatable, CustomStringConvertible {
    let host: String
    let port: UInt16

    /// `http://host[:port][/]`; nil for anything else (https, a path, a user part, a bad port).
    init?(_ text: String) {
        var s = Substring(text)
        guard s.hasPrefix("http://") else { return nil }
        s = s.dropFirst(7)
        if s.hasSuffix("/") { s = s.dropLast() }
        guard !s.isEmpty, !s.contains("/"), !s.contains("@"), !s.contains("?") else { return nil }
        if let colon = s.lastIndex(of: ":"), !s.hasSuffix("]") {
            guard let p = UInt16(s[s.index(after: colon)...]), p > 0 else { return nil }
            host = String(s[..<colon])
            port = p
        } else {
            host = String(s)
            port = 80
        }
        guard !host.isEmpty, host.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
    }

    var description: String { port == 80 ? "http://\(host)" : "http://\(host):\(port)" }
    var authority: String { port == 80 ? host : "\(host):\(port)" }
}

/// Why a peer did not answer.
public struct PeerError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

/// The least HTTP/1.1 client the fleet views need: one GET, `Connection: close`, the whole answer read
/// (Content-Length, chunked, or to the end), a deadline on connecting and on every read. Blocking: it
/// runs on a request worker, never on an HTTP thread.
enum PeerClient {
    /// Largest answer taken from a peer (a list of 64 machines is a few hundred KiB).
    static let maxAnswerBytes = 64 << 20

    static func get(_ peer: PeerURL, _ path: String, authorization: String?, timeoutMs: Int) -> Result<(status: Int, body: [UInt8]), PeerError> {
        request(peer, "GET", path, body: nil, authorization: authorization, timeoutMs: timeoutMs)
    }

    /// One request; a body goes as `application/json`.
    static func request(_ peer: PeerURL, _ method: String, _ path: String, body: [UInt8]?, authorization: String?,
                        timeoutMs: Int) -> Result<(status: Int, body: [UInt8]), PeerError> {
        let fd: Int32
        switch connect(peer, timeoutMs: timeoutMs) {
        case .success(let f): fd = f
        case .failure(let e): return .failure(e)
        }
        defer { close(fd) }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(peer.authority)\r\nAccept: application/json\r\nConnection: close\r\n"
        if let authorization { head += "Authorization: \(authorization)\r\n" }
        if let body { head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n" }
        head += "\r\n"
        let bytes = Array(head.utf8) + (body ?? [])
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return .failure(PeerError(description: "sending to \(peer): \(errnoText())")) }
            sent += n
        }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { break }
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(PeerError(description: errno == EAGAIN ? "\(peer) did not answer within \(timeoutMs) ms" : "reading from \(peer): \(errnoText())"))
            }
            answer.append(contentsOf: buffer[0..<n])
            if answer.count > maxAnswerBytes { return .failure(PeerError(description: "\(peer)'s answer exceeds \(maxAnswerBytes) bytes")) }
        }
        return parse(answer).mapError { PeerError(description: "\(peer): \($0.description)") }
    }

    /// A socket connected to the peer (each of its addresses tried in turn), with its deadlines set.
    private static func connect(_ peer: PeerURL, timeoutMs: Int) -> Result<Int32, PeerError> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(peer.host, String(peer.port), &hints, &list)
        guard rc == 0, let first = list else {
            return .failure(PeerError(description: "\(peer): cannot resolve \(peer.host) (\(String(cString: gai_strerror(rc))))"))
        }
        defer { freeaddrinfo(first) }
        var tv = timeval(tv_sec: timeoutMs / 1000, tv_usec: (timeoutMs % 1000) * 1000)
        var last = "no address"
        var a: UnsafeMutablePointer<addrinfo>? = first
        while let ai = a {
            a = ai.pointee.ai_next
            let fd = socket(ai.pointee.ai_family, ai.pointee.ai_socktype, ai.pointee.ai_protocol)
            if fd < 0 { last = errnoText(); continue }
            // On Linux SO_SNDTIMEO bounds connect() too.
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            if Glibc.connect(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 { return .success(fd) }
            last = errno == EINPROGRESS || errno == EAGAIN ? "no connection within \(timeoutMs) ms" : errnoText()
            close(fd)
        }
        return .failure(PeerError(description: "connecting to \(peer): \(last)"))
    }

    /// Status and body of a whole HTTP/1.1 answer.
    static func parse(_ answer: [UInt8]) -> Result<(status: Int, body: [UInt8]), PeerError> {
        guard let end = headerEnd(answer) else { return .failure(PeerError(description: "an incomplete answer")) }
        let head = String(decoding: answer[..<end], as: UTF8.self)
        let lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusParts = lines.first?.split(separator: " ", maxSplits: 2) ?? []
        guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/1."), let status = Int(statusParts[1]) else {
            return .failure(PeerError(description: "not an HTTP answer"))
        }
        var length: Int?
        var chunked = false
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            let value = String(line[line.index(after: colon)...]).trimmingASCIIWhitespace()
            if name == "content-length" { length = Int(value) }
            if name == "transfer-encoding" && value.lowercased().contains("chunked") { chunked = true }
        }
        let body = Array(answer[(end + 4)...])
        if chunked { return dechunk(body).map { (status, $0) } }
        if let length {
            guard body.count >= length else { return .failure(PeerError(description: "the answer ended after \(body.count) of \(length) bytes")) }
            return .success((status, Array(body.prefix(length))))
        }
        return .success((status, body))
    }

    private static func headerEnd(_ a: [UInt8]) -> Int? {
        guard a.count >= 4 else { return nil }
        for i in 0...(a.count - 4) where a[i] == 13 && a[i + 1] == 10 && a[i + 2] == 13 && a[i + 3] == 10 { return i }
        return nil
    }

    /// A chunked body's data (chunk extensions and trailers ignored).
    static func dechunk(_ b: [UInt8]) -> Result<[UInt8], PeerError> {
        var out: [UInt8] = []
        var i = 0
        while true {
            var j = i
            while j + 1 < b.count, !(b[j] == 13 && b[j + 1] == 10) { j += 1 }
            guard j + 1 < b.count else { return .failure(PeerError(description: "a chunked answer ended early")) }
            let sizeText = String(decoding: b[i..<j], as: UTF8.self).split(separator: ";").first.map(String.init) ?? ""
            guard let size = Int(sizeText.trimmingASCIIWhitespace(), radix: 16), size >= 0 else {
                return .failure(PeerError(description: "a bad chunk size"))
            }
            i = j + 2
            if size == 0 { return .success(out) }
            guard i + size <= b.count else { return .failure(PeerError(description: "a chunked answer ended early")) }
            out.append(contentsOf: b[i..<(i + size)])
            i += size + 2
        }
    }

    private static func errnoText() -> String { String(cString: strerror(errno)) }
}
