import Dispatch

/// Spreads independent iterations (typically RNS limbs) over a fixed number of threads.
/// `threads == 1` runs serially on the calling thread.
public struct ParallelExecutor: Sendable, Hashable {
    public let threads: Int

    public init(threads: Int = 1) {
        precondition(threads >= 1, "thread count must be at least 1")
        self.threads = threads
    }

    /// Calls `body(i)` for every i in 0..<count; iterations may run concurrently and must touch
    /// disjoint memory.
    @inlinable
    public func forEach(_ count: Int, _ body: (Int) -> Void) {
        if threads <= 1 || count <= 1 {
            for i in 0..<count { body(i) }
            return
        }
        let chunks = Swift.min(threads, count)
        withoutActuallyEscaping(body) { escapable in
            let box = UncheckedSendableBox(escapable)
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                let start = chunk * count / chunks
                let end = (chunk + 1) * count / chunks
                for i in start..<end { box.value(i) }
            }
        }
    }
}

/// Carries a value that the caller guarantees is used race-free across threads.
public struct UncheckedSendableBox<Value>: @unchecked Sendable {
    public let value: Value
    @inlinable public init(_ value: Value) { self.value = value }
}
