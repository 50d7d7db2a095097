import Dispatch
import Foundation
import XCTest
@testable import MMCore

/// Builds a machine or fails the test.
func makeMachine(_ preset: ArchPreset = .x86_64, mib: Int = 64, nodes: Int = 1, seed: UInt64 = 1,
                 minFreeKbytes: Int? = nil, compaction: Bool = true, swapMiB: Int = 0, bootMemory: Bool = true,
                 file: StaticString = #filePath, line: UInt = #line) -> Machine {
    do {
        return try Machine(MachineConfig(preset: preset, memoryMiB: mib, nodes: nodes, seed: seed, compaction: compaction,
                                         swapMiB: swapMiB, sysctl: SysctlSettings(minFreeKbytes: minFreeKbytes), bootMemory: bootMemory))
    } catch {
        XCTFail("machine creation failed: \(error)", file: file, line: line)
        fatalError()
    }
}

/// Asserts the consistency checker finds nothing.
func assertConsistent(_ m: Machine, _ context: String = "", file: StaticString = #filePath, line: UInt = #line) {
    let errors = m.checkConsistency()
    XCTAssertTrue(errors.isEmpty, "\(context): \(errors.joined(separator: "; "))", file: file, line: line)
}

/// Asserts every live handle reads back exactly the content its owner wrote.
func assertContentsIntact(_ m: Machine, _ hs: [PageHandle], file: StaticString = #filePath, line: UInt = #line) {
    for h in hs where m.isLive(h) {
        let info = try! m.allocationInfo(h)
        XCTAssertEqual(try! m.readContent(h), m.expectedContent(h, order: info.order), "content of \(h)", file: file, line: line)
    }
}

extension Machine {
    /// The zone id of the first populated zone of a type on a node.
    func zoneId(node: Int = 0, _ type: ZoneType) -> ZoneID {
        nodes[node].zoneIds.first { zones[$0].type == type }!
    }
}

/// Runs `body` on a thread of its own and waits at most `seconds` for it: a simulation that never returns
/// (a loop that cannot end) fails the test instead of hanging the whole run. Returns the body's result, or
/// nil after recording a failure when it did not finish in time (the thread is then left running, so the
/// body must keep everything it touches to itself: build the machine inside it).
func finishing<T: Sendable>(within seconds: Double, _ what: String, file: StaticString = #filePath, line: UInt = #line,
                            _ body: @escaping @Sendable () throws -> T) -> T? {
    let box = WatchdogResult<T>()
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
        box.set(Result { try body() })
        done.signal()
    }
    thread.stackSize = 16 << 20
    thread.start()
    guard done.wait(timeout: .now() + seconds) == .success else {
        XCTFail("\(what) did not finish within \(seconds) s (a hang)", file: file, line: line)
        return nil
    }
    switch box.get()! {
    case .success(let v): return v
    case .failure(let e):
        XCTFail("\(what) threw \(e)", file: file, line: line)
        return nil
    }
}

/// The body's result, handed from the watchdog's thread to the test's under a lock.
private final class WatchdogResult<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Result<T, any Error>?
    func set(_ v: Result<T, any Error>) { lock.lock(); value = v; lock.unlock() }
    func get() -> Result<T, any Error>? { lock.lock(); defer { lock.unlock() }; return value }
}

/// `image` with its reclaim counters as versions 1–3 stored them: machine-wide totals (counters `c`),
/// no arrays by zone type. The caller sets the older version.
func withReclaimTotalsOnly(_ image: MachineStateImage, _ c: VmCounters) -> MachineStateImage {
    func section(_ name: String, _ w: UInt64) -> MachineStateImage.Section {
        MachineStateImage.Section(name: name, elementBytes: 8, count: 1,
                                  extents: [.init(offset: 0, bytes: (0..<8).map { UInt8(truncatingIfNeeded: w >> (8 * $0)) })])
    }
    var old = image
    old.sections.removeAll { $0.name.hasSuffix("_by_zone") }
    old.sections += [section("vmstat.pgscan_kswapd", c.pgscanKswapd), section("vmstat.pgscan_direct", c.pgscanDirect),
                     section("vmstat.pgsteal_direct", c.pgstealDirect), section("vmstat.pgdeactivate", c.pgdeactivate)]
    return old
}
