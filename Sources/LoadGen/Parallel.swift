import Dispatch
import Foundation

/// Runs `body(0..<n)` on up to `n` threads and returns the results in index order. Each index
/// writes only its own slot, under a lock taken once per index.
func parallelMap<T: Sendable>(_ n: Int, _ body: @Sendable (Int) -> T) -> [T] {
    let box = Slots<T>(n)
    DispatchQueue.concurrentPerform(iterations: n) { i in box.set(i, body(i)) }
    return box.values()
}

private final class Slots<T: Sendable>: @unchecked Sendable {
    // Guarded by `lock`.
    private var slots: [T?]
    private let lock = NSLock()

    init(_ n: Int) { slots = Array(repeating: nil, count: n) }

    func set(_ i: Int, _ value: T) {
        lock.lock()
        slots[i] = value
        lock.unlock()
    }

    func values() -> [T] {
        lock.lock()
        defer { lock.unlock() }
        // Every index ran before concurrentPerform returned.
        return slots.map { v in
            guard let v else { preconditionFailure("a parallel slot was never filled") }
            return v
        }
    }
}

/// A pointer handed to workers that touch disjoint ranges of it.
struct SharedBuffer<T>: @unchecked Sendable {
    let base: UnsafeMutableBufferPointer<T>
}
