#if canImport(Glibc)
import Glibc
#endif
import MMFormat

/// What a route's request body must be.
enum BodyKind: Sendable {
    /// No body is read (one sent is ignored).
    case none
    /// `application/json` (or `+json`); anything else is 415.
    case json
    /// `text/plain` or no Content-Type, like a write to a /proc file; anything else is 415.
    case text
    /// `application/json`, or a machine snapshot (`application/vnd.compact-service.snapshot`).
    case jsonOrSnapshot
}

typealias Handler = @Sendable (RequestContext) throws -> Response
/// A route's answer from what is cached, without taking a machine's lock; nil: run the handler.
typealias CachedHandler = @Sendable (RequestContext) throws -> Response?

/// Where a route's handler runs.
enum Execution: Sendable {
    /// On libmicrohttpd's thread: the handler never takes a machine's lock, waits or computes long.
    case inline
    /// On a worker of the request pool while the connection is suspended: everything that takes a
    /// machine's lock (a step of someone else's long operation may hold it) or may run long. The
    /// default, so a route that forgets to choose can never stall an HTTP thread.
    case worker
}

/// A fixed answer: 200 with a content type and bytes that live as long as the process. The HTTP layer
/// sends it without building a `Request` or calling the handler (which answers the same, for tests).
struct FixedAnswer: Sendable {
    let contentType: String
    let bytes: StaticBytes
    /// Headers sent besides Content-Type (the dashboard's Content-Security-Policy).
    var headers: [(String, String)] = []
}

/// One method on one path pattern. A class: resolving a request hands out a reference, not a copy.
final class Route: Sendable {
    let method: String
    let pattern: String
    let body: BodyKind
    let execution: Execution
    /// The token scope the route needs (when the service has tokens; reads only with
    /// `--require-token-for-reads`).
    let scope: Scope
    /// For a `.worker` route: tried first on the HTTP thread; its answer, when it has one, is sent at once.
    let cached: CachedHandler?
    let handler: Handler
    /// Position in registration order (`Router.routes`): the HTTP layer keeps per-route state by it.
    let index: Int
    let fixed: FixedAnswer?

    init(method: String, pattern: String, body: BodyKind, execution: Execution, scope: Scope, cached: CachedHandler?,
         handler: @escaping Handler, index: Int, fixed: FixedAnswer?) {
        self.method = method
        self.pattern = pattern
        self.body = body
        self.execution = execution
        self.scope = scope
        self.cached = cached
        self.handler = handler
        self.index = index
        self.fixed = fixed
    }
}

/// A path pattern: literal segments and `{param}` segments, with the methods registered on it.
private struct PathEntry: Sendable {
    enum Segment: Sendable, Equatable {
        case literal(String)
        case param(String)
    }
    let pattern: String
    let segments: [Segment]
    var methods: [String: Route]

    /// The methods in a fixed order, for `Allow` (HEAD wherever GET is, RFC 9110 §9.3.2).
    var allow: String {
        ["GET", "HEAD", "PUT", "POST", "DELETE"].filter { methods[$0 == "HEAD" ? "GET" : $0] != nil }.joined(separator: ", ")
    }

    /// The route answering `method`: HEAD is answered by the GET route (libmicrohttpd sends the headers
    /// and Content-Length of the GET answer without its body).
    func route(_ method: String) -> Route? {
        methods[method] ?? (method == "HEAD" ? methods["GET"] : nil)
    }
}

/// The outcome of looking a request up in the table.
enum Resolution: Sendable {
    case route(Route, params: [String: String])
    case problem(Problem)

    /// The route when it runs on a worker; nil when the HTTP thread answers (inline routes, problems).
    var workerRoute: Route? {
        if case .route(let r, _) = self, r.execution == .worker { return r }
        return nil
    }
}

/// Collects routes at start-up. Registering the same method on the same pattern twice is a
/// programming error and traps at start-up, never at request time.
struct RouteTable {
    fileprivate var entries: [PathEntry] = []
    fileprivate var routes: [Route] = []

