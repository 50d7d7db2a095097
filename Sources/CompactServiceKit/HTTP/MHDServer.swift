import CHTTPD
import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Why the HTTP server could not start.
public struct StartError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

/// The HTTP/1.1 front end over GNU libmicrohttpd. This is the only code that touches CHTTPD
/// pointers: it turns MHD's callbacks into `Request` values, hands them to the router, and turns
/// `Response` values back into MHD responses.
///
/// Threading: MHD runs a pool of epoll threads; each connection is served by one of them, one
/// callback at a time. Routes marked slow run on a Dispatch worker while their connection is
/// suspended, so they never stall the other connections of that thread.
final class MHDServer: Sendable {
    let router: Router
    let registry: MachineRegistry
    let log: Logger
    let maxBodyBytes: Int
    let maxSnapshotBytes: Int
    /// `--rate-limit` is on: a mutation's client (token or address) is read for the limiter.
    let rateLimited: Bool
    /// The service has tokens: Authorization is read on every request (reads may need one too).
    private let hasTokens: Bool
    /// PEM key and certificate handed to libmicrohttpd (it keeps the pointers, not copies), as integers;
    /// freed in `stop` after the daemon.
    private let tlsMemory = Mutex<[UInt]>([])

    /// The `MHD_Daemon *` as an integer (raw pointers are not Sendable). Written once in `start` before
    /// any request can arrive and cleared in `stop`; MHD itself synchronises its use.
    private let daemonBits = Atomic<UInt>(0)
    /// Per thread shard: requests between their first callback and NOTIFY_COMPLETED (slot 0, +1 and
    /// -1 as wrapping adds), and the request id counter (slot 1). Sharded because both change on
    /// every request, from every HTTP thread.
    private let requestCounters = ShardedCounters(slots: 2)
    private let requestCounts: CounterHandle
    /// Requests running on a worker; `stop` waits for them before freeing connections.
    let offloaded = Atomic<Int>(0)
    /// Set when shutdown begins: no connection is suspended for a worker any more.
    private let stopping = Atomic<Bool>(false)
    /// The listening socket MHD_quiesce_daemon handed back, -1 when none: closed only after
    /// MHD_stop_daemon (see `quiesce`).
    private let quiescedSocket = Atomic<Int32>(-1)
    /// For tests: the quiesced listening socket while it is held open, else -1.
    var quiescedListenSocket: Int32 { quiescedSocket.load(ordering: .acquiring) }
    /// The per-process random half of generated request ids.
    private let idPrefix: RequestID.Prefix
    /// The metrics series of every route, by `Route.index`.
    private let routeSeries: [SeriesCounters]
    /// The same series' `CounterHandle`s, in memory allocated here (its address as an integer: raw
    /// pointers are not Sendable; written in `init` only, freed in `deinit`), so counting a request
    /// touches no reference count of an object the other HTTP threads use.
    private let routeHandles: UInt
    /// GET routes with a fixed answer (`FixedSlot`s; allocated, written in `init` only and freed in
    /// `deinit`, like `routeHandles`), matched against MHD's C strings on the request's first callback.
    private let fixedSlots: UInt
    private let fixedCount: Int
    /// `Route.index` of the SSE stream routes (stats and job progress), served by HTTP/MHDStream.swift.
    private let streamRoutes: Set<Int>
    /// Open SSE streams and the ticker that resumes them (HTTP/MHDStream.swift).
    let streams: StreamHub

