#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Log levels, most severe first.
public enum LogLevel: Int, Sendable, Comparable, CaseIterable {
    case error = 0, warning, info, debug

    public init?(name: String) {
        switch name.lowercased() {
        case "error": self = .error
        case "warning", "warn": self = .warning
        case "info": self = .info
        case "debug": self = .debug
        default: return nil
        }
    }

    public var name: String {
        switch self {
        case .error: return "error"
        case .warning: return "warning"
        case .info: return "info"
        case .debug: return "debug"
        }
    }

    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }
}

/// Log lines to stderr, buffered: a line is formatted into bytes (no intermediate Strings) and appended
/// to one shared buffer; the buffer is written with write(2) when it holds 64 KiB, on every tick of the
/// HTTP layer's ticker (at most 50 ms apart), at once for warnings and errors, and by `flush()`, which
/// graceful shutdown calls last. Lines keep their order; a line is never split between two writes.
/// A process killed outright loses the lines of its last tick.
///
/// Why: at `--log-level info` (one access line per request) formatting the line with Strings and one
/// write(2) per line cost ~19k instructions per `GET /healthz` plus the system call, about as much as
/// the rest of the request.
final class Logger: Sendable {
    let level: LogLevel
    /// Lines not yet written, and whether a thread is writing (in `flush`). No lock is held across
    /// write(2): one thread at a time writes, taking the buffer under the lock and writing it after, and
    /// picks up what arrived meanwhile before it stops, so lines keep their order.
    private let pending = Mutex<(bytes: [UInt8], writing: Bool)>(([], false))
    static let flushBytes = 64 << 10

    init(level: LogLevel) { self.level = level }

    deinit { flush(wait: true) }

    func enabled(_ l: LogLevel) -> Bool { l <= level }

    func log(_ l: LogLevel, _ message: @autoclosure () -> String) {
        guard enabled(l) else { return }
        var line = Logger.lineStart(l)
        line.append(contentsOf: message().utf8)
        line.append(0x0A)
        append(line, urgent: l <= .warning)
    }

    func error(_ m: @autoclosure () -> String) { log(.error, m()) }
    func warning(_ m: @autoclosure () -> String) { log(.warning, m()) }
    func info(_ m: @autoclosure () -> String) { log(.info, m()) }
    func debug(_ m: @autoclosure () -> String) { log(.debug, m()) }

    /// The access line of an answered request (at info):
    /// `<time> info GET /path 200 0.123ms request_id=<id>`.
    func access(method: String, path: String, status: Int, ns: UInt64, requestID: String) {
        guard enabled(.info) else { return }
        var line = Logger.lineStart(.info)
        line.append(contentsOf: (method.utf8.count <= 16 ? method : String(method.prefix(16))).utf8)
        line.append(0x20)
        line.append(contentsOf: (path.utf8.count <= 256 ? path : String(path.prefix(256))).utf8)
        line.append(0x20)
        Logger.appendDecimal(&line, UInt64(max(0, status)), width: 1)
        line.append(0x20)
        let us = ns / 1000
        Logger.appendDecimal(&line, us / 1000, width: 1)
        line.append(UInt8(ascii: "."))
        Logger.appendDecimal(&line, us % 1000, width: 3)
        line.append(contentsOf: "ms request_id=".utf8)
        line.append(contentsOf: requestID.utf8)
        line.append(0x0A)
        append(line, urgent: false)
    }

    private func append(_ line: [UInt8], urgent: Bool) {
        let full = pending.withLock { p in
            p.bytes.append(contentsOf: line)
            return p.bytes.count >= Logger.flushBytes
        }
        if urgent || full { flush() }
    }

    /// Writes every buffered line: becomes the writer unless a thread already is (that one writes
    /// these lines too). With `wait`, returns only once everything buffered so far is written.
    func flush(wait: Bool = false) {
        while true {
            var out: [UInt8] = []
            let becameWriter = pending.withLock { p -> Bool in
                guard !p.writing else { return false }
                guard !p.bytes.isEmpty else { return false }
                p.writing = true
                swap(&out, &p.bytes)
                return true
            }
            if !becameWriter {
                guard wait, pending.withLock({ $0.writing || !$0.bytes.isEmpty }) else { return }
                usleep(200)
                continue
            }
            while !out.isEmpty {
                Logger.writeAll(out)
                out.removeAll(keepingCapacity: true)
                pending.withLock { p in
                    swap(&out, &p.bytes)
                    if out.isEmpty { p.writing = false }
                }
            }
            return
        }
    }

    private static func writeAll(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { buf in
            var off = 0
            while off < buf.count {
                let n = write(2, buf.baseAddress! + off, buf.count - off)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                off += n
            }
        }
    }

    /// `<timestamp> <level> ` as bytes.
    private static func lineStart(_ l: LogLevel) -> [UInt8] {
        var line: [UInt8] = []
        line.reserveCapacity(160)
        appendTimestamp(&line)
        line.append(0x20)
        line.append(contentsOf: l.name.utf8)
        line.append(0x20)
        return line
    }

    /// UTC, RFC 3339 with milliseconds.
    static func timestamp() -> String {
        var b: [UInt8] = []
        appendTimestamp(&b)
        return String(decoding: b, as: UTF8.self)
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC) from CLOCK_REALTIME, computed without gmtime_r (which takes
    /// glibc's time zone lock).
    static func appendTimestamp(_ b: inout [UInt8]) {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let secs = Int64(ts.tv_sec)
        let days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400
        let sod = secs - days * 86400
        // Days since 1970-01-01 to a civil date (Howard Hinnant's days_from_civil inverse).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        appendDecimal(&b, UInt64(max(0, year)), width: 4)
        b.append(UInt8(ascii: "-"))
        appendDecimal(&b, UInt64(month), width: 2)
        b.append(UInt8(ascii: "-"))
        appendDecimal(&b, UInt64(day), width: 2)
        b.append(UInt8(ascii: "T"))
        appendDecimal(&b, UInt64(sod / 3600), width: 2)
        b.append(UInt8(ascii: ":"))
        appendDecimal(&b, UInt64(sod / 60 % 60), width: 2)
        b.append(UInt8(ascii: ":"))
        appendDecimal(&b, UInt64(sod % 60), width: 2)
        b.append(UInt8(ascii: "."))
        appendDecimal(&b, UInt64(ts.tv_nsec / 1_000_000), width: 3)
        b.append(UInt8(ascii: "Z"))
    }

    /// `v` in decimal, zero-padded to at least `width` digits.
    static func appendDecimal(_ b: inout [UInt8], _ v: UInt64, width: Int) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { t in
            var n = v
            var count = 0
            repeat {
                t[count] = UInt8(ascii: "0") + UInt8(n % 10)
                n /= 10
                count += 1
            } while n > 0
            for _ in count..<max(count, width) { b.append(UInt8(ascii: "0")) }
            for i in stride(from: count - 1, through: 0, by: -1) { b.append(t[i]) }
        }
    }
}

/// Monotonic time in nanoseconds.
@inline(__always) func monotonicNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}
