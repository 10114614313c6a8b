import Dispatch

/// Runs independent tasks on a fixed number of worker threads.
enum ParallelLoop {
    /// Calls `body(task)` once for every task in `0..<taskCount`, spread round-robin over at most `threads`
    /// workers. Tasks must be independent (they write disjoint memory).
    @inline(__always)
    static func forEach(_ taskCount: Int, threads: Int, _ body: (Int) -> Void) {
        let workers = min(threads, taskCount)
        if workers <= 1 {
            for task in 0..<taskCount { body(task) }
            return
        }
        // concurrentPerform returns only when every worker is done, so `body` never outlives this call.
        withoutActuallyEscaping(body) { body in
            let shared = SharedBody(body)
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                var task = worker
                while task < taskCount {
                    shared.body(task)
                    task += workers
                }
            }
        }
    }
}

/// A raw pointer handed to worker threads that write disjoint parts of the memory it points to.
struct SharedPointer<Element>: @unchecked Sendable {
    let base: UnsafeMutablePointer<Element>
    init(_ base: UnsafeMutablePointer<Element>) { self.base = base }
}

/// A task body shared by the workers of one `ParallelLoop.forEach` call.
private struct SharedBody: @unchecked Sendable {
    let body: (Int) -> Void
    init(_ body: @escaping (Int) -> Void) { self.body = body }
}
