import MMFormat
import XCTest
@testable import MMCore

/// `exportState()` and `Machine(_:restoring:)`: a restored machine is the same machine (every document
/// byte for byte, its state image, its size) and goes on exactly as the original under the same
/// further operations; images that do not fit are refused naming the section.
final class MachineStateTests: XCTestCase {

    /// Everything a client can see of a machine, as text, except its size (`sizesAgree`).
    static func fingerprint(_ m: Machine) -> String {
        var s = m.renderBuddyinfo() + m.renderPagetypeinfo() + m.renderZoneinfo() + m.renderVmstat()
        s += m.renderExtfragIndex() + m.renderUnusableIndex()
        s += "generation \(m.generation) clock \(m.clockNs) kswapd \(m.kswapdNs)\n"
        for t in m.tagCounts { s += "\(t.tag): \(m.handles(ofTag: t.tag).map(\.raw))\n" }
        s += "sysctl \(m.minFreeKbytes) \(m.extfragThreshold) \(m.compactUnevictableAllowed) live \(m.liveAllocations) refusals \(m.stateRefusals)\n"
        for c in SlabCache.allCases { s += "\(c.name) \(m.slabCacheStats(c))\n" }
        return s
    }

    /// The image without the capacities of the machine's Swift arrays (tag and file lists, slab objects)
    /// and without the tags' lists, which hold, beside the live handles `fingerprint` compares, stale ones
    /// that are pruned when a list must grow, so at a point that depends on its capacity.
    static func withoutCapacities(_ i: MachineStateImage) -> MachineStateImage {
        var i = i
        i.sections.removeAll { $0.name.hasSuffix("capacities") || $0.name == "slab.obj_capacity" || $0.name == "tags.counts" || $0.name == "tags.handles" }
        return i
    }

    /// `stateBytes` of two machines in the same state agree up to malloc's slack: Swift gives an array the
    /// capacity malloc's block holds, and glibc may hand out a block up to 16 bytes larger than asked for
    /// (a free chunk it does not split), so the same lists may have a little more room in one process, or
    /// later in the same one. Up to 16 bytes per array the state holds.
    static func sizesAgree(_ a: Machine, _ b: Machine) -> Bool {
        let arrays = 64 + a.tags.count + a.files.lists.values.reduce(0) { $0 + 1 + $1.count }
        return abs(a.stateBytes - b.stateBytes) <= 16 * arrays
    }

    /// A state gate that refuses some growth, the same way on every machine in the same state (by the
    /// bytes asked for and the machine's clock).
    static func gate(_ ref: MachineRef) -> (Int) -> Bool {
        { bytes in SeededRandom.mix(UInt64(bytes) ^ (ref.machine?.clockNs ?? 0)) % 5 != 0 }
    }

    /// The machine a gate asks about, set once the machine exists.
    final class MachineRef { weak var machine: Machine? }

    /// Random operations from a seed: allocations (every kind, tags, mlock, dirty), frees by handle and by
    /// tag, stepped compactions with frees between the steps, sysctls, idle time, a workload's steps.
    struct Operator {
        var rng: SeededRandom
        var live: [PageHandle] = []
        init(seed: UInt64) { rng = SeededRandom(seed: seed) }

