import MMCore
import MMFormat

/// The snapshot file format (README "Durable state"): a machine's identity and its state image
/// (`MachineStateImage`, MMCore's flat arrays as they are in memory) with checksums and a version.
///
///     file    := "CSSNAPSH" format:u32 header_length:u32 header_crc:u32 header section* crc:u32 "CSSNAPEN"
///     header  := JSON: format, state_version, service, name, instance, created_at, config, journal_seq,
///                generation, taken_at, sections: [{name, element_bytes, count, encoding, raw_bytes,
///                stored_bytes, crc}]
///     section := the section's extents, each offset:u64 length:u64 bytes[length], stored as they are
///                ("raw") or deflated ("deflate", when that saves an eighth or more)
///
/// Integers are little-endian; the elements of a section are little-endian integers of `element_bytes`
/// bytes. `crc` fields are CRC-32; the trailing one covers every byte before it. `journal_seq` is the
/// number of the first journal record the snapshot does not contain.
enum SnapshotFormat {
    static let magic: [UInt8] = Array("CSSNAPSH".utf8)
    static let endMagic: [UInt8] = Array("CSSNAPEN".utf8)
    static let version: UInt32 = 1
    static let mediaType = "application/vnd.compact-service.snapshot"

    /// Who the snapshot is of, and where in its journal it stands.
    struct Identity: Sendable {
        var name: String
        var instance: Int
        var createdAt: String
        var config: MachineConfig
        var journalSeq: UInt64
        var generation: UInt64
        var takenAt: String
    }

    struct DecodeError: Error, Sendable, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    static func encode(_ image: MachineStateImage, _ id: Identity) -> [UInt8] {
        var payloads: [[UInt8]] = []
        var infos: [JSON] = []
        for s in image.sections {
            var w = ByteWriter(capacity: 16 * s.extents.count + s.storedBytes)
            for e in s.extents {
                w.u64(UInt64(e.offset))
                w.u64(UInt64(e.bytes.count))
                w.append(e.bytes)
            }
            let raw = w.bytes
            var stored = raw, encoding = "raw"
            if raw.count >= 256, let d = Codec.deflate(raw), d.count <= raw.count - raw.count / 8 {
                stored = d
                encoding = "deflate"
            }
            infos.append(.object([("name", .string(s.name)), ("element_bytes", .number(Double(s.elementBytes))),
                                  ("count", .number(Double(s.count))), ("encoding", .string(encoding)),
                                  ("raw_bytes", .number(Double(raw.count))), ("stored_bytes", .number(Double(stored.count))),
                                  ("crc", .number(Double(Codec.crc32(stored))))]))
            payloads.append(stored)
        }
        let header = JSON.object([
            ("format", .number(Double(version))), ("state_version", .number(Double(image.version))),
            ("service", .string(ServiceInfo.version)), ("name", .string(id.name)), ("instance", .number(Double(id.instance))),
            ("created_at", .string(id.createdAt)), ("config", id.config.json), ("journal_seq", .number(String(id.journalSeq))),
            ("generation", .number(String(id.generation))), ("taken_at", .string(id.takenAt)), ("sections", .array(infos)),
        ])
        let h = header.encodedBytes
        var w = ByteWriter(capacity: 64 + h.count + payloads.reduce(0) { $0 + $1.count })
        w.append(magic)
        w.u32(version)
        w.u32(UInt32(h.count))
        w.u32(Codec.crc32(h))
        w.append(h)
        for p in payloads { w.append(p) }
        w.u32(Codec.crc32(w.bytes))
        w.append(endMagic)
        return w.bytes
    }

