import MMCore
import MMFormat

/// A parsed POST …/allocations body.
struct AllocationOrder: Sendable {
    var request: AllocRequest
    var count: Int
    var tag: String?
}

/// A parsed POST …/allocations/free body.
enum FreeOrder: Sendable {
    case handles([PageHandle])
    case tag(String, FreePattern)
}

/// Wire format of allocations.
enum AllocationWire {
    static let maxCount = 1 << 18
    static let maxHandlesListed = 1000
    static let maxHandlesPerFree = 100_000
    static let allocFields = ["order", "count", "kind", "node", "tag", "gfp", "mlock", "dirty"]
    /// The GFP flags a request may set, by their kernel names without `__GFP_`. Each defaults to its
    /// GFP_KERNEL value: wait, io and fs on (may reclaim and compact), the rest off.
    static let gfpFlags: [(String, GFPFlags, Bool)] = [
        ("wait", .wait, true), ("io", .io, true), ("fs", .fs, true), ("repeat", .repeat, false),
        ("noretry", .noretry, false), ("high", .high, false), ("thisnode", .thisnode, false),
    ]

    static func parseAllocation(_ body: JSON) throws(Problem) -> AllocationOrder {
        let r = try ObjectReader(body, path: "", allowed: allocFields, nullable: ["node", "tag"])
        let order = try r.int("order", 0...(MachineConfig.maxOrders - 1)) ?? 0
        let count = try r.int("count", 1...maxCount) ?? 1
        let kind = AllocKind(name: try r.choice("kind", AllocKind.allCases.map(\.name)) ?? "anon")!
        let node = try r.int("node", 0...(MachineConfig.maxNodes - 1))
        let tag = try tagField(r)
        var gfp: GFPFlags = []
        let g = try r.object("gfp", allowed: gfpFlags.map(\.0))
        for (name, flag, dflt) in gfpFlags where try g?.bool(name) ?? dflt { gfp.insert(flag) }
        let mlock = try r.bool("mlock") ?? false
        let dirty = try r.bool("dirty") ?? false
        return AllocationOrder(request: AllocRequest(order: order, kind: kind, node: node, gfp: gfp, mlock: mlock, dirty: dirty),
                               count: count, tag: tag)
    }

    static let tagPattern = "[A-Za-z0-9_.:-]{1,64}"

    /// Tags: 1..64 characters of `[A-Za-z0-9_.:-]` (MMCore takes any 1..64 bytes; the service keeps
    /// them printable so they read well in logs and URLs).
    static func tagField(_ r: ObjectReader) throws(Problem) -> String? {
        guard let tag = try r.string("tag", maxBytes: 1024) else { return nil }
        let ok = (1...Machine.maxTagLength).contains(tag.utf8.count) && tag.utf8.allSatisfy { c in
            (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
                || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "_") || c == UInt8(ascii: ".")
                || c == UInt8(ascii: ":") || c == UInt8(ascii: "-")
        }
        guard ok else { throw Problem.invalid("tag", "tags match \(tagPattern)") }
        return tag
    }

    static func parseFree(_ body: JSON) throws(Problem) -> FreeOrder {
        let r = try ObjectReader(body, path: "", allowed: ["handles", "tag", "pattern", "fraction", "seed"])
        if let list = try r.array("handles", maxCount: maxHandlesPerFree) {
            for k in ["tag", "pattern", "fraction", "seed"] where r.has(k) {
                throw Problem.invalid(k, "give either handles or a tag (with its pattern), not both")
            }
            var seen = Set<UInt64>()
            var handles: [PageHandle] = []
            for (i, v) in list.enumerated() {
                let h = UInt64(try ObjectReader.int(v, at: "handles[\(i)]", 0...((1 << 53) - 1)))
                guard seen.insert(h).inserted else { throw Problem.invalid("handles[\(i)]", "handle \(h) is listed twice") }
                handles.append(PageHandle(raw: h))
            }
            guard !handles.isEmpty else { throw Problem.invalid("handles", "list at least one handle") }
            return .handles(handles)
        }
        guard let tag = try tagField(r) else {
            throw Problem.invalid("handles", "give either handles or a tag")
        }
        let pattern = try r.choice("pattern", ["all", "every_other", "random"]) ?? "all"
        switch pattern {
        case "random":
            let f = try r.require("fraction", try r.double("fraction", 0...1))
            let seed = try r.int("seed", 0...((1 << 53) - 1)) ?? 1
            return .tag(tag, .random(fraction: f, seed: UInt64(seed)))
        default:
            for k in ["fraction", "seed"] where r.has(k) {
                throw Problem.invalid(k, "\(k) only goes with pattern \"random\"")
            }
            return .tag(tag, pattern == "all" ? .all : .everyOther)
        }
    }
}

/// Sums the outcome of a bulk allocation that runs in steps. Latencies of every attempt are kept so
/// the percentiles are exact however the work was split.
struct AllocationTally {
    var succeeded = 0
    var failed = 0
    var handles: [PageHandle] = []
    var latencies: [UInt64] = []
    var compactionStalls = 0
    var reclaimStalls = 0
    var pagesReclaimed = 0
    var simulatedNs: UInt64 = 0
    /// Set when a single bulk call did the whole request: its own summary is exact.
    var summary: LatencySummary?

    mutating func add(_ r: BulkAllocResult, keep: Int) {
        succeeded += r.succeeded
        failed += r.failed
        for h in r.handles where handles.count < keep { handles.append(h) }
        compactionStalls += r.compactionStalls
        reclaimStalls += r.reclaimStalls
        pagesReclaimed += r.pagesReclaimed
        simulatedNs &+= r.simulatedNs
    }

    func write(requested: Int, tag: String?, complete: Bool, stoppedByBudget: Bool = false, into w: inout JSONWriter) {
        let lat = summary ?? LatencySummary(latencies)
        w.beginObject()
        w.field("requested", requested)
        w.field("succeeded", succeeded)
        w.field("failed", failed)
        w.field("tag", tag)
        w.key("handles")
        w.beginArray()
        for h in handles { w.int(h.raw) }
        w.endArray()
        w.field("handles_truncated", handles.count < succeeded)
        w.key("latency_ns")
        w.beginObject()
        w.field("count", lat.count)
        w.field("min", lat.min)
        w.field("p50", lat.p50)
        w.field("p90", lat.p90)
        w.field("p95", lat.p95)
        w.field("p99", lat.p99)
        w.field("max", lat.max)
        w.field("mean", lat.mean)
        w.endObject()
        w.field("compaction_stalls", compactionStalls)
        w.field("reclaim_stalls", reclaimStalls)
        w.field("pages_reclaimed", pagesReclaimed)
        w.field("simulated_ns", simulatedNs)
        w.field("complete", complete)
        w.field("stopped_by_budget", stoppedByBudget)
        w.endObject()
    }
}
