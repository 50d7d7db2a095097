/// A NUMA node's id (`nid`): its index in `Machine.nodes`. A wrapper of one integer: it compiles to that
/// integer, and keeps it apart from zone ids, pfns and orders in signatures.
@frozen
public struct NodeID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: Int

    @inline(__always) public init(rawValue: Int) { self.rawValue = rawValue }
    @inline(__always) public init(_ rawValue: Int) { self.rawValue = rawValue }

    @inline(__always) public static func < (a: NodeID, b: NodeID) -> Bool { a.rawValue < b.rawValue }

    /// The number, as `/proc` and every document print a node.
    public var description: String { rawValue.description }
}

/// Per-node tables are indexed by node id: `nodes[nid]`, `kswapdPending[nid]`.
extension Array {
    @inlinable public subscript(nid: NodeID) -> Element {
        @inline(__always) get { self[nid.rawValue] }
        @inline(__always) set { self[nid.rawValue] = newValue }
    }
}

extension Machine {
    /// Every node id, in order (`for_each_online_node`).
    var nodeIDs: LazyMapSequence<Range<Int>, NodeID> { (0..<nodes.count).lazy.map(NodeID.init(rawValue:)) }
}