    /// `scope`: by default `read` for GET and `write` for everything else; creating and deleting machines
    /// and sysctls say `admin`.
    mutating func add(_ method: String, _ pattern: String, body: BodyKind = .none, execution: Execution = .worker,
                      scope: Scope? = nil, cached: CachedHandler? = nil, fixed: FixedAnswer? = nil,
                      _ handler: @escaping Handler) {
        precondition(pattern.hasPrefix("/"), "route patterns start with /: \(pattern)")
        let segs: [PathEntry.Segment] = pattern.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map {
            $0.hasPrefix("{") && $0.hasSuffix("}") ? .param(String($0.dropFirst().dropLast())) : .literal(String($0))
        }
        let route = Route(method: method, pattern: pattern, body: body, execution: fixed == nil ? execution : .inline,
                          scope: scope ?? (method == "GET" ? .read : .write), cached: cached, handler: handler,
                          index: routes.count, fixed: fixed)
        routes.append(route)
        if let i = entries.firstIndex(where: { $0.segments == segs }) {
            precondition(entries[i].methods[method] == nil, "route registered twice: \(method) \(pattern)")
            entries[i].methods[method] = route
        } else {
            entries.append(PathEntry(pattern: pattern, segments: segs, methods: [method: route]))
        }
    }

    mutating func get(_ p: String, execution: Execution = .worker, cached: CachedHandler? = nil, _ h: @escaping Handler) {
        add("GET", p, execution: execution, cached: cached, h)
    }
    /// GET `p` answers 200 with `bytes` (which must outlive the process) as `contentType`, with `headers`.
    mutating func fixed(_ p: String, contentType: String, _ bytes: StaticBytes, headers: [(String, String)] = []) {
        add("GET", p, fixed: FixedAnswer(contentType: contentType, bytes: bytes, headers: headers)) { _ in
            var r = Response(status: 200, contentType: contentType, persistent: bytes)
            r.headers = headers
            return r
        }
    }
    mutating func delete(_ p: String, execution: Execution = .worker, scope: Scope? = nil, _ h: @escaping Handler) {
        add("DELETE", p, execution: execution, scope: scope, h)
    }
}

/// The method + path table and the one dispatch function: the only place errors become responses.
final class Router: Sendable {
    private let entries: [PathEntry]
    /// Every route, by `Route.index`.
    let routes: [Route]
    /// Patterns without parameters: an exact match is the most specific there can be, so `/healthz`,
    /// `/metrics`, `/v1/machines` … resolve without splitting the path. A handful, so a scan comparing
    /// lengths first beats hashing the path. `routes` are the entry's routes, for the method scan.
    private let literals: [(length: Int, path: String, routes: [Route], entry: Int)]
    /// The patterns as flat byte tables, for matching an ASCII path without allocating.
    private let matcher: PathMatcher
    /// Hosts, origins, tokens (`--allowed-hosts`, `--allowed-origins`, `--token-file`).
    let policy: AccessPolicy
    /// `--rate-limit`: mutations per client and second; nil: no limit.
    private let limiter: RateLimiter?
    private let log: Logger
    /// The fleet's other instances, for the fleet-wide views.
    let fleet: FleetPeers

    init(policy: AccessPolicy = AccessPolicy(), limiter: RateLimiter? = nil, fleet: FleetPeers = .none, log: Logger,
         build: (inout RouteTable) -> Void) {
        self.fleet = fleet
        var t = RouteTable()
        build(&t)
        entries = t.entries
        routes = t.routes
        literals = t.entries.indices.filter { i in
            t.entries[i].segments.allSatisfy { if case .literal = $0 { return true } else { return false } }
        }.map { i in
            let e = t.entries[i]
            return (e.pattern.utf8.count, e.pattern, t.routes.filter { $0.pattern == e.pattern }, i)
        }
        matcher = PathMatcher(t.entries.map(\.segments))
        self.policy = policy
        self.limiter = limiter
        self.log = log
    }

    /// Every registered (method, pattern), for tests that compare the table with openapi.yaml.
    var registered: [(method: String, pattern: String)] {
        entries.flatMap { e in e.methods.keys.sorted().map { ($0, e.pattern) } }
    }

