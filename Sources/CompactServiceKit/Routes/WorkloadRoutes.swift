import MMCore

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
        // Without ?wait the job is answered on the HTTP thread; a wait blocks a worker.
        t.get("/v1/jobs/{id}", cached: { ctx in try wantsWait(ctx) ? nil : jobDocument(try job(ctx)) }) { ctx in
            let job = try job(ctx)
            if try wantsWait(ctx) { _ = ctx.registry.jobs.wait(job, timeoutNs: try waitTimeout(ctx), shouldStop: { ctx.registry.isShuttingDown }) }
            return jobDocument(job)
        }
        t.delete("/v1/jobs/{id}", execution: .inline) { ctx in
            let job = try job(ctx)
            if job.snapshot.state.finished {
                ctx.registry.jobs.remove(job.id)
                return .noContent()
            }
            job.cancelRequested.store(true, ordering: .relaxed)
            var w = JSONWriter()
            job.write(into: &w, includeResult: false)
            return .json(202, w)
        }
        t.get("/v1/jobs/{id}/result", execution: .inline) { ctx in
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
    }

    static func jobDocument(_ job: Job) -> Response {
        var w = JSONWriter(capacity: 4096)
        job.write(into: &w, includeResult: true)
        return .json(200, w)
    }

    static func job(_ ctx: RequestContext) throws -> Job {
        let id = ctx.params["id"] ?? ""
        guard let j = ctx.registry.jobs.get(id) else { throw Problem.notFound("id", "no job '\(id.prefix(64))'") }
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

    /// A definition, or `{"preset": "name"}`.
    static func workloadDefinition(_ body: JSON, path: String) throws -> WorkloadDefinition {
        let r = try JSONObjectReader(body, path: path)
        if let p = try r.string("preset") {
            try r.rejectUnknown(["preset"])
            guard let d = WorkloadPresets.definition(named: p) else {
                throw Problem.invalid(r.field("preset"), "unknown workload preset '\(p.prefix(64))' (\(WorkloadPresets.all.map(\.name).joined(separator: ", ")))")
            }
            return d
        }
        return try WorkloadDefinition(json: body, path: path)
    }

    static func accepted(_ ctx: RequestContext, _ job: Job) throws -> Response {
        if try wantsWait(ctx) {
            _ = ctx.registry.jobs.wait(job, timeoutNs: try waitTimeout(ctx), shouldStop: { ctx.registry.isShuttingDown })
            var w = JSONWriter(capacity: 4096)
            job.write(into: &w, includeResult: true)
            return .json(200, w)
        }
        var w = JSONWriter()
        job.write(into: &w, includeResult: false)
        var r = Response.json(202, w)
        r.headers.append(("Location", "/v1/jobs/\(job.id)"))
        return r
    }

    static func submitWorkload(_ ctx: RequestContext) throws -> Response {
        let box = try ctx.machine()
        _ = try wantsWait(ctx)
        let def = try workloadDefinition(try ctx.jsonBody(), path: "")
        try box.withMachine { m in try def.validate(for: m.config) }
        let registry = ctx.registry
        // Held weakly while queued: a machine deleted before its job starts is freed at once.
        let job = registry.jobs.submit(kind: "workload", machine: box.name, machineInstance: box.instance, workload: def.name,
                                       steps: def.steps.count, variants: 1) { [weak box] job in
            guard let box, !box.isRemoved else {
                job.update { $0.state = .cancelled; $0.error = Problem.deleted(machineOf: job) }
                return
            }
            try runWorkload(def, on: box, job: job, registry: registry)
        }
        return try accepted(ctx, job)
    }

    /// A workload job's body: steps of about 3 ms under the machine's lock until the workload is done,
    /// the job is cancelled or the service stops (then the run is undone and the partial result kept),
    /// or the machine is deleted (the partial result is kept; the machine is gone).
    static func runWorkload(_ def: WorkloadDefinition, on box: MachineBox, job: Job, registry: MachineRegistry) throws {
        var run: WorkloadRun?
        var result: WorkloadResult?
        var reported = -1
        // Progress also goes to the machine's event stream (`?events=jobs`), once per step done.
        func report(_ state: String, _ step: Int) {
            box.events.jobProgress(JobProgress(id: job.id, state: state, step: step, steps: def.steps.count,
                                               percent: def.steps.isEmpty ? 100 : (Double(step) * 1000 / Double(def.steps.count)).rounded() / 10))
        }
        defer { let s = job.snapshot; report(s.state.finished ? s.state.rawValue : (result == nil ? "failed" : "succeeded"), s.step) }
        let finished: Bool
        do {
            finished = try box.runInSteps(shouldStop: { registry.isShuttingDown || job.cancelRequested.load(ordering: .relaxed) }) { m in
                if run == nil { run = try m.beginWorkload(def) }
                let start = monotonicNs()
                var done = false
                while !done && monotonicNs() &- start < OperationBudget.stepNs { done = m.step(run!, maxEvents: 1024) }
                let stepsDone = run!.result.stepsDone
                job.update { $0.step = stepsDone }
                if stepsDone != reported { reported = stepsDone; report("running", stepsDone) }
                if done {
                    if let f = run!.failure { throw f }
                    result = run!.result
                    return .done
                }
                return .more
            }
        } catch RegistryError.deletedDuringOperation {
            if let r = run { store(ExperimentResult(name: def.name, workload: def.name, variants: [(box.name, r.result)]), in: job, single: true) }
            job.update { $0.state = .cancelled; $0.error = Problem.deleted(machineOf: job) }
            return
        }
        if !finished, let r = run {
            try box.withMachine(mutating: true) { m in m.cancel(r) }
            result = r.result
            job.update { $0.state = .cancelled }
        }
        if let r = result { store(ExperimentResult(name: def.name, workload: def.name, variants: [(box.name, r)]), in: job, single: true) }
    }

    static func submitExperiment(_ ctx: RequestContext) throws -> Response {
        _ = try wantsWait(ctx)
        let exp = try Experiment(json: try ctx.jsonBody())
        let registry = ctx.registry
        // Variants run one after another on fresh machines that are not in the registry; the largest is
        // reserved in the memory budget from now until the job ends, so experiments already queued or
        // running count against later machines and experiments.
        let largest = try exp.variants.map { MachineRegistry.estimatedStateBytes(try $0.config.validate()) }.max() ?? 0
        let reservation = try reserve(largest, in: registry)
        let job = registry.jobs.submit(kind: "experiment", machine: nil, workload: exp.workload.name,
                                       steps: exp.workload.steps.count, variants: exp.variants.count) { job in
            defer { registry.release(reservation: reservation) }
            var results: [(name: String, result: WorkloadResult)] = []
            for (i, v) in exp.variants.enumerated() {
                job.update { $0.variant = i; $0.variantName = v.name; $0.step = 0 }
                let m = try Machine(v.config)
                let run = try m.beginWorkload(exp.workload)
                while !m.step(run, maxEvents: 4096) {
                    job.update { $0.step = run.result.stepsDone }
                    if registry.isShuttingDown || job.cancelRequested.load(ordering: .relaxed) {
                        m.cancel(run)
                        results.append((v.name, run.result))
                        store(ExperimentResult(name: exp.name, workload: exp.workload.name, variants: results), in: job, single: false)
                        job.update { $0.state = .cancelled }
                        return
                    }
                }
                if let f = run.failure { throw f }
                results.append((v.name, run.result))
            }
            job.update { $0.variant = exp.variants.count - 1; $0.step = exp.workload.steps.count }
            store(ExperimentResult(name: exp.name, workload: exp.workload.name, variants: results), in: job, single: false)
        }
        return try accepted(ctx, job)
    }

    /// Reserves an experiment's share of the memory budget; over budget is the experiment's conflict.
    static func reserve(_ bytes: Int, in registry: MachineRegistry) throws -> Int {
        let result = Result { () throws(RegistryError) -> Int in try registry.reserve(bytes) }
        switch result {
        case .success(let id):
            return id
        case .failure(.overBudget(let needed, let available, _)):
            throw Problem.conflict("variants", "the largest variant needs about \(needed) bytes of state; the memory budget has \(available) left")
        case .failure(let e):
            throw e
        }
    }

    static func store(_ r: ExperimentResult, in job: Job, single: Bool) {
        let json: JSON = single ? (r.variants.first?.result.json ?? .null) : r.json
        let bytes = Array(json.encoded.utf8)
        let csv = r.csv, md = r.markdown
        job.update { $0.resultJSON = bytes; $0.csv = csv; $0.markdown = md }
    }
}

extension WorkloadPresets {
    /// A preset's definition as JSON.
    static func definitionJSON(named name: String) -> JSON? {
        guard let p = all.first(where: { $0.name == name }) else { return nil }
        return try? JSON.parse(p.json)
    }
}
