import MMFormat

@testable import CompactServiceKit
@testable import MMCore
import Testing

/// The tracepoint events' names and data, byte for byte: the kernel's field order and TP_printk text
/// (MMCore's `Tracepoint`), written as the SSE stream's JSON.
@Suite("Tracepoint events on the stream")
struct SSEFormatTests {
    static func data(_ e: TraceEvent) -> String {
        let (name, bytes) = SSEFormat.trace(e, pageblockOrder: 9)
        return name + " " + String(decoding: bytes, as: UTF8.self)
    }

    @Test func seedTracepoints() {
        let b = CompactionTraceBegin(node: 0, zone: "Normal", zoneStart: 0x100000, migratePfn: 0x100000, freePfn: 0x13fe00, zoneEnd: 0x140000, mode: "sync")
        #expect(Self.data(.compactionBegin(b)) == #"mm_compaction_begin {"node":0,"zone":"Normal","zone_start":1048576,"migrate_pfn":1048576,"free_pfn":1310208,"zone_end":1310720,"mode":"sync","trace":"zone_start=0x100000 migrate_pfn=0x100000 free_pfn=0x13fe00 zone_end=0x140000, mode=sync"}"#)
        let x = CompactionTraceEnd(node: 1, zone: "DMA32", zoneStart: 0x1000, migratePfn: 0x2000, freePfn: 0x2200, zoneEnd: 0x3000, mode: "async", status: "partial")
        #expect(Self.data(.compactionEnd(x)) == #"mm_compaction_end {"node":1,"zone":"DMA32","zone_start":4096,"migrate_pfn":8192,"free_pfn":8704,"zone_end":12288,"mode":"async","status":"partial","trace":"zone_start=0x1000 migrate_pfn=0x2000 free_pfn=0x2200 zone_end=0x3000, mode=async status=partial"}"#)
        #expect(Self.data(.compactionMigratepages(nrMigrated: 32, nrFailed: 1)) == #"mm_compaction_migratepages {"nr_migrated":32,"nr_failed":1,"trace":"nr_migrated=32 nr_failed=1"}"#)
        let f = ExtfragEvent(pfn: 4242, allocOrder: 0, fallbackOrder: 3, allocMigratetype: .unmovable, fallbackMigratetype: .movable, fragmenting: true, changeOwnership: false)
        #expect(Self.data(.extfrag(f)) == #"mm_page_alloc_extfrag {"pfn":4242,"alloc_order":0,"fallback_order":3,"pageblock_order":9,"alloc_migratetype":0,"fallback_migratetype":2,"fragmenting":1,"change_ownership":0,"alloc_migratetype_name":"Unmovable","fallback_migratetype_name":"Movable","trace":"pfn=4242 alloc_order=0 fallback_order=3 pageblock_order=9 alloc_migratetype=0 fallback_migratetype=2 fragmenting=1 change_ownership=0"}"#)
    }

    @Test func modernTracepoints() {
        #expect(Self.data(.modern(.isolateFreepages(start: 0x1000, end: 0x1200, nrScanned: 512, nrTaken: 31))) == #"mm_compaction_isolate_freepages {"start_pfn":4096,"end_pfn":4608,"nr_scanned":512,"nr_taken":31,"trace":"range=(0x1000 ~ 0x1200) nr_scanned=512 nr_taken=31"}"#)
        #expect(Self.data(.modern(.suitable(node: 0, zone: "DMA32", order: 9, ret: "continue"))) == #"mm_compaction_suitable {"node":0,"zone":"DMA32","order":9,"ret":"continue","trace":"node=0 zone=DMA32    order=9 ret=continue"}"#)
        let d = DeferTrace(node: 1, zone: "Normal", order: 9, orderFailed: 9, considered: 3, limit: 8)
        #expect(Self.data(.modern(.deferred(d))) == #"mm_compaction_deferred {"node":1,"zone":"Normal","order":9,"order_failed":9,"consider":3,"limit":8,"trace":"node=1 zone=Normal   order=9 order_failed=9 consider=3 limit=8"}"#)
        #expect(Self.data(.modern(.tryToCompactPages(order: 9, gfp: "GFP_TRANSHUGE", priority: 1))) == #"mm_compaction_try_to_compact_pages {"order":9,"gfp_mask":"GFP_TRANSHUGE","priority":1,"trace":"order=9 gfp_mask=GFP_TRANSHUGE priority=1"}"#)
        #expect(Self.data(.modern(.kcompactdSleep(node: 2))) == #"mm_compaction_kcompactd_sleep {"nid":2,"trace":"nid=2"}"#)
        #expect(Self.data(.modern(.wakeupKcompactd(node: 0, order: 9, zoneType: "Normal"))) == #"mm_compaction_wakeup_kcompactd {"nid":0,"order":9,"classzone_idx":"Normal","trace":"nid=0 order=9 classzone_idx=Normal  "}"#)
    }
}
