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
    public init(kind: AllocKind, order: Int = 0, weight: Double = 1, lifetimeMs: Double? = nil) {
        self.kind = kind; self.order = order; self.weight = weight; self.lifetimeMs = lifetimeMs
    }
}

/// An actor: a stream of allocations (and their frees) at a rate in simulated time, such as a kernel build.
public struct ActorSpec: Sendable, Equatable {
    public var name: String
    /// Allocations per simulated millisecond.
    public var ratePerMs: Double
    public var mix: [ActorAlloc]
    /// Stop when this much of memory is held by the actor (its allocations then only replace expired ones).
    public var maxFraction: Double = 1
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

    /// Parses and validates a workload definition. Every error names the path of the offending field
    /// (`steps[3].high_alloc.order`); nothing runs before the whole definition is accepted.
    public init(json: JSON, path: String = "") throws(MMError) {
        let r = try JSONObjectReader(json, path: path)
        try r.rejectUnknown(["name", "seed", "steps"])
        let name = try r.string("name") ?? "workload"
        let seed = UInt64(try r.int("seed", in: 0...Int(Int64.max >> 11)) ?? 1)
        guard let steps = try r.array("steps", maxCount: WorkloadDefinition.maxSteps) else {
            throw .invalidConfig(field: r.field("steps"), value: "missing", reason: "is required")
        }
        var out: [WorkloadStep] = []
        var actors = Set<String>()
        for (i, s) in steps.enumerated() {
            let step = try WorkloadDefinition.parseStep(s, path: r.field("steps[\(i)]"), actors: &actors)
            out.append(step)
        }
        self.init(name: name, seed: seed, steps: out)
    }

    static let stepNames = ["fill", "metadata", "free", "keep_one_in", "start_actor", "stop_actor", "run", "high_alloc", "hugetlb_pool",
                            "compact", "sysctl", "sample", "age", "selftest"]

    static func kind(_ r: JSONObjectReader, _ key: String = "kind", default d: AllocKind? = nil) throws(MMError) -> AllocKind {
        guard let s = try r.string(key) else {
            if let d { return d }
            throw .invalidConfig(field: r.field(key), value: "missing", reason: "is required")
        }
        guard let k = AllocKind(name: s) else {
            throw .invalidConfig(field: r.field(key), value: s, reason: "unknown kind (anon, file, slab, kernel, pinned)")
        }
        return k
    }

    static func amount(_ r: JSONObjectReader, fractionKey: String = "fraction", allowCount: Bool) throws(MMError) -> Amount {
        let f = try r.double(fractionKey, in: 0...1)
        let m = try r.int("mib", in: 1...(1 << 26))
        let c = allowCount ? try r.int("count", in: 0...(1 << 32)) : nil
        let given = [f != nil, m != nil, c != nil].filter { $0 }.count
        guard given == 1 else {
            throw .invalidConfig(field: r.field(fractionKey), value: "\(given) given",
                                 reason: "give exactly one of \(fractionKey), mib\(allowCount ? ", count" : "")")
        }
        if let f { return .fraction(f) }
        if let m { return .mib(m) }
        return .count(c!)
    }

    static func gfp(_ r: JSONObjectReader, default d: GFPFlags) throws(MMError) -> GFPFlags {
        guard let list = try r.array("gfp", maxCount: 16) else { return d }
        var g: GFPFlags = []
        for (i, v) in list.enumerated() {
            guard case .string(let s) = v, let f = GFPFlags.named[s] else {
                throw .invalidConfig(field: r.field("gfp[\(i)]"), value: v.encoded,
                                     reason: "unknown GFP flag (\(GFPFlags.named.keys.sorted().joined(separator: ", ")))")
            }
            g.formUnion(f)
        }
        return g
    }

