import MMCore
#if canImport(Glibc)
import Glibc
#endif

/// Everything the flags decide.
public struct ServerConfig: Sendable {
    public var host = "127.0.0.1"
    public var port: UInt16 = 8080
    public var threads = ServerConfig.defaultThreads
    public var maxBodyBytes = 1 << 20
    public var maxMachines = 64
    public var memoryBudget = ServerConfig.defaultMemoryBudget
    /// Bearer token every mutating request must carry; nil: no authorization.
    public var token: String?
    public var logLevel = LogLevel.info
    /// Name of an x86_64, 4096 MiB, one-node machine created at start-up.
    public var demoMachine: String?
    /// How long shutdown waits for requests in flight before cancelling long operations.
    public var shutdownTimeoutSeconds = 10.0
    /// Idle connections are closed after this many seconds.
    public var connectionTimeoutSeconds = 30

    public init() {}

    public static var defaultThreads: Int { max(2, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// Half of the host's physical memory.
    public static var defaultMemoryBudget: Int {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, size > 0 else { return 1 << 30 }
        return pages * size / 2
    }

    /// Reads a token file: its content without surrounding whitespace, which must not be empty.
    public static func readToken(path: String) throws(StartError) -> String {
        guard let f = fopen(path, "r") else { throw StartError(description: "cannot read --token-file \(path)") }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buf, 1, buf.count, f)
            if n <= 0 { break }
            bytes.append(contentsOf: buf[0..<n])
            if bytes.count > 1 << 16 { throw StartError(description: "--token-file \(path) is larger than 64 KiB") }
        }
        let t = String(decoding: bytes, as: UTF8.self).trimmingASCIIWhitespace()
        guard !t.isEmpty, t.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw StartError(description: "--token-file \(path) must hold one token of visible ASCII characters")
        }
        return t
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

    public init(config: ServerConfig) {
        self.config = config
        log = Logger(level: config.logLevel)
        registry = MachineRegistry(maxMachines: config.maxMachines, memoryBudget: config.memoryBudget)
        router = Router(token: config.token, log: log) { Routes.register(&$0) }
        http = MHDServer(router: router, registry: registry, log: log, maxBodyBytes: config.maxBodyBytes)
    }

    /// Creates the demo machine (if asked for) and starts serving; returns the bound port.
    public func start() throws -> UInt16 {
        ProcessMemory.configureAllocator()
        if let name = config.demoMachine {
            guard Validation.isValidName(name) else {
                throw StartError(description: "--demo-machine '\(name)' does not match \(Validation.namePattern)")
            }
            do {
                _ = try registry.create(name: name, config: Routes.demoConfig)
            } catch {
                throw StartError(description: "cannot create the demo machine: \(Problem.from(error).detail)")
            }
        }
        return try http.start(host: config.host, port: config.port, threads: config.threads,
                              connectionTimeout: config.connectionTimeoutSeconds)
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
        print("compact-service listening on http://\(hostText):\(port)")
        fflush(nil)
        server.log.info("listening on \(hostText):\(port) threads=\(config.threads) memory_budget=\(config.memoryBudget) max_machines=\(config.maxMachines) auth=\(config.token == nil ? "off" : "bearer")")
        var sig: Int32 = 0
        sigwait(&set, &sig)
        server.log.info("signal \(sig): shutting down")
        server.stop()
    }

    /// For tests: the registry's machine count.
    var machineCount: Int { registry.count }
}