    /// Finds the route for a request. When several patterns match a path, the most specific one wins
    /// (a literal segment beats a parameter, leftmost first), and only its methods count: so
    /// `DELETE …/allocations/free` is a 405 naming POST rather than a lookup of handle "free".
    func resolve(method: String, path: String) -> Resolution {
        let length = path.utf8.count
        for l in literals where l.length == length && l.path == path {
            for r in l.routes where r.method == method { return .route(r, params: [:]) }
            if method == "HEAD", let r = l.routes.first(where: { $0.method == "GET" }) { return .route(r, params: [:]) }
            return Router.select(entries[l.entry], method: method, params: [:])
        }
        var p = path
        guard let (entry, params) = p.withUTF8({ matcher.match($0) }) else {
            return .problem(Problem.notFound(nil, "no resource at \(path.prefix(200))"))
        }
        return Router.select(entries[entry], method: method, params: params)
    }

    /// The route of `method` on a matched path, or 405 with `Allow`.
    private static func select(_ entry: PathEntry, method: String, params: [String: String]) -> Resolution {
        guard let route = entry.route(method) else {
            return .problem(Problem(405, "\(method.prefix(20)) is not allowed on \(entry.pattern); allowed: \(entry.allow)",
                                    headers: [("Allow", entry.allow)]))
        }
        return .route(route, params: params)
    }

    /// Runs a resolved request: authorization, content type, then the handler. Every error, thrown
    /// anywhere below, becomes a problem response here and nowhere else.
    func dispatch(_ request: Request, _ resolution: Resolution, registry: MachineRegistry) -> Response {
        dispatch(request, resolution, registry: registry, cachedOnly: false)!
    }

    /// The answer of a `.worker` route's `cached` handler, checked like any request; nil when it has
    /// none (the route then runs on a worker).
    func dispatchCached(_ request: Request, _ resolution: Resolution, registry: MachineRegistry) -> Response? {
        dispatch(request, resolution, registry: registry, cachedOnly: true)
    }

    /// Checks in this order: Host (421), a CORS preflight (answered here), Origin of a mutation (403),
    /// token and scope (401, 403), the client's rate of mutations (429), Content-Type (415); then the
    /// handler. Every answer gets the headers browsers need (`finish`).
    private func dispatch(_ request: Request, _ resolution: Resolution, registry: MachineRegistry, cachedOnly: Bool) -> Response? {
        let response: Response
        do {
            try policy.checkHost(request.host)
            if request.method == "OPTIONS" {
                response = try preflight(request, resolution)
            } else {
                switch resolution {
                case .problem(let p):
                    throw p
                case .route(let route, let params):
                    if cachedOnly && route.cached == nil { return nil }
                    try policy.checkOrigin(request.origin, host: request.host, mutating: request.isMutating)
                    if let need = policy.requiredScope(route: route.scope, mutating: request.isMutating) {
                        try policy.authorize(request.authorization, needs: need)
                    }
                    if request.isMutating, let limiter { try limiter.take(request.client) }
                    try Router.checkContentType(request, route.body)
                    let ctx = RequestContext(request: request, params: params, registry: registry, auth: policy.authMode, fleet: fleet)
                    if cachedOnly {
                        guard let r = try route.cached!(ctx) else { return nil }
                        response = r
                    } else if let store = registry.store, request.isMutating {
                        // What the handler changed is answered only once it is durable (--state-dir):
                        // its journal records, also when it failed after changing something.
                        let (result, waits) = DurableContext.collecting { try route.handler(ctx) }
                        if !waits.isEmpty {
                            do throws(StoreError) { try store.awaitDurable(waits) } catch {
                                throw Problem(500, "the change was made but could not be written to the state directory (--state-dir): \(error.description); it may not survive a restart, and the machine takes no more changes", field: nil)
                            }
                        }
                        response = try result.get()
                    } else {
                        response = try route.handler(ctx)
                    }
                }
            }
        } catch {
            let p = Problem.from(error)
            // 507 is the memory budget or the state directory's space refusing, 503 a machine recovery
            // could not bring back or shutdown (by design: the access line shows it, /metrics counts it),
            // not a fault of the service.
            if p.status >= 500 && p.status != 507 && p.status != 503 {
                log.error("request \(request.requestID) \(request.method) \(request.path): \(error)")
            }
            return finish(p.response(requestID: request.requestID), request)
        }
        return finish(response, request)
    }

