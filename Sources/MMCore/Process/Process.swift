/// A process as a workload forks it: the kernel memory 2.6.35 allocates for it (kernel-memory-2.6.35.md
/// §2–§4), all unmovable and freed only at exit, and the anonymous memory it touches. Everything goes
/// through the ordinary allocator with its real GFP flags, so the fallback code places it, in MOVABLE
/// pageblocks too when memory is short.
public struct ProcessSpec: Sendable, Equatable {
    /// Anonymous memory the process touches (faulted in as it starts, freed at exit), KiB.
    public var anonKiB: Int
    /// Its `vm_area_struct`s (a compiler process: about 40; kernel-memory-2.6.35.md §12).
    public var vmas: Int = 40
    public init(anonKiB: Int, vmas: Int = 40) { self.anonKiB = anonKiB; self.vmas = vmas }
}

/// A live process's allocations.
struct ProcessRecord {
    /// The kernel stack of an arch whose THREAD_SIZE is whole pages (x86, x86_64: order 1).
    var stack: PageHandle?
    /// Its slab objects (task, mm, signal, sighand, files, cred, VMAs, anon_vma(_chain); ppc64's stack
    /// and PGD/PMD tables).
    var objects: [SlabObjectRef] = []
    /// Its page-table pages (PGD, upper levels, PTE pages).
    var pageTables: [PageHandle] = []
    /// How many of `pageTables`, at its start, are the PGD and upper levels (the rest are PTE pages,
    /// the ones NR_PAGETABLE counts).
    var upperTables = 0
    /// The zone NR_KERNEL_STACK counts its stack in (nil until the stack is allocated).
    var stackZone: ZoneID?
    /// Pages of its stack's own page block (0 for a stack that is a slab object).
    var stackPages = 0
    /// Its anonymous pages.
    var anon: [PageHandle] = []

    /// Pages it holds (slab objects not counted: they share pages).
    var pages: Int { (stack == nil ? 0 : 2) + pageTables.count + anon.count }

    /// Heap bytes of its lists.
    var heapBytes: Int {
        HeapCost.array(capacity: objects.capacity, stride: MemoryLayout<SlabObjectRef>.stride)
            + HeapCost.array(capacity: pageTables.capacity, stride: MemoryLayout<PageHandle>.stride)
            + HeapCost.array(capacity: anon.capacity, stride: MemoryLayout<PageHandle>.stride)
    }
}

/// How a preset lays out a process's page tables and stack (kernel-memory-2.6.35.md §2, §3).
struct ProcessLayout {
    /// Page-sized PGD and upper-level tables a fresh mm gets (x86_64: `pgd_alloc` + PUD/PMD pages).
    let upperTablePages: Int
    /// PTE pages for the text, libraries and stack of a small process (layout estimate, §12 [U]).
    let basePtePages: Int
    /// Bytes one PTE page maps: 2 MiB (x86_64: 512 × 8 B), 4 MiB (x86 non-PAE: 1024 × 4 B), 256 MiB
    /// (ppc64 64K: 4096 PTEs in one 64 KiB page).
    let ptePageMaps: Int
    /// GFP of PTE pages: PGALLOC_GFP (GFP_KERNEL|__GFP_REPEAT…); x86 with CONFIG_HIGHPTE adds __GFP_HIGHMEM.
    let pteGfp: GFPFlags
    /// The kernel stack: an order-`stackOrder` page block, or (ppc64 64K) a `thread_info` slab object.
    let stackOrder: Int?
    /// ppc64: the PGD (a `pgtable-2^4` object) and PMDs (`pgtable-2^12` objects) come from slab caches.
    let slabPgd: Bool
    let slabPmds: Int

    static func of(_ p: ArchPreset) -> ProcessLayout {
        switch p.name {
        case "x86":
            // 2 levels: one PGD page (`pgd_alloc`), PTE pages in HighMem (CONFIG_HIGHPTE, i386_defconfig).
            return ProcessLayout(upperTablePages: 1, basePtePages: 6, ptePageMaps: 4 << 20, pteGfp: [.wait, .io, .fs, .repeat, .highmem],
                                 stackOrder: 1, slabPgd: false, slabPmds: 0)
        case "ppc64":
            // 3 levels with 64K pages: PGD and PMD from slab (GFP_KERNEL, GFP_KERNEL|__GFP_REPEAT), PTE
            // pages from `__get_free_page(GFP_KERNEL|__GFP_REPEAT|__GFP_ZERO)`; THREAD_SIZE 16 KiB < PAGE_SIZE.
            return ProcessLayout(upperTablePages: 0, basePtePages: 3, ptePageMaps: 256 << 20, pteGfp: [.wait, .io, .fs, .repeat],
                                 stackOrder: nil, slabPgd: true, slabPmds: 2)
        default:
            // x86_64: PGD page, about 2 PUD and 3 PMD pages; PGALLOC_GFP = GFP_KERNEL|__GFP_NOTRACK|__GFP_REPEAT|__GFP_ZERO.
            return ProcessLayout(upperTablePages: 6, basePtePages: 10, ptePageMaps: 2 << 20, pteGfp: [.wait, .io, .fs, .repeat],
                                 stackOrder: 1, slabPgd: false, slabPmds: 0)
        }
    }
}

