import MMCore
import Synchronization

/// Experiments by name (`PUT /v1/experiments/{name}`): the job each name started and the definition it
/// was started from, so a retried PUT finds its experiment and a front that hashes on the path finds the
/// instance that runs it. A name is bound until its job is forgotten (DELETE of a finished job, or the
/// job registry dropping its oldest finished jobs); then the name is free again.
final class ExperimentNames: Sendable {
    struct Entry: Sendable {
        let jobID: String
        /// The definition in canonical form (object members sorted by key, recursively).
        let definition: JSON
    }

    private let byName = Mutex<[String: Entry]>([:])

    /// Serializes PUTs of one registry: looking a name up, starting its job and binding it happen as
    /// one step, so two identical PUTs at once start one experiment. (Starting a job only queues it.)
    func withBinding<R>(_ body: (inout [String: Entry]) throws -> R) rethrows -> R {
        try byName.withLock { try body(&$0) }
    }

    func entry(_ name: String) -> Entry? { byName.withLock { $0[name] } }

    /// Forgets `name` if it is still bound to `jobID`.
    func unbind(_ name: String, jobID: String) {
        byName.withLock { if $0[name]?.jobID == jobID { $0[name] = nil } }
    }

    /// `json` with every object's members sorted by key (so two definitions that differ only in the
    /// order of their members compare equal).
    static func canonical(_ json: JSON) -> JSON {
        switch json {
        case .object(let members): return .object(members.map { ($0.0, canonical($0.1)) }.sorted { $0.0 < $1.0 })
        case .array(let items): return .array(items.map(canonical))
        default: return json
        }
    }
}
