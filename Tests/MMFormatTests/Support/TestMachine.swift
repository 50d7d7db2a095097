import MMCore
import XCTest

/// Builds a machine or fails the test.
func makeMachine(_ preset: ArchPreset = .x86_64, mib: Int = 64, nodes: Int = 1, seed: UInt64 = 1, bootMemory: Bool = true,
                 file: StaticString = #filePath, line: UInt = #line) -> Machine {
    do {
        return try Machine(MachineConfig(preset: preset, memoryMiB: mib, nodes: nodes, seed: seed, bootMemory: bootMemory))
    } catch {
        XCTFail("machine creation failed: \(error)", file: file, line: line)
        fatalError()
    }
}