extension Machine {
    /// `do_fork` of a process that then runs: `copy_process` (dup_task_struct: task_struct and
    /// `alloc_thread_info`, the THREAD_SIZE stack, GFP_KERNEL; copy_creds, copy_files, copy_sighand,
    /// copy_signal; copy_mm: mm_struct, `pgd_alloc`, the VMAs and anon_vma chains of dup_mmap), then the
    /// page faults of its anonymous memory (`handle_mm_fault`: `__pte_alloc` before the first page of
    /// each range one PTE page maps, then the page, GFP_HIGHUSER_MOVABLE). Returns nil, with everything
    /// it made freed again, when any allocation fails.
    func forkProcess(_ spec: ProcessSpec) -> ProcessRecord? {
        let layout = ProcessLayout.of(preset)
        var p = ProcessRecord()
        func object(_ c: SlabCache) -> Bool {
            guard let r = slabAlloc(c, unused: false) else { return false }
            p.objects.append(r)
            return true
        }
        func table(_ gfp: GFPFlags, pte: Bool) -> Bool {
            guard let o = try? allocate(AllocRequest(order: 0, kind: .kernel, gfp: gfp)), let h = o.handle else { return false }
            p.pageTables.append(h)
            let z = ZoneID(o.zone)
            zoneCounters.kernelNotSlab[z] &+= 1
            // pte_alloc_one → pgtable_page_ctor: inc_zone_page_state(page, NR_PAGETABLE).
            if pte { zoneCounters.pageTables[z] &+= 1 } else { p.upperTables += 1 }
            return true
        }
        let anonPages = ((spec.anonKiB << 10) + (1 << pageShift) - 1) >> pageShift
        let ptePages = layout.basePtePages + ((anonPages << pageShift) + layout.ptePageMaps - 1) / layout.ptePageMaps
        p.objects.reserveCapacity(8 + spec.vmas + spec.vmas / 4 + spec.vmas / 2 + layout.slabPmds + 2)
        p.pageTables.reserveCapacity(layout.upperTablePages + ptePages)
        p.anon.reserveCapacity(anonPages)
        guard mayGrowState(by: p.heapBytes) else { return nil }
        var ok = object(.taskStruct)
        if ok {
            if let order = layout.stackOrder {
                // THREAD_FLAGS = GFP_KERNEL|__GFP_NOTRACK: an UNMOVABLE order-1 block (x86, x86_64).
                if let o = try? allocate(AllocRequest(order: order, kind: .kernel, gfp: .kernel)), let h = o.handle {
                    p.stack = h
                    p.stackZone = ZoneID(o.zone)
                    p.stackPages = 1 << order
                    zoneCounters.kernelNotSlab[ZoneID(o.zone)] &+= Int64(p.stackPages)
                } else { ok = false }
            } else {
                ok = object(.threadInfo)
                if ok, let r = p.objects.last { p.stackZone = slabObjectZone(r) }
            }
            // dup_task_struct: account_kernel_stack(ti, 1).
            if let z = p.stackZone { zoneCounters.kernelStacks[z] &+= 1 }
        }
        for c in [SlabCache.credJar, .filesCache, .sighandCache, .signalCache, .mmStruct] where ok { ok = object(c) }
        // pgd_alloc and the upper levels.
        if ok && layout.slabPgd { ok = object(.pgtable4) }
        for _ in 0..<layout.slabPmds where ok { ok = object(.pgtable12) }
        for _ in 0..<layout.upperTablePages where ok { ok = table(.kernel, pte: false) }
        for _ in 0..<spec.vmas where ok { ok = object(.vmAreaStruct) }
        for _ in 0..<Swift.max(1, spec.vmas / 4) where ok { ok = object(.anonVma) }
        for _ in 0..<Swift.max(1, spec.vmas / 2) where ok { ok = object(.anonVmaChain) }
        for _ in 0..<layout.basePtePages where ok { ok = table(layout.pteGfp, pte: true) }
        // Faults: a PTE page before each range it maps, then the pages.
        let perPte = Swift.max(1, layout.ptePageMaps >> pageShift)
        var i = 0
        while ok && i < anonPages {
            if i % perPte == 0 { ok = table(layout.pteGfp, pte: true); if !ok { break } }
            if let o = try? allocate(AllocRequest(order: 0, kind: .anon, gfp: .kernel)), let h = o.handle { p.anon.append(h) } else { ok = false }
            i += 1
        }
        if !ok {
            exitProcess(p)
            return nil
        }
        ev.nrForks &+= 1
        return p
    }

    /// `do_exit`: exit_mmap frees the anonymous pages (those reclaim swapped out free their slots) and
    /// the page tables (free_pgtables, pgd_free), then the VMAs, anon_vma chains and mm; release_task
    /// frees the signal, sighand, files and cred objects, the stack and the task_struct.
    func exitProcess(_ p: ProcessRecord) {
        for h in p.anon { _ = freeIfLive(h) }
        for (i, h) in p.pageTables.enumerated().reversed() {
            // free_pgtables: pte_free → pgtable_page_dtor (NR_PAGETABLE) for the PTE pages.
            if let slot = handles.resolve(h), handles.pfn[slot] < SWAPPED {
                let z = zoneId(ofPfn: Pfn(link: handles.pfn[slot]))
                zoneCounters.kernelNotSlab[z] &-= 1
                if i >= p.upperTables { zoneCounters.pageTables[z] &-= 1 }
            }
            _ = freeIfLive(h)
        }
        // free_task: account_kernel_stack(ti, -1).
        if let z = p.stackZone { zoneCounters.kernelStacks[z] &-= 1 }
        for r in p.objects.reversed() { slabFree(r) }
        if let s = p.stack {
            if let z = p.stackZone { zoneCounters.kernelNotSlab[z] &-= Int64(p.stackPages) }
            _ = freeIfLive(s)
        }
    }

    /// The zone of the slab page holding a live object.
    func slabObjectZone(_ r: SlabObjectRef) -> ZoneID? {
        guard let i = slab.resolve(r) else { return nil }
        let slot = Int(slab.objSlab[i])
        return zoneId(ofPfn: Pfn(link: handles.pfn[slot]))
    }
}
