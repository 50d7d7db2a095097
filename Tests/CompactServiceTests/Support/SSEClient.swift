@testable import CompactServiceKit
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One Server-Sent Events block as the tests see it.
struct SSEEvent {
    var id: UInt64?
    /// `event:` (`message` when absent); `:comment` for a comment-only block, `:retry` for `retry:`.
    var name: String
    var data: String
    /// Monotonic time the block was parsed (ns).
    var at: UInt64

    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(data.utf8))) as? [String: Any] ?? [:] }
}

/// A blocking SSE client over a socket: sends the request, parses the head, then decodes the chunked
/// body incrementally and splits it into events.
final class SSEClient {
    let fd: Int32
    private(set) var status = 0
    private(set) var headers: [String: String] = [:]
    /// Whether the server sent the last chunk (or closed the connection).
    private(set) var ended = false
    private var raw: [UInt8] = []
    private var text: [UInt8] = []

    init(port: UInt16, path: String, headers extra: [(String, String)] = []) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestError("socket failed") }
        guard HTTPClient.connectLoopback(fd, port: port) else { close(fd); throw TestError("connect failed: \(errno)") }
        var head = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
        for (k, v) in extra { head += "\(k): \(v)\r\n" }
        head += "\r\n"
        try HTTPClient(port: port).sendAll(fd, Array(head.utf8))
        // The head.
        let deadline = monotonicNs() + 10_000_000_000
        while HTTPClient.findCRLFCRLF(raw) == nil {
            guard try fill(deadline: deadline) else { throw TestError("no response head") }
        }
        let sep = HTTPClient.findCRLFCRLF(raw)!
        let parsed = try HTTPClient.parse(Array(raw[0..<(sep + 4)]))
        status = parsed.status
        headers = parsed.headers
        raw.removeFirst(sep + 4)
    }

    deinit { close(fd) }

    func header(_ name: String) -> String? { headers[name.lowercased()] }

    /// Reads more bytes; false on EOF or when the deadline passes.
    private func fill(deadline: UInt64) throws -> Bool {
        let now = monotonicNs()
        guard now < deadline else { return false }
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ms = Int32(min(UInt64(Int32.max), (deadline - now) / 1_000_000 + 1))
        guard poll(&p, 1, ms) > 0 else { return false }
        var buf = [UInt8](repeating: 0, count: 65536)
        let n = recv(fd, &buf, buf.count, 0)
        if n <= 0 { ended = true; return false }
        raw += buf[0..<n]
        return true
    }

    /// Moves complete chunks from `raw` to `text`.
    private func dechunk() {
        while !ended {
            guard let lineEnd = find(raw, [13, 10], from: 0) else { return }
            let sizeText = String(decoding: raw[0..<lineEnd], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else { ended = true; return }
            if size == 0 { ended = true; return }
            guard raw.count >= lineEnd + 2 + size + 2 else { return }
            text += raw[(lineEnd + 2)..<(lineEnd + 2 + size)]
            raw.removeFirst(lineEnd + 2 + size + 2)
        }
    }

    private func find(_ hay: [UInt8], _ needle: [UInt8], from: Int) -> Int? {
        guard hay.count >= needle.count else { return nil }
        var i = from
        while i <= hay.count - needle.count {
            if hay[i] == needle[0] && Array(hay[i..<(i + needle.count)]) == needle { return i }
            i += 1
        }
        return nil
    }

    /// The next block (event, comment or retry), or nil when the stream ended or `timeout` passed.
    func next(timeout: Double = 5) throws -> SSEEvent? {
        let deadline = monotonicNs() + UInt64(timeout * 1e9)
        while true {
            dechunk()
            if let end = find(text, [10, 10], from: 0) {
                let block = String(decoding: text[0..<end], as: UTF8.self)
                text.removeFirst(end + 2)
                var e = SSEEvent(id: nil, name: "message", data: "", at: monotonicNs())
                var sawField = false
                for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
                    if line.hasPrefix(":") {
                        if !sawField { e.name = ":comment"; e.data = String(line.dropFirst()).trimmingCharacters(in: .whitespaces) }
                        continue
                    }
                    sawField = true
                    let parts = line.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                    let key = String(parts[0])
                    var value = parts.count > 1 ? String(parts[1]) : ""
                    if value.hasPrefix(" ") { value.removeFirst() }
                    switch key {
                    case "id": e.id = UInt64(value)
                    case "event": e.name = value
                    case "data": e.data += e.data.isEmpty ? value : "\n" + value
                    case "retry": e.name = ":retry"; e.data = value
                    default: break
                    }
                }
                return e
            }
            if ended { return nil }
            guard try fill(deadline: deadline) else {
                dechunk()
                if find(text, [10, 10], from: 0) != nil { continue }
                return nil
            }
        }
    }

    /// The next block named `name` (others skipped).
    func next(named name: String, timeout: Double = 5) throws -> SSEEvent? {
        let deadline = monotonicNs() + UInt64(timeout * 1e9)
        while monotonicNs() < deadline {
            guard let e = try next(timeout: Double(deadline - monotonicNs()) / 1e9) else { return nil }
            if e.name == name { return e }
        }
        return nil
    }

    /// Reads until the server ends the stream; returns the blocks seen.
    func drainToEnd(timeout: Double = 5) throws -> [SSEEvent] {
        var out: [SSEEvent] = []
        let deadline = monotonicNs() + UInt64(timeout * 1e9)
        while monotonicNs() < deadline, let e = try next(timeout: Double(deadline - monotonicNs()) / 1e9) { out.append(e) }
        return out
    }
}
