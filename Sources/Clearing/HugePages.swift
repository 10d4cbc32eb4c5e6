#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Zeroed memory for the tables that are read at random (``CardTable``, ``TACKeyCache``),
/// mapped so that the kernel may back it with 2 MiB pages: with 4 KiB pages a random read of a
/// large table misses the TLB as well as the caches, and each miss is a page walk (in a virtual
/// machine a nested one). On Linux, from ``pageBytes`` on: an anonymous mapping aligned to
/// 2 MiB, `MADV_HUGEPAGE` (honoured when transparent huge pages are `madvise` or `always`).
/// Untouched pages cost nothing, and unmapping returns the memory, with whatever it held, to
/// the kernel. Smaller tables come from the allocator, aligned to a cache line.
enum HugePages {
    /// The huge page size; the size from which memory is mapped.
    static let pageBytes = 2 << 20

    /// `bytes` zeroed bytes, aligned to at least a cache line. Free with ``free(_:bytes:)``.
    static func allocate(_ bytes: Int) -> UnsafeMutableRawPointer {
        precondition(bytes > 0)
        #if os(Linux)
        if bytes >= pageBytes {
            let mapped = bytes + pageBytes
            guard let raw = mmap(nil, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), raw != MAP_FAILED else {
                fatalError("cannot map \(bytes) bytes")
            }
            // Keep the 2 MiB-aligned part; give back the head and the tail.
            let start = (Int(bitPattern: raw) + pageBytes - 1) & ~(pageBytes - 1)
            let head = start - Int(bitPattern: raw)
            if head > 0 { munmap(raw, head) }
            let tail = mapped - head - bytes
            let aligned = UnsafeMutableRawPointer(bitPattern: start)!
            if tail > 0 { munmap(aligned + bytes, tail) }
            _ = madvise(aligned, bytes, MADV_HUGEPAGE)
            return aligned
        }
        #endif
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        memset(raw, 0, bytes)
        return raw
    }

    /// Returns memory of ``allocate(_:)`` of `bytes`.
    static func free(_ raw: UnsafeMutableRawPointer, bytes: Int) {
        #if os(Linux)
        if bytes >= pageBytes {
            munmap(raw, bytes)
            return
        }
        #endif
        raw.deallocate()
    }
}
