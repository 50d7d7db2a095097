import Dispatch
import MMCore
import MMFormat

/// Workloads, experiments and the jobs that run them.
///
/// - `POST /v1/machines/{name}/workloads` runs a workload (a definition, or `{"preset": "…"}`) on a machine;
/// - `POST /v1/experiments` runs one workload on fresh machines made from a template and its variants;
/// - both answer 202 with a job (`?wait=true`: 200 with the finished job);
/// - `GET /v1/jobs/{id}` (`?wait=true` blocks until done), `DELETE` cancels a running job or forgets a
///   finished one, `GET /v1/jobs/{id}/result?format=json|csv|markdown` gives the result table;
/// - `GET /v1/workload-presets` lists the built-in workloads.
enum WorkloadRoutes {
    static func register(_ t: inout RouteTable) {
        t.get("/v1/workload-presets", execution: .inline) { _ in
            var w = JSONWriter(capacity: 8192)
            w.beginObject()
            w.key("presets")
            w.beginArray()
            for p in WorkloadPresets.all {
                w.beginObject()
                w.field("name", p.name)
                w.field("summary", p.summary)
                w.key("definition")
                w.json(WorkloadPresets.definitionJSON(named: p.name)!)
                w.endObject()
            }
            w.endArray()
            w.endObject()
            return .json(200, w)
        }
        t.get("/v1/workload-presets/{preset}", execution: .inline) { ctx in
            let name = ctx.params["preset"] ?? ""
            guard let j = WorkloadPresets.definitionJSON(named: name) else {
                throw Problem.notFound("preset", "no workload preset '\(name.prefix(64))' (\(WorkloadPresets.all.map(\.name).joined(separator: ", ")))")
            }
            var w = JSONWriter()
            w.json(j)
            return .json(200, w)
        }
        t.add("POST", "/v1/machines/{name}/workloads", body: .json, submitWorkload)
        t.add("POST", "/v1/experiments", body: .json, submitExperiment)
        t.get("/v1/jobs", execution: .inline) { ctx in
            var w = JSONWriter(capacity: 4096)
            w.beginObject()
            w.key("jobs")
            w.beginArray()
            for j in ctx.registry.jobs.list() { j.write(into: &w, includeResult: false) }
            w.endArray()
            w.endObject()
            return .json(200, w)
        }
        t.add("PUT", "/v1/experiments/{experiment}", body: .json, putExperiment)
        // A job by id, under its machine (a workload's), and by its experiment's name: the same routes.
        for prefix in ["/v1/jobs/{id}", "/v1/machines/{name}/jobs/{id}", "/v1/experiments/{experiment}"] {
            // Without ?wait the job is answered on the HTTP thread; a wait blocks a worker.
            t.get(prefix, cached: { ctx in try wantsWait(ctx) ? nil : jobDocument(try job(ctx)) }) { ctx in
                let job = try job(ctx)
                if try wantsWait(ctx) { _ = ctx.registry.jobs.wait(job, timeoutNs: try waitTimeout(ctx), shouldStop: { ctx.registry.isShuttingDown }) }
                return jobDocument(job)
            }
            // On a worker: forgetting a job removes its file (--state-dir).
            t.delete(prefix, deleteJob)
            t.get(prefix + "/result", execution: .inline, result)
        }
    }

    /// DELETE: cancels a running job (202) or forgets a finished one (204; an experiment's name is free
    /// again).
    static func deleteJob(_ ctx: RequestContext) throws -> Response {
        let job = try job(ctx)
        if job.snapshot.state.finished {
            ctx.registry.jobs.remove(job.id)
            if let e = ctx.params["experiment"] { ctx.registry.experimentNames.unbind(e, jobID: job.id) }
            return .noContent()
        }
        job.cancelRequested.store(true, ordering: .relaxed)
        var w = JSONWriter()
        job.write(into: &w, includeResult: false)
        return .json(202, w)
    }