    /// `block_size`: page cache written through ext3 gets buffer heads, one per block (4 KiB by default).
    static func blockSize(_ r: JSONObjectReader, kind k: AllocKind?, order: Int) throws(MMError) -> Int {
        let b = try r.int("block_size", in: 0...65536) ?? (k == .file || k == nil ? WorkloadDefinition.defaultBlockSize : 0)
        if b > 0 && (k.map { $0 != .file } ?? false || order != 0 || b < 512 || b & (b - 1) != 0) {
            throw .invalidConfig(field: r.field("block_size"), value: String(b),
                                 reason: "buffer heads are for order-0 page cache (kind file) and a block size is a power of two from 512 (0: none)")
        }
        return b
    }

    static func tag(_ r: JSONObjectReader, default d: String? = nil) throws(MMError) -> String {
        guard let t = try r.string("tag") ?? d else { throw .invalidConfig(field: r.field("tag"), value: "missing", reason: "is required") }
        guard !t.isEmpty, t.utf8.count <= Machine.maxTagLength else {
            throw .invalidConfig(field: r.field("tag"), value: t, reason: "must be 1..\(Machine.maxTagLength) bytes")
        }
        return t
    }

    static func parseStep(_ s: JSON, path: String, actors: inout Set<String>) throws(MMError) -> WorkloadStep {
        let outer = try JSONObjectReader(s, path: path)
        guard outer.keys.count == 1, let key = outer.keys.first, stepNames.contains(key) else {
            throw .invalidConfig(field: path, value: outer.keys.joined(separator: ","),
                                 reason: "a step is an object with exactly one of: \(stepNames.joined(separator: ", "))")
        }
        if key == "selftest" { return .selftest }
        let r: JSONObjectReader
        if key == "run" || key == "sample" || key == "compact" || key == "age", case .object = outer[key] ?? .null {
            r = try JSONObjectReader(outer[key]!, path: outer.field(key))
        } else if key == "compact" || key == "age", outer[key] == nil || outer[key] == .bool(true) {
            return key == "compact" ? .compact(node: nil) : .age(AgingRecipe())
        } else {
            r = try JSONObjectReader(outer[key] ?? .null, path: outer.field(key))
        }
        switch key {
        case "fill":
            return try parseFill(r)
        case "metadata":
            try r.rejectUnknown(["fraction", "mib", "count", "tag", "files_per_directory"])
            return .metadata(amount: try amount(r, allowCount: true), tag: try tag(r),
                             filesPerDirectory: try r.int("files_per_directory", in: 0...(1 << 24)) ?? WorkloadDefinition.defaultFilesPerDirectory)
        case "free":
            return try parseFree(r)
        case "keep_one_in":
            try r.rejectUnknown(["tag", "period"])
            return .keepOneIn(tag: try tag(r), period: try r.int("period", in: 1...(1 << 20)) ?? 4)
        case "start_actor":
            return try parseStartActor(r, actors: &actors)
        case "stop_actor":
            try r.rejectUnknown(["name", "free"])
            let name = try r.requiredString("name")
            guard actors.remove(name) != nil else {
                throw .invalidConfig(field: r.field("name"), value: name, reason: "no actor of this name was started before this step")
            }
            return .stopActor(name: name, freeAll: try r.bool("free") ?? true)
        case "run":
            try r.rejectUnknown(["ms"])
            guard let ms = try r.double("ms", in: 0...1e9) else { throw .invalidConfig(field: r.field("ms"), value: "missing", reason: "is required") }
            return .run(ms: ms)
        case "high_alloc":
            return try parseHighAlloc(r)
        case "hugetlb_pool":
            try r.rejectUnknown(["fraction", "mib", "count", "increment_fraction", "delay_ms", "tag"])
            var h = HugetlbPoolSpec(total: try amount(r, allowCount: true), incrementFraction: try r.double("increment_fraction", in: 0.0001...1))
            h.delayMs = try r.double("delay_ms", in: 0...1e7) ?? 0
            h.tag = try tag(r, default: "hugepages")
            return .hugetlbPool(h)
        case "compact":
            try r.rejectUnknown(["node"])
            return .compact(node: try r.int("node", in: 0...(MachineConfig.maxNodes - 1)))
        case "sysctl":
            return try parseSysctl(r)
        case "sample":
            try r.rejectUnknown(["name"])
            return .sample(name: try r.requiredString("name"))
        case "age":
            return try parseAge(r)
        default:
            throw .invalidConfig(field: path, value: key, reason: "unknown step")
        }
    }

