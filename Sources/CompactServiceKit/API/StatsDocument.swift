import MMCore
import MMFormat

/// The stats document: the facts behind /proc/buddyinfo, pagetypeinfo, zoneinfo, vmstat and the
/// extfrag files as JSON, per node and populated zone. Written by hand into bytes (keys in a fixed
/// order) and cached per machine generation by `MachineBox.document`.
enum StatsDocument {
    static func build(name: String, _ m: Machine) -> [UInt8] {
        var w = JSONWriter(capacity: 8192)
        w.beginObject()
        w.field("name", name)
        w.field("generation", m.generation)
        w.field("clock_ns", m.clockNs)
        w.field("kernel", m.kernel.name)
        w.field("page_size", m.preset.pageSize)
        w.field("nr_orders", m.nrOrders)
        w.field("pageblock_order", m.pageblockOrder)
        w.field("total_pages", m.totalPages)
        // MemTotal (totalram_pages) and what boot reserved before the buddy allocator saw any page.
        w.field("mem_total_pages", m.memTotalPages)
        w.key("boot_reserved")
        w.beginObject()
        w.field("memmap_pages", m.bootMemory.memmapPages.reduce(0, +))
        w.field("kernel_pages", m.bootMemory.kernelPages)
        w.field("hash_pages", m.bootMemory.hashPages)
        w.field("total_pages", m.bootMemory.totalPages)
        w.endObject()
        w.field("free_pages", m.nrFreePagesTotal)
        w.field("pcp_pages", m.pcpPages)
        w.field("hugetlb_pool_pages", m.hugetlbPoolPages)
        w.field("live_allocations", m.liveAllocations)
        w.field("state_bytes", m.stateBytes)
        w.key("state_bytes_by_part")
        w.beginObject()
        for (part, bytes) in m.stateBytesByPart { w.key(part); w.int(bytes) }
        w.endObject()
        let wb = m.writebackStats
        w.key("writeback")
        w.beginObject()
        w.field("flusher_pages", wb.flusherPages)
        w.field("throttled_pages", wb.throttledPages)
        w.key("throttled_ms")
        w.double(Double(wb.throttledNs) / 1e6)
        w.field("dirty_pages", wb.dirtyPages)
        w.field("background_thresh_pages", wb.backgroundThreshold)
        w.field("dirty_thresh_pages", wb.dirtyLimit)
        w.endObject()
        w.key("migratetypes")
        w.beginArray()
        for mt in Migratetype.allCases { w.string(m.migratetypeName(mt)) }
        w.endArray()
        w.key("nodes")
        w.beginArray()
        for node in m.nodes {
            w.beginObject()
            w.field("id", node.id.rawValue)
            w.field("start_pfn", node.startPfn.rawValue)
            w.field("pages", node.pages)
            w.field("free_pages", node.zoneIds.reduce(0) { $0 + m.nrFreePages(zone: $1) })
            if let k = m.kcompactdStatus(node: node.id) { modernNode(k, into: &w) }
            w.key("zones")
            w.beginArray()
            for zid in node.zoneIds where m.zones[zid].populated { zone(m, m.zones[zid], into: &w) }
            w.endArray()
            w.endObject()
        }
        w.endArray()
        w.key("vmstat")
        w.beginObject()
        for (k, v) in m.vmstatPairs() { w.key(k); w.int(v) }
        w.endObject()
        w.endObject()
        return w.bytes
    }

    private static func zone(_ m: Machine, _ z: Zone, into w: inout JSONWriter) {
        w.beginObject()
        w.field("name", z.name)
        w.field("type", z.type.name.lowercased())
        w.field("start_pfn", z.startPfn.rawValue)
        w.field("spanned_pages", z.spannedPages)
        w.field("present_pages", z.presentPages)
        w.field("managed_pages", z.managedPages)
        w.field("reserved_pages", m.reservedPages(zone: z.id))
        w.field("free_pages", m.nrFreePages(zone: z.id))
        let ps = m.pageset(zone: z.id)
        w.key("pcp")
        w.beginObject()
        w.field("count", ps.count)
        w.field("high", ps.high)
        w.field("batch", ps.batch)
        w.endObject()
        w.key("watermarks")
        w.beginObject()
        w.field("min", z.watermark.min)
        w.field("low", z.watermark.low)
        w.field("high", z.watermark.high)
        w.endObject()
        w.field("lowmem_reserve", ints: z.lowmemReserve)
        w.field("free_blocks", ints: m.nrFreeByOrder(zone: z.id))
        w.key("free_blocks_by_migratetype")
        w.beginObject()
        for mt in Migratetype.allCases {
            w.key(m.migratetypeName(mt))
            w.beginArray()
            for o in 0..<m.nrOrders { w.int(m.freeListLength(zone: z.id, order: o, mt: mt)) }
            w.endArray()
        }
        w.endObject()
        w.key("pageblocks")
        w.beginObject()
        for (i, c) in m.pageblockCounts(zone: z.id).enumerated() {
            w.key(m.migratetypeName(Migratetype(i)))
            w.int(c)
        }
        w.endObject()
        // Both indices as the kernel prints them (%d.%03d): 0.473, -1.000.
        w.key("unusable_index")
        w.beginArray()
        for o in 0..<m.nrOrders { w.thousandths(m.unusableIndex(zone: z.id, order: o)) }
        w.endArray()
        w.key("fragmentation_index")
        w.beginArray()
        for o in 0..<m.nrOrders { w.thousandths(m.fragmentationIndex(zone: z.id, order: o)) }
        w.endArray()
        if let s = m.modernCompactionState(zone: z.id) { modernZone(m, z, s, into: &w) }
        w.endObject()
    }
}
