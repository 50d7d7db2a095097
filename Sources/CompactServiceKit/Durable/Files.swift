import CZlib
#if canImport(Glibc)
import Glibc
#endif

/// A failure of the state directory's files, with the path and the system's reason.
struct StoreError: Error, Sendable, CustomStringConvertible {
    var description: String
    /// errno, when a system call failed (ENOSPC: the disk is full).
    var code: Int32 = 0

    init(_ description: String, code: Int32 = 0) {
        self.description = description
        self.code = code
    }

    static func errno(_ what: String, _ path: String) -> StoreError {
        let e = Glibc.errno
        return StoreError("\(what) \(path): \(String(cString: strerror(e)))", code: e)
    }

    var isOutOfSpace: Bool { code == ENOSPC || code == EDQUOT }
}

/// The file calls of the durable state: whole-file reads, atomic replacement (temporary file, fsync,
/// rename, fsync of the directory), directory listings and removal.
enum Files {
    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Creates `path` (and missing parents) as directories.
    static func makeDirectories(_ path: String) throws(StoreError) {
        if isDirectory(path) { return }
        var prefix = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            prefix += "/" + part
            if !isDirectory(prefix) && mkdir(prefix, 0o755) != 0 && Glibc.errno != EEXIST {
                throw .errno("cannot create directory", prefix)
            }
        }
    }

    /// Names in a directory (without . and ..), sorted; empty when it cannot be read.
    static func list(_ path: String) -> [String] {
        guard let d = opendir(path) else { return [] }
        defer { closedir(d) }
        var out: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { out.append(name) }
        }
        return out.sorted()
    }

    /// The whole file; nil when it does not exist (other failures throw).
    static func read(_ path: String) throws(StoreError) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if Glibc.errno == ENOENT { return nil }
            throw .errno("cannot open", path)
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .errno("cannot stat", path) }
        var out = [UInt8](repeating: 0, count: Int(st.st_size))
        var off = 0
        while off < out.count {
            let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + off, $0.count - off, off_t(off)) }
            if n < 0 {
                if Glibc.errno == EINTR { continue }
                throw .errno("cannot read", path)
            }
            if n == 0 { break }
            off += n
        }
        if off < out.count { out.removeLast(out.count - off) }
        return out
    }

    /// Writes all of `bytes` at the file offset.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(StoreError) {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + off, $0.count - off) }
            if n < 0 {
                if Glibc.errno == EINTR { continue }
                throw .errno("cannot write", path)
            }
            off += n
        }
    }

    static func fsyncDirectory(_ path: String) throws(StoreError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .errno("cannot open directory", path) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw .errno("cannot fsync directory", path) }
    }

    static func directory(of path: String) -> String {
        guard let i = path.lastIndex(of: "/") else { return "." }
        return i == path.startIndex ? "/" : String(path[..<i])
    }

    /// Replaces `path` with `bytes` atomically and durably: a temporary file beside it, written and
    /// fsynced, renamed over it, the directory fsynced. A crash leaves the old file or the new one (and
    /// perhaps a `*.tmp-*` file, which recovery removes).
    static func writeAtomically(_ path: String, _ bytes: [UInt8]) throws(StoreError) {
        // A name of its own, so that two writers of one file never share a temporary file.
        let tmp = path + ".tmp-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .errno("cannot create", tmp) }
        do throws(StoreError) {
            try writeAll(fd, bytes, path: tmp)
            guard fsync(fd) == 0 else { throw StoreError.errno("cannot fsync", tmp) }
        } catch {
            close(fd)
            unlink(tmp)
            throw error
        }
        close(fd)
        guard rename(tmp, path) == 0 else {
            let e = StoreError.errno("cannot rename to", path)
            unlink(tmp)
            throw e
        }
        try fsyncDirectory(directory(of: path))
    }

    /// Removes a file or a directory tree (best effort; what cannot be removed stays).
    static func removeTree(_ path: String) {
        if isDirectory(path) {
            for n in list(path) { removeTree(path + "/" + n) }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    /// Bytes free for an unprivileged user on the file system holding `path`; nil when unknown.
    static func freeBytes(_ path: String) -> Int? {
        var st = statvfs()
        guard statvfs(path, &st) == 0 else { return nil }
        return Int(st.f_bavail) &* Int(st.f_frsize)
    }
}

/// A journal file open for appending: its descriptor, how much of it is written, and how much disk is
/// reserved beyond that (so an append within the reservation cannot fail for want of space).
final class AppendFile: @unchecked Sendable {
    // Why @unchecked Sendable is safe: `fd` and `path` never change; `size` and `reserved` are used only
    // by the committer thread (`Committer.run`), which is the only code that writes through the file,
    // and by `init` before the file is shared.
    let fd: Int32
    let path: String
    private(set) var size: Int
    private var reserved: Int
    /// The directory entry has not been fsynced yet (a new file): the committer fsyncs the directory
    /// before it counts anything written here as durable.
    var directoryPending: Bool

    static let reserveStep = 1 << 20

    /// Creates (exclusively) or opens a file for appending at its end.
    init(path: String, create: Bool) throws(StoreError) {
        let flags = O_WRONLY | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0)
        let fd = open(path, flags, 0o644)
        guard fd >= 0 else { throw .errno(create ? "cannot create" : "cannot open", path) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            close(fd)
            throw .errno("cannot stat", path)
        }
        self.fd = fd
        self.path = path
        size = Int(st.st_size)
        reserved = size
        directoryPending = create
    }

    deinit { close(fd) }

    /// Appends `bytes` at the end (not yet durable), reserving disk ahead first. Throws on failure; a
    /// reservation the disk refuses only says so through `lowOnSpace` (the write may still fit).
    func append(_ bytes: [UInt8], lowOnSpace: inout Bool) throws(StoreError) {
        if size + bytes.count + AppendFile.reserveStep / 2 > reserved {
            let want = (size + bytes.count + AppendFile.reserveStep + AppendFile.reserveStep - 1) / AppendFile.reserveStep * AppendFile.reserveStep
            if czlib_reserve(fd, Int64(reserved), Int64(want - reserved)) == 0 {
                reserved = want
            } else if Glibc.errno == ENOSPC || Glibc.errno == EDQUOT {
                lowOnSpace = true
            } else {
                reserved = Int.max / 2  // the file system cannot reserve: do not ask again
            }
        }
        guard lseek(fd, off_t(size), SEEK_SET) >= 0 else { throw .errno("cannot seek", path) }
        do throws(StoreError) {
            try Files.writeAll(fd, bytes, path: path)
        } catch {
            // A partial write is cut off again, so the file ends at a whole record.
            _ = ftruncate(fd, off_t(size))
            throw error
        }
        size += bytes.count
    }

    func sync() throws(StoreError) {
        guard fdatasync(fd) == 0 else { throw .errno("cannot fdatasync", path) }
        if directoryPending {
            try Files.fsyncDirectory(Files.directory(of: path))
            directoryPending = false
        }
    }
}
