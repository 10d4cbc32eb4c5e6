#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes files with `open(2)` and `write(2)`: one call per batch in the common case,
/// retrying `EINTR` and short writes.
enum FileOutput {
    /// Creates or replaces `path` with `bytes[0..<count]`.
    ///
    /// - Throws: ``LoadGenError/io(path:reason:)`` naming the file and `strerror(errno)`.
    static func write(_ bytes: [UInt8], count: Int, to path: String) throws(LoadGenError) {
        precondition(count <= bytes.count, "writing \(count) of \(bytes.count) bytes")
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw .io(path: path, reason: reason()) }
        defer { close(fd) }
        var done = 0
        while done < count {
            let n = bytes.withUnsafeBytes { posixWrite(fd, $0.baseAddress! + done, count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(path: path, reason: reason())
            }
            done += n
        }
    }

    /// Creates a directory and its parents (`mkdir -p`).
    static func makeDirectory(_ path: String) throws(LoadGenError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            prefix += part + "/"
            if mkdir(prefix, 0o755) != 0, errno != EEXIST { throw .io(path: prefix, reason: reason()) }
        }
    }

    /// Whether a directory holds any entry.
    static func isNonEmptyDirectory(_ path: String) -> Bool {
        guard let dir = opendir(path) else { return false }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { return true }
        }
        return false
    }

    private static func reason() -> String { String(cString: strerror(errno)) }
}

#if canImport(Glibc)
private let posixWrite = Glibc.write
#elseif canImport(Darwin)
private let posixWrite = Darwin.write
#endif
