@testable import CompactServiceKit
import Foundation
import MMCore
import MMFormat
import Testing

/// The /proc readers (ProcText/) on texts of several kernel releases (Fixtures/, written in each
/// release's layout by make_fixtures.py): every column layout reads, the files are checked against
/// each other, the kernel profile and architecture are decided from the text, and what is wrong is
/// reported with its file and line.
@Suite("/proc text readers")
struct ProcTextTests {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func text(_ fixture: String, _ file: String) -> String? {
        try? String(contentsOf: dir.appendingPathComponent("\(fixture).\(file)"), encoding: .utf8)
    }

    static func texts(_ fixture: String) -> ProcImageReader.Texts {
        ProcImageReader.Texts(buddyinfo: text(fixture, "buddyinfo"), pagetypeinfo: text(fixture, "pagetypeinfo")!,
                              zoneinfo: text(fixture, "zoneinfo")!, meminfo: text(fixture, "meminfo"), arch: nil)
    }

    static let fixtures = ["linux-2.6.35-x86_64-2node", "linux-4.1-x86_64-cma", "linux-6.6-x86_64-2node", "linux-2.6.32-ppc64-64k"]

    struct Expected: Sendable {
        var fixture: String
        var kernel: KernelRelease
        var arch: String
        var pageShift: Int
        var nrOrders: Int
        var pageblockOrder: Int
        var zones: [[ZoneType]]
    }

    static let expected: [Expected] = [
        Expected(fixture: "linux-2.6.35-x86_64-2node", kernel: .v2_6_35, arch: "x86_64", pageShift: 12, nrOrders: 11, pageblockOrder: 9,
                 zones: [[.dma, .dma32, .normal], [.normal]]),
        Expected(fixture: "linux-4.1-x86_64-cma", kernel: .v2_6_35, arch: "x86_64", pageShift: 12, nrOrders: 11, pageblockOrder: 9,
                 zones: [[.dma, .dma32, .normal]]),
        Expected(fixture: "linux-6.6-x86_64-2node", kernel: .v6_6, arch: "x86_64", pageShift: 12, nrOrders: 11, pageblockOrder: 9,
                 zones: [[.dma, .dma32, .normal], [.normal]]),
        Expected(fixture: "linux-2.6.32-ppc64-64k", kernel: .v2_6_35, arch: "ppc64", pageShift: 16, nrOrders: 9, pageblockOrder: 8,
                 zones: [[.dma], [.dma]]),
    ]

    @Test(arguments: expected)
    func everyFixtureReads(_ e: Expected) throws {
        let r = try ProcImageReader(Self.texts(e.fixture), kernel: nil)
        #expect(r.kernel == e.kernel, "\(r.kernelReason)")
        #expect(r.image.arch == e.arch, "\(r.archReason)")
        #expect(r.image.pageShift == e.pageShift)
        #expect(r.image.nrOrders == e.nrOrders)
        #expect(r.image.pageblockOrder == e.pageblockOrder)
        #expect(r.image.nodes.map { $0.zones.map(\.type) } == e.zones)
        // buddyinfo is the sum of the free lists, zone by zone.
        let bi = try BuddyinfoText(Self.text(e.fixture, "buddyinfo")!)
        let zones = r.image.nodes.flatMap(\.zones)
        #expect(bi.rows.count == zones.count)
        for (row, z) in zip(bi.rows, zones) {
            #expect((0..<e.nrOrders).map { o in z.free.reduce(0) { $0 + $1[o] } } == row.counts, "\(row.zone)")
            #expect(z.managed >= z.freePages)
        }
        // And the typed image is one MMCore lays out.
        _ = try MachineConfig(procImage: r.image, kernel: r.kernel).validate()
    }

