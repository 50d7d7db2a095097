import Testing
@testable import MMCore

/// The kernel memory 2.6.35 counts in vmstat items of its own, not as slab: NR_PAGETABLE (the PTE pages
/// `pgtable_page_ctor` counts), NR_KERNEL_STACK (one per task, `account_kernel_stack`), and the hugetlb
/// pool's pages, which no vmstat item counts. All are pages of the simulator's `kernel` kind;
/// nr_slab_unreclaimable is that kind less them.
@Suite struct KernelMemoryCountersTests {
    func vmstat(_ m: Machine) -> [String: Int64] {
        Dictionary(m.vmstatPairs(), uniquingKeysWith: { a, _ in a })
    }

    /// The `kernel` kind's pages over the machine.
    func kernelPages(_ m: Machine) -> Int64 {
        m.zoneIDs.reduce(0) { $0 + m.zoneCounters.kindPages[$1, .kernel] }
    }

    @Test func anX86_64ProcessCountsItsPtePagesAndOneStackAndNoneOfItsTablesAsSlab() throws {
        let m = makeMachine(.x86_64, mib: 256)
        let before = vmstat(m)
        #expect(before["nr_page_table_pages"] == 0 && before["nr_kernel_stack"] == 0)
        let p = try #require(m.forkProcess(ProcessSpec(anonKiB: 5 << 10, vmas: 40)))
        let after = vmstat(m)
        // 6 upper-level pages (PGD, PUD, PMD: no pgtable_page_ctor in 2.6.35) and 10 + 3 PTE pages.
        #expect(p.pageTables.count == 19)
        #expect(after["nr_page_table_pages"] == 13)
        #expect(after["nr_kernel_stack"] == 1)
        // The slab pages of its objects are unreclaimable slab; its 19 tables and 2 stack pages are not.
        #expect(after["nr_slab_unreclaimable"] == kernelPages(m) - 19 - 2)
        #expect(m.checkConsistency().isEmpty)
        m.exitProcess(p)
        let end = vmstat(m)
        #expect(end["nr_page_table_pages"] == 0 && end["nr_kernel_stack"] == 0)
        #expect(end["nr_slab_unreclaimable"] == before["nr_slab_unreclaimable"])
        #expect(m.checkConsistency().isEmpty)
    }

    @Test func appc64StackIsASlabObjectAndStillOneTask() throws {
        let m = makeMachine(.ppc64, mib: 2048)
        let p = try #require(m.forkProcess(ProcessSpec(anonKiB: 300 << 10, vmas: 8)))
        let v = vmstat(m)
        // No upper-level pages (PGD and PMDs are slab objects there): all 5 table pages are PTE pages.
        #expect(v["nr_page_table_pages"] == 5)
        #expect(v["nr_kernel_stack"] == 1)
        // The 16 KiB stack is in a thread_info slab page, which stays unreclaimable slab.
        #expect(v["nr_slab_unreclaimable"] == kernelPages(m) - 5)
        m.exitProcess(p)
        #expect(vmstat(m)["nr_kernel_stack"] == 0)
        #expect(m.checkConsistency().isEmpty)
    }

    @Test func hugetlbPoolPagesAreNoSlabAndLeaveTheCountWhenFreed() throws {
        let m = makeMachine(.x86_64, mib: 256)
        let slab0 = vmstat(m)["nr_slab_unreclaimable"]
        let pool = try (0..<3).map { _ in try #require(try m.allocFreshHugePage(order: 9).handle) }
        #expect(vmstat(m)["nr_slab_unreclaimable"] == slab0)
        #expect(kernelPages(m) == 3 * 512)
        #expect(m.hugetlbPoolPages == 3 * 512)
        #expect(m.checkConsistency().isEmpty)
        try m.free(pool[1])
        #expect(m.hugetlbPoolPages == 2 * 512)
        #expect(vmstat(m)["nr_slab_unreclaimable"] == slab0)
        #expect(m.checkConsistency().isEmpty)
    }

    @Test func aRestoredMachineKeepsThePoolAndTheCounters() throws {
        let m = makeMachine(.x86_64, mib: 256)
        _ = try m.allocFreshHugePage(order: 9)
        let p = try #require(m.forkProcess(ProcessSpec(anonKiB: 1 << 10)))
        let copy = try Machine(m.config, restoring: m.exportState())
        #expect(copy.renderVmstat() == m.renderVmstat())
        #expect(copy.renderZoneinfo() == m.renderZoneinfo())
        #expect(copy.hugetlbSlots == m.hugetlbSlots)
        #expect(copy.checkConsistency().isEmpty)
        // The original and the copy go on alike.
        m.exitProcess(p)
        copy.exitProcess(p)
        #expect(copy.renderVmstat() == m.renderVmstat())
        #expect(copy.checkConsistency().isEmpty)
    }

    @Test func anImageNamingADeadPoolPageIsRefusedNamingTheSection() throws {
        let m = makeMachine(.x86_64, mib: 256)
        let h = try #require(try m.allocFreshHugePage(order: 9).handle)
        let withPool = m.exportState()
        try m.free(h)
        #expect(m.hugetlbPoolPages == 0)
        var image = m.exportState()
        let slots = try #require(withPool.sections.first { $0.name == "hugetlb.slots" })
        image.sections = image.sections.map { $0.name == "hugetlb.slots" ? slots : $0 }
        do {
            _ = try Machine(m.config, restoring: image)
            Issue.record("a dead pool slot was accepted")
        } catch {
            #expect("\(error)".contains("hugetlb.slots"))
        }
    }

    @Test func aVersion2ImageLoadsWithTheNewCountersAtZero() throws {
        let m = makeMachine(.x86_64, mib: 256)
        _ = try m.allocFreshHugePage(order: 9)
        var image = withReclaimTotalsOnly(m.exportState(), m.counters)
        let added: Set<String> = ["zone.page_tables", "zone.kernel_stacks", "zone.kernel_not_slab", "hugetlb.slots"]
        image.sections.removeAll { added.contains($0.name) }
        image.version = 2
        let copy = try Machine(m.config, restoring: image)
        #expect(copy.hugetlbSlots.isEmpty)
        // As before version 3: the pool page counts as unreclaimable slab.
        #expect(Dictionary(copy.vmstatPairs(), uniquingKeysWith: { a, _ in a })["nr_slab_unreclaimable"] == kernelPages(copy))
        #expect(copy.checkConsistency().isEmpty)
        // A version-3 image without the sections is refused, naming the section.
        image.version = 3
        #expect(throws: MMError.self) { try Machine(m.config, restoring: image) }
    }
}
