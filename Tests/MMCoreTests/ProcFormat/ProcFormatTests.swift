import XCTest
@testable import MMCore

/// Renderers against literal kernel text (expected strings written out by hand from the kernel's printf
/// formats: a trailing space ends every buddyinfo/index line).
final class ProcFormatTests: XCTestCase {
    /// 64 MiB x86-64 without boot reservations: DMA (16 MiB, 4 order-10 blocks) and DMA32 (48 MiB, 12
    /// blocks), one RESERVE block each.
    func freshMachine() -> Machine { makeMachine(.x86_64, mib: 64, bootMemory: false) }

    func testBuddyinfo() {
        XCTAssertEqual(freshMachine().renderBuddyinfo(), """
            Node 0, zone      DMA      0      0      0      0      0      0      0      0      0      0      4 
            Node 0, zone    DMA32      0      0      0      0      0      0      0      0      0      0     12 
            """ + "\n")
    }

    func testPagetypeinfoSeedColumns() {
        XCTAssertEqual(freshMachine().renderPagetypeinfo(), """
            Page block order: 9
            Pages per block:  512
            
            Free pages count per migrate type at order       0      1      2      3      4      5      6      7      8      9     10 
            Node    0, zone      DMA, type    Unmovable      0      0      0      0      0      0      0      0      0      0      0 
            Node    0, zone      DMA, type  Reclaimable      0      0      0      0      0      0      0      0      0      0      0 
            Node    0, zone      DMA, type      Movable      0      0      0      0      0      0      0      0      0      0      3 
            Node    0, zone      DMA, type      Reserve      0      0      0      0      0      0      0      0      0      0      1 
            Node    0, zone      DMA, type      Isolate      0      0      0      0      0      0      0      0      0      0      0 
            Node    0, zone    DMA32, type    Unmovable      0      0      0      0      0      0      0      0      0      0      0 
            Node    0, zone    DMA32, type  Reclaimable      0      0      0      0      0      0      0      0      0      0      0 
            Node    0, zone    DMA32, type      Movable      0      0      0      0      0      0      0      0      0      0     11 
            Node    0, zone    DMA32, type      Reserve      0      0      0      0      0      0      0      0      0      0      1 
            Node    0, zone    DMA32, type      Isolate      0      0      0      0      0      0      0      0      0      0      0 
            
            Number of blocks type     Unmovable  Reclaimable      Movable      Reserve      Isolate 
            Node 0, zone      DMA            0            0            7            1            0 
            Node 0, zone    DMA32            0            0           23            1            0 
            """ + "\n")
    }

    func testUnusableIndex() {
        XCTAssertEqual(freshMachine().renderUnusableIndex(), """
            Node 0, zone      DMA 0.000 0.000 0.000 0.000 0.000 0.000 0.000 0.000 0.000 0.000 0.000 
            Node 0, zone    DMA32 0.000 0.000 0.000 0.000 0.000 0.000 0.000 0.000 0.000 0.000 0.000 
            """ + "\n")
    }

    func testExtfragIndexSeedFormat() {
        XCTAssertEqual(freshMachine().renderExtfragIndex(), """
            Node 0, zone      DMA -1.000 -1.000 -1.000 -1.000 -1.000 -1.000 -1.000 -1.000 -1.000 -1.000 -1.000 
            Node 0, zone    DMA32 -1.000 -1.000 -1.000 -1.000 -1.000 -1.000 -1.000 -1.000 -1.000 -1.000 -1.000 
            """ + "\n")
    }

    func testThousandthsFormatting() {
        XCTAssertEqual(CFormat.thousandths(-1000), "-1.000")
        XCTAssertEqual(CFormat.thousandths(954), "0.954")
        XCTAssertEqual(CFormat.thousandths(0), "0.000")
        XCTAssertEqual(CFormat.thousandths(1000), "1.000")
        XCTAssertEqual(CFormat.thousandths(-15), "0.-15")     // printf("%d.%03d", 0, -15)
        XCTAssertEqual(CFormat.thousandths(-5), "0.-05")
        XCTAssertEqual(CFormat.thousandths(-250), "0.-250")
    }

    func testVmstatFormatAndCounters() throws {
        let m = freshMachine()
        _ = try m.allocate(AllocRequest(order: 2, kind: .anon, gfp: .atomic))
        let text = m.renderVmstat()
        XCTAssertTrue(text.hasPrefix("nr_free_pages 16380\nnr_inactive_anon 0\nnr_active_anon 0\n"), text)
        XCTAssertTrue(text.contains("\npgalloc_dma 0\npgalloc_dma32 4\npgalloc_normal 0\npgalloc_movable 0\npgfree 0\n"), text)
        XCTAssertTrue(text.contains("\nnr_anon_pages 4\n"))
        XCTAssertTrue(text.contains("\ncompact_stall 0\n"))
        // Every line is "<name> <decimal>".
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            XCTAssertEqual(parts.count, 2, String(line))
            XCTAssertNotNil(Int64(parts[1]), String(line))
        }
    }

    func testZoneinfoFields() {
        let text = freshMachine().renderZoneinfo()
        XCTAssertTrue(text.hasPrefix("Node 0, zone      DMA\n  pages free     4096\n        min      64\n        low      80\n        high     96\n"), text)
        XCTAssertTrue(text.contains("\n    nr_free_pages 4096\n"), text)
        XCTAssertTrue(text.contains("\n        protection: (0, 48, 48, 48)\n"), text)
        XCTAssertTrue(text.contains("Node 0, zone    DMA32\n"))
        XCTAssertEqual(text.components(separatedBy: "Node ").count - 1, 2)
    }
}