    init(router: Router, registry: MachineRegistry, log: Logger, maxBodyBytes: Int, maxSnapshotBytes: Int = 256 << 20, rateLimited: Bool = false) {
        self.router = router
        self.registry = registry
        self.log = log
        self.maxBodyBytes = maxBodyBytes
        self.maxSnapshotBytes = maxSnapshotBytes
        self.rateLimited = rateLimited
        hasTokens = !router.policy.tokens.isEmpty
        var g = SystemRandomNumberGenerator()
        idPrefix = RequestID.Prefix(UInt32(truncatingIfNeeded: g.next()))
        routeSeries = router.routes.map { registry.metrics.counters(route: $0.pattern, method: $0.method) }
        let handles = UnsafeMutablePointer<CounterHandle>.allocate(capacity: max(1, routeSeries.count))
        for (i, series) in routeSeries.enumerated() { (handles + i).initialize(to: series.handle) }
        routeHandles = UInt(bitPattern: handles)
        let fixed = router.routes.filter { $0.method == "GET" && $0.fixed != nil }
        precondition(fixed.count <= FixedRequest.maxSlots, "too many fixed answers for FixedRequest's slot bits")
        let slots = UnsafeMutablePointer<FixedSlot>.allocate(capacity: max(1, fixed.count))
        for (i, r) in fixed.enumerated() {
            let f = r.fixed!
            let headers = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: max(1, 2 * f.headers.count))
            for (k, (name, value)) in f.headers.enumerated() {
                (headers + 2 * k).initialize(to: strdup(name))
                (headers + 2 * k + 1).initialize(to: strdup(value))
            }
            (slots + i).initialize(to: FixedSlot(path: strdup(r.pattern), pathLength: r.pattern.utf8.count, routeIndex: r.index,
                                                 body: f.bytes.address, bodyCount: f.bytes.count,
                                                 contentType: strdup(f.contentType), headers: headers, headerCount: f.headers.count))
        }
        fixedSlots = UInt(bitPattern: slots)
        fixedCount = fixed.count
        requestCounts = requestCounters.handle
        streamRoutes = Set(router.routes.filter { StreamRoutes.patterns.contains($0.pattern) }.map(\.index))
        // The ticker also writes the log's buffered lines.
        streams = StreamHub(metrics: registry.metrics, onTick: { [log] in log.flush() },
                            offload: { [pool = registry.requestPool] in pool.submit($0) }) {
            MHD_resume_connection(OpaquePointer(bitPattern: $0))
        }
    }

    deinit {
        let slots = UnsafeMutablePointer<FixedSlot>(bitPattern: fixedSlots)!
        for i in 0..<fixedCount {
            free(slots[i].path)
            free(slots[i].contentType)
            for k in 0..<(2 * slots[i].headerCount) { free(slots[i].headers[k]) }
            slots[i].headers.deallocate()
        }
        slots.deinitialize(count: fixedCount)
        slots.deallocate()
        let handles = UnsafeMutablePointer<CounterHandle>(bitPattern: routeHandles)!
        handles.deinitialize(count: routeSeries.count)
        handles.deallocate()
    }

    // MARK: - Start and stop

    /// Binds `host:port` (port 0 picks a free port) and starts `threads` epoll threads; returns the
    /// bound port.
    func start(host: String, port: UInt16, threads: Int, connectionTimeout: Int, tls: (cert: [UInt8], key: [UInt8])? = nil,
               maxConnectionsPerIP: Int = 0) throws(StartError) -> UInt16 {
        guard let addr = MHDServer.resolve(host) else {
            throw StartError(description: "cannot resolve --host '\(host)'")
        }
        defer { addr.storage.deallocate() }
        let sa = addr.storage
        if addr.family == AF_INET6 {
            sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_port = port.bigEndian }
        } else {
            sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_port = port.bigEndian }
        }
        var flags = MHD_USE_EPOLL.rawValue | MHD_USE_INTERNAL_POLLING_THREAD.rawValue
            | MHD_ALLOW_SUSPEND_RESUME.rawValue | MHD_USE_ERROR_LOG.rawValue
        if addr.family == AF_INET6 { flags |= MHD_USE_IPv6.rawValue }
        if tls != nil { flags |= MHD_USE_TLS.rawValue }

        // The daemon keeps this object as its callback context until `stop` releases it.
        let cls = Unmanaged.passRetained(self).toOpaque()
        var options: [MHD_OptionItem] = [
            MHD_OptionItem(option: .THREAD_POOL_SIZE, value: max(1, threads), ptr_value: nil),
            MHD_OptionItem(option: .NOTIFY_COMPLETED, value: unsafeBitCast(requestCompleted, to: Int.self), ptr_value: cls),
            MHD_OptionItem(option: .NOTIFY_CONNECTION, value: unsafeBitCast(connectionNotify, to: Int.self), ptr_value: nil),
            MHD_OptionItem(option: .SOCK_ADDR, value: 0, ptr_value: UnsafeMutableRawPointer(sa)),
            MHD_OptionItem(option: .CONNECTION_TIMEOUT, value: connectionTimeout, ptr_value: nil),
            MHD_OptionItem(option: .UNESCAPE_CALLBACK, value: unsafeBitCast(unescapeCallback, to: Int.self), ptr_value: nil),
        ]
        if maxConnectionsPerIP > 0 {
            options.append(MHD_OptionItem(option: .PER_IP_CONNECTION_LIMIT, value: maxConnectionsPerIP, ptr_value: nil))
        }
        if let tls {
            // libmicrohttpd keeps these pointers for the daemon's life: NUL-terminated copies, freed in `stop`.
            let key = MHDServer.cCopy(tls.key), cert = MHDServer.cCopy(tls.cert)
            tlsMemory.withLock { $0 = [UInt(bitPattern: key), UInt(bitPattern: cert)] }
            options.append(MHD_OptionItem(option: .HTTPS_MEM_KEY, value: 0, ptr_value: key))
            options.append(MHD_OptionItem(option: .HTTPS_MEM_CERT, value: 0, ptr_value: cert))
        }
        options.append(MHD_OptionItem(option: .END, value: 0, ptr_value: nil))
        let daemon = options.withUnsafeMutableBufferPointer { opts in
            chttpd_start_daemon(flags, port, accessHandler, cls, opts.baseAddress)
        }
        guard let daemon else {
            Unmanaged<MHDServer>.fromOpaque(cls).release()
            freeTLSMemory()
            if tls != nil {
                throw StartError(description: "libmicrohttpd could not start with TLS on \(host):\(port): check that --tls-cert and --tls-key are a PEM certificate and its key (or the address is in use)")
            }
            throw StartError(description: "libmicrohttpd could not listen on \(host):\(port) (address in use, or not permitted)")
        }
        daemonBits.store(UInt(bitPattern: Int(bitPattern: daemon)), ordering: .releasing)
        streams.startTicker()
        return chttpd_bound_port(daemon)
    }

    private var daemon: OpaquePointer? {
        OpaquePointer(bitPattern: daemonBits.load(ordering: .acquiring))
    }

    /// Stops accepting new connections; connections already open keep being served, except SSE
    /// streams, which send their end event and finish (they would otherwise never be done).
    func quiesce() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        streams.beginShutdown()
        guard let d = daemon else { return }
        let fd = MHD_quiesce_daemon(d)
        guard fd >= 0 else { return }
        // microhttpd.h: with MHD's own threads the returned socket "must not be closed until AFTER
        // MHD_stop_daemon", because the polling thread may still use it. It did: closing it here let
        // that thread's epoll_ctl(EPOLL_CTL_DEL) on the quiesced socket (MHD_epoll, racing this call)
        // fail with EBADF instead of ENOENT, and MHD_PANIC aborted the process at SIGTERM. Shutting
        // the socket down for reading stops the kernel listening (new connections are refused at once,
        // as closing did; queued ones are reset) and leaves the descriptor valid until `stop` closes it.
        shutdown(fd, Int32(SHUT_RD))
        quiescedSocket.store(fd, ordering: .releasing)
    }

    /// Stops the daemon. Waits for every request handed to a worker first: a suspended connection must
    /// not be freed while its worker can still resume it (long operations stop at their next step once
    /// the registry is shutting down, so this wait is short).
    func stop() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        while offloaded.load(ordering: .sequentiallyConsistent) > 0 { usleep(1000) }
        // MHD_stop_daemon aborts the process if a connection is still suspended.
        streams.finishShutdown()
        let bits = daemonBits.exchange(0, ordering: .acquiringAndReleasing)
        guard let d = OpaquePointer(bitPattern: bits) else { return }
        MHD_stop_daemon(d)
        let fd = quiescedSocket.exchange(-1, ordering: .acquiringAndReleasing)
        if fd >= 0 { close(fd) }
        freeTLSMemory()
        Unmanaged.passUnretained(self).release()
    }

    private func freeTLSMemory() {
        for bits in tlsMemory.withLock({ m in defer { m = [] }; return m }) { free(UnsafeMutableRawPointer(bitPattern: bits)) }
    }

    /// `bytes` as a malloc'ed NUL-terminated C string.
    private static func cCopy(_ bytes: [UInt8]) -> UnsafeMutableRawPointer {
        let p = malloc(bytes.count + 1)!
        bytes.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        p.storeBytes(of: 0, toByteOffset: bytes.count, as: UInt8.self)
        return p
    }

    // MARK: - Requests

    /// MHD's access handler: first call with headers, then once per body chunk, then a final call (and,
    /// for a request run on a worker, one more after the worker resumes the connection).
    fileprivate func access(_ conn: OpaquePointer, _ url: UnsafePointer<CChar>?, _ method: UnsafePointer<CChar>?,
                            _ upload: UnsafePointer<CChar>?, _ uploadSize: UnsafeMutablePointer<Int>,
                            _ reqCls: UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> MHD_Result {
        guard let p = reqCls.pointee else { return begin(conn, url, method, reqCls) }
        if var fixed = FixedRequest(p) {
            // A GET reads no body: any chunk is dropped. Then the one answer, once.
            if uploadSize.pointee > 0 {
                uploadSize.pointee = 0
                return .YES
            }
            guard !fixed.answered else { return .YES }
            fixed.answered = true
            reqCls.pointee = fixed.pointer
            return answer(conn, fixed)
        }
        let st = Unmanaged<RequestState>.fromOpaque(p).takeUnretainedValue()
        if let slot = st.pending {
            // Resumed after a worker finished.
            guard let r = slot.take() else {
                MHD_suspend_connection(conn)
                return .YES
            }
            st.pending = nil
            return queue(conn, st, r)
        }
        if uploadSize.pointee > 0 {
            receive(st, upload, uploadSize.pointee)
            uploadSize.pointee = 0
            return .YES
        }
        if st.responded { return .YES }
        if st.tooLarge { return queue(conn, st, tooLarge(st)) }
        return route(conn, st)
    }

    /// The first call, with the headers only. Only what every request needs is read here; the other
    /// headers stay in MHD's connection until NOTIFY_COMPLETED and are read on the final call.
    private func begin(_ conn: OpaquePointer, _ url: UnsafePointer<CChar>?, _ method: UnsafePointer<CChar>?,
                       _ reqCls: UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> MHD_Result {
        CPUPriority.raiseHTTPThreadOnce()
        let shard = ThreadShard.current
        let startNs = monotonicNs()
        requestCounts.add(0, 1, shard: shard)
        // Only a POST or a PUT may upload a snapshot: other requests skip the Content-Type lookup.
        let snapshotUpload = method?.pointee == CChar(UInt8(ascii: "P")) && isSnapshotUpload(conn)
        let limit = snapshotUpload ? maxSnapshotBytes : maxBodyBytes
        let bodyTooLarge = header(conn, "Content-Length").flatMap { Int($0) }.map { $0 > limit } ?? false
        let slot = fixedSlot(method, url)
        if slot >= 0 && !bodyTooLarge {
            // A fixed answer (/healthz) needs no RequestState: its state fits in req_cls itself.
            reqCls.pointee = FixedRequest(slot: slot, shard: shard, startNs: startNs).pointer
            return .YES
        }
        let clientID = RequestID.sanitized(MHD_lookup_connection_value(conn, .HEADER_KIND, cString("X-Request-ID")))
        let st = RequestState(
            startNs: startNs, method: MHDServer.method(method), url: url, clientRequestID: clientID,
            idPrefix: idPrefix, idNumber: clientID == nil ? nextRequestNumber(shard: shard) : 0, shard: shard)
        st.snapshotUpload = snapshotUpload
        reqCls.pointee = Unmanaged.passRetained(st).toOpaque()
        if bodyTooLarge {
            // Refuse before reading the body: MHD closes the connection after this answer.
            st.tooLarge = true
            return queue(conn, st, tooLarge(st))
        }
        return .YES
    }

    /// Whether the body is a machine snapshot (its limit is --max-snapshot-bytes, not --max-body-bytes).
    private func isSnapshotUpload(_ conn: OpaquePointer) -> Bool {
        guard let type = header(conn, "Content-Type") else { return false }
        let media = String(type.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? "").trimmingASCIIWhitespace().lowercased()
        return media == SnapshotFormat.mediaType
    }

    /// A chunk of the body: kept unless the body has grown past its limit (then dropped, and the
    /// request answered 413 on the final call).
    private func receive(_ st: RequestState, _ upload: UnsafePointer<CChar>?, _ n: Int) {
        guard !st.tooLarge, let upload else { return }
        if st.body.count + n > (st.snapshotUpload ? maxSnapshotBytes : maxBodyBytes) {
            st.tooLarge = true
            st.body = []
            return
        }
        upload.withMemoryRebound(to: UInt8.self, capacity: n) {
            st.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: n))
        }
    }

    /// The final call: the request as a `Request`, then a stream, an inline answer, a cached answer, or
    /// a worker.
    private func route(_ conn: OpaquePointer, _ st: RequestState) -> MHD_Result {
        let resolution = router.resolve(method: st.method, path: st.path)
        if case .route(let route, _) = resolution { st.routeIndex = route.index }
        let request = makeRequest(conn, st)
        st.body = []
        if case .route(let route, let params) = resolution, streamRoutes.contains(route.index), st.method == "GET" {
            return openStream(conn, st, request, pattern: route.pattern, params)
        }
        guard resolution.workerRoute != nil else {
            return queue(conn, st, router.dispatch(request, resolution, registry: registry))
        }
        if let cached = router.dispatchCached(request, resolution, registry: registry) { return queue(conn, st, cached) }
        return offload(conn, st, request, resolution)
    }

    /// What the router needs of the request, copied out of libmicrohttpd. Content-Type matters only to
    /// requests that change state (a GET or HEAD route reads no body), Authorization only to those or
    /// when the service has tokens, the client's address only to the rate limit.
    private func makeRequest(_ conn: OpaquePointer, _ st: RequestState) -> Request {
        let mutating = st.method != "GET" && st.method != "HEAD"
        let authorization = mutating || hasTokens ? header(conn, "Authorization") : nil
        var request = Request(method: st.method, path: st.path,
                              contentType: mutating ? header(conn, "Content-Type") : nil,
                              authorization: authorization,
                              requestID: st.requestID, body: st.body, query: MHDServer.queryArguments(conn),
                              host: header(conn, "Host"), origin: header(conn, "Origin"))
        if mutating && rateLimited { request.client = authorization ?? MHDServer.clientAddress(conn) }
        return request
    }

    /// Runs a request on the request pool while its connection is suspended. Once shutdown has begun
    /// nothing is suspended any more: the request is answered 503 at once (libmicrohttpd aborts the
    /// process if it is stopped with a connection suspended). Counting the request before looking at
    /// the flag, and `stop` setting the flag before waiting for the count to reach 0, leave no gap.
    private func offload(_ conn: OpaquePointer, _ st: RequestState, _ request: Request, _ resolution: Resolution) -> MHD_Result {
        offloaded.add(1, ordering: .sequentiallyConsistent)
        guard !stopping.load(ordering: .sequentiallyConsistent) else {
            offloaded.subtract(1, ordering: .releasing)
            return queue(conn, st, shuttingDown(st))
        }
        let slot = ResponseSlot()
        st.pending = slot
        MHD_suspend_connection(conn)
        let connBits = UInt(bitPattern: Int(bitPattern: conn))
        let accepted = registry.requestPool.submit { [self] in
            slot.put(router.dispatch(request, resolution, registry: registry))
            MHD_resume_connection(OpaquePointer(bitPattern: connBits))
            offloaded.subtract(1, ordering: .releasing)
        }
        if !accepted {
            slot.put(shuttingDown(st))
            MHD_resume_connection(conn)
            offloaded.subtract(1, ordering: .releasing)
        }
        return .YES
    }

    private func shuttingDown(_ st: RequestState) -> Response {
        Problem(503, "the service is shutting down", headers: [("Connection", "close"), ("Retry-After", "1")])
            .response(requestID: st.requestID)
    }

    fileprivate func completed(_ reqCls: UnsafeMutablePointer<UnsafeMutableRawPointer?>) {
        guard let p = reqCls.pointee else { return }
        if let fixed = FixedRequest(p) {
            reqCls.pointee = nil
            requestCounts.add(0, UInt64.max, shard: fixed.shard)  // -1
            return
        }
        let st = Unmanaged<RequestState>.fromOpaque(p).takeRetainedValue()
        reqCls.pointee = nil
        requestCounts.add(0, UInt64.max, shard: st.shard)  // -1
    }

    /// Requests between their first callback and NOTIFY_COMPLETED.
    var inFlight: Int { Int(Int64(bitPattern: requestCounters.load(0))) }

    /// Sends a fixed answer: its bytes and Content-Type, the X-Request-ID (the client's when sane, else
    /// generated), then counts it and writes its log line, all without a `RequestState`, a `Request` or
    /// the router (a GET route with a fixed answer reads no body, needs no token, checks no content type).
    private func answer(_ conn: OpaquePointer, _ fixed: FixedRequest) -> MHD_Result {
        let f = UnsafeMutablePointer<FixedSlot>(bitPattern: fixedSlots)![fixed.slot]
        let shard = fixed.shard
        let clientID = MHD_lookup_connection_value(conn, .HEADER_KIND, cString("X-Request-ID")).flatMap {
            RequestID.isSane($0) ? $0 : nil
        }
        let number = clientID == nil ? nextRequestNumber(shard: shard) : 0
        // MHD gives every connection its state at NOTIFY_CONNECTION; a throwaway one would do as well
        // (it releases the response once MHD has it).
        let cs = MHDServer.connectionState(conn) ?? ConnectionState()
        let resp: OpaquePointer
        if let kept = cs.fixed(fixed.slot) {
            resp = kept
        } else {
            guard let created = MHD_create_response_from_buffer(
                f.bodyCount, UnsafeMutableRawPointer(bitPattern: f.body), .RESPMEM_PERSISTENT) else {
                log.error("GET \(String(cString: f.path)) could not create a response")
                return .NO
            }
            MHD_add_response_header(created, cString("Content-Type"), f.contentType)
            MHD_add_response_header(created, cString("X-Content-Type-Options"), cString("nosniff"))
            for k in 0..<f.headerCount { MHD_add_response_header(created, f.headers[2 * k], f.headers[2 * k + 1]) }
            cs.keep(created, fixedSlot: fixed.slot)
            resp = created
        }
        if let clientID {
            cs.setRequestID(clientID)
        } else {
            RequestID.withCString(prefix: idPrefix, number: number) { cs.setRequestID($0) }
        }
        let ok = MHD_queue_response(conn, 200, resp)
        let ns = fixed.elapsedNs(now: monotonicNs())
        count(routeIndex: f.routeIndex, method: "GET", status: 200, ns: ns, shard: shard)
        if log.enabled(.info) {
            let id = clientID.map { String(cString: $0) } ?? RequestID.generated(prefix: idPrefix, number: number)
            log.access(method: "GET", path: String(cString: f.path), status: 200, ns: ns, requestID: id)
        }
        return ok
    }

    private func tooLarge(_ st: RequestState) -> Response {
        let p = st.snapshotUpload
            ? Problem(413, "the snapshot upload exceeds --max-snapshot-bytes (\(maxSnapshotBytes) bytes)", field: "body")
            : Problem(413, "the request body exceeds --max-body-bytes (\(maxBodyBytes) bytes)", field: "body")
        return p.response(requestID: st.requestID)
    }

    /// The client's IP address as text ("" when unknown).
    static func clientAddress(_ conn: OpaquePointer) -> String {
        guard let sa = chttpd_client_address(conn) else { return "" }
        var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        switch Int32(sa.pointee.sa_family) {
        case AF_INET:
            sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { s in
                var a = s.pointee.sin_addr
                _ = inet_ntop(AF_INET, &a, &buf, socklen_t(buf.count))
            }
        case AF_INET6:
            sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { s in
                var a = s.pointee.sin6_addr
                _ = inet_ntop(AF_INET6, &a, &buf, socklen_t(buf.count))
            }
        default: return ""
        }
        // inet_ntop wrote a NUL-terminated address (the buffer is zeroed, so a failure reads as "").
        let end = buf.firstIndex(of: 0) ?? buf.endIndex
        return String(decoding: buf[..<end].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The request's query arguments (at most 32, each key and value at most 256 bytes; more are dropped).
    static func queryArguments(_ conn: OpaquePointer) -> [String: String] {
        // Counting with no iterator allocates nothing: most requests have no query at all.
        guard MHD_get_connection_values(conn, .GET_ARGUMENT_KIND, nil, nil) > 0 else { return [:] }
        let box = QueryCollector()
        let cls = Unmanaged.passUnretained(box).toOpaque()
        _ = withExtendedLifetime(box) { MHD_get_connection_values(conn, .GET_ARGUMENT_KIND, queryIterator, cls) }
        return box.values
    }

    /// The `fixedSlots` index of a GET of a fixed answer's path, or -1.
    private func fixedSlot(_ method: UnsafePointer<CChar>?, _ url: UnsafePointer<CChar>?) -> Int {
        guard let method, let url, strcmp(method, cString("GET")) == 0 else { return -1 }
        let n = strlen(url)
        let slots = UnsafeMutablePointer<FixedSlot>(bitPattern: fixedSlots)!
        for i in 0..<fixedCount where slots[i].pathLength == n && memcmp(slots[i].path, url, n) == 0 { return i }
        return -1
    }

    /// A request header. The name is a StaticString: a Swift String of 15 bytes or fewer would be copied
    /// to the heap on its way to C.
    func header(_ conn: OpaquePointer, _ name: StaticString) -> String? {
        MHD_lookup_connection_value(conn, .HEADER_KIND, cString(name)).map { String(cString: $0) }
    }

    /// The method as a String; the common ones without parsing the C string.
    static func method(_ m: UnsafePointer<CChar>?) -> String {
        guard let m else { return "" }
        switch (m[0], m[1], m[2], m[3]) {
        case (0x47, 0x45, 0x54, 0): return "GET"
        case (0x50, 0x55, 0x54, 0): return "PUT"
        default: break
        }
        return String(cString: m)
    }

    /// `<8 hex digits of the process prefix>-<counter in hex>`, formatted in place (one String, no
    /// intermediate ones).
    /// The number of a generated request id. Unique without a shared counter: the k-th id of shard s is
    /// number (k - 1) * shards + s + 1.
    private func nextRequestNumber(shard: Int) -> UInt64 {
        (requestCounts.increment(1, shard: shard) &- 1) &* UInt64(ThreadShard.count) &+ UInt64(shard) &+ 1
    }

    /// Turns a `Response` into an MHD response, queues it and writes the request's log line.
    func queue(_ conn: OpaquePointer, _ st: RequestState, _ r: Response) -> MHD_Result {
        if r.status == 200, case .bytes(let b) = r.body, !b.isEmpty, b.count <= ConnectionState.maxKeptBody,
           st.method == "GET" || st.method == "HEAD" {
            return queueKept(conn, st, r, b, MHDServer.connectionState(conn) ?? ConnectionState())
        }
        let resp: OpaquePointer?
        switch r.body {
        case .bytes(let b):
            resp = b.withUnsafeBytes { buf in
                MHD_create_response_from_buffer(buf.count, UnsafeMutableRawPointer(mutating: buf.baseAddress), .RESPMEM_MUST_COPY)
            }
        case .persistent(let s):
            resp = MHD_create_response_from_buffer(s.count, UnsafeMutableRawPointer(bitPattern: s.address), .RESPMEM_PERSISTENT)
        }
        guard let resp else { return responseFailed(st) }
        return queue(conn, st, resp, status: r.status, contentType: r.contentType, headers: r.headers)
    }

    /// A 200 answer to a GET (or HEAD) from the connection's kept response when it is the same answer
    /// (a cached document polled again: the same bytes, headers and Content-Type), else from a new
    /// response that the connection then keeps; either way with this request's X-Request-ID.
    private func queueKept(_ conn: OpaquePointer, _ st: RequestState, _ r: Response, _ b: [UInt8], _ cs: ConnectionState) -> MHD_Result {
        let address = b.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
        let resp: OpaquePointer
        if let kept = cs.document(status: r.status, contentType: r.contentType, headers: r.headers, body: address, count: b.count) {
            resp = kept
        } else {
            // The body is not copied: the response keeps the array (and so its storage) alive.
            let owner = Unmanaged.passRetained(BodyOwner(b)).toOpaque()
            guard let created = MHD_create_response_from_buffer_with_free_callback_cls(
                b.count, UnsafeMutableRawPointer(bitPattern: address), releaseBody, owner) else {
                Unmanaged<BodyOwner>.fromOpaque(owner).release()
                return responseFailed(st)
            }
            if let ct = r.contentType { withCStr(ct) { MHD_add_response_header(created, cString("Content-Type"), $0) } }
            for (k, v) in r.headers { withCStr(k) { k in withCStr(v) { MHD_add_response_header(created, k, $0) } } }
            cs.keep(created, status: r.status, contentType: r.contentType, headers: r.headers, body: address, count: b.count)
            resp = created
        }
        st.responded = true
        st.withRequestIDCString { cs.setRequestID($0) }
        let ok = MHD_queue_response(conn, UInt32(r.status), resp)
        finished(st, status: r.status)
        return ok
    }

    /// The connection's `ConnectionState` (see HTTP/ReusedResponse.swift), or nil.
    @inline(__always) static func connectionState(_ conn: OpaquePointer) -> ConnectionState? {
        chttpd_socket_context(conn).map { Unmanaged<ConnectionState>.fromOpaque($0).takeUnretainedValue() }
    }

    /// Adds the headers to `resp` (Content-Type, X-Request-ID, then `headers`), queues it, releases our
    /// reference and writes the request's log line.
    private func queue(_ conn: OpaquePointer, _ st: RequestState, _ resp: OpaquePointer, status: Int,
                       contentType: String?, headers: [(String, String)]) -> MHD_Result {
        if let ct = contentType { withCStr(ct) { MHD_add_response_header(resp, cString("Content-Type"), $0) } }
        return send(conn, st, resp, status: status, headers: headers)
    }

    /// Adds X-Request-ID and `headers` to `resp`, queues it, releases our reference and writes the
    /// request's log line.
    private func send(_ conn: OpaquePointer, _ st: RequestState, _ resp: OpaquePointer, status: Int,
                      headers: [(String, String)]) -> MHD_Result {
        st.responded = true
        st.withRequestIDCString { MHD_add_response_header(resp, cString("X-Request-ID"), $0) }
        for (k, v) in headers { withCStr(k) { k in withCStr(v) { MHD_add_response_header(resp, k, $0) } } }
        let ok = MHD_queue_response(conn, UInt32(status), resp)
        MHD_destroy_response(resp)
        finished(st, status: status)
        return ok
    }

    private func responseFailed(_ st: RequestState) -> MHD_Result {
        st.responded = true
        log.error("request_id=\(st.requestID) could not create a response")
        return .NO
    }

    /// A response is queued: count it in the metrics and write the request's log line.
    func finished(_ st: RequestState, status: Int) {
        let ns = monotonicNs() &- st.startNs
        count(routeIndex: st.routeIndex, method: st.method, status: status, ns: ns, shard: st.shard)
        if log.enabled(.info) {
            log.access(method: st.method, path: st.path, status: status, ns: ns, requestID: st.requestID)
        }
    }

    /// Counts an answered request in its route's metrics series (`routeIndex` -1: the unmatched series).
    @inline(__always) private func count(routeIndex: Int, method: String, status: Int, ns: UInt64, shard: Int) {
        if routeIndex >= 0 {
            let h = UnsafeMutablePointer<CounterHandle>(bitPattern: routeHandles)![routeIndex]
            if !SeriesCounters.observe(h, status: status, ns: ns, shard: shard) { routeSeries[routeIndex].countOtherStatus(status) }
        } else {
            registry.metrics.counters(route: ServiceMetrics.unmatchedRoute, method: method).observe(status: status, ns: ns)
        }
    }

    // MARK: - Addresses

    private struct ResolvedAddress {
        var family: Int32
        var storage: UnsafeMutablePointer<sockaddr_storage>
    }

    /// The first address of `host` (a literal or a name), as sockaddr_storage with port 0.
    private static func resolve(_ host: String) -> ResolvedAddress? {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var res: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &res) == 0, let first = res else { return nil }
        defer { freeaddrinfo(res) }
        var ai: UnsafeMutablePointer<addrinfo>? = first
        // Prefer IPv4 when a name resolves to both (localhost), matching the default 127.0.0.1.
        while let a = ai, a.pointee.ai_family != AF_INET { ai = a.pointee.ai_next }
        let chosen = ai ?? first
        guard let src = chosen.pointee.ai_addr else { return nil }
        let st = UnsafeMutablePointer<sockaddr_storage>.allocate(capacity: 1)
        st.initialize(to: sockaddr_storage())
        UnsafeMutableRawPointer(st).copyMemory(from: src, byteCount: Int(chosen.pointee.ai_addrlen))
        return ResolvedAddress(family: chosen.pointee.ai_family, storage: st)
    }
}

