import MMCore

/// The pageblock map: every pageblock's summary (`PageblockTable`) as one compact binary document
/// (`application/vnd.compact-service.pageblocks`), the service's answer for a machine's pageblocks.
///
/// Layout (all integers little-endian):
///
///     offset 0   4 bytes   magic "PBM1"
///     offset 4   u32       H, the length of the header
///     offset 8   H bytes   the header: a UTF-8 JSON object (machine, generation, page_size,
///                          pageblock_order, pageblock_pages, block_count, fields, migratetypes,
///                          nodes, zones with their first block and block count)
///     then       records, one after another, covering blocks 0 ..< block_count in order
///
/// A record:
///
///     1 byte     bits 0-2 the migratetype (0 Unmovable, 1 Reclaimable, 2 Movable, 3 Reserve, 4 Isolate),
///                bit 3 mixed, bit 4 repeat; bits 5-7 zero
///     [varint]   when repeat is set: n, the record stands for 1 + n consecutive blocks alike
///     1 byte     bit i set when counter i is not zero (fields: free, pcp, anon, file, slab,
///                kernel, pinned, isolated_free)
///     varints    the counters whose bit is set, in field order; the others are zero
///
/// A varint is unsigned LEB128: 7 bits a byte, low bits first, the high bit set on every byte but the
/// last. A full 2 MiB block of one kind is 4 bytes, a free machine a handful: a 1 TiB machine's
/// 524,288 blocks take 2-5 bytes each when they differ.
public enum PageblockMap {
    public static let magic: [UInt8] = Array("PBM1".utf8)
    public static let mediaType = "application/vnd.compact-service.pageblocks"
    static let repeatBit: UInt8 = 1 << 4

    /// Appends `v` as unsigned LEB128.
    @inline(__always) static func varint(_ v: Int, _ out: inout [UInt8]) {
        var v = UInt(v)
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    /// The records of `table` (no header).
    public static func records(_ t: PageblockTable) -> [UInt8] {
        let nf = PageblockInfo.Field.count
        var out: [UInt8] = []
        out.reserveCapacity(t.count * 4 + 16)
        var b = 0
        t.counts.withUnsafeBufferPointer { counts in
            t.flags.withUnsafeBufferPointer { flags in
                while b < t.count {
                    var run = 1
                    outer: while b + run < t.count && flags[b + run] == flags[b] {
                        let x = (b + run) * nf, y = b * nf
                        for i in 0..<nf where counts[x + i] != counts[y + i] { break outer }
                        run += 1
                    }
                    out.append(flags[b] | (run > 1 ? repeatBit : 0))
                    if run > 1 { varint(run - 1, &out) }
                    var mask: UInt8 = 0
                    for i in 0..<nf where counts[b * nf + i] != 0 { mask |= 1 << UInt8(i) }
                    out.append(mask)
                    for i in 0..<nf where counts[b * nf + i] != 0 { varint(Int(counts[b * nf + i]), &out) }
                    b += run
                }
            }
        }
        return out
    }

    /// The whole document: magic, header and records.
    public static func document(header: JSON, table: PageblockTable) -> [UInt8] {
        let h = header.encodedBytes
        let body = records(table)
        var out: [UInt8] = []
        out.reserveCapacity(8 + h.count + body.count)
        out += magic
        let n = UInt32(h.count)
        for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: n >> (8 * UInt32(i)))) }
        out += h
        out += body
        return out
    }

    /// What a document holds, read back (tests, the benchmark's check, clients in Swift).
    public struct Decoded: Sendable {
        public var header: JSON
        public var table: PageblockTable
    }

    public struct DecodeError: Error, Equatable, Sendable {
        public var message: String
    }

    /// Reads a document; throws on a wrong magic, a truncated record or a block count that disagrees
    /// with the header's `block_count`.
    public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> Decoded {
        guard bytes.count >= 8, Array(bytes[0..<4]) == magic else { throw DecodeError(message: "no PBM1 magic") }
        let h = Int(bytes[4]) | Int(bytes[5]) << 8 | Int(bytes[6]) << 16 | Int(bytes[7]) << 24
        guard 8 + h <= bytes.count else { throw DecodeError(message: "header runs past the end") }
        let header: JSON
        do { header = try JSON.parse(bytes: Array(bytes[8..<(8 + h)])) } catch { throw DecodeError(message: "header: \(error.message)") }
        guard case .number(let bc)? = header["block_count"], let blockCount = Int(bc) else {
            throw DecodeError(message: "header has no block_count")
        }
        let nf = PageblockInfo.Field.count
        var t = PageblockTable(flags: [], counts: [])
        t.flags.reserveCapacity(blockCount)
        t.counts.reserveCapacity(blockCount * nf)
        var i = 8 + h
        func byte() throws(DecodeError) -> UInt8 {
            guard i < bytes.count else { throw DecodeError(message: "record truncated at byte \(i)") }
            i += 1
            return bytes[i - 1]
        }
        func varint() throws(DecodeError) -> Int {
            var v = 0, shift = 0
            while true {
                let b = try byte()
                v |= Int(b & 0x7F) << shift
                if b & 0x80 == 0 { return v }
                shift += 7
                guard shift < 63 else { throw DecodeError(message: "varint too long at byte \(i)") }
            }
        }
        while i < bytes.count {
            let f = try byte()
            guard f & 0xE0 == 0 else { throw DecodeError(message: "record flags \(f) at byte \(i - 1)") }
            let run = f & repeatBit != 0 ? 1 + (try varint()) : 1
            let mask = try byte()
            var c = [UInt16](repeating: 0, count: nf)
            for k in 0..<nf where mask & (1 << UInt8(k)) != 0 {
                let v = try varint()
                guard v <= Int(UInt16.max) else { throw DecodeError(message: "counter \(v) out of range") }
                c[k] = UInt16(v)
            }
            guard t.flags.count + run <= blockCount else { throw DecodeError(message: "more records than block_count \(blockCount)") }
            for _ in 0..<run {
                t.flags.append(f & ~repeatBit)
                t.counts += c
            }
        }
        guard t.flags.count == blockCount else { throw DecodeError(message: "\(t.flags.count) blocks, header says \(blockCount)") }
        return Decoded(header: header, table: t)
    }
}

