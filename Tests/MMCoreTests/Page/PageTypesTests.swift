import Testing
@testable import MMCore

/// The per-page vocabulary: kinds, their migratetypes and zones, and the state byte's encoding.
@Suite("Page types")
struct PageTypesTests {
    /// `gfpflags_to_migratetype`: user memory is movable, reclaimable slab reclaimable, kernel unmovable.
    @Test func kindsAskForTheirMigratetype() {
        #expect(AllocKind.anon.migratetype == .movable)
        #expect(AllocKind.file.migratetype == .movable)
        #expect(AllocKind.pinned.migratetype == .movable)
        #expect(AllocKind.slab.migratetype == .reclaimable)
        #expect(AllocKind.kernel.migratetype == .unmovable)
    }

    /// The slots of `enum migratetype`: 2.6.35's order, HIGHATOMIC in RESERVE's slot, each kernel's names.
    @Test func migratetypeSlotsAndNames() {
        #expect(Migratetype.allCases.map(\.rawValue) == [0, 1, 2, 3, 4])
        #expect(Migratetype.allCases.count == Migratetype.count)
        #expect(Migratetype.reserve == Migratetype.highatomic)
        #expect(Array(Migratetype.pcpCases) == [.unmovable, .reclaimable, .movable])
        #expect(Migratetype.allCases.map(\.isPcpType) == [true, true, true, false, false])
        #expect(Migratetype.allCases.map(\.name) == ["Unmovable", "Reclaimable", "Movable", "Reserve", "Isolate"])
        #expect(Migratetype.allCases.map(\.modernName) == ["Unmovable", "Reclaimable", "Movable", "HighAtomic", "Isolate"])
        #expect(Migratetype.modernColumns.map(\.name) == ["Unmovable", "Movable", "Reclaimable", "HighAtomic", "CMA", "Isolate"])
        #expect(Migratetype(rawValue: 7).slotOrIsolate == .isolate)
        #expect(Migratetype.movable.slotOrIsolate == .movable)
        for mt in Migratetype.allCases {
            #expect(PageOrderByte.migratetype(PageOrderByte.migratetypeBits(mt) | 0x0F) == mt)
        }
    }

    /// A pfn's buddy arithmetic is the kernel's integer arithmetic, named.
    @Test func pfnArithmetic() {
        let p = Pfn(0x1234)
        #expect(p.buddy(order: 2) == Pfn(0x1230))
        #expect(p.buddy(order: 2).buddy(order: 2) == p)
        #expect(Pfn(0x1230).merged(withBuddy: Pfn(0x1234)) == Pfn(0x1230))
        #expect(p.isAligned(order: 2) && !p.isAligned(order: 3))
        #expect(p.alignedDown(order: 9) == Pfn(0x1200))
        #expect(p.alignedDown(pages: 512) == Pfn(0x1200))
        #expect(p.blockIndex(order: 9) == 0x1234 >> 9)
        #expect(Pfn(blockIndex: 9, order: 9) == Pfn(9 << 9))
        #expect(p + 12 - 12 == p && (p + 12) - p == 12 && (p &+ 3) &- p == 3)
        #expect(Array(Pfn(4)..<Pfn(7)) == [Pfn(4), Pfn(5), Pfn(6)])
        #expect(Array(stride(from: Pfn(0), to: Pfn(1536), by: 512)) == [Pfn(0), Pfn(512), Pfn(1024)])
        #expect(Pfn(link: p.link) == p && Pfn(entry: p.entry) == p)
        #expect("\(p)" == "4660")
    }

    @Test func kindNamesRoundTrip() {
        for k in AllocKind.allCases { #expect(AllocKind(name: k.name) == k) }
        #expect(AllocKind(name: "huge") == nil)
        #expect(AllocKind.count == AllocKind.allCases.count)
    }

    /// User pages may use the highest zone; pinned pages avoid ZONE_MOVABLE; kernel memory stops at Normal.
    @Test func highestZones() {
        let all: [ZoneType] = [.dma, .dma32, .normal, .movable]
        #expect(AllocKind.anon.highestZoneType(available: all) == .movable)
        #expect(AllocKind.pinned.highestZoneType(available: all) == .normal)
        #expect(AllocKind.kernel.highestZoneType(available: all) == .normal)
    }

    /// The state byte of an allocated head keeps its kind.
    @Test func stateByteKeepsTheKind() {
        for k in AllocKind.allCases {
            let s = PageState.allocatedHead(kind: k)
            #expect(PageState.kind(s) == k)
            #expect(PageState.code(s) == PageState.allocated)
        }
    }
}
