@testable import CompactServiceKit
import XCTest

/// The state gate's live question stays one closure however often it is asked: kept in a Mutex as a
/// bare function value it was rewrapped in two reabstraction thunks per question, and after some 10^5
/// questions calling or freeing it overflowed the stack (the soak's silent crashes on a worker thread).
final class GateLogTests: XCTestCase {
    func testAskingOftenDoesNotGrowTheQuestion() {
        var log: GateLog? = GateLog()
        let asked = AskCounter()
        log!.setLive { bytes in asked.add(); return bytes < 1000 }
        log!.begin()
        for _ in 0..<300_000 { XCTAssertTrue(log!.decide(10)) }
        // With a chain of 600,000 thunks this call and the release below overflow the stack.
        XCTAssertFalse(log!.decide(5000))
        XCTAssertEqual(log!.end().count, 1, "the refusal is noted for the section's record")
        XCTAssertEqual(asked.count, 300_001)
        log = nil
    }
}

private final class AskCounter: @unchecked Sendable {
    // Safe: the test asks from one thread only.
    var count = 0
    func add() { count += 1 }
}
