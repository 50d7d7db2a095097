import XCTest
@testable import MMCore

/// Builds a machine or fails the test.
func makeMachine(_ preset: ArchPreset = .x86_64, mib: Int = 64, nodes: Int = 1, seed: UInt64 = 1,
                 minFreeKbytes: Int? = nil, compaction: Bool = true, swapMiB: Int = 0,
                 file: StaticString = #filePath, line: UInt = #line) -> Machine {
    do {
        return try Machine(MachineConfig(preset: preset, memoryMiB: mib, nodes: nodes, seed: seed, compaction: compaction,
                                         swapMiB: swapMiB, sysctl: SysctlSettings(minFreeKbytes: minFreeKbytes)))
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
    func zoneId(node: Int = 0, _ type: ZoneType) -> Int {
        nodes[node].zoneIds.first { zones[$0].type == type }!
    }
}
