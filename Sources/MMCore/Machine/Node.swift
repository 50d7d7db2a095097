/// A NUMA node (`pg_data_t`): its span, its zones (one per zone type of the preset, possibly empty) and
/// its distances to every node.
public struct Node: Sendable {
    public let id: NodeID
    /// `node_start_pfn`.
    public let startPfn: Pfn
    public let pages: Int
    /// `node_zones[]`: machine zone ids, indexed by zone index (every type of the preset, populated or not).
    public let zoneIds: [ZoneID]
    /// `node_distance(id, other)`.
    public let distances: [Int]
}