    static func result(_ ctx: RequestContext) throws -> Response {
        let job = try job(ctx)
        let s = job.snapshot
        guard s.state.finished else { throw Problem.conflict("id", "job \(job.id) is \(s.state.rawValue); its result is not ready") }
        guard let json = s.resultJSON else { throw Problem.notFound("id", "job \(job.id) \(s.state.rawValue) without a result") }
        switch ctx.request.query["format"] ?? "json" {
        case "json": return Response(status: 200, contentType: "application/json", body: json)
        case "csv": return Response(status: 200, contentType: "text/csv; charset=utf-8", body: Array((s.csv ?? "").utf8))
        case "markdown", "md": return Response(status: 200, contentType: "text/markdown; charset=utf-8", body: Array((s.markdown ?? "").utf8))
        case let f: throw Problem.invalid("format", "format must be json, csv or markdown, not '\(f.prefix(32))'")
        }
    }

    static func jobDocument(_ job: Job) -> Response {
        var w = JSONWriter(capacity: 4096)
        job.write(into: &w, includeResult: true)
        return .json(200, w)
    }

    /// The job a path names: `{id}` (under `/v1/machines/{name}/jobs/` only a job of that machine), or
    /// `{experiment}`, the name of an experiment started by `PUT /v1/experiments/{name}`.
    static func job(_ ctx: RequestContext) throws -> Job {
        if let e = ctx.params["experiment"] {
            let name = try Validation.pathName(e, field: "experiment")
            guard let entry = ctx.registry.experimentNames.entry(name) else {
                throw Problem.notFound("experiment", "no experiment '\(name)'")
            }
            guard let j = ctx.registry.jobs.get(entry.jobID) else {
                // Its job was forgotten: so is the name.
                ctx.registry.experimentNames.unbind(name, jobID: entry.jobID)
                throw Problem.notFound("experiment", "no experiment '\(name)'")
            }
            return j
        }
        let id = ctx.params["id"] ?? ""
        guard let j = ctx.registry.jobs.get(id) else { throw Problem.notFound("id", "no job '\(id.prefix(64))'") }
        if ctx.params["name"] != nil {
            let m = try ctx.machineName()
            guard j.machine == m else { throw Problem.notFound("id", "machine '\(m)' has no job '\(id.prefix(64))'") }
        }
        return j
    }

    static func wantsWait(_ ctx: RequestContext) throws -> Bool {
        switch ctx.request.query["wait"] {
        case nil, "false", "0": return false
        case "true", "1", "": return true
        case let v?: throw Problem.invalid("wait", "wait must be true or false, not '\(v.prefix(32))'")
        }
    }

    static func waitTimeout(_ ctx: RequestContext) throws -> UInt64 {
        guard let t = ctx.request.query["timeout_s"] else { return 600_000_000_000 }
        guard let s = Int(t), (1...3600).contains(s) else { throw Problem.invalid("timeout_s", "timeout_s must be 1..3600") }
        return UInt64(s) * 1_000_000_000
    }

    /// A definition, or `{"preset": "name"}`; with the definition's JSON (a preset's own), which the
    /// journal keeps so that replay reads the same definition.
    static func workloadDefinition(_ body: JSON, path: FieldPath) throws -> (WorkloadDefinition, JSON) {
        let r = try JSONObjectReader(body, path: path)
        if let p = try r.string("preset") {
            try r.rejectUnknown(["preset"])
            guard let d = WorkloadPresets.definition(named: p), let j = WorkloadPresets.definitionJSON(named: p) else {
                throw Problem.invalid(r.field("preset").jsonPath, "unknown workload preset '\(p.prefix(64))' (\(WorkloadPresets.all.map(\.name).joined(separator: ", ")))")
            }
            return (d, j)
        }
        return (try WorkloadDefinition(json: body, path: path), body)
    }

