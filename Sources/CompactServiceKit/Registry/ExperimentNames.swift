import MMCore
import MMFormat
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
    /// `--state-dir`: the names are saved (`DIR/experiments.json`) whenever they change, before the PUT
    /// that bound one is answered, so a PUT retried after a restart finds its experiment.
    let store: StateStore?

    init(store: StateStore? = nil) { self.store = store }

    /// Serializes PUTs of one registry: looking a name up, starting its job and binding it happen as
    /// one step, so two identical PUTs at once start one experiment. (Starting a job only queues it.)
    /// With a state directory a change is saved before this returns; when it cannot be, the change is
    /// undone and `RegistryError.storage` thrown.
    func withBinding<R>(_ body: (inout [String: Entry]) throws -> R) throws -> R {
        try byName.withLock { names in
            let before = names
            let r = try body(&names)
            if let store, !ExperimentNames.same(before, names) {
                do throws(StoreError) { try store.saveExperimentNames(ExperimentNames.encode(names)) } catch {
                    names = before
                    throw RegistryError.storage(error.description)
                }
            }
            return r
        }
    }

    func entry(_ name: String) -> Entry? { byName.withLock { $0[name] } }

    /// Forgets `name` if it is still bound to `jobID`.
    func unbind(_ name: String, jobID: String) {
        byName.withLock { names in
            guard names[name]?.jobID == jobID else { return }
            names[name] = nil
            do throws(StoreError) { try store?.saveExperimentNames(ExperimentNames.encode(names)) } catch {
                store?.log.error("state: cannot save the experiments' names: \(error)")
            }
        }
    }

    /// The names saved in the state directory whose jobs `exists` still knows (at start-up).
    func restore(exists: (String) -> Bool) {
        guard let store, let bytes = store.loadExperimentNames(), case .object(let members)? = try? JSON.parse(bytes: bytes) else { return }
        byName.withLock { names in
            for (name, v) in members {
                guard case .string(let job)? = v["job"], let d = v["definition"], exists(job) else { continue }
                names[name] = Entry(jobID: job, definition: d)
            }
        }
    }

    static func same(_ a: [String: Entry], _ b: [String: Entry]) -> Bool {
        a.count == b.count && a.allSatisfy { k, v in b[k].map { $0.jobID == v.jobID && $0.definition == v.definition } ?? false }
    }

    static func encode(_ names: [String: Entry]) -> [UInt8] {
        JSON.object(names.keys.sorted().map { k in
            (k, JSON.object([("job", .string(names[k]!.jobID)), ("definition", names[k]!.definition)]))
        }).encodedBytes
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
