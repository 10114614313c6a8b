import Dispatch
import Synchronization

/// Runs independent tasks on a fixed number of worker threads.
enum ParallelLoop {
    /// Calls `body(task)` once for every task in `0..<taskCount` on at most `threads` workers. Workers
    /// take the next task from a shared counter, so a worker slowed by other load on its core takes fewer.
    /// Tasks must be independent (they write disjoint memory).
    static func forEach(_ taskCount: Int, threads: Int, _ body: (Int) -> Void) {
        let workers = min(threads, taskCount)
        if workers <= 1 {
            for task in 0..<taskCount { body(task) }
            return
        }
        let counter = TaskCounter()
        // concurrentPerform returns only when every worker is done, so `body` never outlives this call.
        withoutActuallyEscaping(body) { body in
            let shared = SharedBody(body)
            DispatchQueue.concurrentPerform(iterations: workers) { _ in
                while true {
                    let task = counter.next.wrappingAdd(1, ordering: .relaxed).oldValue
                    if task >= taskCount { break }
                    shared.body(task)
                }
            }
        }
    }
}

/// The next unclaimed task of one `ParallelLoop.forEach` call.
private final class TaskCounter: Sendable {
    let next = Atomic<Int>(0)
}

/// A task body shared by the workers of one `ParallelLoop.forEach` call.
private struct SharedBody: @unchecked Sendable {
    let body: (Int) -> Void
    init(_ body: @escaping (Int) -> Void) { self.body = body }
}

/// A raw pointer handed to worker threads that write disjoint parts of the memory it points to.
struct SharedPointer<Element>: @unchecked Sendable {
    let base: UnsafeMutablePointer<Element>
    init(_ base: UnsafeMutablePointer<Element>) { self.base = base }
}