    static func accepted(_ ctx: RequestContext, _ job: Job, location: String? = nil) throws -> Response {
        if try wantsWait(ctx) {
            _ = ctx.registry.jobs.wait(job, timeoutNs: try waitTimeout(ctx), shouldStop: { ctx.registry.isShuttingDown })
            var w = JSONWriter(capacity: 4096)
            job.write(into: &w, includeResult: true)
            return .json(200, w)
        }
        var w = JSONWriter()
        job.write(into: &w, includeResult: false)
        var r = Response.json(202, w)
        r.headers.append(("Location", location ?? job.machine.map { "/v1/machines/\($0)/jobs/\(job.id)" } ?? "/v1/jobs/\(job.id)"))
        return r
    }

    static func submitWorkload(_ ctx: RequestContext) throws -> Response {
        let box = try ctx.machine()
        _ = try wantsWait(ctx)
        let (def, defJSON) = try workloadDefinition(try ctx.jsonBody(), path: .root)
        try box.withMachine { m in try def.validate(for: m.config) }
        let registry = ctx.registry
        if let store = registry.store { try store.admit() }
        let base = try chargeJob(ctx, for: .workload, what: "the workload job")
        // Held weakly while queued: a machine deleted before its job starts is freed at once.
        let job = try registry.jobs.submit(kind: "workload", machine: box.name, machineInstance: box.instance, workload: def.name,
                                           steps: def.steps.count, variants: 1, chargedBytes: base) { [weak box] job in
            guard let box, !box.isRemoved else {
                job.update { $0.state = .cancelled; $0.error = Problem.deleted(machineOf: job) }
                return
            }
            try runWorkload(def, json: defJSON, on: box, job: job, registry: registry)
        }
        return try accepted(ctx, job)
    }

    /// Charges a job's base share of the memory budget (`JobRegistry.baseBytes` and its definition);
    /// 507 when the budget has not that much left.
    static func chargeJob(_ ctx: RequestContext, for op: BudgetOperation, what: String) throws -> Int {
        let bytes = JobRegistry.baseBytes + ctx.request.body.count
        guard ctx.registry.charge(jobBytes: bytes, for: op) else {
            throw ctx.registry.overBudget(what, needed: bytes, field: nil)
        }
        return bytes
    }

