/// How much memory a fill or a high-order request covers.
public enum Amount: Sendable, Equatable {
    /// A fraction of MemTotal (0...1): the pages boot handed to the buddy allocator, as the seed's scripts read it from /proc/meminfo.
    case fraction(Double)
    /// A size in MiB.
    case mib(Int)
    /// A count of allocations.
    case count(Int)
}

/// One kind of allocation an actor makes, with its weight in the actor's mix and its lifetime.
public struct ActorAlloc: Sendable, Equatable {
    public var kind: AllocKind
    public var order: Int = 0
    public var weight: Double = 1
    /// Mean lifetime in simulated ms (exponentially distributed); nil = lives until the actor stops.
    public var lifetimeMs: Double?
    public var dirtyFraction: Double = 0
    public var mlock: Bool = false
    /// For page cache: a page written (dirty) gets page size / blockSize buffer heads, freed only with it;
    /// pages read in get none (mpage_readpage). 0: none.
    public var blockSize: Int = 0
    /// A process instead of an allocation: forked with its kernel memory and anonymous pages, all freed
    /// at exit (after `lifetimeMs`, or when the actor stops). `kind` and `order` are then unused.
    public var process: ProcessSpec?
    /// The bytes of demand one event of this entry stands for; nil: an event is one allocation of `order`,
    /// whatever the page size. With a unit, an allocation is made each time the events' bytes reach a page
    /// (of `order`) not yet allocated: a workload's heap, slab objects and files are bytes, and take 16 times
    /// fewer pages of 64 KiB than of 4 KiB (`Machine.allocationsForEvent`).
    public var unitBytes: Int?
    /// Page cache only, with `unitBytes`: the events walk through files of these sizes one after another,
    /// each file starting on a page of its own (a file's pages are the indices of its own mapping), so a
    /// file's last page is partly empty, and more so the larger the page.
    public var fileSizes: FileSizes?
    public init(kind: AllocKind, order: Int = 0, weight: Double = 1, lifetimeMs: Double? = nil) {
        self.kind = kind; self.order = order; self.weight = weight; self.lifetimeMs = lifetimeMs
    }
}

/// An actor: a stream of allocations (and their frees) at a rate in simulated time, such as a kernel build.
public struct ActorSpec: Sendable, Equatable {
    public var name: String
    /// Allocations per simulated millisecond (of each copy, with `copies`).
    public var ratePerMs: Double
    public var mix: [ActorAlloc]
    /// Stop when this much of memory is held by the actor (its allocations then only replace expired ones).
    public var maxFraction: Double = 1
    /// How many copies of the actor run, from the machine's MemTotal (nil: one).
    public var copies: ActorCopies?
    public init(name: String, ratePerMs: Double, mix: [ActorAlloc], maxFraction: Double = 1, copies: ActorCopies? = nil) {
        self.name = name; self.ratePerMs = ratePerMs; self.mix = mix; self.maxFraction = maxFraction; self.copies = copies
    }

    /// Copies that run on a machine of `memTotalMiB` MiB of MemTotal.
    public func copyCount(memTotalMiB: Int) -> Int { copies?.count(memTotalMiB: memTotalMiB) ?? 1 }

    /// Simulated nanoseconds between the actor's events with `copies` copies running: 10^6 / (rate ×
    /// copies), to the nearest nanosecond and at least 1 (the copies' events, each at `ratePerMs`, are
    /// one stream).
    public func intervalNs(copies: Int) -> UInt64 {
        UInt64(Swift.max(1, (1e6 / (ratePerMs * Double(copies))).rounded()))
    }
}

/// An actor that stands for several copies of one job, their number scaled with the machine: mmtests'
/// `stress-highalloc` builds `MemTotal_MB / 400` copies of a kernel tree besides the primary one
/// (`NUM_KERNELS`, one `make -j1` each), so a machine twice the size runs about twice the builds. The
/// copies are one stream of events at `copies` times the actor's rate: their allocations, processes and
/// page cache go through the same mix.
public struct ActorCopies: Sendable, Equatable {
    /// MiB of MemTotal per copy (integer division, as the shell's arithmetic).
    public var memTotalMiBPerCopy: Int
    /// Copies added to that (mmtests' primary tree: 1).
    public var plus: Int
    public init(memTotalMiBPerCopy: Int, plus: Int) { self.memTotalMiBPerCopy = memTotalMiBPerCopy; self.plus = plus }
    /// At least one.
    public func count(memTotalMiB: Int) -> Int { Swift.max(1, memTotalMiB / memTotalMiBPerCopy + plus) }
}

