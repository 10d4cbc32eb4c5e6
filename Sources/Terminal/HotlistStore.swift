#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import OneCardCore
import OneCardCrypto

/// A terminal's hotlist at a validator's scale: a binary file of sorted card serials, read into
/// memory as it is and searched in place (docs/formats.md, "Hotlist store").
///
/// 500,000 cards are 4 MB on disk and in memory (8 bytes a card); opening checks the file's
/// SHA-256 and order once (milliseconds), a lookup is a binary search (about 19 probes). A
/// delta (the cards added and removed since a version) is merged into a new file written
/// beside the old one and renamed over it, so a crash leaves the old list or the new one,
/// never half of each; a running terminal picks it up with ``reopenIfChanged()``.
public final class HotlistStore: @unchecked Sendable {
    /// The file's first bytes.
    public static let magic: [UInt8] = Array("OCHL".utf8)
    /// The format version this code writes and reads.
    public static let formatVersion: UInt8 = 1
    /// Header bytes before the serials.
    public static let headerBytes = 32
    /// Trailer bytes: SHA-256 of everything before.
    public static let digestBytes = 32
    /// The most cards one file may list (added plus removed): 16M, 128 MB.
    public static let entriesMax = 1 << 24

    /// What a file brings.
    public enum Kind: UInt8, Sendable {
        /// Every hotlisted card at `version`.
        case full = 1
        /// The cards added and removed between `baseVersion` and `version`.
        case delta = 2
    }

    /// A decoded header.
    public struct Header: Equatable, Sendable {
        public var kind: Kind
        /// The list version the file brings the store to.
        public var version: UInt64
        /// For a delta, the version it applies to (0 for a full list).
        public var baseVersion: UInt64
        public var added: Int
        public var removed: Int
    }

    /// Why a file was refused.
    public enum StoreError: Error, Equatable, CustomStringConvertible {
        case unreadable(path: String, reason: String)
        case malformed(path: String, reason: String)
        case wrongBase(path: String, storeVersion: UInt64, deltaBase: UInt64)
        case notNewer(path: String, storeVersion: UInt64, deltaVersion: UInt64)

        public var description: String {
            switch self {
            case .unreadable(let p, let r): "\(p): cannot read the hotlist store (\(r))"
            case .malformed(let p, let r): "\(p): not a valid hotlist store (\(r))"
            case .wrongBase(let p, let v, let b): "\(p): the delta applies to version \(b), but the store is at version \(v): fetch the full list or the delta from \(v)"
            case .notNewer(let p, let v, let d): "\(p): the delta brings version \(d), not newer than the store's \(v)"
            }
        }
    }

    /// The file this store reads.
    public let path: String
    /// The loaded file's header.
    public private(set) var header: Header
    private var map: UnsafeRawBufferPointer
    private var identity: FileIdentity

    /// The list version.
    public var version: UInt64 { header.version }
    /// Cards on the list.
    public var count: Int { header.added }
    /// Bytes of the loaded file (what the list costs in memory).
    public var byteCount: Int { map.count }

    /// Opens a full-list file: reads it and checks its header, SHA-256 and order.
    public init(path: String) throws(StoreError) {
        self.path = path
        let (map, identity) = try Self.loadFile(path)
        do throws(StoreError) {
            self.header = try Self.checkFull(map, path: path)
        } catch {
            Self.release(map)
            throw error
        }
        self.map = map
        self.identity = identity
    }

    deinit { Self.release(map) }

    /// Whether `serial` is on the list: a binary search of the loaded serials.
    public func contains(_ serial: CardSerial) -> Bool {
        let key = serial.rawValue
        var lo = 0, hi = header.added
        while lo < hi {
            let mid = (lo + hi) >> 1
            let v = Self.serial(map, mid)
            if v == key { return true }
            if v < key { lo = mid + 1 } else { hi = mid }
        }
        return false
    }

    /// Every serial on the list, ascending.
    public var serials: [UInt64] { (0..<header.added).map { Self.serial(map, $0) } }

    /// Re-opens the file if another process replaced it (a delta applied, a new full list):
    /// one `stat` when nothing changed. Returns whether the list changed. A replacement that
    /// does not verify is refused, and the store keeps the list it had.
    @discardableResult
    public func reopenIfChanged() throws(StoreError) -> Bool {
        var st = stat()
        guard stat(path, &st) == 0, FileIdentity(st) != identity else { return false }
        let (newMap, newIdentity) = try Self.loadFile(path)
        let h: Header
        do throws(StoreError) {
            h = try Self.checkFull(newMap, path: path)
        } catch {
            Self.release(newMap)
            throw error
        }
        Self.release(map)
        (map, identity, header) = (newMap, newIdentity, h)
        return true
    }