/// Where a worker leaves the response of a slow request for the connection's thread to send.
final class ResponseSlot: Sendable {
    private let value = Mutex<Response?>(nil)
    func put(_ r: Response) { value.withLock { $0 = r } }
    func take() -> Response? { value.withLock { v in defer { v = nil }; return v } }
}

/// Per-request state, reachable only through MHD's `req_cls`. It is not Sendable and needs no lock:
/// MHD calls back for one connection on one thread at a time, and a worker never touches it (it
/// gets a `Request` copy and a `ResponseSlot`).
final class RequestState {
    let startNs: UInt64
    let method: String
    /// MHD's URL (the decoded path) of this request. It lives in the connection's memory pool until
    /// NOTIFY_COMPLETED, which releases this object, so it is valid whenever this object is used.
    private let url: UnsafePointer<CChar>?
    /// The path, made a String on first use: a fixed answer below `--log-level info` never needs it.
    lazy var path: String = url.map { String(cString: $0) } ?? "/"
    /// The client's X-Request-ID (when sane); otherwise the id is generated from the process prefix and
    /// `idNumber`, as a String only when something needs one (a fixed answer's header does not).
    private let clientRequestID: String?
    private let idPrefix: RequestID.Prefix
    private let idNumber: UInt64
    lazy var requestID: String = clientRequestID ?? RequestID.generated(prefix: idPrefix, number: idNumber)
    /// The `ThreadShard` of the thread that took the request's first callback.
    let shard: Int
    var body: [UInt8] = []
    var tooLarge = false
    /// A machine snapshot upload (Content-Type, read at the first call): its limit is --max-snapshot-bytes.
    var snapshotUpload = false
    var responded = false
    var pending: ResponseSlot?
    /// `Route.index` of the matched route (its metrics series), or -1: the `unmatched` series.
    var routeIndex = -1