    /// A workload job's body: steps of about 3 ms under the machine's lock until the workload is done,
    /// the job is cancelled or the service stops (then the run is undone and the partial result kept),
    /// or the machine is deleted (the partial result is kept; the machine is gone).
    ///
    /// The run's own state (`WorkloadRun.stateBytes`) is charged to the machine while it runs, and its
    /// growth, like the machine's, asks the machine's state gate: a refusal ends the run (MMCore undoes
    /// a fill or metadata walk in progress) and the job `failed` with a 507 error and its partial result.
    /// The result documents then replace the run's charge (a result that does not fit fails the job too).
    static func runWorkload(_ def: WorkloadDefinition, json defJSON: JSON, on box: MachineBox, job: Job, registry: MachineRegistry) throws {
        var run: WorkloadRun?
        var runId: Int?
        var result: WorkloadResult?
        var reported = -1
        var budgetStop: Int?
        // What this job's run is charged on the machine (`MachineBox.runBytes`).
        var runCharge = 0
        func setRunCharge(_ b: Int) {
            box.runBytes.add(b - runCharge, ordering: .relaxed)
            runCharge = b
        }
        defer { setRunCharge(0) }
        // Progress also goes to the machine's event stream (`?events=jobs`), once per step done.
        func report(_ state: String, _ step: Int) {
            box.events.jobProgress(JobProgress(id: job.id, state: state, step: step, steps: def.steps.count,
                                               percent: def.steps.isEmpty ? 100 : (Double(step) * 1000 / Double(def.steps.count)).rounded() / 10))
        }
        defer { let s = job.snapshot; report(s.state.finished ? s.state.rawValue : (result == nil ? "failed" : "succeeded"), s.step) }
        // Stores a result in place of the run's charge; false when it does not fit.
        func keep(_ r: WorkloadResult) -> Bool {
            let held = runCharge
            runCharge = 0
            return store(ExperimentResult(name: def.name, workload: def.name, variants: [(box.name, r)]), in: job, single: true,
                         registry: registry, releasingRun: (box, held))
        }
        let finished: Bool
        do {
            finished = try box.runInSteps(shouldStop: { registry.isShuttingDown || job.cancelRequested.load(ordering: .relaxed) }) { s in
                let start = monotonicNs()
                let op: MachineRecord.Op
                if let id = runId {
                    op = .workload(run: id, job: job.id, begin: nil, calls: 0)
                } else {
                    let id = s.runs.newId()
                    runId = id
                    op = .workload(run: id, job: job.id, begin: defJSON, calls: 0)
                }
                guard case .workloadSection(let r, _, let done) = try s.perform(op, limit: .time(start: start)) else {
                    preconditionFailure("a workload section")
                }
                run = r
                // Before the section ends (and the machine's charge is set to what it holds).
                setRunCharge(run!.stateBytes)
                let stepsDone = run!.result.stepsDone
                job.update { $0.step = stepsDone }
                if stepsDone != reported { reported = stepsDone; report("running", stepsDone) }
                if done {
                    if case .stateLimit(let bytes)? = run!.failure {
                        budgetStop = bytes
                    } else if let f = run!.failure {
                        throw f
                    }
                    result = run!.result
                    return .done
                }
                return .more
            }
        } catch RegistryError.deletedDuringOperation {
            if let r = run { _ = keep(r.result) }
            job.update { $0.state = .cancelled; $0.error = Problem.deleted(machineOf: job) }
            return
        }
        if !finished, let r = run, let id = runId {
            try box.mutate(ending: true) { s in _ = try s.perform(.workloadCancel(run: id)) }
            result = r.result
            job.update { $0.state = .cancelled }
        }
        if let r = result, !keep(r) {
            throw registry.overBudget("the job's result", needed: job.snapshot.resultJSON?.count ?? 0, field: nil)
        }
        if let bytes = budgetStop {
            registry.countRefusal(.workload)
            throw registry.overBudget("the workload '\(def.name)' (at step \(result?.stepsDone ?? 0) of \(def.steps.count))", needed: bytes, field: nil)
        }
    }

    /// An experiment's starting state (`start`): a machine of this service (its state now) or a
    /// snapshot (base64). Every variant starts from it instead of from a fresh machine; the variants
    /// default to its configuration (`template`), keep its memory layout, and may differ in
    /// `compaction` and `sysctl`, which are set on their copy of the state.
    struct StartState: Sendable {
        var image: MachineStateImage
        var config: MachineConfig
    }

    static func startState(_ ctx: RequestContext, _ j: JSON) throws -> StartState {
        let r = try ObjectReader(j, path: "start", allowed: ["machine", "snapshot"])
        switch (try r.string("machine", maxBytes: 1024), try r.string("snapshot", maxBytes: Int.max)) {
        case (let name?, nil):
            guard Validation.isValidName(name) else { throw Problem.invalid("start.machine", "machine names match \(Validation.namePattern)") }
            let box: MachineBox
            do { box = try ctx.registry.get(name) } catch RegistryError.unknownMachine {
                throw Problem.notFound("start.machine", "no machine named '\(name)'")
            }
            let (image, id) = try SnapshotRoutes.capture(box, registry: ctx.registry)
            return StartState(image: image, config: id.config)
        case (nil, let b64?):
            guard let bytes = Codec.base64Decode(b64) else { throw Problem.invalid("start.snapshot", "not base64") }
            do {
                let (id, image) = try SnapshotFormat.decode(bytes)
                return StartState(image: image, config: id.config)
            } catch {
                throw Problem.invalid("start.snapshot", "not a snapshot this service reads: \(error.description)")
            }
        default:
            throw Problem.invalid("start", "give exactly one of machine (a machine's name) and snapshot (base64)")
        }
    }