    /// Applies a delta file: writes the merged list as a new file and renames it over this one
    /// (fsynced), then loads it. The delta must start at this store's version.
    public func apply(deltaAt deltaPath: String) throws(StoreError) {
        let (delta, _) = try Self.loadFile(deltaPath)
        defer { Self.release(delta) }
        let d = try Self.check(delta, path: deltaPath)
        guard d.kind == .delta else { throw .malformed(path: deltaPath, reason: "a full list, not a delta") }
        guard d.baseVersion == header.version else { throw .wrongBase(path: deltaPath, storeVersion: header.version, deltaBase: d.baseVersion) }
        guard d.version > header.version else { throw .notNewer(path: deltaPath, storeVersion: header.version, deltaVersion: d.version) }
        // Merge the sorted base with the sorted additions, skipping the sorted removals.
        var merged: [UInt64] = []
        merged.reserveCapacity(header.added + d.added)
        var i = 0, a = 0, r = 0
        let removedAt = Self.headerBytes + 8 * d.added
        func next() -> UInt64? {
            let fromBase = i < header.added ? Self.serial(map, i) : nil
            let fromDelta = a < d.added ? Self.serial(delta, a) : nil
            switch (fromBase, fromDelta) {
            case (nil, nil): return nil
            case (let b?, nil): i += 1; return b
            case (nil, let x?): a += 1; return x
            case (let b?, let x?):
                if b < x { i += 1; return b }
                if x < b { a += 1; return x }
                i += 1; a += 1; return b
            }
        }
        while let v = next() {
            while r < d.removed, Self.word(delta, removedAt + 8 * r) < v { r += 1 }
            if r < d.removed, Self.word(delta, removedAt + 8 * r) == v { continue }
            merged.append(v)
        }
        let bytes = Self.encode(kind: .full, version: d.version, baseVersion: 0, added: merged, removed: [])
        try Self.writeAtomically(bytes, to: path)
        _ = try reopenIfChanged()
    }

    // MARK: Writing

    /// The bytes of a store file. `added` and `removed` must be strictly ascending and, for a
    /// full list, `removed` empty.
    public static func encode(kind: Kind, version: UInt64, baseVersion: UInt64, added: [UInt64], removed: [UInt64]) -> [UInt8] {
        precondition(kind == .delta || removed.isEmpty, "a full list removes nothing")
        precondition(added.count + removed.count <= entriesMax, "more than \(entriesMax) cards in one hotlist file")
        var out = magic
        out.reserveCapacity(headerBytes + 8 * (added.count + removed.count) + digestBytes)
        out.append(formatVersion)
        out.append(kind.rawValue)
        out += [0, 0]
        out.appendBigEndian(version)
        out.appendBigEndian(baseVersion)
        out.appendBigEndian(UInt32(added.count))
        out.appendBigEndian(UInt32(removed.count))
        for v in added { out.appendBigEndian(v) }
        for v in removed { out.appendBigEndian(v) }
        out += out.withUnsafeBytes { SHA256Digest.hash($0) }
        return out
    }

    /// A full-list file with serials in the order given, checked or not: only for tests of the
    /// reader's own checks.
    public static func encodeUnchecked(version: UInt64, serials: [UInt64]) -> [UInt8] {
        var out = magic + [formatVersion, Kind.full.rawValue, 0, 0]
        out.appendBigEndian(version)
        out.appendBigEndian(UInt64(0))
        out.appendBigEndian(UInt32(serials.count))
        out.appendBigEndian(UInt32(0))
        for v in serials { out.appendBigEndian(v) }
        out += out.withUnsafeBytes { SHA256Digest.hash($0) }
        return out
    }

    /// The delta that takes the list `old` (at `oldVersion`) to `new` (at `newVersion`); both
    /// sorted ascending without repeats.
    public static func delta(from old: [UInt64], version oldVersion: UInt64, to new: [UInt64], version newVersion: UInt64) -> [UInt8] {
        var added: [UInt64] = [], removed: [UInt64] = []
        var i = 0, j = 0
        while i < old.count || j < new.count {
            if j == new.count || (i < old.count && old[i] < new[j]) {
                removed.append(old[i]); i += 1
            } else if i == old.count || new[j] < old[i] {
                added.append(new[j]); j += 1
            } else {
                i += 1; j += 1
            }
        }
        return encode(kind: .delta, version: newVersion, baseVersion: oldVersion, added: added, removed: removed)
    }

