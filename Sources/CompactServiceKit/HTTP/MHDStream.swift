import CHTTPD
#if canImport(Glibc)
import Glibc
#endif

/// The libmicrohttpd side of SSE streams: the response built from a content-reader callback, and the
/// reader that parks the connection (MHD_suspend_connection) whenever there is nothing to send. The
/// `StreamHub`'s ticker resumes it (MHD_resume_connection) when something is due.
extension MHDServer {
    /// Block size MHD asks the reader to fill at most.
    static let streamBlockSize = 16 << 10

    /// Opens a stream route (…/stats/stream, /v1/jobs/{id}/stream): validates the request, registers the
    /// stream with the hub, and queues the chunked response, which lasts until the stream's end.
    func openStream(_ conn: OpaquePointer, _ st: RequestState, _ request: Request, pattern: String,
                    _ params: [String: String]) -> MHD_Result {
        let source: any StreamSource, content: any StreamContent
        do {
            (source, content) = try StreamRoutes.stream(RequestContext(request: request, params: params, registry: registry),
                                                        pattern: pattern, lastEventID: header(conn, "Last-Event-ID"))
        } catch {
            // The router's dispatch is the one place errors become responses.
            return queue(conn, st, router.dispatch(request, .problem(Problem.from(error)), registry: registry))
        }
        guard let writer = streams.open(source, content, connection: UInt(bitPattern: Int(bitPattern: conn)),
                                        socket: chttpd_connection_fd(conn)) else {
            return queue(conn, st, router.dispatch(request, .problem(Problem(503, "the service is shutting down")), registry: registry))
        }
        let cls = Unmanaged.passRetained(writer).toOpaque()
        // From here on the response owns `cls`: streamFree releases it, even if queueing fails.
        guard let resp = MHD_create_response_from_callback(UInt64.max, MHDServer.streamBlockSize, streamReader, cls, streamFree) else {
            streams.close(writer.stream)
            Unmanaged<StreamWriter>.fromOpaque(cls).release()
            log.error("request_id=\(st.requestID) could not create a stream response")
            return .NO
        }
        st.responded = true
        MHD_add_response_header(resp, "Content-Type", "text/event-stream")
        MHD_add_response_header(resp, "Cache-Control", "no-cache")
        MHD_add_response_header(resp, "X-Accel-Buffering", "no")
        MHD_add_response_header(resp, "X-Request-ID", st.requestID)
        let ok = MHD_queue_response(conn, 200, resp)
        MHD_destroy_response(resp)
        finished(st, status: 200)
        return ok
    }
}

/// MHD's content reader for a stream: sends pending bytes; produces what is due; otherwise parks the
/// connection and returns 0 (which, with the connection suspended, is not a busy wait).
private let streamReader: MHD_ContentReaderCallback = { cls, _, buf, max in
    guard let cls, let buf else { return Int(MHD_CONTENT_READER_END_WITH_ERROR) }
    let w = Unmanaged<StreamWriter>.fromOpaque(cls).takeUnretainedValue()
    while true {
        if w.hasPending { return w.copyPending(to: UnsafeMutableRawPointer(buf), max: max) }
        if w.ending { return Int(MHD_CONTENT_READER_END_OF_STREAM) }
        let now = monotonicNs()
        if w.produce(now: now) { continue }
        let closing = w.hub.closing.load(ordering: .acquiring)
        switch w.stream.beginPark(cursor: w.currentCursor, nextDueNs: w.nextDueNs, now: now, closing: closing) {
        case .produceAgain:
            continue
        case .suspend:
            let conn = OpaquePointer(bitPattern: w.stream.connection)
            MHD_suspend_connection(conn)
            if w.stream.finishPark() { MHD_resume_connection(conn) }
            return 0
        }
    }
}

/// The stream's response was destroyed (client gone, stream ended, or server stopping).
/// The writer's last reference is dropped on a worker, not here: it may hold the last reference of a
/// deleted machine, and freeing a large one would stall this HTTP thread.
private let streamFree: MHD_ContentReaderFreeCallback = { cls in
    guard let cls else { return }
    let hub = Unmanaged<StreamWriter>.fromOpaque(cls)._withUnsafeGuaranteedRef { w in
        w.hub.close(w.stream)
        return w.hub
    }
    let bits = UInt(bitPattern: cls)
    let release: @Sendable () -> Void = { Unmanaged<StreamWriter>.fromOpaque(UnsafeRawPointer(bitPattern: bits)!).release() }
    if !hub.offload(release) { release() }
}