    /// The variants must keep the start state's memory layout.
    static func layoutKey(_ c: MachineConfig) throws -> String {
        let l = try c.validate()
        return "\(l.totalPages) \(l.nodeSpans.map { "\($0.start)+\($0.pages)" }) \(l.zones.map { "\($0.node)/\($0.type)/\($0.startPfn)+\($0.pages)" }) "
            + "\(c.preset.pageShift) \(c.preset.nrOrders) \(c.preset.pageblockOrder) \(c.preset.zoneTypes) \(c.swapMiB)"
    }

    /// A variant's machine from the start state, with the variant's own sysctls set on it.
    static func machine(_ v: ExperimentVariant, from start: StartState, gate: @escaping (Int) -> Bool) throws(MMError) -> Machine {
        let m = try Machine(v.config, restoring: start.image, stateGrowthGate: gate)
        let own = v.config.sysctl, base = start.config.sysctl
        if let x = own.extfragThreshold, x != base.extfragThreshold { try m.setExtfragThreshold(x) }
        if let x = own.minFreeKbytes, x != base.minFreeKbytes { try m.setMinFreeKbytes(x) }
        if let x = own.compactUnevictableAllowed, x != base.compactUnevictableAllowed { try m.setCompactUnevictableAllowed(x) }
        if let x = own.dirtyRatio, x != base.dirtyRatio { try m.setDirtyRatio(x) }
        if let x = own.dirtyBackgroundRatio, x != base.dirtyBackgroundRatio { try m.setDirtyBackgroundRatio(x) }
        return m
    }

    /// An experiment body without its `start`, with the start state's configuration as its template
    /// when it has none; and the start state.
    /// `spread` (a boolean, false when absent) and the body without it.
    static func splitSpread(_ body: JSON) throws -> (Bool, JSON) {
        guard case .object(var members) = body, let i = members.firstIndex(where: { $0.0 == "spread" }) else { return (false, body) }
        guard case .bool(let b) = members.remove(at: i).1 else { throw Problem.invalid("spread", "spread is true or false") }
        return (b, .object(members))
    }

    static func splitStart(_ ctx: RequestContext, _ body: JSON) throws -> (JSON, StartState?) {
        guard case .object(var members) = body, let i = members.firstIndex(where: { $0.0 == "start" }) else { return (body, nil) }
        let start = try startState(ctx, members.remove(at: i).1)
        if !members.contains(where: { $0.0 == "template" }) { members.append(("template", start.config.json)) }
        return (.object(members), start)
    }

    static func submitExperiment(_ ctx: RequestContext) throws -> Response {
        _ = try wantsWait(ctx)
        let (spread, unspread) = try splitSpread(try ctx.jsonBody())
        if spread { throw Problem.invalid("spread", "a spread experiment is named: PUT /v1/experiments/{name} (its parts are named after it)") }
        let (body, start) = try splitStart(ctx, unspread)
        return try accepted(ctx, try startExperiment(ctx, try Experiment(json: body), start: start))
    }

