import MMFormat
import XCTest
@testable import MMCore

/// mmtests' stress-highalloc pacing (`mb_per_sec`): VMRegress's ms_delay = (PAGE_SIZE << order) /
/// (MB_PER_SEC × 1048576 / 1000) in integer arithmetic, start to start.
final class PacingTests: XCTestCase {
    private func attemptStarts(_ preset: ArchPreset, mib: Int, rate: Int) throws -> [UInt64] {
        let m = makeMachine(preset, mib: mib)
        let d = try WorkloadDefinition(json: try JSON.parse("""
            {"name": "paced", "seed": 1, "steps": [
              {"high_alloc": {"count": 4, "mb_per_sec": \(rate), "stop_on_failure": false, "gfp": ["GFP_HIGHUSER_MOVABLE"]}}]}
            """))
        let r = try m.runWorkload(d)
        XCTAssertEqual(r.attempts.count, 4)
        return r.attempts.map(\.atNs)
    }

    func testSixteenMegabytesASecondPerArch() throws {
        // 2 MiB: 2097152 / 16777 = 125 ms; 4 MiB (x86 without PAE): 250 ms; 16 MiB (ppc64 64K): 1000 ms.
        for (preset, ms) in [(ArchPreset.x86_64, 125), (.x86, 250), (.ppc64, 1000)] {
            let t = try attemptStarts(preset, mib: 256, rate: 16)
            for k in 1..<t.count { XCTAssertEqual(t[k] - t[k - 1], UInt64(ms) * 1_000_000, "\(preset.name) attempt \(k)") }
        }
    }

    func testDelayAndRateAreExclusive() {
        XCTAssertThrowsError(try WorkloadDefinition(json: try JSON.parse("""
            {"name": "x", "steps": [{"high_alloc": {"count": 1, "mb_per_sec": 16, "delay_ms": 2}}]}
            """)))
    }
}
