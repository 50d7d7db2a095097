/// Per-pageblock flags (`pageblock_flags`): 3 bits of migratetype and the compaction skip bit
/// (kernel-compaction.md §1.4). The seed kernel had no skip bit; its room is kept for the modern profile.
enum PageblockFlags {
    static let migratetypeMask: UInt8 = 0b111
    static let skip: UInt8 = 1 << 3
}
