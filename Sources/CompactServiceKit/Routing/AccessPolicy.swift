#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// What a bearer token may do. Each scope includes the ones below it.
enum Scope: Int, Sendable, Comparable, CaseIterable {
    /// GETs, streams, metrics (only asked for with `--require-token-for-reads`).
    case read = 0
    /// Allocations, frees, compaction, workloads and experiments, job cancellation.
    case write = 1
    /// Creating and deleting machines, sysctls.
    case admin = 2

    init?(name: String) {
        switch name.lowercased() {
        case "read": self = .read
        case "write": self = .write
        case "admin": self = .admin
        default: return nil
        }
    }

    var name: String {
        switch self {
        case .read: return "read"
        case .write: return "write"
        case .admin: return "admin"
        }
    }

    static func < (a: Scope, b: Scope) -> Bool { a.rawValue < b.rawValue }
}

/// One bearer token from `--token-file`.
struct ScopedToken: Sendable {
    let scope: Scope
    let bytes: [UInt8]
}

/// Who may ask what, decided before a handler runs (`Router.dispatch`): the Host header against DNS
/// rebinding, the Origin of mutations against cross-site requests, bearer tokens and their scopes, and
/// the rate of mutations per client.
struct AccessPolicy: Sendable {
    /// Host names (lower case, without port) accepted in `Host`; empty with `anyHost`.
    var allowedHosts: Set<String> = AccessPolicy.loopbackNames
    /// `--allowed-hosts '*'`: no Host check (behind a proxy that checks it).
    var anyHost = false
    /// Origins (`scheme://host[:port]`, lower case) whose mutations and CORS requests are accepted,
    /// besides the service's own origin (the Host it was reached at).
    var allowedOrigins: Set<String> = []
    var tokens: [ScopedToken] = []
    /// `--require-token-for-reads`: GETs need a token too (of any scope).
    var tokensForReads = false

    static let loopbackNames: Set<String> = ["localhost", "127.0.0.1", "[::1]", "::1"]

    init() {}

    /// The default policy for a server bound to `host`: loopback names and `host` itself.
    init(boundTo host: String, extraHosts: [String], origins: [String], tokens: [ScopedToken], tokensForReads: Bool) {
        var hosts = AccessPolicy.loopbackNames
        hosts.insert(AccessPolicy.normalHost(host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host))
        for h in extraHosts {
            if h == "*" { anyHost = true } else { hosts.insert(AccessPolicy.normalHost(h)) }
        }
        allowedHosts = hosts
        allowedOrigins = Set(origins.map { $0.lowercased().trimmingSuffix("/") })
        self.tokens = tokens
        self.tokensForReads = tokensForReads
    }

    /// The host part of a Host header value, lower case: `Example.org:8080` → `example.org`,
    /// `[::1]:80` → `[::1]`. Worked out on the UTF-8 bytes (the Host check runs on every request; one
    /// String is made, no intermediate ones); a value with non-ASCII letters is lower-cased first, the
    /// only step that needs Unicode (the separators and the whitespace trimmed are ASCII).
    static func normalHost(_ value: String) -> String {
        var v = value.utf8.allSatisfy { $0 < 0x80 } ? value : value.lowercased()
        return v.withUTF8 { normalHostBytes($0) }
    }

    private static func normalHostBytes(_ v: UnsafeBufferPointer<UInt8>) -> String {
        func ws(_ c: UInt8) -> Bool { c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 }
        var s = 0, e = v.count
        while s < e, ws(v[s]) { s += 1 }
        while e > s, ws(v[e - 1]) { e -= 1 }
        if s < e && v[s] == UInt8(ascii: "[") {
            if let close = (s..<e).first(where: { v[$0] == UInt8(ascii: "]") }) { e = close + 1 }
        } else if let first = (s..<e).first(where: { v[$0] == UInt8(ascii: ":") }),
                  (first + 1..<e).allSatisfy({ v[$0] != UInt8(ascii: ":") }) {
            e = first
        }
        return String(unsafeUninitializedCapacity: e - s) { out in
            for i in s..<e {
                let c = v[i]
                out[i - s] = c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z") ? c | 0x20 : c
            }
            return e - s
        }
    }

    /// 421 unless `Host` names this service. A request without `Host` (HTTP/1.0) passes: browsers, the
    /// attackers of DNS rebinding, always send one.
    func checkHost(_ host: String?) throws(Problem) {
        guard !anyHost, let host else { return }
        guard allowedHosts.contains(AccessPolicy.normalHost(host)) else {
            throw Problem(421, "Host '\(host.prefix(100))' is not a name of this service (DNS rebinding protection); "
                          + "start it with --allowed-hosts to accept it", field: "Host")
        }
    }

    /// Whether `origin` may make requests: the service's own origin (same host and port as `Host`) or
    /// one of `--allowed-origins`.
    func originAllowed(_ origin: String, host: String?) -> Bool {
        let o = origin.lowercased()
        if allowedOrigins.contains(o) { return true }
        guard let host else { return false }
        let h = host.lowercased()
        return o == "http://\(h)" || o == "https://\(h)"
    }

    /// 403 for a mutation sent from a page of another origin (a browser adds `Origin` to such requests).
    func checkOrigin(_ origin: String?, host: String?, mutating: Bool) throws(Problem) {
        guard mutating, let origin else { return }
        guard originAllowed(origin, host: host) else {
            throw Problem(403, "cross-origin requests from '\(origin.prefix(100))' may not change state; "
                          + "start the service with --allowed-origins to allow it", field: "Origin")
        }
    }

