/// Shared helpers of the /proc and debugfs renderers: `walk_zones_in_node` over populated zones, and
/// the C printf conversions the kernel's formats use, done by hand so output is byte-exact.
enum CFormat {
    /// `%<width>s` / `%<width>d` (right-aligned), `%-<width>s` with `left`.
    @inline(__always)
    static func pad(_ s: String, _ width: Int, left: Bool = false) -> String {
        let n = s.utf8.count
        if n >= width { return s }
        let fill = String(repeating: " ", count: width - n)
        return left ? s + fill : fill + s
    }

    /// `%03d` of a possibly negative value (printf pads after the sign: -5 → "-05", -15 → "-15").
    @inline(__always)
    static func zeroPad3(_ v: Int) -> String {
        if v >= 0 {
            let s = String(v)
            return s.count >= 3 ? s : String(repeating: "0", count: 3 - s.count) + s
        }
        let digits = String(-v)
        let body = digits.count >= 2 ? digits : String(repeating: "0", count: 2 - digits.count) + digits
        return "-" + body
    }

    /// The seed's `"%d.%03d "` of an index in thousandths, with C's truncating division.
    @inline(__always)
    static func thousandths(_ index: Int) -> String {
        "\(index / 1000).\(zeroPad3(index % 1000))"
    }
}

extension Machine {
    /// `walk_zones_in_node` for every node: the populated zones, in node then zone order.
    func walkPopulatedZones(_ body: (Node, Zone) -> Void) {
        for node in nodes {
            for id in node.zoneIds where zones[id].populated { body(node, zones[id]) }
        }
    }

    /// The common line prefix `"Node %d, zone %8s "`.
    @inline(__always)
    func nodeZonePrefix(_ node: Node, _ zone: Zone) -> String {
        "Node \(node.id), zone \(CFormat.pad(zone.name, 8)) "
    }
}