    init(startNs: UInt64, method: String, url: UnsafePointer<CChar>?, clientRequestID: String?, idPrefix: RequestID.Prefix,
         idNumber: UInt64, shard: Int) {
        self.startNs = startNs
        self.method = method
        self.url = url
        self.clientRequestID = clientRequestID
        self.idPrefix = idPrefix
        self.idNumber = idNumber
        self.shard = shard
    }

    /// The request id as a NUL-terminated C string, for the X-Request-ID header.
    @discardableResult func withRequestIDCString<R>(_ body: (UnsafePointer<CChar>) -> R) -> R {
        if let id = clientRequestID { return withCStr(id, body) }
        return RequestID.withCString(prefix: idPrefix, number: idNumber, body)
    }
}

// The C callbacks: non-capturing global lets, deliberately outside main.swift (a closure there would be
// inferred @MainActor and trap when MHD calls it from a worker thread).

private let accessHandler: MHD_AccessHandlerCallback = { cls, conn, url, method, _, upload, uploadSize, reqCls in
    guard let cls, let conn, let uploadSize, let reqCls else { return .NO }
    // The daemon holds a reference to the server until `stop`, so it needs no retain per call.
    return Unmanaged<MHDServer>.fromOpaque(cls)._withUnsafeGuaranteedRef {
        $0.access(conn, url, method, upload, uploadSize, reqCls)
    }
}

