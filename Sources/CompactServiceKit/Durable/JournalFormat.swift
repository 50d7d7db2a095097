import MMFormat

/// The journal file format (README "Durable state"): a header, then records, each framed with its
/// sequence number, length, format version and CRC-32.
///
///     file   := header record*
///     header := "CSJOURNL" version:u32 first_seq:u64 crc:u32       (24 bytes; crc of the 20 before it)
///     record := magic:u32 version:u16 flags:u16 length:u32 seq:u64 crc:u32 payload[length]
///
/// Integers are little-endian. `magic` is 0x524A5343 ("CSJR"); `crc` is the CRC-32 of the 20 header
/// bytes before it and the payload; `payload` is the record's canonical JSON (`MachineRecord`). Records
/// are numbered from 0 at the machine's creation, consecutively, across files: a file is named after
/// the number of its first record, and a snapshot says which record it stops before.
enum JournalFormat {
    static let fileMagic: [UInt8] = Array("CSJOURNL".utf8)
    static let version: UInt32 = 1
    static let recordMagic: UInt32 = 0x524A_5343
    static let recordVersion: UInt16 = 1
    static let headerBytes = 24
    static let frameBytes = 24
    /// Largest payload a reader accepts (a record larger than this is damage, not data).
    static let maxPayload = 64 << 20

    static func fileHeader(firstSeq: UInt64) -> [UInt8] {
        var w = ByteWriter(capacity: headerBytes)
        w.append(fileMagic)
        w.u32(version)
        w.u64(firstSeq)
        w.u32(Codec.crc32(w.bytes))
        return w.bytes
    }

    static func frame(seq: UInt64, payload: [UInt8]) -> [UInt8] {
        var w = ByteWriter(capacity: frameBytes + payload.count)
        w.u32(recordMagic)
        w.u16(recordVersion)
        w.u16(0)
        w.u32(UInt32(payload.count))
        w.u64(seq)
        let crc = Codec.crc32(payload, Codec.crc32(w.bytes))
        w.u32(crc)
        w.append(payload)
        return w.bytes
    }

    struct Record: Sendable {
        var seq: UInt64
        var payload: ArraySlice<UInt8>
        /// Offset of the record's frame in its file.
        var offset: Int
    }

    /// How a file ends.
    enum Ending: Sendable, Equatable {
        case clean
        /// A damaged or incomplete last record (nothing valid follows it): cut off at `offset`.
        case torn(offset: Int, reason: String)
        /// A damaged record with valid records after it.
        case corrupt(offset: Int, reason: String)
    }

    struct ParsedFile: Sendable {
        var firstSeq: UInt64
        var records: [Record]
        var ending: Ending
    }

    /// Reads a journal file: its header must be intact (else it is `corrupt` at 0); then records until
    /// the first one that does not read back (bad magic, version, length or checksum). That one is
    /// `torn` when no valid record can be found anywhere after it, `corrupt` otherwise.
    static func parse(_ bytes: [UInt8]) -> ParsedFile {
        var r = ByteReader(bytes)
        guard let magic = r.take(8), Array(magic) == fileMagic, let v = r.u32(), let first = r.u64(), let crc = r.u32(),
              Codec.crc32(bytes[0..<20]) == crc else {
            // A header cut short by a crash right after the file was created holds no record.
            if bytes.count < headerBytes && bytes.elementsEqual(fileHeader(firstSeq: 0).prefix(bytes.count)) || bytes.isEmpty {
                return ParsedFile(firstSeq: 0, records: [], ending: .torn(offset: 0, reason: "the file's header is incomplete"))
            }
            return ParsedFile(firstSeq: 0, records: [], ending: .corrupt(offset: 0, reason: "the file's header is damaged"))
        }
        guard v == version else {
            return ParsedFile(firstSeq: first, records: [], ending: .corrupt(offset: 0, reason: "journal format version \(v), this service reads \(version)"))
        }
        var records: [Record] = []
        var at = headerBytes
        while at < bytes.count {
            switch frameAt(bytes, at) {
            case .success(let (rec, next)):
                records.append(rec)
                at = next
            case .failure(let why):
                var probe = at + 1
                while probe + frameBytes <= bytes.count {
                    if case .success = frameAt(bytes, probe) {
                        return ParsedFile(firstSeq: first, records: records, ending: .corrupt(offset: at, reason: why.reason))
                    }
                    probe += 1
                }
                return ParsedFile(firstSeq: first, records: records, ending: .torn(offset: at, reason: why.reason))
            }
        }
        return ParsedFile(firstSeq: first, records: records, ending: .clean)
    }

    struct FrameError: Error { var reason: String }

    /// The record framed at `at`, and where the next one starts.
    static func frameAt(_ bytes: [UInt8], _ at: Int) -> Result<(Record, Int), FrameError> {
        var r = ByteReader(bytes[at...])
        guard let magic = r.u32(), let v = r.u16(), r.u16() != nil, let len = r.u32(), let seq = r.u64(), let crc = r.u32() else {
            return .failure(FrameError(reason: "a record's frame is cut short"))
        }
        guard magic == recordMagic else { return .failure(FrameError(reason: "no record starts here")) }
        guard v == recordVersion else { return .failure(FrameError(reason: "record format version \(v)")) }
        guard Int(len) <= maxPayload else { return .failure(FrameError(reason: "a record's length \(len) is impossible")) }
        guard let payload = r.take(Int(len)) else { return .failure(FrameError(reason: "a record is cut short")) }
        guard Codec.crc32(payload, Codec.crc32(bytes[at..<(at + 20)])) == crc else {
            return .failure(FrameError(reason: "a record's checksum does not match"))
        }
        return .success((Record(seq: seq, payload: payload, offset: at), at + frameBytes + Int(len)))
    }
}