    /// Which requests need a token, as `/readyz` tells clients such as the dashboard.
    enum AuthMode: String, Sendable {
        /// No --token-file.
        case none
        /// --token-file: changes (POST, PUT, DELETE) need a token.
        case changes
        /// --require-token-for-reads too: every request but the static answers needs one.
        case all
    }

    var authMode: AuthMode { tokens.isEmpty ? .none : tokensForReads ? .all : .changes }

    /// The scope a request must prove, or nil when it needs no token.
    func requiredScope(route: Scope, mutating: Bool) -> Scope? {
        guard !tokens.isEmpty else { return nil }
        if !mutating && !tokensForReads { return nil }
        return route
    }

    /// 401 without a known token, 403 with a token of too small a scope.
    func authorize(_ authorization: String?, needs scope: Scope) throws(Problem) {
        guard let given = AccessPolicy.bearer(authorization) else {
            throw Problem(401, "this request needs `Authorization: Bearer <token>` with scope \(scope.name) or above",
                          field: "Authorization", headers: [("WWW-Authenticate", "Bearer")])
        }
        // Every token is compared, each in constant time, so the time taken tells nothing of which
        // matched or how much of one did.
        var best: Scope?
        for t in tokens where AccessPolicy.constantTimeEqual(given, t.bytes) {
            if best == nil || t.scope > best! { best = t.scope }
        }
        guard let have = best else {
            throw Problem(401, "the bearer token is not one of this service's", field: "Authorization",
                          headers: [("WWW-Authenticate", "Bearer error=\"invalid_token\"")])
        }
        guard have >= scope else {
            throw Problem(403, "this request needs a token of scope \(scope.name); this one has scope \(have.name)",
                          field: "Authorization",
                          headers: [("WWW-Authenticate", "Bearer error=\"insufficient_scope\", scope=\"\(scope.name)\"")])
        }
    }

    /// The token of an `Authorization: Bearer …` header.
    static func bearer(_ header: String?) -> [UInt8]? {
        guard let header else { return nil }
        let prefix = "bearer "
        guard header.utf8.count > prefix.utf8.count, header.lowercased().hasPrefix(prefix) else { return nil }
        return Array(header.utf8.dropFirst(prefix.utf8.count))
    }

    /// Equal bytes, in time that depends only on the lengths.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(truncatingIfNeeded: a.count ^ b.count)
        let n = max(a.count, b.count)
        for i in 0..<n {
            let x = i < a.count ? a[i] : 0, y = i < b.count ? b[i] : 0
            diff |= x ^ y
        }
        return diff == 0
    }

    /// A token file: one token per line, `SCOPE TOKEN` or `TOKEN` alone (scope admin, as a file of one
    /// token always meant); blank lines and lines starting with `#` are skipped.
    static func parseTokens(_ text: String, path: String) throws(StartError) -> [ScopedToken] {
        var out: [ScopedToken] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(raw).trimmingASCIIWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            let scope: Scope, token: Substring
            switch parts.count {
            case 1: (scope, token) = (.admin, parts[0])
            case 2:
                guard let s = Scope(name: String(parts[0])) else {
                    throw StartError(description: "--token-file \(path) line \(i + 1): scope must be read, write or admin")
                }
                (scope, token) = (s, parts[1])
            default:
                throw StartError(description: "--token-file \(path) line \(i + 1): expected `SCOPE TOKEN` or `TOKEN`")
            }
            guard token.utf8.count >= 8, token.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                throw StartError(description: "--token-file \(path) line \(i + 1): a token is 8 or more visible ASCII characters")
            }
            out.append(ScopedToken(scope: scope, bytes: Array(token.utf8)))
        }
        guard !out.isEmpty else { throw StartError(description: "--token-file \(path) holds no token") }
        return out
    }
}

/// Mutations per client and second, as a token bucket per client (its token, or its address without
/// one): `rate` a second on average, bursts of up to `burst`. Over it: 429 with `Retry-After`.
final class RateLimiter: Sendable {
    let rate: Double
    let burst: Double
    private struct Bucket: Sendable {
        var tokens: Double
        var lastNs: UInt64
    }
    private let buckets = Mutex<[String: Bucket]>([:])
    /// Buckets full again and unused for this long are dropped, so the table does not grow without bound.
    private static let forgetNs: UInt64 = 60_000_000_000

    init(rate: Double, burst: Double) {
        self.rate = rate
        self.burst = max(1, burst)
    }

    /// Takes one request from `client`'s bucket; throws 429 when it is empty.
    func take(_ client: String, now: UInt64 = monotonicNs()) throws(Problem) {
        let wait = buckets.withLock { b -> Double in
            if b.count > 10_000 { b = b.filter { now &- $0.value.lastNs < RateLimiter.forgetNs } }
            var k = b[client] ?? Bucket(tokens: burst, lastNs: now)
            // `now` was read before the lock: a thread that read it earlier may come after one that read
            // it later, and must not see time run backwards (a wrapped difference refilled the bucket).
            if now > k.lastNs {
                k.tokens = min(burst, k.tokens + Double(now - k.lastNs) / 1e9 * rate)
                k.lastNs = now
            }
            defer { b[client] = k }
            if k.tokens >= 1 {
                k.tokens -= 1
                return 0
            }
            return (1 - k.tokens) / rate
        }
        guard wait > 0 else { return }
        let seconds = max(1, Int(wait.rounded(.up)))
        throw Problem(429, "more than \(Int(rate)) requests that change state a second (bursts of \(Int(burst))) from this client (--rate-limit); retry in \(seconds) s",
                      headers: [("Retry-After", String(seconds))])
    }
}

extension String {
    func trimmingSuffix(_ s: String) -> String { hasSuffix(s) ? String(dropLast(s.count)) : self }
}
