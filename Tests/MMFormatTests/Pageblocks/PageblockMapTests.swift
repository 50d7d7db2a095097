import XCTest
import MMCore
@testable import MMFormat

/// The binary pageblock map: its bytes for a known machine, written out by hand from the documented
/// layout, and the round trip of a fragmented machine.
final class PageblockMapTests: XCTestCase {
    func testVarint() {
        func v(_ x: Int) -> [UInt8] { var o: [UInt8] = []; PageblockMap.varint(x, &o); return o }
        XCTAssertEqual(v(0), [0])
        XCTAssertEqual(v(127), [0x7F])
        XCTAssertEqual(v(128), [0x80, 0x01])
        XCTAssertEqual(v(512), [0x80, 0x04])
        XCTAssertEqual(v(32768), [0x80, 0x80, 0x02])
    }

    /// 64 MiB x86-64, fresh: 32 blocks of 512 free pages. The RESERVE block of each zone comes first
    /// (setup_zone_migrate_reserve takes movable blocks from the zone start), so: DMA's reserve block,
    /// 7 movable, DMA32's reserve block, 23 movable.
    func testFreshMachineRecords() {
        let m = makeMachine(.x86_64, mib: 64, bootMemory: false)
        let free512: [UInt8] = [0x01, 0x80, 0x04]  // mask: free only; 512
        let expected: [UInt8] = [0x03] + free512                // block 0: Reserve
            + [0x02 | 0x10, 6] + free512                        // blocks 1-7: Movable, repeated 6 more times
            + [0x03] + free512                                  // block 8: Reserve
            + [0x02 | 0x10, 22] + free512                       // blocks 9-31: Movable
        XCTAssertEqual(PageblockMap.records(m.pageblockTable()), expected)

        let doc = m.renderPageblockMap(name: "m")
        XCTAssertEqual(Array(doc[0..<4]), Array("PBM1".utf8))
        let h = Int(doc[4]) | Int(doc[5]) << 8 | Int(doc[6]) << 16 | Int(doc[7]) << 24
        XCTAssertEqual(Array(doc[(8 + h)...]), expected)
        let header = String(decoding: doc[8..<(8 + h)], as: UTF8.self)
        XCTAssertEqual(header, """
            {"format":"compact-service pageblocks 1","machine":"m","generation":\(m.generation),"page_size":4096,"nr_orders":11,\
            "pageblock_order":9,"pageblock_pages":512,"block_count":32,\
            "fields":["free","pcp","anon","file","slab","kernel","pinned","isolated_free"],\
            "migratetypes":["Unmovable","Reclaimable","Movable","Reserve","Isolate"],\
            "nodes":[{"id":0,"start_pfn":0,"pages":16384}],\
            "zones":[{"node":0,"name":"DMA","type":"dma","start_pfn":0,"pages":4096,"first_block":0,"blocks":8},\
            {"node":0,"name":"DMA32","type":"dma32","start_pfn":4096,"pages":12288,"first_block":8,"blocks":24}]}
            """)
    }

    func testMixedRecordBytes() {
        // One block by hand: Unmovable, mixed, 3 free, 509 anon; then a Movable one with 200 anon and
        // 312 file; then Reclaimable with every counter set to its index + 1.
        var t = PageblockTable(flags: [0x00 | PageblockTable.mixedBit, 0x02, 0x01], counts: [])
        t.counts = [3, 0, 509, 0, 0, 0, 0, 0] + [0, 0, 200, 312, 0, 0, 0, 0] + [1, 2, 3, 4, 5, 6, 7, 8]
        XCTAssertEqual(PageblockMap.records(t), [0x08, 0b0000_0101, 3, 0xFD, 0x03,
                                                 0x02, 0b0000_1100, 0xC8, 0x01, 0xB8, 0x02,
                                                 0x01, 0xFF, 1, 2, 3, 4, 5, 6, 7, 8])
    }

    func testRoundTripOfAFragmentedMachine() throws {
        let m = makeMachine(.x86_64, mib: 256, nodes: 2)
        for (k, o) in [(AllocKind.anon, 0), (.kernel, 0), (.file, 2), (.slab, 0), (.pinned, 1)] {
            _ = try m.allocateBulk(AllocRequest(order: o, kind: k, gfp: .atomic), count: 3000, tag: k.name, keepHandles: 0)
            _ = try m.freeTag(k.name, pattern: .random(fraction: 0.5, seed: 9))
        }
        let table = m.pageblockTable()
        let doc = m.renderPageblockMap(name: "frag")
        let d = try PageblockMap.decode(doc)
        XCTAssertEqual(d.table, table)
        XCTAssertEqual(d.header["machine"], .string("frag"))
        XCTAssertEqual(d.header["block_count"], .number("128"))
        if case .array(let zs)? = d.header["zones"] { XCTAssertEqual(zs.count, m.populatedZones.count); XCTAssertEqual(zs.count, 3) }  // node 0: DMA, DMA32; node 1: DMA32 else { XCTFail("zones") }
        // Varied blocks make varied records; the whole stays a few bytes a block.
        XCTAssertLessThan(doc.count, 8 + 1024 + 128 * 20)
    }

    func testDecodeRejectsDamage() {
        let doc = makeMachine(.x86_64, mib: 64, bootMemory: false).renderPageblockMap(name: "m")
        XCTAssertThrowsError(try PageblockMap.decode(Array(doc.dropLast())))
        XCTAssertThrowsError(try PageblockMap.decode(doc + [0x02, 0x00]))
        XCTAssertThrowsError(try PageblockMap.decode([0x50, 0x42, 0x4D, 0x32, 0, 0, 0, 0]))
    }
}
