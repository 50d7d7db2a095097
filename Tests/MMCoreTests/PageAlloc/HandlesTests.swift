@testable import MMCore
import XCTest

/// The handle table: handle layout, stale handles, and slots retired at their last generation.
final class HandlesTests: XCTestCase {
    func machine(_ mib: Int = 64) throws -> Machine { try Machine(MachineConfig(preset: .x86_64, memoryMiB: mib, seed: 1)) }

    func testLayoutUsesTheSlotBitsTheTableNeeds() throws {
        let m = try machine()
        let t = m.handles
        // 16,384 pages of 4 KiB (+1 slot): 15 bits of slot, the generation above them, all below 2^53.
        XCTAssertEqual(t.pfn.count, 16_385)
        XCTAssertEqual(t.slotBits, 15)
        XCTAssertEqual(t.maxGeneration, UInt32.max)
        XCTAssertLessThan(UInt64(t.maxGeneration) << t.slotBits | t.slotMask, 1 << 53)
        let h = try m.allocate(AllocRequest(order: 0, kind: .anon)).handle!
        XCTAssertEqual(h.raw >> t.slotBits, 1, "a new slot's first generation")
        XCTAssertEqual(m.handles.resolve(h), m.handles.slot(of: h))
        // The largest table (2^32 - 2 pages, swap) still leaves 2^20 - 1 generations below 2^53.
        let big = HandleTable(capacity: 1 << 33, arena: RawArena())
        XCTAssertEqual(big.slotBits, 33)
        XCTAssertEqual(big.maxGeneration, (1 << 20) - 1)
    }

    /// A slot freed at its last generation is never issued again, so a handle freed long ago can never
    /// name a later allocation. With generations that wrapped, a stale handle resolved again after
    /// 2^20 reuses of its slot and freed someone else's pages (a slab cache's page: the soak's trap).
    func testSlotRetiresAtItsLastGenerationAndStaleHandlesNeverResolve() throws {
        let m = try machine()
        let first = try m.allocate(AllocRequest(order: 0, kind: .anon)).handle!
        let s = m.handles.slot(of: first)
        try m.free(first)
        // Age the slot to three generations before its last.
        m.handles.generation[s] = m.handles.maxGeneration - 3
        var stale: [PageHandle] = [first]
        var retiredSeen = false
        for _ in 0..<6 {
            let h = try m.allocate(AllocRequest(order: 0, kind: .anon)).handle!
            for old in stale { XCTAssertFalse(m.isLive(old), "a stale handle resolved") }
            if m.handles.slot(of: h) != s { retiredSeen = true }
            try m.free(h)
            stale.append(h)
        }
        XCTAssertTrue(retiredSeen, "the slot must be retired once freed at its last generation")
        XCTAssertEqual(m.handles.retired, 1)
        XCTAssertEqual(m.handles.generation[s], m.handles.maxGeneration)
        for h in stale {
            XCTAssertFalse(m.isLive(h))
            XCTAssertThrowsError(try m.free(h))
        }
        // A wrapped generation, 0 or one past the last, names nothing.
        XCTAssertFalse(m.isLive(m.handles.handle(slot: s, generation: 1)))
        XCTAssertFalse(m.isLive(PageHandle(raw: UInt64(m.handles.maxGeneration) + 1 << m.handles.slotBits | UInt64(s))))
        XCTAssertEqual(m.checkConsistency(), [])
    }

    /// The growth bound of a batch counts free slots without the retired ones.
    func testGrowthBoundDoesNotCountRetiredSlotsAsFree() throws {
        let m = try machine()
        let h = try m.allocate(AllocRequest(order: 0, kind: .anon)).handle!
        let s = m.handles.slot(of: h)
        try m.free(h)
        m.handles.generation[s] = m.handles.maxGeneration - 1
        let last = try m.allocate(AllocRequest(order: 0, kind: .anon)).handle!
        XCTAssertEqual(m.handles.slot(of: last), s)
        try m.free(last)
        XCTAssertEqual(m.handles.retired, 1)
        XCTAssertEqual(m.handles.used - m.handles.live - m.handles.retired, 0)
    }
}

extension HandlesTests {
    /// A made-up handle naming a slab cache's page is refused, by one free and by a batch, and changes
    /// nothing: the page goes only with its last object.
    func testASlabCachePageCannotBeFreedByHandle() throws {
        let m = try machine()
        let (d, i) = m.createFileMetadata()
        XCTAssertNotNil(d); XCTAssertNotNil(i)
        let pfn = try XCTUnwrap(m.slabPfn(of: d!))
        let slot = Int(m.pages.nextOrOwner[pfn])
        let forged = m.handles.handle(ofSlot: slot)
        XCTAssertTrue(m.isLive(forged))
        XCTAssertThrowsError(try m.free(forged)) { XCTAssertEqual($0 as? MMError, .unknownHandle(forged.raw)) }
        let mine = try m.allocate(AllocRequest(order: 0, kind: .anon)).handle!
        XCTAssertThrowsError(try m.freeAll([mine, forged])) {
            XCTAssertEqual($0 as? MMError, .handleNotFreeable(index: 1, handle: forged.raw, repeated: false))
        }
        XCTAssertTrue(m.isLive(mine))
        XCTAssertTrue(m.isLive(d!))
        try m.free(mine)
        XCTAssertEqual(m.slabPfn(of: d!), pfn)
        XCTAssertEqual(m.checkConsistency(), [])
    }
}
