/// Memory a 2.6.35 boot takes before the buddy allocator sees any page, and never gives back
/// (kernel-memory-2.6.35.md §1): the memmap (one `struct page` per page), the kernel image with its
/// per-CPU first chunk, and the dentry and inode hash tables. These pages are PageReserved: never on a
/// free list, never on an LRU, never isolated by compaction or reclaim; `MemTotal` (totalram_pages)
/// counts only the pages `free_all_bootmem` handed over.
public struct BootMemory: Sendable, Equatable {
    /// Memmap pages per node (node-local).
    public var memmapPages: [Int]
    /// Kernel image, data, bss and per-CPU areas (node 0).
    public var kernelPages: Int
    /// Dentry and inode hash tables (node 0, lowmem).
    public var hashPages: Int
    /// Every reserved range, in pfn order: (first pfn, pages).
    public var ranges: [(start: Pfn, pages: Int)]

    public var totalPages: Int { ranges.reduce(0) { $0 + $1.pages } }

    public static func == (a: BootMemory, b: BootMemory) -> Bool {
        a.memmapPages == b.memmapPages && a.kernelPages == b.kernelPages && a.hashPages == b.hashPages
            && a.ranges.map(\.start) == b.ranges.map(\.start) && a.ranges.map(\.pages) == b.ranges.map(\.pages)
    }
}

extension ArchPreset {
    /// `sizeof(struct page)` of 2.6.35 (`include/linux/mm_types.h`; kernel-memory-2.6.35.md §1.1): 56 bytes
    /// on x86_64 and ppc64, 32 bytes on 32-bit x86 (with or without PAE).
    public var structPageBytes: Int { name == "x86" ? 32 : 56 }

    /// Bytes of a pointer (a hash bucket, `struct hlist_head`).
    var pointerBytes: Int { name == "x86" ? 4 : 8 }

    /// Where the kernel image is loaded: CONFIG_PHYSICAL_START 0x1000000 (16 MiB) on x86 and x86_64
    /// (`arch/x86/Kconfig`), physical 0 on ppc64.
    var kernelPhysicalStart: Int { name == "ppc64" ? 0 : 16 << 20 }

    /// Kernel image (text, data, bss), per-CPU first chunk and the other small bootmem allocations, in KiB,
    /// when the machine does not say. Not derivable from source (kernel-memory-2.6.35.md §1.4 [U]); an
    /// estimate for a distro-like 2.6.35 build, chosen before any result was seen: 12 MiB on x86_64,
    /// 8 MiB on x86, 16 MiB on ppc64 (larger text, 64 KiB page rounding).
    public var defaultKernelReservedKiB: Int {
        switch name {
        case "x86": return 8 << 10
        case "ppc64": return 16 << 10
        default: return 12 << 10
        }
    }

    /// The unit the memmap of a node is allocated in: x86_64's `vmemmap_populate` maps it with 2 MiB
    /// blocks from `vmemmap_alloc_block_buf(PMD_SIZE, node)` (`arch/x86/mm/init_64.c`); ppc64's
    /// `vmemmap_populate` (`arch/powerpc/mm/init_64.c`) allocates whole backing pages, 16 MiB when the
    /// node has at least 1 GiB (`hash_utils_64.c` picks 16M vmemmap pages then), else a base page; 32-bit
    /// x86 is FLATMEM: one bootmem block, page-rounded.
    func memmapUnitBytes(nodeBytes: Int) -> Int {
        switch name {
        case "x86_64": return 2 << 20
        case "ppc64": return nodeBytes >= 1 << 30 ? 16 << 20 : pageSize
        default: return pageSize
        }
    }
}

extension Machine {
    /// `present_pages` of a zone as `free_area_init_core` (mm/page_alloc.c) sets it: spanned pages minus
    /// the estimate of its memmap, PAGE_ALIGN(spanned × sizeof(struct page)) / PAGE_SIZE, subtracted
    /// whether or not the memmap lives in the zone (no holes and no `dma_reserve` are modelled).
    static func presentPages(spanned: Int, preset: ArchPreset) -> Int {
        let memmap = (spanned * preset.structPageBytes + preset.pageSize - 1) / preset.pageSize
        return spanned >= memmap ? spanned - memmap : spanned
    }

