import MMCore
import MMFormat
#if canImport(Glibc)
import Glibc
#endif

/// A spread experiment (`PUT /v1/experiments/{name}` with `"spread": true`, README "Sharding"): its seeds
/// are split into as many parts as the fleet has instances (`--peers` and this one), in seed order. This
/// instance runs the first part itself; every other part is the same definition with its own `repeat`
/// and `seed_offset` and `part_of`, submitted through the front (`--front`) as `PUT
/// /v1/experiments/{name}-part-{i}`, so it runs on whichever instance owns that name. Once all are done
/// their exact records (`replicates_exact`) are appended to the first part's result in seed order: the
/// tables and intervals are those of the same experiment run on one instance, byte for byte.
struct SpreadPlan: Sendable {
    struct Part: Sendable {
        let name: String
        let body: [UInt8]
    }

    /// The first part, run here.
    let local: Experiment
    let remote: [Part]
    let front: PeerURL
    /// The client's `Authorization`, sent with the parts' requests.
    let authorization: String?

    /// The parts of `exp` (whose definition is `body`, without `spread`) over `instances` instances; nil
    /// when there is one part only (one seed, or one instance): the experiment then runs here as it is.
    static func make(name: String, body: JSON, exp: Experiment, fleet: FleetPeers, authorization: String?) throws(Problem) -> SpreadPlan? {
        guard let front = fleet.front else {
            throw Problem.invalid("spread", "spreading an experiment needs the front's URL (--front) to submit its parts through")
        }
        if exp.partOf != nil || exp.seedOffset != 0 {
            throw Problem.invalid("spread", "a part of an experiment (part_of, seed_offset) is not spread again")
        }
        let n = min(exp.repeatCount, fleet.peers.count + 1)
        guard n > 1 else { return nil }
        let sizes = (0..<n).map { exp.repeatCount / n + ($0 < exp.repeatCount % n ? 1 : 0) }
        guard case .object(let members) = body else { throw Problem.invalid("body", "an experiment is an object") }
        var remote: [Part] = []
        var offset = sizes[0]
        for i in 1..<n {
            let partName = "\(name)-part-\(i)"
            guard Validation.isValidName(partName) else {
                throw Problem.invalid("experiment", "the parts' names ('\(partName)') must match \(Validation.namePattern): choose a shorter name")
            }
            var m = members.filter { !["name", "repeat", "seed_offset", "part_of"].contains($0.0) }
            m.insert(("name", .string(partName)), at: 0)
            m += [("repeat", .number(Double(sizes[i]))), ("seed_offset", .number(Double(offset))), ("part_of", .string(name))]
            remote.append(Part(name: partName, body: JSON.object(m).encodedBytes))
            offset += sizes[i]
        }
        var local = exp
        local.repeatCount = sizes[0]
        return SpreadPlan(local: local, remote: remote, front: front, authorization: authorization)
    }

    /// Per request to the front (a wait asks for at most `waitSeconds` and gets this much more).
    static let timeoutMs = 30_000
    static let waitSeconds = 2

    private func call(_ method: String, _ path: String, _ body: [UInt8]? = nil) throws(Problem) -> (status: Int, body: [UInt8]) {
        switch PeerClient.request(front, method, path, body: body, authorization: authorization, timeoutMs: SpreadPlan.timeoutMs) {
        case .success(let a): return a
        case .failure(let e): throw Problem(502, "the front at \(front): \(e.description)")
        }
    }

    /// Submits every remote part (idempotent: a part already submitted with the same definition answers 200).
    func submit() throws(Problem) {
        for p in remote {
            let a = try call("PUT", "/v1/experiments/\(p.name)", p.body)
            guard a.status == 200 || a.status == 202 else {
                throw Problem(502, "part '\(p.name)' was refused through the front (\(a.status)): \(detail(a.body))")
            }
        }
    }

    /// Waits for every remote part and returns their records, in part order; nil when `stop` said to
    /// stop waiting (the parts are then cancelled).
    func collect(into result: ExperimentResult, stop: () -> Bool) throws -> [[[ReplicateRecord]]]? {
        var out: [[[ReplicateRecord]]] = []
        for p in remote {
            while true {
                if stop() { cancel(); return nil }
                let a = try call("GET", "/v1/experiments/\(p.name)?wait=true&timeout_s=\(SpreadPlan.waitSeconds)")
                guard a.status == 200, let doc = try? JSON.parse(bytes: a.body), case .string(let state)? = doc["state"] else {
                    throw Problem(502, "part '\(p.name)' could not be read through the front (\(a.status)): \(detail(a.body))")
                }
                if state == "succeeded" { break }
                if ["failed", "cancelled", "interrupted"].contains(state) {
                    let why = doc["error"]?["detail"].flatMap { if case .string(let s) = $0 { s } else { nil } } ?? state
                    throw Problem(502, "part '\(p.name)' of the spread experiment \(state): \(why)")
                }
            }
            let a = try call("GET", "/v1/experiments/\(p.name)/result?format=json")
            guard a.status == 200, let doc = try? JSON.parse(bytes: a.body) else {
                throw Problem(502, "the result of part '\(p.name)' could not be read through the front (\(a.status))")
            }
            do { out.append(try result.exactRecords(ofPart: doc, path: FieldPath(p.name))) } catch {
                throw Problem(502, "the result of part '\(p.name)' does not fit this experiment: \(error)")
            }
        }
        return out
    }

    /// Cancels the remote parts (best effort: one that cannot be reached is left to finish).
    func cancel() {
        for p in remote { _ = try? call("DELETE", "/v1/experiments/\(p.name)") }
    }

    private func detail(_ body: [UInt8]) -> String {
        if let doc = try? JSON.parse(bytes: body), case .string(let d)? = doc["detail"] { return d }
        return String(decoding: body.prefix(200), as: UTF8.self)
    }
}