    /// `PUT /v1/experiments/{name}`: starts the experiment under that name, idempotent for the same
    /// definition: 202 when it starts it, 200 with the job when that name started an equal definition
    /// (running or finished), 409 when a different one. The body is a `POST /v1/experiments` body whose
    /// `name` may be left out (it is then the path's) and must otherwise be the path's.
    static func putExperiment(_ ctx: RequestContext) throws -> Response {
        _ = try wantsWait(ctx)
        let name = try Validation.pathName(ctx.params["experiment"] ?? "", field: "experiment")
        var body = try ctx.jsonBody()
        if case .object(var members) = body {
            if let given = members.first(where: { $0.0 == "name" }) {
                guard case .string(let n) = given.1, n == name else {
                    throw Problem.invalid("name", "the body's name must be the path's ('\(name)'), or left out")
                }
            } else {
                members.insert(("name", .string(name)), at: 0)
                body = .object(members)
            }
        }
        let definition = ExperimentNames.canonical(body)
        let (spread, unspread) = try splitSpread(body)
        let (plain, start) = try splitStart(ctx, unspread)
        var exp = try Experiment(json: plain)
        var plan: SpreadPlan?
        if spread {
            if start != nil { throw Problem.invalid("start", "a spread experiment starts from fresh machines (its parts run elsewhere)") }
            plan = try SpreadPlan.make(name: name, body: plain, exp: exp, fleet: ctx.fleet, authorization: ctx.request.authorization)
            if let plan { exp = plan.local }
        }
        let registry = ctx.registry
        let (job, created) = try registry.experimentNames.withBinding { names -> (Job, Bool) in
            if let e = names[name] {
                if let j = registry.jobs.get(e.jobID) {
                    guard e.definition == definition else {
                        throw Problem.conflict("body", "experiment '\(name)' exists with a different definition; DELETE it (once finished) or choose another name")
                    }
                    return (j, false)
                }
                names[name] = nil
            }
            let j = try startExperiment(ctx, exp, start: start, spread: plan)
            names[name] = ExperimentNames.Entry(jobID: j.id, definition: definition)
            return (j, true)
        }
        if created { return try accepted(ctx, job, location: "/v1/experiments/\(name)") }
        if try wantsWait(ctx) { _ = registry.jobs.wait(job, timeoutNs: try waitTimeout(ctx), shouldStop: { registry.isShuttingDown }) }
        return jobDocument(job)
    }

    /// Reserves an experiment's budget share and queues its job (every unit from `start`, when given).
    static func startExperiment(_ ctx: RequestContext, _ exp: Experiment, start: StartState? = nil, spread: SpreadPlan? = nil) throws -> Job {
        let registry = ctx.registry
        if let start {
            let key = try layoutKey(start.config)
            for (i, v) in exp.variants.enumerated() where try layoutKey(v.config) != key {
                throw Problem.invalid("variants[\(i)]", "variant '\(v.name)' has another memory layout than the start state (its preset, memory, nodes, zones and swap must be the start's)")
            }
        }
        if let store = registry.store { try store.admit() }
        // The units (every variant on every seed) run on fresh machines that are not in the registry, on
        // up to as many lanes as the job pool has threads: this job's thread and helper threads of its
        // own. Each lane reserves the largest variant in the memory budget from now until the job ends,
        // so experiments already queued or running count against later machines and experiments (a lane
        // the budget cannot reserve is not started; the first must be). While a unit runs, its lane's
        // reservation follows what its machine and run hold (it grows through the machine's state gate,
        // which asks the budget), and never drops below the largest variant's start.
        let largest = try exp.variants.map { MachineRegistry.estimatedStateBytes(try $0.config.validate()) }.max() ?? 0
            + (start?.image.storedBytes ?? 0)
        let units = exp.repeatCount * exp.variants.count
        var reservations = [try registry.reserve(largest)]
        while reservations.count < min(registry.jobs.workers, units), let r = try? registry.reserve(largest) { reservations.append(r) }
        let base: Int
        do {
            base = try chargeJob(ctx, for: .experiment, what: "the experiment job")
        } catch {
            for r in reservations { registry.release(reservation: r) }
            throw error
        }
        let lanes = reservations
        let job: Job
        do {
            job = try registry.jobs.submit(kind: "experiment", machine: nil, workload: exp.workload.name,
                                           steps: exp.workload.steps.count, variants: units, chargedBytes: base,
                                           discarded: { for r in lanes { registry.release(reservation: r) } }) { job in
                try runExperiment(exp, units: units, start: start, spread: spread, lanes: lanes, largest: largest, job: job, registry: registry)
            }
        } catch {
            // (The job's base charge went back with it.)
            for r in lanes { registry.release(reservation: r) }
            throw error
        }
        return job
    }

