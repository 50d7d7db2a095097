/// A GET route with a fixed answer (`/healthz`, `/openapi.yaml`), as plain C data: the server matches
/// MHD's URL against `path` on a request's first callback (see `MHDServer.fixedSlots`).
struct FixedSlot {
    /// The route's path, NUL-terminated (strdup'ed; freed with the server).
    var path: UnsafeMutablePointer<CChar>
    var pathLength: Int
    var routeIndex: Int
    /// The body: a `StaticBytes`' address and count (that memory is never freed).
    var body: UInt
    var bodyCount: Int
    /// NUL-terminated (strdup'ed; freed with the server).
    var contentType: UnsafeMutablePointer<CChar>
    /// Further headers: `headerCount` name and value pairs, NUL-terminated, at `headers[2i]` and
    /// `headers[2i + 1]` (the array and each string allocated in `init` and freed with the server).
    var headers: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    var headerCount: Int
}

/// The state of a request for a fixed answer, kept in MHD's `req_cls` word itself instead of a
/// `RequestState` object, which would cost an allocation, its release and reference counting on the
/// service's hottest route.
///
/// The word: bit 0 is 1 (a tag no object address carries: Swift objects are 16-byte aligned), bit 1 is
/// set once the answer is queued, bits 2...4 hold the `fixedSlots` index, bits 5...7 the `ThreadShard`
/// of the first callback's thread, and bits 8...63 that callback's CLOCK_MONOTONIC time in ns modulo
/// 2^56, so the duration is exact for anything shorter than 2^56 ns (2.28 years).
struct FixedRequest {
    static let maxSlots = 8
    private static let timeMask: UInt64 = (1 << 56) - 1
    private var bits: UInt

    init(slot: Int, shard: Int, startNs: UInt64) {
        precondition(slot >= 0 && slot < FixedRequest.maxSlots && shard >= 0 && shard < ThreadShard.count && ThreadShard.count <= 8 && MemoryLayout<UInt>.size == 8)
        bits = UInt(startNs & FixedRequest.timeMask) << 8 | UInt(shard) << 5 | UInt(slot) << 2 | 1
    }

    /// The state in a `req_cls` word, or nil when the word is a `RequestState`'s address.
    init?(_ p: UnsafeMutableRawPointer) {
        let b = UInt(bitPattern: Int(bitPattern: p))
        guard b & 1 == 1 else { return nil }
        bits = b
    }

    /// The word to store in `req_cls` (never NULL: bit 0 is set).
    var pointer: UnsafeMutableRawPointer { UnsafeMutableRawPointer(bitPattern: bits).unsafelyUnwrapped }

    var slot: Int { Int((bits >> 2) & 7) }
    var shard: Int { Int((bits >> 5) & 7) }

    var answered: Bool {
        get { bits & 2 != 0 }
        set { bits = newValue ? bits | 2 : bits & ~2 }
    }

    /// Nanoseconds from the first callback to `now` (CLOCK_MONOTONIC).
    func elapsedNs(now: UInt64) -> UInt64 { (now &- UInt64(bits >> 8)) & FixedRequest.timeMask }
}
