@testable import CompactServiceKit
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An HTTP response as the tests see it.
struct HTTPResult {
    var status: Int
    var headers: [String: String]  // lower-cased names
    var body: [UInt8]

    var text: String { String(decoding: body, as: UTF8.self) }
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:] }
    func header(_ name: String) -> String? { headers[name.lowercased()] }
}

/// A tiny blocking HTTP/1.1 client over a socket: one request per connection (`Connection: close`),
/// so the tests speak real HTTP to the real server without URLSession's machinery.
struct HTTPClient {
    let port: UInt16

    func request(_ method: String, _ path: String, body: [UInt8]? = nil, contentType: String? = nil,
                 headers: [(String, String)] = [], rawHead: String? = nil) throws -> HTTPResult {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestError("socket failed") }
        defer { close(fd) }
        var tv = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        guard HTTPClient.connectLoopback(fd, port: port) else { throw TestError("connect failed: \(errno)") }
        var head = rawHead ?? "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        if rawHead == nil {
            if let contentType { head += "Content-Type: \(contentType)\r\n" }
            if let body { head += "Content-Length: \(body.count)\r\n" }
            for (k, v) in headers { head += "\(k): \(v)\r\n" }
            head += "\r\n"
        }
        var out = Array(head.utf8)
        if let body { out += body }
        try sendAll(fd, out)
        var data: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buf, buf.count, 0)
            if n <= 0 { break }
            data += buf[0..<n]
        }
        return try HTTPClient.parse(data)
    }

    /// Connects a TCP socket to 127.0.0.1:port.
    static func connectLoopback(_ fd: Int32, port: UInt16) -> Bool {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    func sendAll(_ fd: Int32, _ bytes: [UInt8]) throws {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }  // the server may close early (413); the answer is still readable
            off += n
        }
    }

    func get(_ path: String) throws -> HTTPResult { try request("GET", path) }

    func post(_ path: String, json: String, headers: [(String, String)] = []) throws -> HTTPResult {
        try request("POST", path, body: Array(json.utf8), contentType: "application/json", headers: headers)
    }

    func put(_ path: String, text: String) throws -> HTTPResult {
        try request("PUT", path, body: Array(text.utf8), contentType: "text/plain")
    }

    func delete(_ path: String) throws -> HTTPResult { try request("DELETE", path) }

    static func parse(_ data: [UInt8]) throws -> HTTPResult {
        guard let sep = findCRLFCRLF(data) else { throw TestError("no header end in \(data.count) bytes") }
        let head = String(decoding: data[0..<sep], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { throw TestError("bad status line") }
        var headers: [String: String] = [:]
        for l in lines {
            guard let c = l.firstIndex(of: ":") else { continue }
            headers[l[..<c].lowercased()] = l[l.index(after: c)...].trimmingCharacters(in: .whitespaces)
        }
        var body = Array(data[(sep + 4)...])
        if headers["transfer-encoding"]?.lowercased() == "chunked" { body = dechunk(body) }
        return HTTPResult(status: status, headers: headers, body: body)
    }

    static func findCRLFCRLF(_ d: [UInt8]) -> Int? {
        guard d.count >= 4 else { return nil }
        for i in 0...(d.count - 4) where d[i] == 13 && d[i + 1] == 10 && d[i + 2] == 13 && d[i + 3] == 10 { return i }
        return nil
    }

    static func dechunk(_ b: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [], i = 0
        while i < b.count {
            var j = i
            while j + 1 < b.count, !(b[j] == 13 && b[j + 1] == 10) { j += 1 }
            let size = Int(String(decoding: b[i..<j], as: UTF8.self).split(separator: ";").first ?? "0", radix: 16) ?? 0
            if size == 0 { break }
            out += b[(j + 2)..<min(b.count, j + 2 + size)]
            i = j + 2 + size + 2
        }
        return out
    }
}

struct TestError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// The real server, in-process, on an ephemeral port.
final class TestServer {
    let server: Server
    let port: UInt16
    var client: HTTPClient { HTTPClient(port: port) }

    init(configure: (inout ServerConfig) -> Void = { _ in }) throws {
        var c = ServerConfig()
        c.port = 0
        c.threads = 2
        c.logLevel = .warning
        c.memoryBudget = 8 << 30
        c.shutdownTimeoutSeconds = 5
        configure(&c)
        server = Server(config: c)
        port = try server.start()
    }

    func stop() { server.stop() }

    /// Creates a machine and returns its description.
    @discardableResult
    func createMachine(_ name: String, memoryMiB: Int = 256, extra: String = "") throws -> HTTPResult {
        try client.post("/v1/machines", json: "{\"name\":\"\(name)\",\"memory_mib\":\(memoryMiB)\(extra)}")
    }
}