    /// Writes a file through a temporary name in the same directory: written, fsynced, renamed
    /// over `path`, and the directory fsynced.
    public static func writeAtomically(_ bytes: [UInt8], to path: String) throws(StoreError) {
        let temp = path + ".tmp"
        unlink(temp)
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .unreadable(path: temp, reason: String(cString: strerror(errno))) }
        var written = 0
        let ok = bytes.withUnsafeBytes { raw -> Bool in
            while written < raw.count {
                let n = write(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0, errno == EINTR { continue }
                guard n > 0 else { return false }
                written += n
            }
            return fsync(fd) == 0
        }
        close(fd)
        guard ok else {
            let reason = String(cString: strerror(errno))
            unlink(temp)
            throw .unreadable(path: temp, reason: reason)
        }
        guard rename(temp, path) == 0 else { throw .unreadable(path: path, reason: String(cString: strerror(errno))) }
        let dir = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        let dfd = open(dir.isEmpty ? "/" : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }

    // MARK: Reading

    /// Checks a loaded file: size, magic, format, kind, counts, SHA-256, strict order.
    public static func check(_ m: UnsafeRawBufferPointer, path: String) throws(StoreError) -> Header {
        guard m.count >= headerBytes + digestBytes else { throw .malformed(path: path, reason: "\(m.count) bytes, shorter than a header and digest") }
        guard Array(m[0..<4]) == magic else { throw .malformed(path: path, reason: "no OCHL magic") }
        guard m[4] == formatVersion else { throw .malformed(path: path, reason: "format version \(m[4]), expected \(formatVersion)") }
        guard let kind = Kind(rawValue: m[5]) else { throw .malformed(path: path, reason: "kind \(m[5])") }
        guard m[6] == 0, m[7] == 0 else { throw .malformed(path: path, reason: "reserved bytes are not zero") }
        let added = Int(UInt32(truncatingIfNeeded: word(m, 24) >> 32))
        let removed = Int(UInt32(truncatingIfNeeded: word(m, 24)))
        guard added + removed <= entriesMax else { throw .malformed(path: path, reason: "\(added + removed) cards, more than \(entriesMax)") }
        guard kind == .delta || removed == 0 else { throw .malformed(path: path, reason: "a full list with removals") }
        let expected = headerBytes + 8 * (added + removed) + digestBytes
        guard m.count == expected else { throw .malformed(path: path, reason: "\(m.count) bytes, but the header says \(expected)") }
        let digest = SHA256Digest.hash(UnsafeRawBufferPointer(rebasing: m[0..<(expected - digestBytes)]))
        guard digest.elementsEqual(m[(expected - digestBytes)...]) else { throw .malformed(path: path, reason: "SHA-256 does not match (corrupt or cut short)") }
        for (start, n) in [(headerBytes, added), (headerBytes + 8 * added, removed)] where n > 1 {
            var previous = word(m, start)
            for k in 1..<n {
                let v = word(m, start + 8 * k)
                guard v > previous else { throw .malformed(path: path, reason: "serials not in strictly ascending order at entry \(k)") }
                previous = v
            }
        }
        let h = Header(kind: kind, version: word(m, 8), baseVersion: word(m, 16), added: added, removed: removed)
        guard kind == .delta || h.baseVersion == 0 else { throw .malformed(path: path, reason: "a full list with a base version") }
        return h
    }

    private static func checkFull(_ m: UnsafeRawBufferPointer, path: String) throws(StoreError) -> Header {
        let h = try check(m, path: path)
        guard h.kind == .full else { throw .malformed(path: path, reason: "a delta, not a full list") }
        return h
    }

    @inline(__always)
    static func word(_ m: UnsafeRawBufferPointer, _ offset: Int) -> UInt64 {
        UInt64(bigEndian: m.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    @inline(__always)
    static func serial(_ m: UnsafeRawBufferPointer, _ index: Int) -> UInt64 { word(m, headerBytes + 8 * index) }

    /// Reads a whole file into memory of its own. Not `mmap`: a file truncated or rewritten in
    /// place under a mapping would fault the process (SIGBUS) or change the list under a
    /// lookup; a copy costs the same memory and about a millisecond more to open.
    static func loadFile(_ path: String) throws(StoreError) -> (UnsafeRawBufferPointer, FileIdentity) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .unreadable(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .unreadable(path: path, reason: String(cString: strerror(errno))) }
        let size = Int(st.st_size)
        guard size >= headerBytes + digestBytes, size <= headerBytes + 8 * entriesMax + digestBytes else {
            throw .malformed(path: path, reason: "\(size) bytes")
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 8)
        if let failure = FileBytes.read(fd, into: buffer.baseAddress!, count: size) {
            buffer.deallocate()
            let reason = switch failure {
            case .shrank: "the file shrank while it was read"
            case .unreadable(let why): why
            case .tooLarge(let bytes): "\(bytes) bytes"
            }
            throw .unreadable(path: path, reason: reason)
        }
        return (UnsafeRawBufferPointer(buffer), FileIdentity(st))
    }

    static func release(_ m: UnsafeRawBufferPointer) { m.deallocate() }
}

/// What tells a replaced file from the one loaded: device, inode, size, modification time.
struct FileIdentity: Equatable {
    var device: UInt64
    var inode: UInt64
    var size: Int64
    var modifiedSeconds: Int
    var modifiedNanoseconds: Int

    init(_ st: stat) {
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        size = Int64(st.st_size)
        modifiedSeconds = Int(st.st_mtim.tv_sec)
        modifiedNanoseconds = Int(st.st_mtim.tv_nsec)
    }
}
