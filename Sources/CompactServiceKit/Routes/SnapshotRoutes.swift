import MMCore
import MMFormat
#if canImport(Glibc)
import Glibc
#endif

/// Snapshots as a feature: `GET /v1/machines/{name}/snapshot` gives a machine's whole state (the
/// snapshot file format of README "Durable state": versioned, checksummed, deflated where it helps);
/// `POST /v1/machines?name=…` with such a body (`application/vnd.compact-service.snapshot`) creates a
/// machine from it, here or on another service; `POST /v1/machines/{name}/clone` forks a machine
/// under a new name. The copy is the same machine: the same documents byte for byte, and the same
/// answers to the same further requests.
enum SnapshotRoutes {
    static func register(_ t: inout RouteTable) {
        t.get("/v1/machines/{name}/snapshot") { ctx in
            let box = try ctx.machine()
            let (image, id) = try capture(box, registry: ctx.registry)
            var r = Response(status: 200, contentType: SnapshotFormat.mediaType, body: SnapshotFormat.encode(image, id))
            r.headers.append(("Content-Disposition", "attachment; filename=\"\(box.name).snap\""))
            return r
        }
        t.add("POST", "/v1/machines/{name}/clone", body: .json, scope: .admin) { ctx in
            let source = try ctx.machine()
            let r = try ObjectReader(try ctx.jsonBody(), path: "", allowed: ["name"])
            let name = try r.require("name", try r.string("name", maxBytes: 1024))
            guard Validation.isValidName(name) else { throw Problem.invalid("name", "machine names match \(Validation.namePattern)") }
            if (try? ctx.registry.get(name)) != nil { throw RegistryError.duplicateName(name) }
            let (image, id) = try capture(source, registry: ctx.registry)
            let box = try ctx.registry.create(name: name, config: id.config, image: image)
            return try MachineRoutes.created(box)
        }
    }

    /// The machine's state at a moment no stepped operation is in progress on it (waiting up to 10 s
    /// for one), charged to the memory budget while it is copied.
    static func capture(_ box: MachineBox, registry: MachineRegistry) throws -> (MachineStateImage, SnapshotFormat.Identity) {
        let rid = try registry.reserve(2 * box.accountedBytes.load(ordering: .relaxed), for: .snapshot,
                                       what: "a snapshot of machine '\(box.name)'", field: nil)
        defer { registry.release(reservation: rid) }
        let deadline = monotonicNs() &+ 10_000_000_000
        while true {
            if let c = try box.captureSnapshot(rotatingJournal: false) { return c }
            // kcompactd's work moves on only with the machine's time (the next change): waiting is no use.
            if try box.withMachine({ !$0.canExportState }) {
                throw Problem.conflict("name", "kcompactd is at work on machine '\(box.name)' (kernel 6.6), and a compaction in progress is not in a snapshot; it goes on with the machine's time, at its next change")
            }
            if monotonicNs() > deadline || registry.isShuttingDown {
                throw Problem.conflict("name", "machine '\(box.name)' has had an operation in progress (a compaction, an allocation batch or a workload job) for 10 s; a snapshot needs a moment between them")
            }
            usleep(5000)
        }
    }

    /// `POST /v1/machines?name=…` (no `name` argument) or `PUT /v1/machines/{name}` with a snapshot body.
    static func createFromUpload(_ ctx: RequestContext, name pathName: String? = nil) throws -> MachineBox {
        guard let name = pathName ?? ctx.request.query["name"] else {
            throw Problem.invalid("name", "a snapshot upload names the new machine in the query: POST /v1/machines?name=…")
        }
        guard Validation.isValidName(name) else { throw Problem.invalid("name", "machine names match \(Validation.namePattern)") }
        let decoded: (SnapshotFormat.Identity, MachineStateImage)
        do { decoded = try SnapshotFormat.decode(ctx.request.body) } catch {
            throw Problem.invalid("body", "not a snapshot this service reads: \(error.description)")
        }
        do {
            return try ctx.registry.create(name: name, config: decoded.0.config, image: decoded.1)
        } catch let e as MMError {
            throw Problem.invalid("body", "the snapshot does not hold a machine this service can restore: \(e.description)")
        }
    }
}
