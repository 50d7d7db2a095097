import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Takes machines' snapshots in the background: a machine whose journal has `snapshotRecords` records
/// (or 64 MiB) since its last snapshot, or a record the memory budget refused something in, gets a
/// new one, and its journal before it is dropped. A machine with a stepped operation in progress is
/// passed over until it has none (the operation's own state is not in the image).
///
/// The image is copied under the machine's lock (the flat arrays, without their all-zero stretches),
/// so it is charged to the memory budget while it exists; when the budget has no room the snapshot
/// waits for the next round.
final class Snapshotter: Sendable {
    let store: StateStore
    let registry: MachineRegistry
    private let stopping = Atomic<Bool>(false)
    private let running = Atomic<Bool>(false)

    init(store: StateStore, registry: MachineRegistry) {
        self.store = store
        self.registry = registry
    }

    func start() {
        let ctx = Unmanaged.passRetained(self).toOpaque()
        var tid = pthread_t()
        running.store(true, ordering: .releasing)
        let rc = pthread_create(&tid, nil, { arg in
            let s = Unmanaged<Snapshotter>.fromOpaque(arg!).takeRetainedValue()
            // Below the request threads: a snapshot is background work.
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, CPUPriority.background)
            s.run()
            return nil
        }, ctx)
        if rc != 0 {
            running.store(false, ordering: .releasing)
            Unmanaged<Snapshotter>.fromOpaque(ctx).release()
            return
        }
        pthread_detach(tid)
    }

    /// Stops after the snapshot in progress, if any.
    func stop() {
        stopping.store(true, ordering: .releasing)
        while running.load(ordering: .acquiring) { usleep(2000) }
    }

    private func run() {
        defer { running.store(false, ordering: .releasing) }
        while !stopping.load(ordering: .acquiring) {
            for box in registry.list() where !stopping.load(ordering: .acquiring) {
                guard let j = box.journal else { continue }
                let since = j.sinceSnapshot
                guard since.records >= store.snapshotRecords || since.bytes >= store.snapshotBytes || (since.refusals && since.records > 0) else { continue }
                snapshot(box)
            }
            usleep(250_000)
        }
    }

    /// Takes and writes one machine's snapshot now; false when it could not (busy, no budget, an error).
    @discardableResult
    func snapshot(_ box: MachineBox) -> Bool {
        guard let j = box.journal else { return false }
        let estimate = box.accountedBytes.load(ordering: .relaxed)
        guard let rid = try? registry.reserve(estimate, for: .snapshot, what: "a snapshot of machine '\(box.name)'", field: nil) else {
            store.metrics.snapshotFailures.add(1, ordering: .relaxed)
            return false
        }
        defer { registry.release(reservation: rid) }
        do {
            guard let (image, id) = try box.captureSnapshot() else { return false }
            try store.writeSnapshot(image, id, journal: j)
            return true
        } catch {
            if !box.isRemoved {
                store.metrics.snapshotFailures.add(1, ordering: .relaxed)
                store.log.warning("state: snapshot of machine '\(box.name)' failed: \(error)")
            }
            return false
        }
    }
}