    /// Reads a snapshot, checking its magic, version, every checksum and the shape of its sections.
    static func decode(_ bytes: [UInt8]) throws(DecodeError) -> (Identity, MachineStateImage) {
        guard bytes.count >= 28, Array(bytes.prefix(8)) == magic else { throw DecodeError("not a snapshot (no CSSNAPSH header)") }
        guard Array(bytes.suffix(8)) == endMagic else { throw DecodeError("the snapshot is cut short (no CSSNAPEN trailer)") }
        var r = ByteReader(bytes[..<(bytes.count - 12)])
        _ = r.take(8)
        let v = r.u32()!
        guard v == version else { throw DecodeError("snapshot format version \(v); this service reads version \(version)") }
        var t = ByteReader(bytes[(bytes.count - 12)...])
        guard t.u32()! == Codec.crc32(bytes[..<(bytes.count - 12)]) else { throw DecodeError("the snapshot's checksum does not match") }
        guard let hlen = r.u32(), let hcrc = r.u32(), let h = r.take(Int(hlen)), Codec.crc32(h) == hcrc else {
            throw DecodeError("the snapshot's header is damaged")
        }
        let header: JSON
        do { header = try JSON.parse(bytes: Array(h)) } catch { throw DecodeError("the snapshot's header is not JSON: \(error.message)") }
        func str(_ k: String) throws(DecodeError) -> String {
            guard case .string(let s)? = header[k] else { throw DecodeError("the snapshot's header lacks \(k)") }
            return s
        }
        func num(_ k: String, in j: JSON = header) throws(DecodeError) -> UInt64 {
            guard case .number(let s)? = j[k], let n = UInt64(s) else { throw DecodeError("the snapshot's header lacks \(k)") }
            return n
        }
        let stateVersion = try num("state_version")
        // The current version, or an older one `Machine(_:restoring:)` converts (a version-1 snapshot loads).
        guard stateVersion == UInt64(MachineStateImage.version)
                || MachineStateImage.convertibleVersions.contains(Int(clamping: stateVersion)) else {
            throw DecodeError("machine state version \(stateVersion); this service reads version \(MachineStateImage.version)"
                              + " (and converts \(MachineStateImage.convertibleVersions.sorted().map(String.init).joined(separator: ", ")))")
        }
        guard let cj = header["config"] else { throw DecodeError("the snapshot's header lacks config") }
        let config: MachineConfig
        do { config = try MachineConfig(json: cj) } catch { throw DecodeError("the snapshot's machine configuration is invalid: \(error)") }
        guard case .array(let infos)? = header["sections"] else { throw DecodeError("the snapshot's header lacks sections") }
        var sections: [MachineStateImage.Section] = []
        for info in infos {
            guard case .string(let name)? = info["name"], case .string(let encoding)? = info["encoding"] else {
                throw DecodeError("a section of the snapshot's header is incomplete")
            }
            let eb = Int(try num("element_bytes", in: info)), count = try num("count", in: info)
            let rawBytes = Int(try num("raw_bytes", in: info)), storedBytes = Int(try num("stored_bytes", in: info))
            let crc = try num("crc", in: info)
            guard [1, 2, 4, 8].contains(eb), count <= 1 << 40, rawBytes <= 1 << 40 else { throw DecodeError("section \(name) has an impossible shape") }
            guard let stored = r.take(storedBytes), UInt64(Codec.crc32(stored)) == crc else {
                throw DecodeError("section \(name) is damaged (its checksum does not match)")
            }
            let raw: ArraySlice<UInt8>
            switch encoding {
            case "raw": raw = stored
            case "deflate":
                guard let d = Codec.inflate(stored, size: rawBytes) else { throw DecodeError("section \(name) does not inflate") }
                raw = d[...]
            default: throw DecodeError("section \(name) has an unknown encoding \(encoding)")
            }
            guard raw.count == rawBytes else { throw DecodeError("section \(name) has \(raw.count) bytes, not \(rawBytes)") }
            var er = ByteReader(raw)
            var extents: [MachineStateImage.Extent] = []
            let size = Int(count) * eb
            while er.remaining > 0 {
                guard let off = er.u64(), let len = er.u64(), off <= UInt64(size), len <= UInt64(size) - off, let b = er.take(Int(len)) else {
                    throw DecodeError("section \(name) holds an extent outside its \(size) bytes")
                }
                extents.append(.init(offset: Int(off), bytes: Array(b)))
            }
            sections.append(.init(name: name, elementBytes: eb, count: Int(count), extents: extents))
        }
        guard r.remaining == 0 else { throw DecodeError("the snapshot has \(r.remaining) bytes beyond its sections") }
        let id = Identity(name: try str("name"), instance: Int(try num("instance")), createdAt: try str("created_at"), config: config,
                          journalSeq: try num("journal_seq"), generation: try num("generation"), takenAt: try str("taken_at"))
        return (id, MachineStateImage(version: Int(stateVersion), sections: sections))
    }
}

/// The service's version, for snapshots and `--version`.
public enum ServiceInfo {
    public static let version = "0.1.0"
}