        mutating func step(_ m: Machine) throws {
            switch rng.below(14) {
            case 0..<6:
                let r = AllocRequest(order: rng.below(3) == 0 ? rng.below(m.nrOrders) : 0, kind: AllocKind.allCases[rng.below(AllocKind.count)],
                                     node: rng.below(m.nodes.count), gfp: [GFPFlags.kernel, .atomic, [.wait, .io, .fs, .repeat]][rng.below(3)],
                                     mlock: rng.below(6) == 0, dirty: rng.below(2) == 0)
                live += try m.allocateBulk(r, count: 1 + rng.below(200), tag: "t\(rng.below(5))", keepHandles: 200).handles
            case 6..<9:
                for _ in 0..<rng.below(60) where !live.isEmpty { _ = m.freeIfLive(live[rng.below(live.count)]) }
            case 9:
                if m.compactionEnabled {
                    let run = try m.beginCompaction(node: rng.below(2) == 0 ? nil : NodeID(rng.below(m.nodes.count)))
                    while !m.step(run, maxSteps: 4) { if !live.isEmpty { _ = m.freeIfLive(live[rng.below(live.count)]) } }
                }
            case 10:
                _ = try? m.freeTag("t\(rng.below(5))", pattern: [.all, .everyOther, .random(fraction: 0.3, seed: 9)][rng.below(3)])
            case 11:
                try m.setExtfragThreshold(rng.below(1001))
                // (6.6 has no hugepages_treat_as_movable; the draw is made all the same.)
                let movable = rng.below(2)
                if !m.isModernKernel { try m.setHugepagesTreatAsMovable(movable) }
                if m.isModernKernel {
                    try m.setCompactionProactiveness([0, 20, 60][rng.below(3)])
                    try m.setWatermarkBoostFactor(rng.below(30_000))
                    try m.setWatermarkScaleFactor(1 + rng.below(100))
                    try m.setTHPDefrag(THPDefrag.allCases[rng.below(THPDefrag.allCases.count)])
                    try m.setTHPEnabled(THPEnabled.allCases[rng.below(THPEnabled.allCases.count)])
                }
                if rng.below(3) == 0 { try m.setMinFreeKbytes(m.recommendedMinFreeKbytes + rng.below(2048)) }
            case 12:
                m.idle(ns: UInt64(rng.below(500_000_000)))
            default:
                let def = try WorkloadDefinition(json: try JSON.parse("""
                    {"name": "w", "seed": \(rng.below(1000)), "steps": [
                      {"metadata": {"count": \(50 + rng.below(300)), "files_per_directory": 7, "tag": "meta\(rng.below(2))"}},
                      {"fill": {"kind": "file", "fraction": 0.05, "writers": 8, "file_pages": 4, "tag": "files\(rng.below(2))", "dirty_fraction": 0.2}},
                      {"free": {"tag": "files0", "pattern": "every_other"}},
                      {"start_actor": {"name": "a", "rate_per_ms": 20, "mix": [{"kind": "anon", "weight": 2, "lifetime_ms": 3}, {"kind": "slab", "weight": 1},
                        {"process": {"anon_kib": 256, "vmas": 20}, "weight": 0.5, "lifetime_ms": 4}]}},
                      {"run": {"ms": 5}},
                      {"stop_actor": {"name": "a", "free": true}},
                      {"hugetlb_pool": {"count": \(1 + rng.below(3)), "tag": "pool\(rng.below(2))"}}
                    ]}
                    """))
                let run = try m.beginWorkload(def)
                while !m.step(run, maxEvents: 97) {}
            }
        }
    }

    func checkRoundTrip(_ config: MachineConfig, file: StaticString = #filePath, line: UInt = #line) throws {
        let original = try Machine(config)
        let ref = MachineRef()
        ref.machine = original
        original.stateGrowthGate = MachineStateTests.gate(ref)
        var first = Operator(seed: config.seed &+ 1)
        for _ in 0..<120 { try first.step(original) }
        assertConsistent(original, "original", file: file, line: line)
        // (Kernel 6.6: an image is taken while kcompactd has no work in progress.)
        var waited = 0
        while !original.canExportState && waited < 1000 {
            original.idle(ns: 50_000_000)
            waited += 1
        }
        XCTAssertTrue(original.canExportState, file: file, line: line)
        let image = original.exportState()
        let copyRef = MachineRef()
        let copy = try Machine(config, restoring: image, stateGrowthGate: MachineStateTests.gate(copyRef))
        copyRef.machine = copy
        assertConsistent(copy, "restored", file: file, line: line)
        XCTAssertEqual(MachineStateTests.fingerprint(copy), MachineStateTests.fingerprint(original), "restored", file: file, line: line)
        XCTAssertEqual(MachineStateTests.withoutCapacities(copy.exportState()), MachineStateTests.withoutCapacities(image),
                       "the image of the restored machine", file: file, line: line)
        XCTAssertTrue(MachineStateTests.sizesAgree(copy, original), "state bytes \(copy.stateBytes) / \(original.stateBytes)", file: file, line: line)
        XCTAssertLessThan(image.storedBytes, original.stateBytes + (1 << 20), file: file, line: line)
        // The same operations on both, from here, without a gate (capacities, which a gate's decisions
        // may depend on, are malloc's: see `sizesAgree`).
        original.stateGrowthGate = nil
        copy.stateGrowthGate = nil
        var a = Operator(seed: config.seed &+ 2), b = a
        for i in 0..<120 {
            try a.step(original)
            try b.step(copy)
            if original.generation != copy.generation || original.clockNs != copy.clockNs || original.stateRefusals != copy.stateRefusals {
                XCTFail("the machines part at operation \(i): generation \(original.generation) / \(copy.generation), refusals \(original.stateRefusals) / \(copy.stateRefusals)", file: file, line: line)
                break
            }
        }
        assertConsistent(copy, "restored, continued", file: file, line: line)
        XCTAssertEqual(MachineStateTests.fingerprint(copy), MachineStateTests.fingerprint(original), "continued", file: file, line: line)
        XCTAssertEqual(MachineStateTests.withoutCapacities(copy.exportState()), MachineStateTests.withoutCapacities(original.exportState()),
                       "images after continuing", file: file, line: line)
        XCTAssertTrue(MachineStateTests.sizesAgree(copy, original), "state bytes \(copy.stateBytes) / \(original.stateBytes)", file: file, line: line)
        XCTAssertGreaterThan(original.liveAllocations, 0, file: file, line: line)
        XCTAssertGreaterThan(original.stateRefusals, 0, "the gate refused nothing: the test does not cover refusals", file: file, line: line)
    }

