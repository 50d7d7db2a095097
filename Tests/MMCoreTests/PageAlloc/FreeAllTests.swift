import XCTest
@testable import MMCore
import MMFormat

/// `freeAll`: every handle freed, or none.
final class FreeAllTests: XCTestCase {
    func testFreesAllOrNothing() throws {
        let m = makeMachine(mib: 64)
        let r = try m.allocateBulk(AllocRequest(order: 0, kind: .anon, gfp: .atomic), count: 4, tag: "t", keepHandles: 4)
        let hs = r.handles
        XCTAssertEqual(hs.count, 4)
        // A dead handle in third place: nothing is freed, and the error names its position.
        try m.free(hs[3])
        XCTAssertThrowsError(try m.freeAll([hs[0], hs[1], hs[3]])) { e in
            XCTAssertEqual(e as? MMError, .handleNotFreeable(index: 2, handle: hs[3].raw, repeated: false))
            XCTAssertEqual((e as? MMError)?.jsonField, "handles[2]")
        }
        XCTAssertTrue(m.isLive(hs[0]) && m.isLive(hs[1]))
        // A repeated handle: nothing is freed either (freeing it twice would fail half-way).
        XCTAssertThrowsError(try m.freeAll([hs[0], hs[1], hs[0]])) { e in
            XCTAssertEqual(e as? MMError, .handleNotFreeable(index: 2, handle: hs[0].raw, repeated: true))
        }
        XCTAssertTrue(m.isLive(hs[0]) && m.isLive(hs[1]))
        try m.freeAll([hs[0], hs[1], hs[2]])
        XCTAssertFalse(hs.contains { m.isLive($0) })
        assertConsistent(m)
    }
}