    /// Headers every answer carries: no content sniffing, no referrer, not framed, not cached unless the
    /// route says otherwise, a policy that lets a response load nothing unless the route gives its own
    /// (the dashboard's pages do), and CORS for an allowed cross-origin caller.
    private func finish(_ r: Response, _ request: Request) -> Response {
        var r = r
        if r.headers.isEmpty && request.origin == nil {
            // The common case: the four headers as one array built once (no appends, no allocation).
            r.headers = Router.standardHeaders
            return r
        }
        var has = (csp: false, cache: false)
        for (k, _) in r.headers {
            if k == "Content-Security-Policy" { has.csp = true }
            if k == "Cache-Control" { has.cache = true }
        }
        r.headers.append(("X-Content-Type-Options", "nosniff"))
        r.headers.append(("Referrer-Policy", "no-referrer"))
        if !has.csp { r.headers.append(("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")) }
        if !has.cache { r.headers.append(("Cache-Control", "no-store")) }
        if let origin = request.origin, policy.originAllowed(origin, host: request.host) {
            r.headers.append(("Access-Control-Allow-Origin", origin))
            r.headers.append(("Vary", "Origin"))
        }
        return r
    }

    /// What `finish` adds to an answer that has no headers of its own, for a request without Origin.
    private static let standardHeaders: [(String, String)] = [
        ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"),
        ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"), ("Cache-Control", "no-store"),
    ]

    /// A CORS preflight: 204 with what the path allows for an allowed origin, 403 for any other.
    private func preflight(_ request: Request, _ resolution: Resolution) throws(Problem) -> Response {
        guard let origin = request.origin, policy.originAllowed(origin, host: request.host) else {
            throw Problem(403, "cross-origin requests from '\((request.origin ?? "").prefix(100))' are not allowed (--allowed-origins)",
                          field: "Origin")
        }
        var allow = "GET, HEAD, POST, PUT, DELETE"
        if case .problem(let p) = resolution, p.status == 405, let a = p.headers.first(where: { $0.0 == "Allow" })?.1 { allow = a }
        if case .problem(let p) = resolution, p.status == 404 { throw p }
        var r = Response.noContent()
        r.headers = [("Access-Control-Allow-Methods", allow),
                     ("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-ID, Last-Event-ID"),
                     ("Access-Control-Max-Age", "600")]
        return r
    }

    /// Convenience for tests: resolve and dispatch.
    func handle(_ request: Request, registry: MachineRegistry) -> Response {
        dispatch(request, resolve(method: request.method, path: request.path), registry: registry)
    }

    private static func checkContentType(_ r: Request, _ kind: BodyKind) throws(Problem) {
        switch kind {
        case .none:
            return
        case .json:
            let t = r.mediaType
            guard let t, t == "application/json" || (t.hasPrefix("application/") && t.hasSuffix("+json")) else {
                throw Problem(415, "the body must be application/json, not \(t.map { "'\($0.prefix(80))'" } ?? "absent")",
                              field: "Content-Type")
            }
        case .jsonOrSnapshot:
            if r.mediaType == SnapshotFormat.mediaType { return }
            try checkContentType(r, .json)
        case .text:
            guard let t = r.mediaType else { return }
            guard t == "text/plain" || t == "application/x-www-form-urlencoded" || t == "application/octet-stream" else {
                throw Problem(415, "the body must be text/plain, like a write to a /proc file, not '\(t.prefix(80))'",
                              field: "Content-Type")
            }
        }
    }

}

/// What a handler gets: the request, the path parameters and the registry (handed over when the
/// routes are built, never fetched from a global).
struct RequestContext: Sendable {
    let request: Request
    let params: [String: String]
    let registry: MachineRegistry
    /// Which requests need `Authorization: Bearer <token>` on this server (`/readyz` tells clients).
    var auth = AccessPolicy.AuthMode.none
    /// The fleet's other instances (`--peers`).
    var fleet = FleetPeers.none

    /// The `{name}` path parameter, checked against the name pattern.
    func machineName() throws(Problem) -> String { try Validation.pathName(params["name"] ?? "") }

    /// The machine named in the path.
    func machine() throws -> MachineBox { try registry.get(try machineName()) }

    func jsonBody() throws(Problem) -> JSON { try Validation.jsonObject(request.body) }
}

/// The route patterns as flat tables, matched against a path's UTF-8 bytes: no Substring, array or
/// dictionary per candidate pattern (splitting the path and building each candidate's parameters and
/// score cost ~45k instructions per request on /v1/machines/{name}/stats, a third of its time). The
/// winner's parameters become Strings once. Every `/` byte separates segments (a URL path is bytes:
/// a `/` followed by a combining mark is a separator too), and the literals are ASCII, so a segment
/// with other bytes can only be a parameter's value.
private struct PathMatcher: Sendable {