    /// An experiment job's body: its units on its lanes, then its result.
    static func runExperiment(_ exp: Experiment, units: Int, start: StartState?, spread: SpreadPlan? = nil, lanes: [Int], largest: Int, job: Job,
                              registry: MachineRegistry) throws {
        defer { for r in lanes { registry.release(reservation: r) } }
        // The other parts first, so that they run while this instance runs its own.
        do { try spread?.submit() } catch {
            spread?.cancel()
            throw error
        }
        let run = ExperimentLanes(exp, units: units, start: start)
        let helpers = lanes.count > 1 ? WorkerPool(name: "experiment", minThreads: 0, maxThreads: lanes.count - 1,
                                                   niceness: CPUPriority.background) : nil
        let done = DispatchSemaphore(value: 0)
        for rid in lanes.dropFirst() {
            let accepted = helpers!.submit {
                run.lane(reservation: rid, largest: largest, registry: registry, job: job)
                done.signal()
            }
            if !accepted { done.signal() }
        }
        run.lane(reservation: lanes[0], largest: largest, registry: registry, job: job)
        for _ in lanes.dropFirst() { done.wait() }
        helpers?.stop()
        // Results are stored charged in place of the first lane's reservation (the others go first).
        for r in lanes.dropFirst() { registry.release(reservation: r) }
        let (reps, stop) = run.outcome()
        var merged = ExperimentLanes.result(exp, reps)
        func keep() -> Bool {
            guard let r = merged else { return true }
            return store(r, in: job, single: false, registry: registry, releasingReservation: lanes[0])
        }
        if let spread, stop == nil, var r = merged {
            let stopWaiting = { job.cancelRequested.load(ordering: .relaxed) || registry.isShuttingDown }
            let collected: [[[ReplicateRecord]]]?
            do { collected = try spread.collect(into: r, stop: stopWaiting) } catch {
                spread.cancel()
                throw error
            }
            guard let parts = collected else {
                if !keep() { throw registry.overBudget("the job's result", needed: 0, field: nil) }
                job.update { $0.state = .cancelled }
                return
            }
            for p in parts { r.append(laterParts: p) }
            merged = r
        }
        switch stop {
        case .cancelled:
            spread?.cancel()
            if !keep() { throw registry.overBudget("the job's result", needed: 0, field: nil) }
            job.update { $0.state = .cancelled }
            return
        case .stateLimit(let v, let bytes):
            if !keep() { throw registry.overBudget("the job's result", needed: 0, field: nil) }
            registry.countRefusal(.experiment)
            throw registry.overBudget("the experiment's variant '\(exp.variants[v].name)'", needed: bytes, field: "variants[\(v)]")
        case .failed(let e):
            throw e
        case nil:
            break
        }
        job.update { $0.variant = units - 1; $0.variantName = exp.variants.last?.name; $0.step = exp.workload.steps.count }
        if !keep() { throw registry.overBudget("the job's result", needed: 0, field: nil) }
    }

    /// Keeps a job's result documents, charged to the memory budget in place of what they replace (the
    /// run's charge on its machine, or the experiment's reservation); false, keeping nothing, when they
    /// do not fit.
    @discardableResult
    static func store(_ r: ExperimentResult, in job: Job, single: Bool, registry: MachineRegistry,
                      releasingRun run: (box: MachineBox, bytes: Int)? = nil, releasingReservation rid: Int? = nil) -> Bool {
        let json: JSON = single ? (r.variants.first?.result.json ?? .null) : r.json
        let bytes = Array(json.encoded.utf8)
        let csv = r.csv, md = r.markdown
        let size = bytes.capacity + csv.utf8.count + md.utf8.count + 3 * 48
        guard registry.charge(jobBytes: size, for: .jobResult, releasingReservation: rid, releasingRun: run) else { return false }
        job.chargedBytes.add(size, ordering: .relaxed)
        job.update { $0.resultJSON = bytes; $0.csv = csv; $0.markdown = md }
        return true
    }
}
