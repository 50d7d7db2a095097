#if canImport(Glibc)
import Glibc
#endif

/// Percent-decoding of request paths and query arguments, given to libmicrohttpd as its unescape
/// callback. It decodes `%HH` like libmicrohttpd's own, except `%00` and `%2F`, which stay as the three
/// characters they are: decoded, `a%00junk` would reach the router as `a` (C strings end at NUL) and
/// `a%2Fstats` as two segments, so a rule on the raw path could be sidestepped. Undecoded, they fail the
/// name rules of path parameters (400) or match no route (404), like any other invalid name.
enum PathDecoding {
    /// Decodes `bytes[0..<count]` in place; returns the decoded length (never longer than `count`).
    static func decode(_ bytes: UnsafeMutablePointer<UInt8>, count: Int) -> Int {
        var r = 0, w = 0
        while r < count {
            let c = bytes[r]
            if c == UInt8(ascii: "%"), r + 2 < count, let hi = hexValue(bytes[r + 1]), let lo = hexValue(bytes[r + 2]) {
                let v = hi << 4 | lo
                if v != 0 && v != 0x2F {
                    bytes[w] = v
                    w += 1
                    r += 3
                    continue
                }
            }
            bytes[w] = c
            w += 1
            r += 1
        }
        return w
    }

    /// `s` decoded (for tests and callers holding a Swift string).
    static func decode(_ s: String) -> String {
        var b = Array(s.utf8)
        let n = b.withUnsafeMutableBufferPointer { decode($0.baseAddress!, count: $0.count) }
        return String(decoding: b[0..<n], as: UTF8.self)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// libmicrohttpd's unescape callback (`size_t (*)(void *cls, struct MHD_Connection *c, char *s)`, which
/// its header declares without a typedef): decodes the NUL-terminated string in place.
let unescapeCallback: @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?, UnsafeMutablePointer<CChar>?) -> Int = { _, _, s in
    guard let s else { return 0 }
    let n = strlen(s)
    return s.withMemoryRebound(to: UInt8.self, capacity: n + 1) { p in
        let m = PathDecoding.decode(p, count: n)
        p[m] = 0
        return m
    }
}
