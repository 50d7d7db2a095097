#if canImport(Glibc)
import Glibc
#endif

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

/// Writes one line per call to stderr with a single write(2), so lines from worker threads never
/// interleave.
final class Logger: Sendable {
    let level: LogLevel

    init(level: LogLevel) { self.level = level }

    func enabled(_ l: LogLevel) -> Bool { l <= level }

    func log(_ l: LogLevel, _ message: @autoclosure () -> String) {
        guard enabled(l) else { return }
        var line = "\(Logger.timestamp()) \(l.name) \(message())\n"
        line.withUTF8 { buf in
            var off = 0
            while off < buf.count {
                let n = write(2, buf.baseAddress! + off, buf.count - off)
                if n <= 0 { break }
                off += n
            }
        }
    }

    func error(_ m: @autoclosure () -> String) { log(.error, m()) }
    func warning(_ m: @autoclosure () -> String) { log(.warning, m()) }
    func info(_ m: @autoclosure () -> String) { log(.info, m()) }
    func debug(_ m: @autoclosure () -> String) { log(.debug, m()) }

    /// UTC, RFC 3339 with milliseconds.
    static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = time_t(ts.tv_sec)
        var tmv = tm()
        gmtime_r(&t, &tmv)
        func p(_ v: Int32, _ w: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        return "\(p(tmv.tm_year + 1900, 4))-\(p(tmv.tm_mon + 1, 2))-\(p(tmv.tm_mday, 2))T\(p(tmv.tm_hour, 2)):\(p(tmv.tm_min, 2)):\(p(tmv.tm_sec, 2)).\(p(Int32(ts.tv_nsec / 1_000_000), 3))Z"
    }
}

/// Monotonic time in nanoseconds.
@inline(__always) func monotonicNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}