    func testRoundTripOneNode() throws {
        try checkRoundTrip(MachineConfig(preset: .x86_64, memoryMiB: 64, nodes: 1, seed: 3))
    }

    func testRoundTripTwoNodesWithSwap() throws {
        try checkRoundTrip(MachineConfig(preset: .x86_64, memoryMiB: 96, nodes: 2, seed: 5, swapMiB: 16))
    }

    func testRoundTripModernKernel() throws {
        try checkRoundTrip(MachineConfig(preset: .x86_64, memoryMiB: 96, nodes: 2, seed: 11, kernel: .v6_6, swapMiB: 8))
    }

    func testRoundTripOtherPresets() throws {
        try checkRoundTrip(MachineConfig(preset: .ppc64, memoryMiB: 256, nodes: 1, seed: 7))
        try checkRoundTrip(MachineConfig(preset: .x86, memoryMiB: 64, nodes: 1, seed: 8, compaction: false))
    }

    /// A fresh machine's image is small however large the machine: its page arrays are zero but for
    /// the pages boot reserved (a few hundred KiB for 16 GiB).
    func testFreshImageIsSparse() throws {
        let m = try Machine(MachineConfig(preset: .x86_64, memoryMiB: 16384, nodes: 2, seed: 1))
        let image = m.exportState()
        XCTAssertLessThan(image.storedBytes, 1 << 20)
        let copy = try Machine(m.config, restoring: image)
        XCTAssertEqual(MachineStateTests.fingerprint(copy), MachineStateTests.fingerprint(m))
    }

    /// Every event counter is in the image: the counters' stored UInt64 fields are exactly those the image
    /// names (a counter added to VmCounters but not to its field lists would be lost by a snapshot).
    func testEveryCounterIsInTheImage() {
        let fields = Mirror(reflecting: VmCounters(zoneTypes: 3)).children.filter { $0.value is UInt64 }
        XCTAssertEqual(fields.count, Machine.imageCounterCount)
        let modern = Mirror(reflecting: ModernVmCounters()).children.filter { $0.value is UInt64 }
        XCTAssertEqual(modern.count, Machine.imageModernCounterCount)
    }

    func testImagesThatDoNotFitAreRefused() throws {
        let m = try Machine(MachineConfig(preset: .x86_64, memoryMiB: 64, nodes: 1, seed: 1))
        _ = try m.allocateBulk(AllocRequest(), count: 500, tag: "x")
        let image = m.exportState()
        func refused(_ img: MachineStateImage, _ config: MachineConfig, naming: String, line: UInt = #line) {
            do {
                _ = try Machine(config, restoring: img)
                XCTFail("restored an image that should be refused (\(naming))", line: line)
            } catch let MMError.invalidConfig(field, _, _) {
                XCTAssertTrue(field.jsonPath.contains(naming), "\(field.jsonPath) does not name \(naming)", line: line)
            } catch {
                XCTFail("\(error)", line: line)
            }
        }
        // Another machine size.
        refused(image, MachineConfig(preset: .x86_64, memoryMiB: 128, nodes: 1, seed: 1), naming: "pages.state")
        // A section missing.
        var missing = image
        missing.sections.removeAll { $0.name == "machine.rng" }
        refused(missing, m.config, naming: "machine.rng")
        // Another version.
        var version = image
        version.version += 1
        refused(version, m.config, naming: "version")
        // A free-list head pointing past the machine.
        var link = image
        let i = link.sections.firstIndex { $0.name == "free.heads" }!
        let s = link.sections[i]
        var bytes = [UInt8](repeating: 0, count: s.byteCount)
        for e in s.extents { bytes.replaceSubrange(e.offset..<(e.offset + e.bytes.count), with: e.bytes) }
        bytes[0] = 0xFE; bytes[1] = 0xFF; bytes[2] = 0xFF; bytes[3] = 0x7F
        link.sections[i] = .init(name: s.name, elementBytes: s.elementBytes, count: s.count, extents: [.init(offset: 0, bytes: bytes)])
        refused(link, m.config, naming: "free.heads")
    }
}
