import MMFormat

/// A job's progress stream (GET /v1/jobs/{id}/stream): `event: progress` with the job's `progress`
/// object whenever its state or progress changes (the first one at once), ids growing with the job's
/// version; when the job has finished, `event: done` with the job document (state, progress, error;
/// the result stays at /v1/jobs/{id}/result), and the stream ends. A server shutting down ends it with
/// `event: end`.
struct JobSource: StreamSource {
    let job: Job
    func hasNews(after cursor: UInt64) -> Bool { job.latestVersion.load(ordering: .acquiring) > cursor }
}

final class JobContent: StreamContent {
    let job: Job
    private(set) var cursor: UInt64 = 0

    init(_ job: Job) { self.job = job }

    var nextDueNs: UInt64 { .max }

    func produce(_ out: inout [UInt8], now: UInt64, closing: Bool) -> Bool {
        let s = job.snapshot
        if s.version > cursor {
            cursor = s.version
            var w = JSONWriter(capacity: 256)
            Job.writeProgress(s, into: &w)
            SSEFormat.event(&out, id: s.version, name: "progress", data: w.bytes)
            if s.state.finished {
                var d = JSONWriter(capacity: 512)
                job.write(s, into: &d, includeResult: false)
                SSEFormat.event(&out, id: nil, name: "done", data: d.bytes)
                return true
            }
        }
        if closing {
            StreamWriter.end(&out, reason: "shutdown")
            return true
        }
        return false
    }
}
