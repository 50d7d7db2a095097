import MMCore
import MMFormat
#if canImport(Glibc)
import Glibc
#endif

/// Everything the flags decide.
public struct ServerConfig: Sendable {
    public var host = "127.0.0.1"
    public var port: UInt16 = 8080
    public var threads = ServerConfig.defaultThreads
    public var maxBodyBytes = 1 << 20
    /// Largest machine snapshot upload (`application/vnd.compact-service.snapshot`): a snapshot of a
    /// large machine exceeds the JSON bodies' limit by far.
    public var maxSnapshotBytes = 256 << 20
    /// The fleet's instances (`--peers`, `--self-url`) for the fleet-wide views.
    public var fleet = FleetPeers.none
    public var maxMachines = 64
    public var memoryBudget = ServerConfig.defaultMemoryBudget
    /// Bearer tokens and their scopes (`--token-file`); empty: no authorization.
    var tokens: [ScopedToken] = []
    /// `--require-token-for-reads`: GETs need a token (any scope) too.
    public var requireTokenForReads = false
    /// `--allowed-hosts`: Host names accepted besides loopback and `host` (`*`: any).
    public var allowedHosts: [String] = []
    /// `--allowed-origins`: origins whose browsers may change state and read across origins.
    public var allowedOrigins: [String] = []
    /// `--tls-cert`, `--tls-key`: PEM files; both or neither.
    public var tlsCertPath: String?
    public var tlsKeyPath: String?
    /// `--rate-limit`: requests that change state per client and second (bursts of twice as many); 0: off.
    public var rateLimit = 0.0
    /// `--max-connections-per-ip`: 0: no limit.
    public var maxConnectionsPerIP = 0

    /// For tests and embedders: one admin token, as a token file of one line gives.
    public var token: String? {
        get { tokens.first.map { String(decoding: $0.bytes, as: UTF8.self) } }
        set { tokens = newValue.map { [ScopedToken(scope: .admin, bytes: Array($0.utf8))] } ?? [] }
    }
    public var logLevel = LogLevel.info
    /// Name of an x86_64, 4096 MiB, one-node machine created at start-up.
    public var demoMachine: String?
    /// How long shutdown waits for requests in flight before cancelling long operations.
    public var shutdownTimeoutSeconds = 10.0
    /// Idle connections are closed after this many seconds.
    public var connectionTimeoutSeconds = 30
    /// `--state-dir`: where machines, their journals and snapshots and finished jobs are kept, so
    /// that every change answered 2xx survives a restart or a crash. nil: in memory only.
    public var stateDir: String?
    /// `--state-min-free`: changes are refused (507) when the state directory's file system has less
    /// free than this.
    public var stateMinFreeBytes = 64 << 20
    /// `--snapshot-every`: a machine's journal records between snapshots (also after 64 MiB of them).
    public var snapshotRecords = 20_000

    public init() {}

    public static var defaultThreads: Int { max(2, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// Half of the host's physical memory.
    public static var defaultMemoryBudget: Int {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, size > 0 else { return 1 << 30 }
        return pages * size / 2
    }

    /// Reads a token file: lines of `SCOPE TOKEN` or `TOKEN` (scope admin); see `AccessPolicy.parseTokens`.
    public mutating func readTokens(path: String) throws(StartError) {
        tokens = try AccessPolicy.parseTokens(String(decoding: try ServerConfig.readFile(path, flag: "--token-file"), as: UTF8.self),
                                              path: path)
    }

    /// A small file's bytes (at most 1 MiB).
    static func readFile(_ path: String, flag: String) throws(StartError) -> [UInt8] {
        guard let f = fopen(path, "r") else { throw StartError(description: "cannot read \(flag) \(path)") }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buf, 1, buf.count, f)
            if n <= 0 { break }
            bytes.append(contentsOf: buf[0..<n])
            if bytes.count > 1 << 20 { throw StartError(description: "\(flag) \(path) is larger than 1 MiB") }
        }
        return bytes
    }

    var policy: AccessPolicy {
        AccessPolicy(boundTo: host, extraHosts: allowedHosts, origins: allowedOrigins, tokens: tokens,
                     tokensForReads: requireTokenForReads)
    }