/// Collects query arguments during one synchronous `MHD_get_connection_values` call (never shared).
final class QueryCollector {
    var values: [String: String] = [:]
}

private let queryIterator: MHD_KeyValueIterator = { cls, _, key, value in
    guard let cls, let key else { return .YES }
    let box = Unmanaged<QueryCollector>.fromOpaque(cls).takeUnretainedValue()
    guard box.values.count < 32 else { return .NO }
    let k = String(cString: key), v = value.map { String(cString: $0) } ?? ""
    if k.utf8.count <= 256 && v.utf8.count <= 256 { box.values[k] = v }
    return .YES
}

private let requestCompleted: MHD_RequestCompletedCallback = { cls, _, reqCls, _ in
    guard let cls, let reqCls else { return }
    Unmanaged<MHDServer>.fromOpaque(cls)._withUnsafeGuaranteedRef { $0.completed(reqCls) }
}

/// A StaticString literal as a C string (literals are stored NUL-terminated).
@inline(__always) func cString(_ s: StaticString) -> UnsafePointer<CChar> {
    UnsafeRawPointer(s.utf8Start).assumingMemoryBound(to: CChar.self)
}

/// `s` as a NUL-terminated C string for the duration of `body`. `String.withCString` copies a small
/// string (15 bytes or fewer: most request ids, many header values) to a heap array first; this copies
/// it to the stack. Longer native strings are already stored NUL-terminated and are passed as they are.
@discardableResult @inline(__always) func withCStr<R>(_ s: String, _ body: (UnsafePointer<CChar>) -> R) -> R {
    guard s.utf8.count <= 15 else { return s.withCString(body) }
    var s = s
    return s.withUTF8 { u in
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 16) { t in
            let base = t.baseAddress!
            if let src = u.baseAddress { UnsafeMutableRawPointer(base).copyMemory(from: src, byteCount: u.count) }
            base[u.count] = 0
            return body(UnsafePointer(base))
        }
    }
}

extension ProcessMemory {
    /// Makes glibc's malloc give memory back: blocks of 128 KiB and more are mapped on their own and
    /// unmapped when freed (a fixed threshold: glibc otherwise raises it up to 32 MiB after each such
    /// free, and then keeps a freed batch's multi-MiB buffers in its heaps), and free memory above 1 MiB
    /// at a heap's top is trimmed. What machines free (their mapped arrays, a tag list's old buffer when
    /// it doubles, an allocation batch's latencies) then leaves the resident set, so the process's size
    /// follows what the memory budget charges. Process-wide; set once, when the service starts.
    static func configureAllocator() { chttpd_configure_malloc(128 << 10, 1 << 20) }
}