    /// A `fill` step: allocations of one kind up to an amount, in chunks, by writers, with their options.
    private static func parseFill(_ r: JSONObjectReader) throws(MMError) -> WorkloadStep {
        try r.rejectUnknown(["kind", "fraction", "mib", "count", "chunk_pages", "writers", "tag", "order", "dirty_fraction", "mlock", "file_pages",
                             "block_size", "writer_process"])
        let k = try kind(r)
        let amt = try amount(r, allowCount: true)
        let chunk = try r.int("chunk_pages", in: 1...(1 << 24)) ?? 1
        let writers = try r.int("writers", in: 1...65536) ?? 1
        let t = try tag(r)
        let order = try r.int("order", in: 0...15) ?? 0
        let filePages = try r.int("file_pages", in: 1...(1 << 24)) ?? 0
        if filePages > 0 && (k != .file || order != 0) {
            throw .invalidConfig(field: r.field("file_pages"), value: String(filePages), reason: "files are page cache: needs kind file and order 0")
        }
        let blockSize = try blockSize(r, kind: k, order: order)
        var writerProcess: ProcessSpec?
        if let pr = try r.object("writer_process") {
            try pr.rejectUnknown(["anon_kib", "vmas"])
            writerProcess = ProcessSpec(anonKiB: try pr.int("anon_kib", in: 0...(1 << 24)) ?? 0, vmas: try pr.int("vmas", in: 1...4096) ?? 40)
        }
        return .fill(kind: k, amount: amt, chunkPages: chunk, writers: writers, tag: t, order: order,
                     dirtyFraction: try r.double("dirty_fraction", in: 0...1) ?? 0, mlock: try r.bool("mlock") ?? false,
                     filePages: filePages, blockSize: blockSize, writerProcess: writerProcess)
    }

    /// A `free` step: a tag's allocations by a pattern (all, every other, random with a fraction and seed).
    private static func parseFree(_ r: JSONObjectReader) throws(MMError) -> WorkloadStep {
        try r.rejectUnknown(["tag", "pattern", "fraction", "seed", "unit"])
        let p = try r.string("pattern") ?? "all"
        let pattern: FreePattern
        switch p {
        case "all": pattern = .all
        case "every_other": pattern = .everyOther
        case "random":
            guard let f = try r.double("fraction", in: 0...1) else {
                throw .invalidConfig(field: r.field("fraction"), value: "missing", reason: "is required for pattern random")
            }
            pattern = .random(fraction: f, seed: UInt64(try r.int("seed", in: 0...Int(Int64.max >> 11)) ?? 1))
        default:
            throw .invalidConfig(field: r.field("pattern"), value: p, reason: "must be all, every_other or random")
        }
        return .free(tag: try tag(r), pattern: pattern, unit: try r.int("unit", in: 1...(1 << 24)) ?? 1)
    }

