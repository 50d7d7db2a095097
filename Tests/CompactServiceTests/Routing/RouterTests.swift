import MMFormat

@testable import CompactServiceKit
import Foundation
import Testing

@Suite("Router")
struct RouterTests {
    let router = Router(log: Logger(level: .error)) { Routes.register(&$0) }

    @Test func literalSegmentBeatsParameter() {
        guard case .route(let r, let params) = router.resolve(method: "POST", path: "/v1/machines/m1/allocations/free") else {
            Issue.record("no route")
            return
        }
        #expect(r.pattern == "/v1/machines/{name}/allocations/free")
        #expect(params["name"] == "m1")
    }

    @Test func parameterRouteMatchesOtherValues() {
        guard case .route(let r, let params) = router.resolve(method: "DELETE", path: "/v1/machines/m1/allocations/42") else {
            Issue.record("no route")
            return
        }
        #expect(r.pattern == "/v1/machines/{name}/allocations/{handle}")
        #expect(params["handle"] == "42")
    }

    @Test func wrongMethodIs405WithAllowFromTheTable() {
        guard case .problem(let p) = router.resolve(method: "DELETE", path: "/v1/machines/m1/allocations/free") else {
            Issue.record("expected a problem")
            return
        }
        #expect(p.status == 405)
        #expect(p.headers.first { $0.0 == "Allow" }?.1 == "POST")
        guard case .problem(let q) = router.resolve(method: "PATCH", path: "/v1/machines") else {
            Issue.record("expected a problem")
            return
        }
        #expect(q.headers.first { $0.0 == "Allow" }?.1 == "GET, HEAD, POST")
    }

    @Test func unknownPathIs404() {
        guard case .problem(let p) = router.resolve(method: "GET", path: "/v1/nothing") else {
            Issue.record("expected a problem")
            return
        }
        #expect(p.status == 404)
        guard case .problem(let q) = router.resolve(method: "GET", path: "/v1/machines/") else {
            Issue.record("expected a problem")
            return
        }
        #expect(q.status == 404)
    }

