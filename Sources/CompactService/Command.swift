import ArgumentParser
import CompactServiceKit

let compactServiceVersion = ServiceInfo.version

struct CompactServiceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compact-service",
        abstract: "Simulated NUMA machines with Linux-style memory compaction, over HTTP/JSON.",
        discussion: """
            Serves the API described in openapi.yaml (also at GET /openapi.yaml). SIGTERM or SIGINT stops \
            accepting connections, lets requests in flight finish (up to --shutdown-timeout) and exits 0. \
            One log line per request goes to stderr.
            """,
        version: compactServiceVersion)

    @Option(help: "Address to listen on (an IPv4/IPv6 literal or a host name).")
    var host = "127.0.0.1"

    @Option(help: "TCP port; 0 picks a free port and prints it.")
    var port: UInt16 = 8080

    @Option(help: "HTTP worker threads (libmicrohttpd epoll thread pool). Default: the number of CPUs, at least 2.")
    var threads: Int?

    @Option(name: .customLong("max-body-bytes"), help: "Largest request body accepted; larger ones get 413.")
    var maxBodyBytes = 1 << 20

    @Option(name: .customLong("max-snapshot-bytes"), help: "Largest machine snapshot upload (Content-Type application/vnd.compact-service.snapshot): bytes or with K/M/G; larger ones get 413.")
    var maxSnapshotBytes = "256MiB"

    @Option(name: .customLong("max-machines"), help: "Most machines the service holds at once; more get 409.")
    var maxMachines = 64

    @Option(name: .customLong("memory-budget"),
            help: "Memory the service may hold for machines (as they are created and as they fill), workload runs, experiments and job results: bytes or with K/M/G/T (e.g. 8GiB). What would exceed it is refused with 507 (jobs stop at it). The process needs a fixed overhead beyond it (README). Default: half of the host's RAM.")
    var memoryBudget: String?

    @Option(name: .customLong("token-file"),
            help: "File of bearer tokens, one a line: `SCOPE TOKEN` (scope read, write or admin) or `TOKEN` (admin). With it, requests that change state need `Authorization: Bearer <token>` of a scope that covers them (401/403).")
    var tokenFile: String?

    @Flag(name: .customLong("require-token-for-reads"), help: "GETs, streams and /metrics need a token too (any scope).")
    var requireTokenForReads = false

    @Option(name: .customLong("allowed-hosts"), parsing: .upToNextOption,
            help: "Host names accepted in the Host header besides localhost, 127.0.0.1, [::1] and --host (a proxy's, a cluster's); `*` accepts any. Others get 421 (DNS rebinding protection).")
    var allowedHosts: [String] = []

    @Option(name: .customLong("allowed-origins"), parsing: .upToNextOption,
            help: "Origins (scheme://host[:port]) whose pages may change state and read across origins (CORS). The service's own origin always may.")
    var allowedOrigins: [String] = []

    @Option(name: .customLong("tls-cert"), help: "PEM certificate (chain): serve HTTPS (with --tls-key).")
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: "PEM private key of --tls-cert.")
    var tlsKey: String?

    @Option(name: .customLong("rate-limit"),
            help: "Requests that change state per client (token, or address) and second, in bursts of up to twice as many; more get 429. 0: no limit.")
    var rateLimit = 0.0

    @Option(name: .customLong("max-connections-per-ip"), help: "Concurrent connections one address may hold (libmicrohttpd's per-IP limit). 0: no limit.")
    var maxConnectionsPerIP = 0

    @Option(name: .customLong("log-level"), help: "error, warning, info (one line per request) or debug.")
    var logLevel = "info"

    @Option(name: .customLong("peers"),
            help: "The fleet's instances behind the front, as http://host:port separated by commas, for the fleet-wide views (GET /v1/fleet/machines, /v1/fleet/jobs). May include this instance when --self-url names it (the same list on every instance).")
    var peers: String?

    @Option(name: .customLong("self-url"), help: "This instance's own URL as --peers names it (left out of the peers asked).")
    var selfURL: String?

    @Option(name: .customLong("front"), help: "The front's URL (http://host:port): where a spread experiment submits its parts.")
    var front: String?

    @Option(name: .customLong("demo-machine"),
            help: "Create a machine of this name at start-up (x86_64, 4096 MiB, one node), for the README's examples.")
    var demoMachine: String?

    @Option(name: .customLong("shutdown-timeout"), help: "Seconds shutdown waits for requests in flight.")
    var shutdownTimeout = 10.0

    @Option(name: .customLong("state-dir"),
            help: "Directory where machines, their journals and snapshots, and finished jobs are kept (created if missing): every change answered 2xx survives a restart, a crash or SIGKILL, and start-up recovers every machine. Without it the service keeps everything in memory only.")
    var stateDir: String?

    @Option(name: .customLong("state-min-free"),
            help: "With --state-dir: changes are refused with 507 (nothing changes, reads still work) while the state directory's file system has less free than this (bytes or with K/M/G/T). Default: 64MiB.")
    var stateMinFree: String?

    @Option(name: .customLong("snapshot-every"),
            help: "With --state-dir: a machine is snapshotted (in the background) once its journal has this many records since the last snapshot (or 64 MiB of them).")
    var snapshotEvery = 20_000

    @Flag(name: .long, help: "Print the version and exit.")
    var printVersion = false

    func validate() throws {
        guard threads.map({ (1...256).contains($0) }) ?? true else { throw ValidationError("--threads must be 1..256") }
        guard maxBodyBytes >= 1024 else { throw ValidationError("--max-body-bytes must be at least 1024") }
        guard let s = ServerConfig.parseSize(maxSnapshotBytes), s >= 1024, s <= Int(Int32.max) else {
            throw ValidationError("--max-snapshot-bytes must be a size from 1KiB to 2GiB (e.g. 256MiB)")
        }
        guard maxMachines >= 1 else { throw ValidationError("--max-machines must be at least 1") }
        guard LogLevel(name: logLevel) != nil else { throw ValidationError("--log-level must be error, warning, info or debug") }
        if let b = memoryBudget, ServerConfig.parseSize(b) == nil {
            throw ValidationError("--memory-budget '\(b)' is not a size (bytes, or a number with K/M/G/T)")
        }
        guard shutdownTimeout >= 0 && shutdownTimeout <= 3600 else { throw ValidationError("--shutdown-timeout must be 0..3600") }
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
        guard rateLimit >= 0 && rateLimit <= 1_000_000 else { throw ValidationError("--rate-limit must be 0..1000000") }
        guard maxConnectionsPerIP >= 0 else { throw ValidationError("--max-connections-per-ip must be 0 or more") }
        if let f = stateMinFree, ServerConfig.parseSize(f) == nil {
            throw ValidationError("--state-min-free '\(f)' is not a size (bytes, or a number with K/M/G/T)")
        }
        guard snapshotEvery >= 1 else { throw ValidationError("--snapshot-every must be at least 1") }
        if let d = stateDir, d.isEmpty { throw ValidationError("--state-dir must name a directory") }
        for o in allowedOrigins where !(o.hasPrefix("http://") || o.hasPrefix("https://")) {
            throw ValidationError("--allowed-origins takes scheme://host[:port], not '\(o)'")
        }
    }

    func run() throws {
        if printVersion {
            print("compact-service \(compactServiceVersion)")
            return
        }
        var c = ServerConfig()
        c.host = host
        c.port = port
        if let threads { c.threads = threads }
        c.maxBodyBytes = maxBodyBytes
        c.maxSnapshotBytes = ServerConfig.parseSize(maxSnapshotBytes)!
        c.maxMachines = maxMachines
        if let b = memoryBudget { c.memoryBudget = ServerConfig.parseSize(b)! }
        c.logLevel = LogLevel(name: logLevel)!
        c.demoMachine = demoMachine
        do {
            c.fleet = try FleetPeers(urls: (peers ?? "").split(separator: ",").map { String($0.filter { $0 != " " }) }, selfURL: selfURL, front: front)
        } catch {
            throw ValidationError(error.description)
        }
        c.shutdownTimeoutSeconds = shutdownTimeout
        c.requireTokenForReads = requireTokenForReads
        c.allowedHosts = allowedHosts
        c.allowedOrigins = allowedOrigins
        c.tlsCertPath = tlsCert
        c.tlsKeyPath = tlsKey
        c.rateLimit = rateLimit
        c.maxConnectionsPerIP = maxConnectionsPerIP
        c.stateDir = stateDir
        if let f = stateMinFree { c.stateMinFreeBytes = ServerConfig.parseSize(f)! }
        c.snapshotRecords = snapshotEvery
        do {
            if let tokenFile { try c.readTokens(path: tokenFile) }
            if requireTokenForReads && c.token == nil {
                throw ValidationError("--require-token-for-reads needs --token-file")
            }
            try Server.runUntilSignalled(c)
        } catch let e as StartError {
            throw ValidationError(e.description)
        }
    }
}