    /// A `start_actor` step: a named actor allocating a weighted mix at a rate (a name not already running).
    private static func parseStartActor(_ r: JSONObjectReader, actors: inout Set<String>) throws(MMError) -> WorkloadStep {
        try r.rejectUnknown(["name", "rate_per_ms", "mix", "max_fraction"])
        let name = try r.requiredString("name")
        guard !actors.contains(name) else {
            throw .invalidConfig(field: r.field("name"), value: name, reason: "an actor of this name is already running")
        }
        actors.insert(name)
        guard let mixJ = try r.array("mix", maxCount: 64), !mixJ.isEmpty else {
            throw .invalidConfig(field: r.field("mix"), value: "missing", reason: "needs at least one allocation kind")
        }
        var mix: [ActorAlloc] = []
        for (i, m) in mixJ.enumerated() {
            let mr = try JSONObjectReader(m, path: r.field("mix[\(i)]"))
            try mr.rejectUnknown(["kind", "order", "weight", "lifetime_ms", "dirty_fraction", "mlock", "block_size", "process"])
            var process: ProcessSpec?
            if let pr = try mr.object("process") {
                try pr.rejectUnknown(["anon_kib", "vmas"])
                process = ProcessSpec(anonKiB: try pr.int("anon_kib", in: 0...(1 << 24)) ?? 0, vmas: try pr.int("vmas", in: 1...4096) ?? 40)
                if mr["kind"] != nil || mr["order"] != nil {
                    throw .invalidConfig(field: mr.field("process"), value: "process", reason: "a process entry takes no kind or order")
                }
            }
            var a = ActorAlloc(kind: try kind(mr, default: process == nil ? nil : .anon), order: try mr.int("order", in: 0...15) ?? 0,
                               weight: try mr.double("weight", in: 0...1e9) ?? 1,
                               lifetimeMs: try mr.double("lifetime_ms", in: 0.001...1e12))
            a.dirtyFraction = try mr.double("dirty_fraction", in: 0...1) ?? 0
            a.mlock = try mr.bool("mlock") ?? false
            a.blockSize = process == nil ? try blockSize(mr, kind: a.kind, order: a.order) : 0
            a.process = process
            mix.append(a)
        }
        guard mix.contains(where: { $0.weight > 0 }) else {
            throw .invalidConfig(field: r.field("mix"), value: "weights", reason: "at least one weight must be positive")
        }
        return .startActor(ActorSpec(name: name, ratePerMs: try r.double("rate_per_ms", in: 0.001...1e6) ?? 10, mix: mix,
                                     maxFraction: try r.double("max_fraction", in: 0...1) ?? 1))
    }

    /// A `high_alloc` step: the high-order allocation test (order, total, increments, pacing, flags).
    private static func parseHighAlloc(_ r: JSONObjectReader) throws(MMError) -> WorkloadStep {
        try r.rejectUnknown(["order", "fraction", "mib", "count", "increment_fraction", "delay_ms", "mb_per_sec", "gfp", "kind", "tag",
                             "stop_on_failure", "thp"])
        var h = HighAllocSpec(order: try r.int("order", in: 0...15) ?? -1, total: try amount(r, allowCount: true))
        h.incrementFraction = try r.double("increment_fraction", in: 0.0001...1)
        h.delayMs = try r.double("delay_ms", in: 0...1e7) ?? 0
        h.mbPerSec = try r.int("mb_per_sec", in: 1...1_000_000)
        if h.mbPerSec != nil && r["delay_ms"] != nil {
            throw .invalidConfig(field: r.field("mb_per_sec"), value: "\(h.mbPerSec!)", reason: "give delay_ms or mb_per_sec, not both")
        }
        h.gfp = try gfp(r, default: h.gfp)
        h.kind = try kind(r, default: .anon)
        h.tag = try tag(r, default: "highalloc")
        h.stopOnFailure = try r.bool("stop_on_failure") ?? true
        h.thp = try parseTHPFault(r)
        return .highAlloc(h)
    }

    /// A `sysctl` step: one of the three sysctls, or `"recommended"` for min_free_kbytes (hugeadm's value).
    private static func parseSysctl(_ r: JSONObjectReader) throws(MMError) -> WorkloadStep {
        try r.rejectUnknown(["name", "value"])
        let name = try r.requiredString("name")
        guard ["extfrag_threshold", "min_free_kbytes", "compact_unevictable_allowed", "hugepages_treat_as_movable"].contains(name) else {
            throw .invalidConfig(field: r.field("name"), value: name,
                                 reason: "must be extfrag_threshold, min_free_kbytes, compact_unevictable_allowed or hugepages_treat_as_movable")
        }
        if case .string(let s) = r["value"] ?? .null {
            guard s == "recommended", name == "min_free_kbytes" else {
                throw .invalidConfig(field: r.field("value"), value: s, reason: "only min_free_kbytes takes \"recommended\" (hugeadm's value)")
            }
            return .sysctl(name: name, value: nil)
        }
        let range: ClosedRange<Int> = name == "extfrag_threshold" ? 0...1000 : name == "min_free_kbytes" ? 1...(1 << 30) : 0...1
        return .sysctl(name: name, value: try r.requiredInt("value", in: range))
    }

