extension Machine {
    /// Node-ordered zonelists (`build_zonelists` with node ordering, kernel-compaction.md §1.6): the
    /// preferred node first, then the others by distance; inside each node, zones from the highest
    /// allowed index down, populated ones only. Ties in distance prefer nodes above the preferred one,
    /// then lower ids (the kernel's "penalise nodes under us"; its load-spreading among equal nodes is
    /// not modelled).
    static func buildZonelists(nodes: [Node], zones: [Zone]) -> [[[ZoneID]]] {
        nodes.map { local in
            let order = nodes.map(\.id).sorted { a, b in
                if a == local.id { return b != local.id }
                if b == local.id { return false }
                let da = local.distances[a.rawValue], db = local.distances[b.rawValue]
                if da != db { return da < db }
                let pa = a < local.id ? 1 : 0, pb = b < local.id ? 1 : 0
                if pa != pb { return pa < pb }
                return a < b
            }
            let nrZoneTypes = local.zoneIds.count
            return (0..<nrZoneTypes).map { highest in
                var list: [ZoneID] = []
                for nid in order {
                    for idx in stride(from: highest, through: 0, by: -1) {
                        let z = nodes[nid].zoneIds[idx]
                        if zones[z].populated { list.append(z) }
                    }
                }
                return list
            }
        }
    }

    /// The zonelist an allocation on `node` that may use zones up to `highestZoneIdx` walks.
    public func zonelist(node: NodeID, highestZoneIdx: Int) -> [ZoneID] { zonelists[node.rawValue][highestZoneIdx] }
}
