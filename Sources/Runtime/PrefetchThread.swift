import Foundation
import PersistentMemory

/// The thread that copies prefetched values from the pool into DRAM while the interpreter computes.
///
/// The interpreter begins a fetch in the store (`TieredStore.beginFetch`, which reserves the DRAM buffer) and hands
/// the copy over with `submit`; before it touches that value again it calls `wait`, which returns at once when the
/// copy is done and otherwise blocks — the time blocked is the run's *stall* time, the part of the pool traffic the
/// schedule did not hide.
final class PrefetchThread: @unchecked Sendable {
    private let condition = NSCondition()
    private var queue: [PendingFetch] = []
    private var head = 0
    private var done = Set<Int>()
    private var stopping = false
    private var thread: Thread?
    /// Seconds the interpreter spent waiting for copies, and how many waits found the copy unfinished.
    private(set) var stallSeconds = 0.0
    private(set) var stalls = 0
    private(set) var copies = 0

    init() {
        // The thread holds the object until `stop` ends its loop.
        let thread = Thread { self.loop() }
        thread.name = "tessera-prefetch"
        self.thread = thread
        thread.start()
    }

    /// Queues the copy of a begun fetch.
    func submit(_ fetch: PendingFetch) {
        condition.lock()
        queue.append(fetch)
        condition.signal()
        condition.unlock()
    }

    /// Blocks until the copy of value `id` is done (counting the time as a stall when it was not).
    func wait(for id: Int) {
        condition.lock()
        defer { condition.unlock() }
        if done.remove(id) != nil { return }
        let began = runtimeClockSeconds()
        while !done.contains(id) { condition.wait() }
        done.remove(id)
        stallSeconds += runtimeClockSeconds() - began
        stalls += 1
    }

    /// Ends the thread after the queued copies.
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while head == queue.count && !stopping { condition.wait() }
            if head == queue.count {
                condition.unlock()
                return
            }
            let fetch = queue[head]
            head += 1
            if head > 1024 && head * 2 > queue.count {
                queue.removeFirst(head)
                head = 0
            }
            condition.unlock()
            if fetch.length > 0 { fetch.destination.copyMemory(from: fetch.source, byteCount: fetch.length) }
            condition.lock()
            done.insert(fetch.id)
            copies += 1
            condition.broadcast()
            condition.unlock()
        }
    }
}