    /// An `age` step: the aging recipe's fractions, which must add up to at most 1.
    private static func parseAge(_ r: JSONObjectReader) throws(MMError) -> WorkloadStep {
        try r.rejectUnknown(["file_fraction", "slab_fraction", "kernel_fraction", "free_file_fraction", "free_slab_fraction", "dirty_fraction", "seed",
                             "block_size"])
        var a = AgingRecipe()
        a.fileFraction = try r.double("file_fraction", in: 0...1) ?? a.fileFraction
        a.slabFraction = try r.double("slab_fraction", in: 0...1) ?? a.slabFraction
        a.kernelFraction = try r.double("kernel_fraction", in: 0...1) ?? a.kernelFraction
        a.freeFileFraction = try r.double("free_file_fraction", in: 0...1) ?? a.freeFileFraction
        a.freeSlabFraction = try r.double("free_slab_fraction", in: 0...1) ?? a.freeSlabFraction
        a.dirtyFraction = try r.double("dirty_fraction", in: 0...1) ?? a.dirtyFraction
        a.seed = UInt64(try r.int("seed", in: 0...Int(Int64.max >> 11)) ?? 1)
        a.blockSize = try blockSize(r, kind: nil, order: 0)
        guard a.fileFraction + a.slabFraction + a.kernelFraction <= 1 else {
            throw .invalidConfig(field: r.field("file_fraction"), value: "sum > 1", reason: "file, slab and kernel fractions must add up to at most 1")
        }
        return .age(a)
    }

    /// Checks the steps against a machine (orders within its range, nodes it has). Throws naming the field.
    public func validate(for config: MachineConfig) throws(MMError) {
        for (i, s) in steps.enumerated() {
            switch s {
            case .fill(_, _, _, _, _, let order, _, _, _, _, _) where order >= config.preset.nrOrders:
                throw .orderOutOfRange(field: "steps[\(i)].fill.order", order: order, max: config.preset.nrOrders - 1)
            case .fill(_, _, _, _, _, _, _, _, _, let bs, _) where bs > 1 << config.preset.pageShift:
                throw .invalidConfig(field: "steps[\(i)].fill.block_size", value: String(bs),
                                     reason: "a block is at most a page (\(1 << config.preset.pageShift) bytes on \(config.preset.name))")
            case .highAlloc(let h) where h.order >= config.preset.nrOrders:
                throw .orderOutOfRange(field: "steps[\(i)].high_alloc.order", order: h.order, max: config.preset.nrOrders - 1)
            case .startActor(let a):
                for (j, m) in a.mix.enumerated() where m.order >= config.preset.nrOrders {
                    throw .orderOutOfRange(field: "steps[\(i)].start_actor.mix[\(j)].order", order: m.order, max: config.preset.nrOrders - 1)
                }
                for (j, m) in a.mix.enumerated() where m.blockSize > 1 << config.preset.pageShift {
                    throw .invalidConfig(field: "steps[\(i)].start_actor.mix[\(j)].block_size", value: String(m.blockSize),
                                         reason: "a block is at most a page (\(1 << config.preset.pageShift) bytes on \(config.preset.name))")
                }
            case .age(let a) where a.blockSize > 1 << config.preset.pageShift:
                throw .invalidConfig(field: "steps[\(i)].age.block_size", value: String(a.blockSize),
                                     reason: "a block is at most a page (\(1 << config.preset.pageShift) bytes on \(config.preset.name))")
            case .compact(let n?) where n >= config.nodes:
                throw .unknownNode(field: "steps[\(i)].compact.node", node: n)
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