/// A series of high-order allocation attempts (the seed's huge page tests).
public struct HighAllocSpec: Sendable, Equatable {
    public var order: Int
    /// How many blocks to request in total.
    public var total: Amount
    /// Ask in increments of this fraction of memory (the seed's "5% at a time"); nil = one at a time.
    public var incrementFraction: Double?
    /// Simulated delay between attempts (ms), from the end of one to the start of the next.
    public var delayMs: Double = 0
    /// Pacing as mmtests' stress-highalloc does it (`--mb-per-sec`, VMRegress `bench-stresshighalloc.sh`):
    /// attempts start `ms_delay = (PAGE_SIZE << order) / (MB_PER_SEC × 1048576 / 1000)` ms apart (integer
    /// arithmetic; 16 MB/s: 125 ms for 2 MiB, 250 ms for 4 MiB, 1000 ms for 16 MiB), start to start: an
    /// attempt slower than that is followed at once by the next. Replaces `delayMs` when set.
    public var mbPerSec: Int?
    public var gfp: GFPFlags = [.wait, .io, .fs, .repeat, .thisnode]
    public var kind: AllocKind = .anon
    public var tag: String = "highalloc"
    /// Stop a series (or an increment) at the first failure, as hugetlb does.
    public var stopOnFailure: Bool = true
    /// Transparent huge page faults instead of plain attempts (Workload+THP.swift): the GFP mask comes
    /// from the machine's `defrag` setting, a failed fault falls back to base pages.
    public var thp: THPFaultSpec?
}

extension HighAllocSpec {
    /// A series with the defaults for everything but the order and the total.
    public init(order: Int, total: Amount) { self.order = order; self.total = total }
}

/// Growing the hugetlb pool as hugeadm --pool-pages-min does, in writes of `nr_hugepages`: each write
/// raises the target by an increment and allocates pool pages one at a time (`set_max_huge_pages`)
/// until the pool reaches it or one `alloc_fresh_huge_page` fails on every node; the next write starts
/// from the pool that was reached. Pages are huge-page order (the pageblock order of every preset).
public struct HugetlbPoolSpec: Sendable, Equatable {
    /// The pool size requested in the end.
    public var total: Amount
    /// Each write raises the target by this fraction of MemTotal; nil = one write of the whole total.
    public var incrementFraction: Double?
    /// Simulated delay between allocations (ms).
    public var delayMs: Double = 0
    public var tag: String = "hugepages"
    public init(total: Amount, incrementFraction: Double? = nil) { self.total = total; self.incrementFraction = incrementFraction }
}

/// One step of a workload.
public enum WorkloadStep: Sendable, Equatable {
    /// Allocates `amount` in runs of `chunkPages` by `writers` taking turns. With `filePages` > 0 (page
    /// cache only) each writer writes files of that many pages, creating each file's metadata (an inode
    /// and its dentry, in the slab caches) before its first page. With `blockSize` > 0 (page cache only)
    /// every page written gets pageSize / blockSize buffer heads (ext3's `create_empty_buffers`), freed
    /// only with the page. With `writerProcess` every writer is a process (a `dd`), forked before its first
    /// page and exiting when the fill ends (interleaved writers all finish together).
    case fill(kind: AllocKind, amount: Amount, chunkPages: Int, writers: Int, tag: String, order: Int, dirtyFraction: Double, mlock: Bool,
              filePages: Int = 0, blockSize: Int = 0, writerProcess: ProcessSpec? = nil)
    /// Creates the metadata of existing files, as `updatedb` walking a tree does: per file an inode and a
    /// dentry, unused once looked up (the shrinkers may free them). With `filesPerDirectory` > 0 the
    /// files sit in directories of that many, each directory a dentry and an inode made before its
    /// files; a directory's dentry is pinned by its children's dentries (freed only after the last of
    /// them). A count is of files; a size is of the objects (dentry + inode bytes per file, and per
    /// directory). Kept under the tag as files without pages, each directory after its files.
    case metadata(amount: Amount, tag: String, filesPerDirectory: Int = 0)
    /// Frees a tag's allocations by pattern; with `unit` > 1, consecutive runs of `unit` allocations (one
    /// file of a fill) are freed or kept together. A tag holding files is freed file by file (the unit
    /// counts files): deleting a file frees its pages and its dentry and inode.
    case free(tag: String, pattern: FreePattern, unit: Int)
    /// Keeps one allocation in every `period` of a tag (in allocation order) and frees the rest: with
    /// period 4 on memory filled in order, 3/4 of the pages of every huge-page-sized chunk go (the recipe
    /// used to evaluate proactive compaction).
    case keepOneIn(tag: String, period: Int)
    case startActor(ActorSpec)
    case stopActor(name: String, freeAll: Bool)
    case run(ms: Double)
    case highAlloc(HighAllocSpec)
    /// Grows the hugetlb pool (see `HugetlbPoolSpec`).
    case hugetlbPool(HugetlbPoolSpec)
    case compact(node: Int?)
    case sysctl(name: String, value: Int?)
    case sample(name: String)
    case age(AgingRecipe)
    case selftest
}

/// A seeded, deterministic program in simulated time.
public struct WorkloadDefinition: Sendable, Equatable {
    public var name: String
    public var seed: UInt64
    public var steps: [WorkloadStep]
    public init(name: String, seed: UInt64 = 1, steps: [WorkloadStep]) {
        self.name = name; self.seed = seed; self.steps = steps
    }
}