    /// Entries of a boot hash table as `alloc_large_system_hash` (mm/page_alloc.c) sizes it: one bucket
    /// per 2^scale bytes of lowmem (`nr_kernel_pages`, rounded up to a MiB), at least a page of buckets,
    /// rounded up to a power of two, capped at 1/16 of all memory.
    static func largeSystemHashBytes(kernelPages: Int, allPages: Int, bucket: Int, scale: Int, pageShift: Int) -> Int {
        let mbPages = 1 << Swift.max(0, 20 - pageShift)
        var n = (kernelPages + mbPages - 1) / mbPages * mbPages
        if scale > pageShift { n >>= scale - pageShift } else { n <<= pageShift - scale }
        if n * bucket < 1 << pageShift { n = (1 << pageShift) / bucket }
        var pow2 = 1
        while pow2 < n { pow2 <<= 1 }
        let maxEntries = Swift.max(1, (allPages << pageShift) >> 4 / bucket)
        var entries = Swift.min(pow2, maxEntries)
        // ilog2: the table holds a power of two of buckets.
        var log2 = 0
        while 1 << (log2 + 1) <= entries { log2 += 1 }
        entries = 1 << log2
        return bucket * entries
    }

    /// What boot reserves on a machine of this layout, and where. Bootmem (early_res on x86 in 2.6.35)
    /// hands out blocks bottom-up from its goal: on x86/x86_64 the kernel sits at 16 MiB and the memmap
    /// and hashes follow it (goal MAX_DMA_ADDRESS); on ppc64 from physical 0 (the placement of ppc64's
    /// LMB allocations is not modelled beyond that). Node n > 0 holds its own memmap at its start.
    /// No reservation takes more than a quarter of its node (tiny test machines).
    static func bootMemory(preset p: ArchPreset, nodes: [Node], zones: [Zone], kernelReservedKiB: Int?, enabled: Bool = true) -> BootMemory {
        if !enabled { return BootMemory(memmapPages: nodes.map { _ in 0 }, kernelPages: 0, hashPages: 0, ranges: []) }
        let pageSize = p.pageSize
        func pagesOf(_ bytes: Int) -> Int { (bytes + pageSize - 1) / pageSize }
        var memmap: [Int] = []
        for n in nodes {
            let unit = p.memmapUnitBytes(nodeBytes: n.pages * pageSize)
            let bytes = n.pages * p.structPageBytes
            memmap.append(Swift.min(pagesOf((bytes + unit - 1) / unit * unit), n.pages / 4))
        }
        // nr_kernel_pages: present pages of the zones below HighMem; nr_all_pages: all present pages.
        let lowmem = zones.filter { $0.type != .highmem && $0.type != .movable }.reduce(0) { $0 + $1.presentPages }
        let all = zones.reduce(0) { $0 + $1.presentPages }
        // dcache_init_early / inode_init_early (fs/dcache.c, fs/inode.c): scales 13 and 14, one pointer a bucket.
        let dentryHash = largeSystemHashBytes(kernelPages: lowmem, allPages: all, bucket: p.pointerBytes, scale: 13, pageShift: p.pageShift)
        let inodeHash = largeSystemHashBytes(kernelPages: lowmem, allPages: all, bucket: p.pointerBytes, scale: 14, pageShift: p.pageShift)
        let node0 = nodes[0]
        var kernel = pagesOf((kernelReservedKiB ?? p.defaultKernelReservedKiB) << 10)
        var hashes = pagesOf(dentryHash) + pagesOf(inodeHash)
        let room0 = node0.pages / 4 - memmap[0]
        kernel = Swift.min(kernel, Swift.max(0, room0))
        hashes = Swift.min(hashes, Swift.max(0, room0 - kernel))
        var ranges: [(start: Pfn, pages: Int)] = []
        // Node 0: kernel image at its load address, then memmap and hashes above it.
        var start0 = Pfn(p.kernelPhysicalStart / pageSize)
        if start0 + kernel + memmap[0] + hashes > node0.startPfn + node0.pages { start0 = node0.startPfn }
        start0 = Swift.max(start0, node0.startPfn)
        let total0 = kernel + memmap[0] + hashes
        if total0 > 0 { ranges.append((start0, total0)) }
        for (i, n) in nodes.enumerated().dropFirst() where memmap[i] > 0 {
            ranges.append((n.startPfn, memmap[i]))
        }
        return BootMemory(memmapPages: memmap, kernelPages: kernel, hashPages: hashes, ranges: ranges)
    }

    /// `MemTotal` in pages (`totalram_pages`): every page boot handed to the buddy allocator.
    public var memTotalPages: Int { totalPages - bootMemory.totalPages }

    /// Whether `pfn` is a PageReserved boot page.
    @inline(__always) func isReservedPage(_ pfn: Pfn) -> Bool { pages.state[pfn] == PageState.reserved }

    /// Pages of a zone that boot reserved (spanned − managed).
    public func reservedPages(zone z: ZoneID) -> Int { zones[z].spannedPages - zones[z].managedPages }
}
