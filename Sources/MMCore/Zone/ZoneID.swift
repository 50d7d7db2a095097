/// A zone's index in `Machine.zones`: every node's zones, node-major, in zone-index order (the kernel
/// reaches the same zone as `page_zone(page)` or `&NODE_DATA(nid)->node_zones[idx]`). A wrapper of one
/// integer: it compiles to that integer, and keeps it apart from pfns, orders, nodes and migratetypes in
/// signatures.
@frozen
public struct ZoneID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: Int

    @inline(__always) public init(rawValue: Int) { self.rawValue = rawValue }
    @inline(__always) public init(_ rawValue: Int) { self.rawValue = rawValue }

    @inline(__always) public static func < (a: ZoneID, b: ZoneID) -> Bool { a.rawValue < b.rawValue }

    /// The number, as every text that names a zone by id prints it.
    public var description: String { rawValue.description }
}

/// Per-zone tables are indexed by zone id: `zones[z]`, the modern profile's `ms.nrReservedHighatomic[z]`,
/// a per-zone `RawArray`'s `zonePagesScanned[z]`.
extension Array {
    @inlinable public subscript(z: ZoneID) -> Element {
        @inline(__always) get { self[z.rawValue] }
        @inline(__always) set { self[z.rawValue] = newValue }
    }
}

extension RawArray {
    subscript(z: ZoneID) -> Element {
        @inline(__always) get { self[z.rawValue] }
        @inline(__always) nonmutating set { self[z.rawValue] = newValue }
    }
}

extension Machine {
    /// Every zone id, populated or not, in order (`for_each_zone`'s walk as ids).
    var zoneIDs: LazyMapSequence<Range<Int>, ZoneID> { (0..<zones.count).lazy.map(ZoneID.init(rawValue:)) }
}
