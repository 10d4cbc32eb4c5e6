#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A file written through a temporary name and renamed into place when complete, so a killed
/// settlement never leaves a half-written output under its final name.
public final class OutputFile {
    /// Bytes buffered before a write.
    public static let bufferBytesMax = 1 << 20
    let finalPath: String
    let tempPath: String
    let handle: FileHandle
    /// Bytes not yet written.
    public var buffer: [UInt8] = []

    /// Creates `dir/.name.tmp` (mode 0600) and writes `header`.
    public init(dir: String, name: String, header: String) throws {
        finalPath = dir + "/" + name
        tempPath = dir + "/." + name + ".tmp"
        // open(2), not FileManager.createFile: the latter writes through a hidden temporary
        // file of its own, which a killed settlement would leave behind. Settlement files hold
        // full card numbers and TACs: created readable by the owner only, in the same call
        // (O_EXCL: a leftover temporary is removed first, never reused with its old mode).
        unlink(tempPath)
        let fd = open(tempPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ServiceError("cannot write \(tempPath): check that the output directory is writable") }
        handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        try handle.write(contentsOf: Data(header.utf8))
    }

    /// Writes the buffer once it holds ``bufferBytesMax`` bytes.
    public func flushIfFull() throws { if buffer.count >= Self.bufferBytesMax { try flush() } }

    /// Writes the buffer.
    public func flush() throws {
        try handle.write(contentsOf: buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes, syncs and renames into place.
    public func commit() throws {
        try flush()
        try handle.synchronize()
        try handle.close()
        guard rename(tempPath, finalPath) == 0 else { throw ServiceError("cannot rename \(tempPath) to \(finalPath): \(String(cString: strerror(errno)))") }
    }

    /// Writes a whole file through a temporary name.
    public static func write(_ bytes: [UInt8], dir: String, name: String) throws {
        let f = try OutputFile(dir: dir, name: name, header: "")
        f.buffer = bytes
        try f.commit()
    }

    /// Removes the temporary files a killed writer left in `dir` (`.NAME.tmp`).
    public static func removeLeftovers(in dir: String) throws {
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) where name.hasPrefix(".") && name.hasSuffix(".tmp") {
            try FileManager.default.removeItem(atPath: dir + "/" + name)
        }
    }
}