    /// Every literal segment's bytes, one after the other.
    private let bytes: [UInt8]
    /// Every pattern's segments in order: the literal's offset in `bytes` and length, or length -1 for
    /// a parameter, whose name is at the same index of `names`.
    private let segments: [(start: Int, length: Int)]
    private let names: [String]
    /// Per pattern (in `RouteTable.entries` order): its first index in `segments` and its segment count.
    private let patterns: [(first: Int, count: Int)]
    /// By segment count: the patterns with that many segments, in `patterns` order.
    private let byCount: [[Int]]
    /// The most segments any pattern has: a path with more matches none.
    private let maxSegments: Int

    init(_ all: [[PathEntry.Segment]]) {
        var bytes: [UInt8] = [], segments: [(start: Int, length: Int)] = [], names: [String] = [], patterns: [(first: Int, count: Int)] = []
        for segs in all {
            patterns.append((segments.count, segs.count))
            for s in segs {
                switch s {
                case .literal(let l):
                    precondition(l.utf8.allSatisfy { $0 < 0x80 }, "route patterns are ASCII")
                    segments.append((bytes.count, l.utf8.count))
                    bytes.append(contentsOf: l.utf8)
                    names.append("")
                case .param(let n):
                    segments.append((0, -1))
                    names.append(n)
                }
            }
        }
        self.bytes = bytes
        self.segments = segments
        self.names = names
        self.patterns = patterns
        maxSegments = patterns.map(\.count).max() ?? 0
        precondition(maxSegments < 64, "a pattern's score is a 64-bit mask")
        byCount = (0...maxSegments).map { n in patterns.indices.filter { patterns[$0].count == n } }
    }

    /// The most specific pattern matching `path` (the path split at every `/`, the part before the
    /// first dropped) and its parameters.
    func match(_ path: UnsafeBufferPointer<UInt8>) -> (entry: Int, params: [String: String])? {
        let n = path.count
        guard let base = path.baseAddress, n > 0 else { return nil }
        var slashes = 0
        for i in 0..<n where base[i] == UInt8(ascii: "/") { slashes += 1 }
        guard slashes > 0, slashes <= maxSegments else { return nil }
        return withUnsafeTemporaryAllocation(of: Int.self, capacity: slashes + 1) { cut in
            // cut[i] is the position of the i-th `/`; segment i runs from cut[i] + 1 to cut[i + 1].
            var k = 0
            for i in 0..<n where base[i] == UInt8(ascii: "/") {
                cut[k] = i
                k += 1
            }
            cut[slashes] = n
            return segments.withUnsafeBufferPointer { segs in
                bytes.withUnsafeBufferPointer { lit in
                    var best = -1, bestScore: UInt64 = 0
                    for e in byCount[slashes] {
                        let p = patterns[e]
                        // Bit (count - 1 - i) set: segment i is a literal. Leftmost first, so the
                        // more specific pattern has the larger score.
                        var score: UInt64 = 0
                        var ok = true
                        // Last segment first: the patterns of one length differ mostly at the end
                        // (`/v1/machines/{name}/stats`, `…/buddyinfo`, …), so a mismatch shows at once.
                        for i in (0..<slashes).reversed() {
                            let s = segs[p.first + i]
                            let a = cut[i] + 1, len = cut[i + 1] - a
                            if s.length < 0 {
                                if len == 0 { ok = false; break }
                            } else {
                                if len != s.length || (len > 0 && memcmp(base + a, lit.baseAddress! + s.start, len) != 0) {
                                    ok = false
                                    break
                                }
                                score |= 1 << UInt64(slashes - 1 - i)
                            }
                        }
                        if ok && (best < 0 || score > bestScore) {
                            best = e
                            bestScore = score
                        }
                    }
                    guard best >= 0 else { return nil }
                    let p = patterns[best]
                    var params = [String: String](minimumCapacity: 2)
                    for i in 0..<p.count where segs[p.first + i].length < 0 {
                        let a = cut[i] + 1
                        params[names[p.first + i]] = String(decoding: UnsafeBufferPointer(start: base + a, count: cut[i + 1] - a), as: UTF8.self)
                    }
                    return (best, params)
                }
            }
        }
    }
}