    /// The most specific registered pattern for `path` as the router matched paths before it matched
    /// bytes: split into Characters at every `/`, a literal segment beating a parameter leftmost first.
    /// An independent oracle for ASCII paths, where Characters and bytes split alike.
    func splittingOracle(_ path: String) -> (pattern: String, params: [String: String])? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        var best: (pattern: String, score: [Bool], params: [String: String])?
        for pattern in Set(router.registered.map(\.pattern)) {
            let segs = pattern.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
            guard segs.count == parts.count else { continue }
            var params: [String: String] = [:], score: [Bool] = [], ok = true
            for (seg, part) in zip(segs, parts) {
                if seg.hasPrefix("{") {
                    ok = ok && !part.isEmpty
                    params[String(seg.dropFirst().dropLast())] = String(part)
                    score.append(false)
                } else {
                    ok = ok && seg == part
                    score.append(true)
                }
            }
            guard ok else { continue }
            if let b = best, !(zip(score, b.score).first { $0 != $1 }?.0 ?? false) { continue }
            best = (pattern, score, params)
        }
        return best.map { ($0.pattern, $0.params) }
    }

    /// Byte matching resolves every registered pattern filled in, and edge cases, as the Character-based
    /// oracle does: the same route and parameters, 405 where the pattern lacks the method, else 404.
    @Test func byteMatchingResolvesAsSplitting() {
        var paths = ["/", "", "v1/machines/m1/stats", "/v1/machines//stats", "/v1/machines/m1/stats/", "//", "/v1//",
                     "/v1/machines/m1/allocations/free", "/v1/machines/m1/allocations/42", "/healthz/", "/v1/jobs/x/y/z/w/v/u"]
        for (_, pattern) in router.registered {
            let filled = pattern.split(separator: "/", omittingEmptySubsequences: false).map {
                $0.hasPrefix("{") ? "p1" : String($0)
            }.joined(separator: "/")
            paths += [filled, filled + "/", filled + "/x", String(filled.dropLast())]
        }
        let methods = Set(router.registered.map { "\($0.method) \($0.pattern)" })
        for path in paths {
            let expected = splittingOracle(path)
            for method in ["GET", "POST", "DELETE", "HEAD"] {
                switch router.resolve(method: method, path: path) {
                case .route(let r, let params):
                    #expect(r.pattern == expected?.pattern, "\(method) \(path)")
                    #expect(params == expected?.params, "\(method) \(path)")
                case .problem(let q):
                    if let e = expected {
                        #expect(q.status == 405 && !methods.contains("\(method) \(e.pattern)"), "\(method) \(path)")
                    } else {
                        #expect(q.status == 404, "\(method) \(path)")
                    }
                }
            }
        }
        // Non-ASCII bytes are a parameter's value; every `/` byte separates.
        guard case .route(let r, let params) = router.resolve(method: "GET", path: "/v1/machines/\u{E9}t\u{E9}/stats") else {
            Issue.record("no route")
            return
        }
        #expect(r.pattern == "/v1/machines/{name}/stats")
        #expect(params["name"] == "\u{E9}t\u{E9}")
    }

    /// The Host check normalises on bytes, non-ASCII letters lower-cased first.
    @Test func hostNormalisation() {
        #expect(AccessPolicy.normalHost(" Example.ORG:8080 ") == "example.org")
        #expect(AccessPolicy.normalHost("[::1]:80") == "[::1]")
        #expect(AccessPolicy.normalHost("[::1") == "[::1")
        #expect(AccessPolicy.normalHost("::1") == "::1")
        #expect(AccessPolicy.normalHost("LOCALHOST") == "localhost")
        #expect(AccessPolicy.normalHost("\u{C9}xample:1") == "\u{E9}xample")
        #expect(AccessPolicy.normalHost("") == "")
    }

    @Test func bearerComparison() {
        let t = Array("s3cret".utf8)
        #expect(AccessPolicy.bearer("Bearer s3cret").map { AccessPolicy.constantTimeEqual($0, t) } == true)
        #expect(AccessPolicy.bearer("bearer s3cret").map { AccessPolicy.constantTimeEqual($0, t) } == true)
        #expect(AccessPolicy.bearer("Bearer s3cre").map { AccessPolicy.constantTimeEqual($0, t) } == false)
        #expect(AccessPolicy.bearer("Bearer s3crets").map { AccessPolicy.constantTimeEqual($0, t) } == false)
        #expect(AccessPolicy.bearer("Basic s3cret") == nil)
        #expect(AccessPolicy.bearer(nil) == nil)
    }

    @Test func hostNamesAreNormalised() {
        #expect(AccessPolicy.normalHost("LocalHost:8080") == "localhost")
        #expect(AccessPolicy.normalHost("[::1]:8080") == "[::1]")
        #expect(AccessPolicy.normalHost("127.0.0.1") == "127.0.0.1")
        #expect(AccessPolicy.normalHost("::1") == "::1")
    }

    @Test func tokenFilesGiveScopes() throws {
        let t = try AccessPolicy.parseTokens("# comment\nadmin aaaaaaaa1\n\nread  rrrrrrrr1\nwwwwwwww1\nwrite wwwwwwww2\n", path: "f")
        #expect(t.map(\.scope) == [.admin, .read, .admin, .write])
        #expect(throws: StartError.self) { try AccessPolicy.parseTokens("root xxxxxxxx1", path: "f") }
        #expect(throws: StartError.self) { try AccessPolicy.parseTokens("read short", path: "f") }
        #expect(throws: StartError.self) { try AccessPolicy.parseTokens("# nothing\n", path: "f") }
    }

    @Test func rateLimiterRefusesPastTheBurstAndRefills() {
        let l = RateLimiter(rate: 10, burst: 3)
        var refused = 0
        for _ in 0..<5 { do { try l.take("a", now: 1_000_000_000) } catch { refused += 1 } }
        #expect(refused == 2)
        #expect(throws: Never.self) { try l.take("b", now: 1_000_000_000) }
        #expect(throws: Never.self) { try l.take("a", now: 1_200_000_000) }
    }

    /// A request whose clock was read before another's, but which takes the bucket after it, finds time
    /// not run backwards: the bucket is not refilled (a wrapped difference once refilled it, and a
    /// client's concurrent requests then got about twice its rate).
    @Test func rateLimiterIgnoresAnEarlierClockReading() {
        let l = RateLimiter(rate: 10, burst: 2)
        #expect(throws: Never.self) { try l.take("a", now: 5_000_000_000) }
        #expect(throws: Never.self) { try l.take("a", now: 5_000_000_000) }
        #expect(throws: Problem.self) { try l.take("a", now: 4_999_000_000) }
        #expect(throws: Problem.self) { try l.take("a", now: 5_050_000_000) }
        #expect(throws: Never.self) { try l.take("a", now: 5_100_000_000) }
    }

    /// The repository's openapi.yaml is a link to the embedded one, so the file users read is the one
    /// the service serves (an in-place edit such as `sed -i` replaces a link with a copy, twice so far).
    @Test func rootSpecIsALinkToTheServedOne() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let link = root.appendingPathComponent("openapi.yaml").path
        let dest = try FileManager.default.destinationOfSymbolicLink(atPath: link)
        #expect(dest == "Sources/CompactServiceKit/Resources/openapi.yaml")
    }

    /// Every route in the table is in openapi.yaml, and every path there is in the table.
    @Test func tableMatchesOpenAPI() {
        let spec = String(decoding: PackageResources.openapi_yaml, as: UTF8.self)
        var specPaths = Set<String>()
        for line in spec.split(separator: "\n") where line.hasPrefix("  /") && line.hasSuffix(":") {
            specPaths.insert(String(line.dropFirst(2).dropLast()))
        }
        let tablePaths = Set(router.registered.map(\.pattern))
        #expect(specPaths == tablePaths)
    }
}

@Suite("JSON and validation")
struct JSONTests {
    @Test(arguments: [("a", true), ("demo-1_x", true), ("0", true), ("-a", false), ("_a", false), ("A", false),
                      ("", false), (String(repeating: "a", count: 63), true), (String(repeating: "a", count: 64), false),
                      ("a b", false), ("é", false)])
    func names(_ name: String, _ valid: Bool) {
        #expect(Validation.isValidName(name) == valid)
    }

    @Test func unknownFieldIsNamedWithItsPath() throws {
        let v = try JSON.parse(bytes: Array(#"{"name":"a","memory_mib":64,"sysctl":{"min_free_kbytes":1,"x":2}}"#.utf8))
        do {
            _ = try MachineWire.parseCreate(v)
            Issue.record("accepted an unknown field")
        } catch {
            let p = Problem.from(error)
            #expect(p.field == "sysctl.x")
            #expect(p.status == 422)
        }
    }

    @Test func sizes() {
        #expect(ServerConfig.parseSize("1024") == 1024)
        #expect(ServerConfig.parseSize("2GiB") == 2 << 30)
        #expect(ServerConfig.parseSize("512m") == 512 << 20)
        #expect(ServerConfig.parseSize("x") == nil)
        #expect(ServerConfig.parseSize("9999999999T") == nil)
    }
}