    /// Whether `host` is a loopback address or name (binding elsewhere without TLS or tokens is warned of).
    var bindsLoopbackOnly: Bool {
        ["127.0.0.1", "localhost", "::1", "[::1]"].contains(host.lowercased()) || host.hasPrefix("127.")
    }

    /// Parses a size: bytes, or a number with K/M/G/T (powers of 1024, optional `iB`/`B`).
    public static func parseSize(_ s: String) -> Int? {
        let t = s.trimmingASCIIWhitespace()
        let digits = t.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, let n = Int(digits) else { return nil }
        let unit = t.dropFirst(digits.count).lowercased()
        let shift: Int
        switch unit {
        case "", "b": shift = 0
        case "k", "kb", "kib": shift = 10
        case "m", "mb", "mib": shift = 20
        case "g", "gb", "gib": shift = 30
        case "t", "tb", "tib": shift = 40
        default: return nil
        }
        let (v, o) = n.multipliedReportingOverflow(by: 1 << shift)
        return o ? nil : v
    }
}

/// The running service: registry, routes and the HTTP front end.
public final class Server: Sendable {
    public let config: ServerConfig
    let registry: MachineRegistry
    let router: Router
    let http: MHDServer
    let log: Logger

    /// Why the state directory could not be opened (`start` throws it).
    let storeError: String?
    /// Takes snapshots of machines in the background (with a state directory).
    let snapshotter: Snapshotter?

    public init(config: ServerConfig) {
        self.config = config
        log = Logger(level: config.logLevel)
        var store: StateStore?
        var storeError: String?
        if let dir = config.stateDir {
            do throws(StoreError) {
                store = try StateStore(root: dir, minFreeBytes: config.stateMinFreeBytes, snapshotRecords: config.snapshotRecords, log: log)
            } catch {
                storeError = "--state-dir \(dir): \(error.description)"
            }
        }
        self.storeError = storeError
        let registry = MachineRegistry(maxMachines: config.maxMachines, memoryBudget: config.memoryBudget, store: store)
        self.registry = registry
        snapshotter = store.map { Snapshotter(store: $0, registry: registry) }
        router = Router(policy: config.policy,
                        limiter: config.rateLimit > 0 ? RateLimiter(rate: config.rateLimit, burst: 2 * config.rateLimit) : nil,
                        fleet: config.fleet, log: log) { Routes.register(&$0) }
        http = MHDServer(router: router, registry: registry, log: log, maxBodyBytes: config.maxBodyBytes, maxSnapshotBytes: config.maxSnapshotBytes,
                         rateLimited: config.rateLimit > 0)
    }

    /// Creates the demo machine (if asked for) and starts serving; returns the bound port.
    public func start() throws -> UInt16 {
        ProcessMemory.configureAllocator()
        if let storeError { throw StartError(description: storeError) }
        if let store = registry.store {
            recover(store)
        } else {
            log.info("no --state-dir: machines and jobs are kept in memory only and are lost when the service stops")
        }
        if let name = config.demoMachine {
            guard Validation.isValidName(name) else {
                throw StartError(description: "--demo-machine '\(name)' does not match \(Validation.namePattern)")
            }
            if !registry.holds(name) {
                let (result, waits) = DurableContext.collecting { try registry.create(name: name, config: Routes.demoConfig) }
                do {
                    _ = try result.get()
                    try registry.store?.awaitDurable(waits)
                } catch {
                    throw StartError(description: "cannot create the demo machine: \(Problem.from(error).detail)")
                }
            }
        }
        snapshotter?.start()
        var tls: (cert: [UInt8], key: [UInt8])?
        switch (config.tlsCertPath, config.tlsKeyPath) {
        case (nil, nil): tls = nil
        case (let c?, let k?): tls = (try ServerConfig.readFile(c, flag: "--tls-cert"), try ServerConfig.readFile(k, flag: "--tls-key"))
        default: throw StartError(description: "--tls-cert and --tls-key go together")
        }
        if !config.bindsLoopbackOnly && tls == nil && config.tokens.isEmpty {
            log.warning("listening on \(config.host) without TLS or tokens: anyone who can reach it can drive it (see the README's \"Exposing the service\")")
        }
        return try http.start(host: config.host, port: config.port, threads: config.threads,
                              connectionTimeout: config.connectionTimeoutSeconds, tls: tls,
                              maxConnectionsPerIP: config.maxConnectionsPerIP)
    }

