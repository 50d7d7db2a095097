import MMFormat
import XCTest
@testable import MMCore

/// Machines built from a real machine's /proc counts (`ProcImage`, `ProcPlanner`, `ProcBuild`): the free
/// lists and pageblock counts are exactly the image's, the machine passes the consistency checker, the
/// allocated pages follow their pageblocks' mobility, compaction runs on it, and the same image and seed
/// give the same machine.
final class ProcBuildTests: XCTestCase {
    static let mt = (unmovable: 0, reclaimable: 1, movable: 2, reserve: 3, isolate: 4)

    /// A row of free counts: orders 0..<n.
    static func row(_ v: [Int], _ n: Int = 11) -> [Int] { v + Array(repeating: 0, count: n - v.count) }

    /// Two nodes, x86_64: node 0 DMA + DMA32 (2.6.3x-like counts), node 1 Normal with an odd number of
    /// pageblocks (so the next zone would start mid max-order block) and mixed blocks.
    static func image() -> ProcImage {
        let dma = ProcImage.Zone(
            type: .dma, startPfn: 16, spanned: 4080, present: 3996, managed: 3996, watermark: [5, 6, 7],
            free: [row([0, 0, 0, 1, 1, 1, 1, 1, 1, 1]), row([]), row([1, 1, 2, 1, 2, 1, 1, 0, 1, 0, 1]), row([0, 0, 0, 0, 0, 0, 0, 0, 0, 1]), row([])],
            pageblocks: [2, 0, 5, 1, 0])
        let dma32 = ProcImage.Zone(
            type: .dma32, startPfn: 4096, spanned: 520192, present: 505862, managed: 505000, watermark: [1033, 1291, 1549],
            free: [row([103, 54, 77, 1, 1, 1, 11, 8, 7, 1, 9]), row([0, 0, 2, 1, 0, 0, 0, 0, 1]),
                   row([169, 152, 113, 91, 77, 54, 39, 13, 6, 1, 452]), row([1, 2, 2, 2, 2, 0, 1, 1, 1, 1]), row([])],
            pageblocks: [41, 6, 967, 2, 0])
        let normal = ProcImage.Zone(
            type: .normal, startPfn: 1048576, spanned: 66048, present: 66048, managed: 65900, watermark: [300, 375, 450],
            free: [row([40, 12, 3]), row([300, 120, 30, 4]), row([2000, 900, 300, 80, 20, 6, 2, 1, 1, 1, 3]), row([]), row([])],
            pageblocks: [11, 9, 107, 2, 0], mixedBlocks: [3, 2, 7, 0, 0])
        return ProcImage(arch: "x86_64", pageShift: 12, nrOrders: 11, pageblockOrder: 9,
                         nodes: [.init(zones: [dma, dma32]), .init(zones: [normal])], anonPercent: 60)
    }

    static func machine(_ image: ProcImage = image(), kernel: KernelRelease = .v2_6_35, seed: UInt64 = 7) throws -> Machine {
        try Machine(MachineConfig(procImage: image, seed: seed, kernel: kernel))
    }

    func testFreeListsAndPageblockCountsAreTheImages() throws {
        for kernel in [KernelRelease.v2_6_35, .v6_6] {
            let image = Self.image()
            let m = try Self.machine(image, kernel: kernel)
            XCTAssertEqual(m.checkConsistency(), [], "\(kernel)")
            let zones = m.populatedZones
            XCTAssertEqual(zones.count, 3)
            for (z, iz) in zip(zones, image.nodes.flatMap(\.zones)) {
                XCTAssertEqual(z.type, iz.type)
                XCTAssertEqual(z.managedPages, iz.managed)
                XCTAssertEqual(z.presentPages, iz.present)
                XCTAssertEqual(z.spannedPages, iz.nrPageblocks << 9)
                for mt in Migratetype.allCases {
                    for o in 0..<11 {
                        XCTAssertEqual(m.freeListLength(zone: z.id, order: o, mt: mt), iz.free[mt][o], "\(kernel) \(z.name) \(mt) order \(o)")
                    }
                }
                XCTAssertEqual(m.pageblockCounts(zone: z.id), iz.pageblocks, "\(kernel) \(z.name)")
                XCTAssertEqual(m.nrFreePages(zone: z.id), iz.freePages)
            }
            XCTAssertEqual(m.pcpPages, 0)
            XCTAssertEqual(m.memTotalPages, image.nodes.flatMap(\.zones).reduce(0) { $0 + $1.managed })
        }
    }

    /// Allocated pages follow their pageblock's type, except one page in each mixed block the image names.
    func testAllocatedPagesFollowTheirPageblockAndMixedBlocksAreAsCounted() throws {
        let image = Self.image()
        let m = try Self.machine(image)
        for (z, iz) in zip(m.populatedZones, image.nodes.flatMap(\.zones)) {
            var mixed = [Int](repeating: 0, count: Migratetype.count)
            var pfn = z.startPfn
            while pfn < z.endPfn {
                let mt = m.pageblockMigratetype(pfn)
                var foreign = false
                for blk in m.pageBlockStates(startPfn: pfn, count: m.pageblockPages) {
                    if case .allocated(let k) = blk.state, m.pages.state[blk.pfn] != PageState.reserved {
                        let expected = Machine.procKind(blockType: mt, anon: k == .anon)
                        if k != expected { foreign = true }
                    }
                }
                if foreign { mixed[mt] += 1 }
                pfn += m.pageblockPages
            }
            XCTAssertEqual(mixed, iz.mixedBlocks ?? [0, 0, 0, 0, 0], z.name)
        }
    }

