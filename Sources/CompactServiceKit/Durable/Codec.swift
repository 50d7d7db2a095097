import CZlib

/// Checksums and compression for the durable state (zlib): CRC-32 of every journal record and snapshot,
/// deflate for snapshot sections where it helps.
enum Codec {
    /// CRC-32 (zlib's, the IEEE polynomial) of `bytes`, continuing from `crc`.
    static func crc32(_ bytes: UnsafeRawBufferPointer, _ crc: UInt32 = 0) -> UInt32 {
        var c = UInt(crc)
        var p = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)
        var n = bytes.count
        // zlib takes a 32-bit length.
        while n > 0, let base = p {
            let chunk = min(n, 1 << 30)
            c = CZlib.crc32(c, base, UInt32(chunk))
            p = base + chunk
            n -= chunk
        }
        return UInt32(truncatingIfNeeded: c)
    }

    static func crc32(_ bytes: [UInt8], _ crc: UInt32 = 0) -> UInt32 { bytes.withUnsafeBytes { crc32($0, crc) } }

    static func crc32(_ bytes: ArraySlice<UInt8>, _ crc: UInt32 = 0) -> UInt32 { bytes.withUnsafeBytes { crc32($0, crc) } }

    /// `bytes` deflated (zlib format) at level 1 (fast: snapshots are taken while the service runs).
    static func deflate(_ bytes: [UInt8]) -> [UInt8]? {
        var s = z_stream()
        guard czlib_deflate_init(&s, 1) == Z_OK else { return nil }
        defer { deflateEnd(&s) }
        let bound = Int(deflateBound(&s, UInt(bytes.count)))
        var out = [UInt8](repeating: 0, count: bound)
        let ok = bytes.withUnsafeBytes { src -> Bool in
            out.withUnsafeMutableBytes { dst -> Bool in
                s.next_in = UnsafeMutablePointer(mutating: src.baseAddress?.assumingMemoryBound(to: UInt8.self))
                s.avail_in = UInt32(src.count)
                s.next_out = dst.baseAddress!.assumingMemoryBound(to: UInt8.self)
                s.avail_out = UInt32(dst.count)
                return CZlib.deflate(&s, Z_FINISH) == Z_STREAM_END
            }
        }
        guard ok else { return nil }
        out.removeLast(bound - Int(s.total_out))
        return out
    }

    /// Inflates `bytes` into exactly `size` bytes; nil when they do not inflate to that.
    static func inflate(_ bytes: ArraySlice<UInt8>, size: Int) -> [UInt8]? {
        var s = z_stream()
        guard czlib_inflate_init(&s) == Z_OK else { return nil }
        defer { inflateEnd(&s) }
        var out = [UInt8](repeating: 0, count: max(size, 1))
        let ok = bytes.withUnsafeBytes { src -> Bool in
            out.withUnsafeMutableBytes { dst -> Bool in
                s.next_in = UnsafeMutablePointer(mutating: src.baseAddress?.assumingMemoryBound(to: UInt8.self))
                s.avail_in = UInt32(src.count)
                s.next_out = dst.baseAddress!.assumingMemoryBound(to: UInt8.self)
                s.avail_out = UInt32(dst.count)
                return CZlib.inflate(&s, Z_FINISH) == Z_STREAM_END
            }
        }
        guard ok, Int(s.total_out) == size, Int(s.total_in) == bytes.count else { return nil }
        if size == 0 { out = [] }
        return out
    }
}

extension Codec {
    /// Base64 (RFC 4648, with or without padding; whitespace ignored); nil for anything else.
    static func base64Decode(_ s: String) -> [UInt8]? {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() { table[Int(c)] = UInt8(i) }
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count * 3 / 4)
        var acc: UInt32 = 0, bits = 0, padding = 0
        for c in s.utf8 {
            if c == UInt8(ascii: " ") || c == UInt8(ascii: "\n") || c == UInt8(ascii: "\r") || c == UInt8(ascii: "\t") { continue }
            if c == UInt8(ascii: "=") { padding += 1; continue }
            guard padding == 0 else { return nil }
            let v = table[Int(c)]
            guard v != 0xFF else { return nil }
            acc = acc << 6 | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: acc >> UInt32(bits)))
            }
        }
        guard padding <= 2, bits < 6 else { return nil }
        return out
    }
}

/// Appends little-endian integers and bytes.
struct ByteWriter {
    var bytes: [UInt8] = []

    init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func append(_ b: [UInt8]) { bytes.append(contentsOf: b) }
    mutating func append(_ s: String) { bytes.append(contentsOf: s.utf8) }

    /// Overwrites 4 bytes at `at` with `v`.
    mutating func set32(_ v: UInt32, at: Int) {
        withUnsafeBytes(of: v.littleEndian) { for (i, b) in $0.enumerated() { bytes[at + i] = b } }
    }
}

/// Reads little-endian integers and bytes; every read is bounds-checked (nil past the end).
struct ByteReader {
    let bytes: ArraySlice<UInt8>
    private(set) var at: Int

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        at = bytes.startIndex
    }

    init(_ bytes: [UInt8]) { self.init(bytes[...]) }

    var remaining: Int { bytes.endIndex - at }
    var offset: Int { at - bytes.startIndex }

    mutating func take(_ n: Int) -> ArraySlice<UInt8>? {
        guard n >= 0, n <= remaining else { return nil }
        defer { at += n }
        return bytes[at..<(at + n)]
    }

    mutating func u8() -> UInt8? { take(1).map { $0.first! } }
    mutating func u16() -> UInt16? { int(UInt16.self) }
    mutating func u32() -> UInt32? { int(UInt32.self) }
    mutating func u64() -> UInt64? { int(UInt64.self) }

    private mutating func int<T: FixedWidthInteger>(_: T.Type) -> T? {
        guard let s = take(MemoryLayout<T>.size) else { return nil }
        var v: T = 0
        for (i, b) in s.enumerated() { v |= T(b) << (8 * i) }
        return v
    }
}
