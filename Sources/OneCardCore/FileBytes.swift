#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whole files read with `read(2)` straight into the caller's memory: no `Data` in between to
/// copy again, and no mapping, which a file truncated under it would turn into a SIGBUS.
public enum FileBytes {
    /// Why a file was not read.
    public enum Failure: Error, Equatable, Sendable {
        /// The system's reason (`strerror`).
        case unreadable(String)
        /// The file has more than the bytes allowed (its size).
        case tooLarge(Int)
        /// The file ended before the size it had when opened.
        case shrank
    }

    /// Reads exactly `count` bytes from `fd` into `buffer` (retrying interrupted reads).
    public static func read(_ fd: Int32, into buffer: UnsafeMutableRawPointer, count: Int) -> Failure? {
        var done = 0
        while done < count {
            #if canImport(Glibc)
            let n = Glibc.read(fd, buffer + done, count - done)
            #else
            let n = Darwin.read(fd, buffer + done, count - done)
            #endif
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { return n == 0 ? .shrank : .unreadable(String(cString: strerror(errno))) }
            done += n
        }
        return nil
    }

    /// The size of the file at `path` in bytes (`stat(2)`), or `nil` if it cannot be read.
    /// Not `FileManager.attributesOfItem`: that also looks up the owner's user and group names,
    /// opening `/etc/passwd` and `/etc/group` for every file (two opens a batch file when an
    /// ingest of 995 files is planned).
    public static func size(_ path: String) -> Int? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Int(st.st_size)
    }

    /// The bytes of the file at `path`, when it has at most `maxBytes`; the size is checked
    /// before anything is read.
    public static func read(_ path: String, maxBytes: Int) -> Result<[UInt8], Failure> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(.unreadable(String(cString: strerror(errno)))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return .failure(.unreadable(String(cString: strerror(errno)))) }
        let size = Int(st.st_size)
        guard size <= maxBytes else { return .failure(.tooLarge(size)) }
        var failure: Failure?
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            if size > 0 { failure = read(fd, into: buffer.baseAddress!, count: size) }
            initialized = failure == nil ? size : 0
        }
        if let failure { return .failure(failure) }
        return .success(bytes)
    }
}
