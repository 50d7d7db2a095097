/// The manual triggers on a 6.6 machine (mm/compaction.c `compact_node`, `sysctl_compaction_handler`,
/// `compact_store`; kernel-compaction.md §6.1, §6.2): order -1, MIGRATE_SYNC, skip hints ignored, the
/// whole zone, GFP_KERNEL (so the run's migratetype is UNMOVABLE, which no rule reads for order -1).
/// `/proc/sys/vm/compact_memory` takes only the value 1 there.
extension Machine {
    func modernManualCompactControl(zone z: ZoneID) -> CompactControl {
        let fields = Machine.modernFields(mode: .sync, wholeZone: true, ignoreSkipHint: true, highestZoneidx: zones[z].indexInNode, order: -1)
        var cc = makeModernCompactControl(zone: z, order: -1, migratetype: .unmovable, fields: fields)
        _ = modernCompactZoneBegin(&cc)
        return cc
    }

    /// What a write of `value` to /proc/sys/vm/compact_memory does on this kernel: the seed compacts for
    /// any value; 6.6 answers EINVAL unless it is 1.
    public func compactMemoryAccepts(_ value: Int) -> Bool { modern == nil || value == 1 }
}