    /// Graceful shutdown: stop accepting, let requests in flight finish for up to the shutdown timeout,
    /// then ask long operations to stop at their next step, and stop the daemon.
    ///
    /// Once shutdown begins, requests that would run on a worker are answered 503 (`Connection: close`)
    /// instead: libmicrohttpd aborts the process when it is stopped with a connection suspended.
    public func stop() {
        http.quiesce()
        let deadline = monotonicNs() &+ UInt64(max(0, config.shutdownTimeoutSeconds) * 1e9)
        while http.inFlight > 0 && monotonicNs() < deadline { usleep(2000) }
        registry.shuttingDown.store(true, ordering: .releasing)
        registry.jobs.stop()
        http.stop()
        registry.requestPool.stop()
        snapshotter?.stop()
        if let store = registry.store {
            // What stopping jobs and operations appended (their cancellations) is written before exit.
            for box in registry.list() {
                guard let j = box.journal else { continue }
                do throws(StoreError) { try store.committer.waitDurable(j, j.appendedPosition) } catch {
                    log.error("state: machine '\(box.name)': \(error)")
                }
            }
            store.close()
        }
        log.info("stopped")
        log.flush(wait: true)
    }

    /// Runs until SIGTERM or SIGINT, then shuts down gracefully. The signals are blocked in every thread
    /// (the mask is inherited by the threads MHD and Dispatch start later) and taken with sigwait here.
    public static func runUntilSignalled(_ config: ServerConfig) throws {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        signal(SIGPIPE, SIG_IGN)

        let server = Server(config: config)
        let port = try server.start()
        let hostText = config.host.contains(":") ? "[\(config.host)]" : config.host
        print("compact-service listening on \(config.tlsCertPath == nil ? "http" : "https")://\(hostText):\(port)")
        fflush(nil)
        server.log.info("listening on \(hostText):\(port) threads=\(config.threads) memory_budget=\(config.memoryBudget) max_machines=\(config.maxMachines) auth=\(config.tokens.isEmpty ? "off" : "bearer(\(config.tokens.count))") tls=\(config.tlsCertPath == nil ? "off" : "on")")
        var sig: Int32 = 0
        sigwait(&set, &sig)
        server.log.info("signal \(sig): shutting down")
        server.stop()
    }

    /// For tests: the registry's machine count.
    var machineCount: Int { registry.count }

    /// Brings back every machine and job of the state directory (README "Durable state").
    private func recover(_ store: StateStore) {
        let t0 = monotonicNs()
        let outcomes = store.recoverMachines()
        var partial: [String: (machine: String, result: WorkloadResult)] = [:]
        for o in outcomes {
            if case .ready(let r) = o { for (job, result) in r.interrupted { partial[job] = (r.name, result) } }
        }
        registry.restore(outcomes)
        let saved = store.loadJobs()
        let maxInstance = registry.jobs.restore(saved.jobs, nextId: saved.nextId) { job in
            // A workload job the crash interrupted: its result up to its last section.
            guard let p = partial[job.id] else { return nil }
            var s = job.snapshot
            let r = ExperimentResult(name: job.workload, workload: job.workload, variants: [(p.machine, p.result)])
            s.resultJSON = (r.variants.first?.result.json ?? .null).encodedBytes
            s.csv = r.csv
            s.markdown = r.markdown
            s.step = p.result.stepsDone
            return s
        }
        registry.reserveInstances(through: maxInstance)
        registry.experimentNames.restore { registry.jobs.get($0) != nil }
        let ready = outcomes.filter { if case .ready = $0 { return true }; return false }.count
        let unavailable = outcomes.filter { if case .unavailable = $0 { return true }; return false }.count
        log.info("state: \(store.root): \(ready) machines recovered, \(unavailable) unavailable, \(saved.jobs.count) jobs, in \(Int(Double(monotonicNs() &- t0) / 1e6)) ms")
    }
}