extension Machine {
    /// The pageblock map's header: what a client needs to lay the blocks out and label them.
    public func pageblockMapHeader(name: String) -> JSON {
        let zs: [JSON] = zones.filter(\.populated).map { z in
            .object([("node", .number(String(z.node.rawValue))), ("name", .string(z.name)), ("type", .string(z.type.name.lowercased())),
                     ("start_pfn", .number(String(z.startPfn.rawValue))), ("pages", .number(String(z.spannedPages))),
                     ("first_block", .number(String(z.startPfn.blockIndex(order: pageblockOrder)))),
                     ("blocks", .number(String((z.spannedPages + pageblockPages - 1) >> pageblockOrder)))])
        }
        let ns: [JSON] = nodes.map { n in
            .object([("id", .number(String(n.id.rawValue))), ("start_pfn", .number(String(n.startPfn.rawValue))), ("pages", .number(String(n.pages)))])
        }
        return .object([
            ("format", .string("compact-service pageblocks 1")),
            ("machine", .string(name)),
            ("generation", .number(String(generation))),
            ("page_size", .number(String(1 << pageShift))),
            ("nr_orders", .number(String(nrOrders))),
            ("pageblock_order", .number(String(pageblockOrder))),
            ("pageblock_pages", .number(String(pageblockPages))),
            ("block_count", .number(String(pageblockCount))),
            ("fields", .array(PageblockInfo.Field.allCases.map { .string($0.name) })),
            ("migratetypes", .array(Migratetype.allCases.map { .string($0.name) })),
            ("nodes", .array(ns)),
            ("zones", .array(zs)),
        ])
    }

    /// The pageblock map document of this machine as it is now (one pass, then the encoding).
    public func renderPageblockMap(name: String) -> [UInt8] {
        PageblockMap.document(header: pageblockMapHeader(name: name), table: pageblockTable())
    }
}