extension WorkloadDefinition {
    public static let maxSteps = 1000
    /// A fill of page cache writes through ext3 with its default 4 KiB blocks unless told otherwise.
    public static let defaultBlockSize = 4096
    /// updatedb's tree: about ten files a directory, the ratio of files to directories of a typical
    /// distribution's root filesystem (not a figure from the seed).
    public static let defaultFilesPerDirectory = 10

    /// The sysctls a workload's `sysctl` step sets.
    public static let settableSysctls = ["extfrag_threshold", "min_free_kbytes", "compact_unevictable_allowed", "hugepages_treat_as_movable",
                                         "dirty_ratio", "dirty_background_ratio"]

    /// Checks the steps against a machine (orders within its range, nodes it has). Throws naming the field.
    public func validate(for config: MachineConfig) throws(MMError) {
        for (i, s) in steps.enumerated() {
            switch s {
            case .fill(_, _, _, _, _, let order, _, _, _, _, _) where order >= config.preset.nrOrders:
                throw .orderOutOfRange(field: FieldPath("steps").index(i).key("fill").key("order"), order: order, max: config.preset.nrOrders - 1)
            case .fill(_, _, _, _, _, _, _, _, _, let bs, _) where bs > 1 << config.preset.pageShift:
                throw .invalidConfig(field: FieldPath("steps").index(i).key("fill").key("block_size"), value: String(bs),
                                     reason: "a block is at most a page (\(1 << config.preset.pageShift) bytes on \(config.preset.name))")
            case .highAlloc(let h) where h.order >= config.preset.nrOrders:
                throw .orderOutOfRange(field: FieldPath("steps").index(i).key("high_alloc").key("order"), order: h.order, max: config.preset.nrOrders - 1)
            case .startActor(let a):
                for (j, m) in a.mix.enumerated() where m.order >= config.preset.nrOrders {
                    throw .orderOutOfRange(field: FieldPath("steps").index(i).key("start_actor").key("mix").index(j).key("order"), order: m.order, max: config.preset.nrOrders - 1)
                }
                for (j, m) in a.mix.enumerated() where m.blockSize > 1 << config.preset.pageShift {
                    throw .invalidConfig(field: FieldPath("steps").index(i).key("start_actor").key("mix").index(j).key("block_size"), value: String(m.blockSize),
                                         reason: "a block is at most a page (\(1 << config.preset.pageShift) bytes on \(config.preset.name))")
                }
            case .age(let a) where a.blockSize > 1 << config.preset.pageShift:
                throw .invalidConfig(field: FieldPath("steps").index(i).key("age").key("block_size"), value: String(a.blockSize),
                                     reason: "a block is at most a page (\(1 << config.preset.pageShift) bytes on \(config.preset.name))")
            case .sysctl(let name, _) where !WorkloadDefinition.settableSysctls.contains(name):
                throw .invalidConfig(field: FieldPath("steps").index(i).key("sysctl").key("name"), value: name,
                                     reason: "must be one of " + WorkloadDefinition.settableSysctls.joined(separator: ", "))
            case .sysctl("hugepages_treat_as_movable", _) where !config.kernel.hasHugepagesTreatAsMovable:
                throw config.kernel.lacksSetting(FieldPath("steps").index(i).key("sysctl").key("name"), value: "hugepages_treat_as_movable")
            case .sysctl(let name, nil) where name != "min_free_kbytes":
                throw .invalidConfig(field: FieldPath("steps").index(i).key("sysctl").key("value"), value: "null",
                                     reason: "only min_free_kbytes takes its recommended value")
            case .compact(let n?) where n >= config.nodes:
                throw .unknownNode(field: FieldPath("steps").index(i).key("compact").key("node"), node: n)
            default:
                break
            }
        }
    }
}

extension GFPFlags {
    /// The names a workload or request uses for GFP flags.
    public static let named: [String: GFPFlags] = [
        "__GFP_WAIT": .wait, "__GFP_IO": .io, "__GFP_FS": .fs, "__GFP_REPEAT": .repeat, "__GFP_NORETRY": .noretry,
        "__GFP_HIGH": .high, "__GFP_THISNODE": .thisnode,
        "__GFP_HIGHMEM": .highmem, "__GFP_MOVABLE": .movable, "__GFP_COMP": .comp, "__GFP_NOWARN": .nowarn,
        "GFP_KERNEL": .kernel, "GFP_ATOMIC": .atomic, "GFP_NOWAIT": .nowait, "GFP_THISNODE": .thisnodeTriple,
        "GFP_HIGHUSER": .highuser, "GFP_HIGHUSER_MOVABLE": .highuserMovable,
        // The later name of __GFP_REPEAT (4.13); kernel 6.6 reads the flag as __GFP_RETRY_MAYFAIL.
        "__GFP_RETRY_MAYFAIL": .repeat,
    ]
}
