import MMCore

/// The JSON of a workload definition: `{"name", "seed", "steps": [{"fill": {...}}, ...]}`, one object
/// per step with exactly one key, the step's name.
extension WorkloadDefinition {
    /// Parses and validates a workload definition. Every error names the path of the offending field
    /// (`steps[3].high_alloc.order`); nothing runs before the whole definition is accepted.
    public init(json: JSON, path: FieldPath = .root) throws(MMError) {
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
            let step = try WorkloadDefinition.parseStep(s, path: r.field("steps").index(i), actors: &actors)
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
                throw .invalidConfig(field: r.field("gfp").index(i), value: v.encoded,
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

    static func parseStep(_ s: JSON, path: FieldPath, actors: inout Set<String>) throws(MMError) -> WorkloadStep {
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
        try r.rejectUnknown(["name", "rate_per_ms", "mix", "max_fraction", "copies"])
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
            let mr = try JSONObjectReader(m, path: r.field("mix").index(i))
            try mr.rejectUnknown(["kind", "order", "weight", "lifetime_ms", "dirty_fraction", "mlock", "block_size", "process", "unit_kib",
                                  "file_sizes"])
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
            try parseActorUnit(mr, into: &a)
            mix.append(a)
        }
        guard mix.contains(where: { $0.weight > 0 }) else {
            throw .invalidConfig(field: r.field("mix"), value: "weights", reason: "at least one weight must be positive")
        }
        var copies: ActorCopies?
        if let cr = try r.object("copies") {
            try cr.rejectUnknown(["per_memtotal_mib", "plus"])
            guard let per = try cr.int("per_memtotal_mib", in: 1...(1 << 30)) else {
                throw .invalidConfig(field: cr.field("per_memtotal_mib"), value: "missing", reason: "copies needs the MiB of MemTotal per copy")
            }
            copies = ActorCopies(memTotalMiBPerCopy: per, plus: try cr.int("plus", in: 0...4096) ?? 0)
        }
        return .startActor(ActorSpec(name: name, ratePerMs: try r.double("rate_per_ms", in: 0.001...1e6) ?? 10, mix: mix,
                                     maxFraction: try r.double("max_fraction", in: 0...1) ?? 1, copies: copies))
    }

    /// A mix entry's `unit_kib` (the bytes an event stands for) and `file_sizes` (page cache read as whole
    /// files of those sizes): neither for a process, `file_sizes` only for order-0 page cache with a unit.
    private static func parseActorUnit(_ mr: JSONObjectReader, into a: inout ActorAlloc) throws(MMError) {
        if let kib = try mr.int("unit_kib", in: 1...(1 << 20)) {
            guard a.process == nil else {
                throw .invalidConfig(field: mr.field("unit_kib"), value: String(kib), reason: "a process entry takes no unit")
            }
            a.unitBytes = kib << 10
        }
        guard let name = try mr.string("file_sizes") else { return }
        guard let sizes = FileSizes(rawValue: name) else {
            throw .invalidConfig(field: mr.field("file_sizes"), value: name,
                                 reason: "unknown file sizes (\(FileSizes.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard a.process == nil && a.kind == .file && a.order == 0 && a.unitBytes != nil else {
            throw .invalidConfig(field: mr.field("file_sizes"), value: name, reason: "is for order-0 page cache (kind file) with a unit_kib")
        }
        a.fileSizes = sizes
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
        guard WorkloadDefinition.settableSysctls.contains(name) else {
            throw .invalidConfig(field: r.field("name"), value: name,
                                 reason: "must be one of " + WorkloadDefinition.settableSysctls.joined(separator: ", "))
        }
        if case .string(let s) = r["value"] ?? .null {
            guard s == "recommended", name == "min_free_kbytes" else {
                throw .invalidConfig(field: r.field("value"), value: s, reason: "only min_free_kbytes takes \"recommended\" (hugeadm's value)")
            }
            return .sysctl(name: name, value: nil)
        }
        let range: ClosedRange<Int> = name == "extfrag_threshold" ? 0...1000 : name == "min_free_kbytes" ? 1...(1 << 30)
            : name.hasPrefix("dirty_") ? 0...100 : 0...1
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
}
