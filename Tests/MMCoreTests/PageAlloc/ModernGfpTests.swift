import XCTest
@testable import MMCore

/// The GFP bits only kernel 6.6 reads (__GFP_KSWAPD_RECLAIM cleared, __GFP_NOMEMALLOC) must be none of the
/// seed's: GFP_HIGHUSER_MOVABLE carries __GFP_KSWAPD_RECLAIM in 6.6 (include/linux/gfp_types.h: GFP_USER
/// includes __GFP_RECLAIM), so its costly requests wake kswapd in `__alloc_pages_slowpath`
/// (`wake_all_kswapds` when ALLOC_KSWAPD, set by `gfp_to_alloc_flags` from __GFP_KSWAPD_RECLAIM).
final class ModernGfpTests: XCTestCase {
    func testModernOnlyBitsAreDistinctFromTheSeeds() {
        let seedBits: [GFPFlags] = [.wait, .io, .fs, .repeat, .noretry, .high, .thisnode, .highmem, .movable, .comp, .nowarn]
        for b in seedBits {
            XCTAssertTrue(b.isDisjoint(with: .noKswapd), "\(b.rawValue) collides with noKswapd")
            XCTAssertTrue(b.isDisjoint(with: .nomemalloc), "\(b.rawValue) collides with nomemalloc")
        }
        XCTAssertFalse(GFPFlags.highuserMovable.contains(.noKswapd))
        XCTAssertFalse(GFPFlags.highuserMovable.contains(.nomemalloc))
        // GFP_TRANSHUGE_LIGHT = (GFP_HIGHUSER_MOVABLE | __GFP_COMP | __GFP_NOMEMALLOC | __GFP_NOWARN) & ~__GFP_RECLAIM.
        XCTAssertEqual(GFPFlags.transhugeLight, GFPFlags.highuserMovable.subtracting(.wait).union([.comp, .nowarn, .nomemalloc, .noKswapd]))
        XCTAssertEqual(GFPFlags.transhuge, GFPFlags.transhugeLight.union(.wait))
    }

    func testHighuserMovableHugePageWakesKswapdOn66() throws {
        let m = try ModernCompactionTests.fragmented(256)
        XCTAssertTrue(m.gfpToAllocFlags(.highuserMovable, order: 9, mt: .movable).contains(.kswapd))
        XCTAssertFalse(m.gfpToAllocFlags(.transhuge, order: 9, mt: .movable).contains(.kswapd))
        // The fragmenting fill woke kswapd: let it finish and sleep first.
        m.idle(ns: 10_000_000_000)
        XCTAssertLessThan(m.kswapdPending[0], 0)
        let w0 = m.counters.kswapdWakeups
        // A THP fault (GFP_TRANSHUGE) leaves kswapd asleep ...
        _ = try m.allocate(AllocRequest(order: 9, kind: .anon, gfp: .transhuge))
        XCTAssertEqual(m.counters.kswapdWakeups, w0)
        XCTAssertLessThan(m.kswapdPending[0], 0)
        // ... a GFP_HIGHUSER_MOVABLE huge page that misses the fast path wakes it (fragmented: no free order-9 block).
        _ = try m.allocate(AllocRequest(order: 9, kind: .anon, gfp: .highuserMovable))
        XCTAssertTrue(m.counters.kswapdWakeups > w0 || m.kswapdPending[0] >= 0)
    }
}