    /// 2.6.35 has no managed line: managed is present; its Reserve column goes to the Reserve slot.
    @Test func oldZoneinfoAndReserveColumn() throws {
        let r = try ProcImageReader(Self.texts("linux-2.6.35-x86_64-2node"), kernel: nil)
        let dma32 = r.image.nodes[0].zones[1]
        #expect(dma32.managed == dma32.present)
        #expect(dma32.startPfn == 4096)
        #expect(dma32.watermark == [1033, 1291, 1549])
        #expect(dma32.pageblocks == [41, 6, 967, 2, 0])
        #expect(dma32.free[Migratetype.movable][10] == 452)
        #expect(dma32.free[Migratetype.reserve][9] == 1)
        #expect(r.notes.contains { $0.contains("no 'managed' lines") })
    }

    /// 6.6: HighAtomic decides the profile; the >100000 count is recovered from buddyinfo; the mixed
    /// blocks of page_owner are read; per-node stats and unpopulated zones are skipped.
    @Test func modernLayout() throws {
        let r = try ProcImageReader(Self.texts("linux-6.6-x86_64-2node"), kernel: nil)
        #expect(r.kernelReason.contains("HighAtomic"))
        let normal = r.image.nodes[0].zones[2]
        #expect(normal.free[Migratetype.movable][0] == 120000)
        #expect(normal.free[Migratetype.reserve][3] == 5)
        #expect(normal.pageblocks == [110, 100, 1830, 8, 0])
        #expect(normal.mixedBlocks == [20, 9, 41, 0, 0])
        #expect(normal.managed == 1030000)
        #expect(r.image.nodes[1].zones[0].free[Migratetype.isolate][10] == 2)
        // meminfo: the page size and the anonymous share.
        #expect(r.image.anonPercent == 41)
        // Without buddyinfo a capped count cannot be recovered.
        var t = Self.texts("linux-6.6-x86_64-2node")
        t.buddyinfo = nil
        #expect(throws: ProcTextError.self) { try ProcImageReader(t, kernel: nil) }
        // An explicit kernel wins.
        #expect(try ProcImageReader(Self.texts("linux-6.6-x86_64-2node"), kernel: .v2_6_35).kernel == .v2_6_35)
    }

    /// Errors name the file and the line.
    @Test func errorsNameFileAndLine() throws {
        func error(_ t: ProcImageReader.Texts) -> ProcTextError? {
            do { _ = try ProcImageReader(t, kernel: nil); return nil } catch { return error }
        }
        var t = Self.texts("linux-2.6.35-x86_64-2node")
        t.pagetypeinfo = t.pagetypeinfo.replacingOccurrences(of: "type      Movable      1", with: "type      Movable      x")
        let e1 = error(t)
        #expect(e1?.file == "pagetypeinfo" && e1?.line == 7 && e1?.malformed == true, "\(String(describing: e1))")

        t = Self.texts("linux-2.6.35-x86_64-2node")
        t.buddyinfo = t.buddyinfo!.replacingOccurrences(of: "Node 0, zone    DMA32    273", with: "Node 0, zone    DMA32    274")
        let e2 = error(t)
        #expect(e2?.file == "buddyinfo" && e2?.line == 2 && e2?.malformed == false, "\(String(describing: e2))")

        t = Self.texts("linux-4.1-x86_64-cma")
        t.pagetypeinfo = t.pagetypeinfo.replacingOccurrences(of: "type          CMA      0", with: "type          CMA      3")
        let e3 = error(t)
        #expect(e3?.file == "pagetypeinfo" && e3?.detail.contains("CMA") == true, "\(String(describing: e3))")

        t = Self.texts("linux-4.1-x86_64-cma")
        t.zoneinfo = t.zoneinfo.replacingOccurrences(of: "managed  3977", with: "managed  100")
        let e4 = error(t)
        #expect(e4?.file != nil && e4?.malformed == false, "\(String(describing: e4))")

        t = Self.texts("linux-2.6.35-x86_64-2node")
        t.zoneinfo = String(t.zoneinfo.split(separator: "Node 1, zone   Normal")[0])
        let e5 = error(t)
        #expect(e5?.file == "zoneinfo" && e5?.detail.contains("Node 1, zone Normal") == true, "\(String(describing: e5))")

        #expect(error(.init(buddyinfo: nil, pagetypeinfo: "hello", zoneinfo: "Node 0, zone DMA", meminfo: nil, arch: nil))?.line == 1)
    }
}