    func testCompactionRunsOnItAndTheMachineStaysConsistent() throws {
        for kernel in [KernelRelease.v2_6_35, .v6_6] {
            let m = try Self.machine(kernel: kernel)
            let before = m.nrFree(zone: m.populatedZones[1].id, order: 10)
            XCTAssertEqual(m.checkConsistency(), [], "\(kernel)")
            let report = try m.compactMemory()
            XCTAssertEqual(m.checkConsistency(), [], "\(kernel)")
            XCTAssertFalse(report.zones.isEmpty)
            XCTAssertGreaterThan(report.countersAfter.pgmigrateSuccess, report.countersBefore.pgmigrateSuccess, "\(kernel): nothing migrated")
            XCTAssertGreaterThanOrEqual(m.nrFree(zone: m.populatedZones[1].id, order: 10), before, "\(kernel)")
            // And it keeps working as a machine: allocate and free.
            let out = try m.allocate(AllocRequest(order: 3, kind: .kernel))
            XCTAssertTrue(out.succeeded)
            try m.free(out.handle!)
            XCTAssertEqual(m.checkConsistency(), [])
        }
    }

    func testSameImageAndSeedGiveTheSameMachineAndAnotherSeedAnotherLayout() throws {
        let a = try Self.machine(seed: 11), b = try Self.machine(seed: 11), c = try Self.machine(seed: 12)
        XCTAssertEqual(MachineStateTests.fingerprint(a), MachineStateTests.fingerprint(b))
        XCTAssertEqual(a.exportState().sections.map(\.extents.count), b.exportState().sections.map(\.extents.count))
        XCTAssertEqual(MachineStateTests.withoutCapacities(a.exportState()), MachineStateTests.withoutCapacities(b.exportState()))
        // The counts are the same; where the blocks sit is not.
        XCTAssertEqual(a.renderBuddyinfo(), c.renderBuddyinfo())
        XCTAssertNotEqual(a.freeListPfns(zone: ZoneID(1), order: 10, mt: .movable), c.freeListPfns(zone: ZoneID(1), order: 10, mt: .movable))
    }

    func testTheConfigurationRoundTripsThroughJSONAndRebuildsTheSameMachine() throws {
        let config = MachineConfig(procImage: Self.image(), seed: 3, kernel: .v6_6)
        let back = try MachineConfig(json: try JSON.parse(config.json.encoded))
        XCTAssertEqual(back, config)
        XCTAssertEqual(MachineStateTests.fingerprint(try Machine(back)), MachineStateTests.fingerprint(try Machine(config)))
        let restored = try Machine(config, restoring: try Machine(config).exportState())
        XCTAssertEqual(restored.checkConsistency(), [])
    }

    func testCountsThatDoNotFitAreRefusedNamingTheField() {
        var image = Self.image()
        // More free pages than managed.
        image.nodes[1].zones[0].managed = 1000
        XCTAssertThrowsError(try Self.machine(image)) { e in
            XCTAssertEqual((e as? MMError)?.jsonField, "proc_image.nodes[1].zones[0].managed")
        }
        // More max-order free blocks than the zone's pageblocks hold.
        // (Normal: 64 max-order groups and an edge pageblock; 70 order-9 blocks need 69 groups beside
        // the 3 order-10 blocks.)
        image = Self.image()
        image.nodes[1].zones[0].free[2][9] = 70
        XCTAssertThrowsError(try Self.machine(image)) { e in
            XCTAssertEqual((e as? MMError)?.jsonField, "proc_image.nodes[1].zones[0].free")
        }
        image.nodes[1].zones[0].free[2][9] = 60
        XCTAssertNoThrow(try Self.machine(image))
        // More managed pages than pageblocks.
        image = Self.image()
        image.nodes[0].zones[0].managed = 5000
        XCTAssertThrowsError(try Self.machine(image)) { e in
            XCTAssertEqual((e as? MMError)?.jsonField, "proc_image.nodes[0].zones[0].pageblocks")
        }
        // More mixed blocks than blocks of that type with allocated pages.
        image = Self.image()
        image.nodes[1].zones[0].mixedBlocks = [30, 0, 0, 0, 0]
        XCTAssertThrowsError(try Self.machine(image)) { e in
            XCTAssertEqual((e as? MMError)?.jsonField, "proc_image.nodes[1].zones[0].mixed_blocks")
        }
    }

    /// ppc64 with 64 KiB pages: orders 0..8 and pageblock order 8, so every pageblock is a max-order block.
    func testPpc64SixtyFourKiBPages() throws {
        let z = ProcImage.Zone(type: .dma, startPfn: 0, spanned: 16384, present: 16384, managed: 16000, watermark: [90, 112, 135],
                               free: [Self.row([14, 6, 2], 9), Self.row([3, 1], 9), Self.row([120, 83, 41, 17, 6, 2, 1, 0, 30], 9), Self.row([0, 0, 0, 0, 0, 0, 0, 0, 1], 9), Self.row([], 9)],
                               pageblocks: [6, 3, 53, 2, 0])
        let image = ProcImage(arch: "ppc64", pageShift: 16, nrOrders: 9, pageblockOrder: 8, nodes: [.init(zones: [z])])
        let m = try Self.machine(image)
        XCTAssertEqual(m.preset.pageSize, 65536)
        XCTAssertEqual(m.checkConsistency(), [])
        XCTAssertEqual(m.pageblockCounts(zone: m.populatedZones[0].id), z.pageblocks)
        XCTAssertEqual((0..<9).map { m.nrFree(zone: m.populatedZones[0].id, order: $0) }, (0..<9).map { o in z.free.reduce(0) { $0 + $1[o] } })
        try m.compactMemory()
        XCTAssertEqual(m.checkConsistency(), [])
    }
}
