/// Counters of a `TieredStore`. Bytes are value bytes (not slot bytes).
public struct TieredStoreStatistics: Sendable, Equatable {
    /// Live values.
    public var values = 0
    /// Bytes of values with a DRAM copy now.
    public var dramBytes = 0
    /// Largest `dramBytes` ever reached.
    public var peakDRAMBytes = 0
    /// Bytes of values with a pool copy now (a value may be in both tiers).
    public var poolBytes = 0
    /// Largest `poolBytes` ever reached.
    public var peakPoolBytes = 0
    /// Pool slots held now.
    public var poolSlotsInUse = 0
    /// Bytes written DRAM → pool.
    public var bytesToPool = 0
    /// Bytes copied pool → DRAM.
    public var bytesFromPool = 0
    /// Values written to the pool (each adds its size to `bytesToPool`).
    public var spills = 0
    /// DRAM copies dropped (spilled, or dropped because a pool copy already existed).
    public var evictions = 0
    /// Values copied back from the pool (`get` misses and prefetches; each adds to `bytesFromPool`).
    public var fetches = 0
    /// `get` calls that found the value in DRAM.
    public var hits = 0
    /// `get` calls that had to fetch from the pool.
    public var misses = 0
    public var puts = 0
    public var frees = 0

    public init() {}
}

/// Where a value of a `TieredStore` lives.
public enum Residency: Sendable, Equatable {
    case dram
    case pool
    /// In DRAM with an identical copy in the pool (evicting it moves no bytes).
    case both
}

/// A fetch from the pool whose bytes are copied by another thread (`TieredStore.beginFetch`).
public struct PendingFetch: @unchecked Sendable {
    public let id: Int
    public let source: UnsafeRawPointer
    public let destination: UnsafeMutableRawPointer
    public let length: Int
}

/// A value store keyed by integer value id, holding byte blobs (ciphertexts serialized as UInt64
/// limbs) in two tiers: 64-byte-aligned DRAM buffers and the slots of a `PMemPool`.
///
/// Under `budgetBytes`, adding DRAM bytes first evicts the least-recently-used unpinned values to the
/// pool (the compiler-planned policy of the memory plan drives `evict`/`prefetch` explicitly instead).
/// Values are immutable once stored, so a value brought back from the pool keeps its slot and a
/// later eviction of it moves no bytes. Without a pool the budget is ignored and everything stays in
/// DRAM. A single value larger than the budget, or a budget smaller than the pinned values, is let
/// through (the DRAM peak then exceeds the budget; `statistics` shows it).
///
/// **Buffer lifetime.** A buffer returned by `get`, `view` or `reserve` stays valid until the value
/// is freed or replaced, or evicted — which any later `put`, `reserve`, `get` or `prefetch` of another
/// value may do under a budget, unless the value is pinned (`pin`/`unpin`).
///
/// **Threads.** Not thread-safe: meant for the single-threaded interpreter; confine each store to one
/// thread (a later prefetch thread must go through its own synchronization).
public final class TieredStore {
    /// The slow tier, if any.
    public let pool: PMemPool?
    /// DRAM budget in bytes (nil: unlimited). Ignored without a pool.
    public var budgetBytes: Int?
    /// Durability of spill writes and slot frees; `.deferred` (default) leaves durability to a checkpoint.
    public let spillDurability: Durability
    /// Counters; see `TieredStoreStatistics`.
    public private(set) var statistics = TieredStoreStatistics()

    private struct Entry {
        var id: Int
        var length: Int
        var dram: UnsafeMutableRawPointer?
        var slot: SlotID?
        var pins: Int32 = 0
        /// The DRAM buffer of a fetch begun by `beginFetch` and not yet finished (another thread is filling it).
        var incoming: UnsafeMutableRawPointer? = nil
        var previous: Int32 = -1
        var next: Int32 = -1
    }

    private var entries: [Entry] = []
    private var freeEntries: [Int32] = []
    private var index: [Int: Int32] = [:]
    /// Slots the newest durable checkpoint refers to: never freed or reused until the next checkpoint replaces it
    /// (a crash must find them intact), so their frees wait in `deferredFrees`.
    private var checkpointSlots: Set<SlotID> = []
    private var deferredFrees: [SlotID] = []
    /// LRU list of the entries with a DRAM copy: head is least recently used.
    private var lruHead: Int32 = -1
    private var lruTail: Int32 = -1

    public init(pool: PMemPool? = nil, budgetBytes: Int? = nil, spillDurability: Durability = .deferred) {
        precondition(budgetBytes.map { $0 >= 0 } ?? true, "a DRAM budget is at least 0 bytes")
        self.pool = pool
        self.budgetBytes = budgetBytes
        self.spillDurability = spillDurability
    }

    deinit { removeAll() }

    // MARK: - Queries

    public var count: Int { index.count }

    public func contains(_ id: Int) -> Bool { index[id] != nil }

    /// Bytes of value `id`, or nil if absent.
    public func byteCount(of id: Int) -> Int? { index[id].map { entries[Int($0)].length } }

    /// Where value `id` lives, or nil if absent.
    public func residency(of id: Int) -> Residency? {
        guard let e = index[id].map({ entries[Int($0)] }) else { return nil }
        switch (e.dram != nil, e.slot != nil) {
        case (true, true): return .both
        case (true, false): return .dram
        default: return .pool
        }
    }

    /// The pool slot holding value `id`, if it has one.
    public func slot(of id: Int) -> SlotID? { index[id].flatMap { entries[Int($0)].slot } }

    /// Ids of the live values, unordered.
    public var valueIDs: [Int] { Array(index.keys) }

    // MARK: - Storing

    /// Stores a copy of `bytes` as value `id` (replacing any previous value with that id), in DRAM.
    public func put(_ id: Int, bytes: UnsafeRawBufferPointer) throws {
        let buffer = try reserve(id, byteCount: bytes.count)
        if let source = bytes.baseAddress, bytes.count > 0 {
            buffer.baseAddress!.copyMemory(from: source, byteCount: bytes.count)
        }
    }

    /// Stores a copy of `limbs` as value `id`.
    public func put(_ id: Int, limbs: UnsafeBufferPointer<UInt64>) throws {
        try put(id, bytes: UnsafeRawBufferPointer(limbs))
    }

    /// Creates value `id` as an uninitialized DRAM buffer of `byteCount` bytes for the caller to fill
    /// (zero-copy results); replaces any previous value with that id. Counts as a `put`.
    public func reserve(_ id: Int, byteCount: Int) throws -> UnsafeMutableRawBufferPointer {
        precondition(byteCount >= 0, "byte count must not be negative")
        if index[id] != nil { free(id) }
        if let pool, byteCount > pool.slotSize {
            // Refuse now rather than fail at an eviction later.
            throw PersistentMemoryError.valueTooLarge(bytes: byteCount, slotSize: pool.slotSize)
        }
        try makeRoom(for: byteCount)
        let memory = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
        let position = newEntry(Entry(id: id, length: byteCount, dram: memory, slot: nil))
        index[id] = position
        linkAtTail(position)
        statistics.puts += 1
        statistics.values += 1
        addDRAM(byteCount)
        return UnsafeMutableRawBufferPointer(start: memory, count: byteCount)
    }

    // MARK: - Reading and moving

    /// Value `id` in DRAM, fetching it from the pool if evicted (counted in `bytesFromPool`), and
    /// marking it most recently used. See the type's note on buffer lifetime.
    public func get(_ id: Int) throws -> UnsafeRawBufferPointer {
        let position = try lookup(id)
        if let memory = entries[Int(position)].dram {
            statistics.hits += 1
            touch(position)
            return UnsafeRawBufferPointer(start: memory, count: entries[Int(position)].length)
        }
        statistics.misses += 1
        return UnsafeRawBufferPointer(try fetch(position))
    }

    /// Value `id` as UInt64 limbs (see `get`); the byte count must be a multiple of 8.
    public func getLimbs(_ id: Int) throws -> UnsafeBufferPointer<UInt64> {
        let bytes = try get(id)
        precondition(bytes.count % 8 == 0, "value %\(id) is not a whole number of UInt64 limbs")
        return bytes.bindMemory(to: UInt64.self)
    }

    /// Value `id` where it lives now, without moving it or touching the LRU order: the DRAM copy if any,
    /// else the pool slot read in place (zero-copy; e.g. read-only keys).
    public func view(_ id: Int) throws -> UnsafeRawBufferPointer {
        let entry = entries[Int(try lookup(id))]
        if let memory = entry.dram { return UnsafeRawBufferPointer(start: memory, count: entry.length) }
        return try pool!.contents(of: entry.slot!)
    }

    /// Starts bringing value `id` back from the pool without copying it: reserves DRAM (evicting under a budget) and
    /// returns the pool bytes and the new buffer for another thread to copy; nil when the value is already in DRAM or
    /// on its way. Until `finishFetch(id)`, the caller must not read, evict, free or fetch `id` again (a prefetch
    /// thread's copy is in flight); the pool slot stays valid because only those calls release it.
    public func beginFetch(_ id: Int) throws -> PendingFetch? {
        let position = try position(of: id)
        guard entries[Int(position)].dram == nil, entries[Int(position)].incoming == nil else {
            if entries[Int(position)].dram != nil { touch(position) }
            return nil
        }
        let length = entries[Int(position)].length
        try makeRoom(for: length)
        let source = try pool!.contents(of: entries[Int(position)].slot!)
        let memory = UnsafeMutableRawPointer.allocate(byteCount: max(length, 1), alignment: 64)
        entries[Int(position)].incoming = memory
        addDRAM(length)
        return PendingFetch(id: id, source: UnsafeRawPointer(source.baseAddress ?? UnsafeRawPointer(memory)), destination: memory, length: length)
    }

    /// Completes a fetch begun by `beginFetch` once its bytes are copied: the value is in DRAM (and still in the pool).
    public func finishFetch(_ id: Int) throws {
        let position = try position(of: id)
        guard let memory = entries[Int(position)].incoming else { return }
        entries[Int(position)].incoming = nil
        entries[Int(position)].dram = memory
        linkAtTail(position)
        statistics.fetches += 1
        statistics.bytesFromPool += entries[Int(position)].length
    }

    /// Whether a fetch of `id` was begun and not finished.
    public func isFetching(_ id: Int) -> Bool { index[id].map { entries[Int($0)].incoming != nil } ?? false }

    /// Brings value `id` into DRAM (if not there) and marks it most recently used.
    public func prefetch(_ id: Int) throws {
        let position = try lookup(id)
        if entries[Int(position)].dram != nil {
            touch(position)
        } else {
            _ = try fetch(position)
        }
    }

    /// Moves value `id` out of DRAM into the pool (writing it only if the pool has no copy yet). No-op
    /// without a pool or when already evicted. Throws `poolFull` when no slot can be found. Evicting a
    /// pinned value is a programmer error.
    public func evict(_ id: Int) throws {
        let position = try lookup(id)
        guard pool != nil, entries[Int(position)].dram != nil else { return }
        precondition(entries[Int(position)].pins == 0, "value %\(id) is pinned and cannot be evicted")
        try evictEntry(position)
    }

    /// Deletes value `id` from both tiers (no-op if absent).
    public func free(_ id: Int) {
        guard let position = index[id] else { return }
        precondition(entries[Int(position)].incoming == nil, "value %\(id) is being fetched by another thread; call finishFetch first")
        index.removeValue(forKey: id)
        release(position)
        statistics.frees += 1
    }

    /// Deletes every value.
    public func removeAll() {
        for position in index.values { release(position) }
        index.removeAll()
    }

    /// Evicts least-recently-used unpinned values until DRAM fits `budgetBytes` (e.g. after lowering it).
    public func enforceBudget() throws {
        try makeRoom(for: 0)
    }

    /// Keeps value `id` from being evicted until a matching `unpin`.
    public func pin(_ id: Int) throws {
        entries[Int(try lookup(id))].pins += 1
    }

    public func unpin(_ id: Int) throws {
        let position = Int(try lookup(id))
        precondition(entries[position].pins > 0, "value %\(id) is not pinned")
        entries[position].pins -= 1
    }

    // MARK: - Checkpoints

    /// Gives every value a pool copy (writing a slot for values that have none; DRAM copies stay) and returns
    /// (id, slot, byte count) for each. Writes are deferred: `PMemPool.commitRoot` is the durability barrier.
    public func persistAll() throws -> [(id: Int, slot: SlotID, length: Int)] {
        guard let pool else { throw PersistentMemoryError.unknownValue(id: -1) }
        var table: [(id: Int, slot: SlotID, length: Int)] = []
        table.reserveCapacity(index.count)
        for (id, position) in index.sorted(by: { $0.key < $1.key }) {
            var entry = entries[Int(position)]
            if entry.slot == nil, let memory = entry.dram {
                let slot = try allocateSlot(pool)
                try pool.write(UnsafeRawBufferPointer(start: memory, count: entry.length), to: slot,
                               userTag: UInt64(bitPattern: Int64(entry.id)), durability: .deferred)
                entry.slot = slot
                entries[Int(position)] = entry
                statistics.bytesToPool += entry.length
                statistics.poolBytes += entry.length
                statistics.peakPoolBytes = max(statistics.peakPoolBytes, statistics.poolBytes)
                statistics.poolSlotsInUse += 1
            }
            table.append((id, entry.slot!, entry.length))
        }
        return table
    }

    /// Call after a root naming `slots` was committed: they are held from now on, and slots the previous
    /// checkpoint held that were freed meanwhile are released.
    public func checkpointCommitted(holding slots: Set<SlotID>) {
        checkpointSlots = slots
        let waiting = deferredFrees
        deferredFrees = []
        for slot in waiting { releaseSlot(slot) }
    }

    /// Registers value `id` as the `length` bytes in `slot` (a value of a resumed checkpoint), without a DRAM copy.
    public func adopt(_ id: Int, slot: SlotID, length: Int) {
        if index[id] != nil { free(id) }
        let position = newEntry(Entry(id: id, length: length, dram: nil, slot: slot))
        index[id] = position
        statistics.values += 1
        statistics.poolBytes += length
        statistics.poolSlotsInUse += 1
    }

    /// Frees `slot` now, or after the next checkpoint when the current one refers to it.
    private func releaseSlot(_ slot: SlotID) {
        guard let pool, !pool.isClosed else { return }
        if checkpointSlots.contains(slot) { deferredFrees.append(slot) } else { try? pool.free(slot, durability: spillDurability) }
    }

    // MARK: - Internals

    /// The entry of value `id`, which may have a fetch in flight.
    private func position(of id: Int) throws -> Int32 {
        guard let position = index[id] else { throw PersistentMemoryError.unknownValue(id: id) }
        return position
    }

    /// The entry of value `id`, which must have no fetch in flight.
    private func lookup(_ id: Int) throws -> Int32 {
        let position = try position(of: id)
        precondition(entries[Int(position)].incoming == nil, "value %\(id) is being fetched by another thread; call finishFetch first")
        return position
    }

    private func newEntry(_ entry: Entry) -> Int32 {
        if let reused = freeEntries.popLast() {
            entries[Int(reused)] = entry
            return reused
        }
        entries.append(entry)
        return Int32(entries.count - 1)
    }

    private func addDRAM(_ bytes: Int) {
        statistics.dramBytes += bytes
        statistics.peakDRAMBytes = max(statistics.peakDRAMBytes, statistics.dramBytes)
    }

    /// Copies an evicted value back into a fresh DRAM buffer; the pool copy stays (value now `.both`).
    private func fetch(_ position: Int32) throws -> UnsafeMutableRawBufferPointer {
        let length = entries[Int(position)].length
        // Protect the value being fetched from being chosen (it has no DRAM copy, so it is not in the LRU list).
        try makeRoom(for: length)
        let source = try pool!.contents(of: entries[Int(position)].slot!)
        let memory = UnsafeMutableRawPointer.allocate(byteCount: max(length, 1), alignment: 64)
        if length > 0 { memory.copyMemory(from: source.baseAddress!, byteCount: length) }
        entries[Int(position)].dram = memory
        linkAtTail(position)
        addDRAM(length)
        statistics.fetches += 1
        statistics.bytesFromPool += length
        return UnsafeMutableRawBufferPointer(start: memory, count: length)
    }

    /// Evicts least-recently-used unpinned values until `bytes` more fit the budget (or none is left).
    private func makeRoom(for bytes: Int) throws {
        guard pool != nil, let budgetBytes else { return }
        var candidate = lruHead
        while statistics.dramBytes + bytes > budgetBytes && candidate >= 0 {
            let next = entries[Int(candidate)].next
            if entries[Int(candidate)].pins == 0 { try evictEntry(candidate) }
            candidate = next
        }
    }

    private func evictEntry(_ position: Int32) throws {
        let pool = pool!
        var entry = entries[Int(position)]
        guard let memory = entry.dram else { return }
        if entry.slot == nil {
            let slot = try allocateSlot(pool)
            do {
                try pool.write(UnsafeRawBufferPointer(start: memory, count: entry.length), to: slot,
                               userTag: UInt64(bitPattern: Int64(entry.id)), durability: spillDurability)
            } catch {
                try? pool.free(slot, durability: spillDurability)
                throw error
            }
            entry.slot = slot
            statistics.spills += 1
            statistics.bytesToPool += entry.length
            statistics.poolBytes += entry.length
            statistics.peakPoolBytes = max(statistics.peakPoolBytes, statistics.poolBytes)
            statistics.poolSlotsInUse += 1
        }
        unlink(position)
        memory.deallocate()
        entry.dram = nil
        entry.previous = -1
        entry.next = -1
        entries[Int(position)] = entry
        statistics.dramBytes -= entry.length
        statistics.evictions += 1
    }

    /// A free slot; when the pool is full, drops the pool copy of a value that also has a DRAM copy
    /// (most recently used first: the least likely to be evicted soon).
    private func allocateSlot(_ pool: PMemPool) throws -> SlotID {
        do {
            return try pool.allocate()
        } catch PersistentMemoryError.poolFull(let path, let slotCount, let slotSize) {
            var candidate = lruTail
            while candidate >= 0 {
                if let slot = entries[Int(candidate)].slot, !checkpointSlots.contains(slot) {
                    try pool.free(slot, durability: spillDurability)
                    entries[Int(candidate)].slot = nil
                    statistics.poolBytes -= entries[Int(candidate)].length
                    statistics.poolSlotsInUse -= 1
                    return try pool.allocate()
                }
                candidate = entries[Int(candidate)].previous
            }
            throw PersistentMemoryError.poolFull(path: path, slotCount: slotCount, slotSize: slotSize)
        }
    }

    private func release(_ position: Int32) {
        let entry = entries[Int(position)]
        if let memory = entry.incoming {
            memory.deallocate()
            statistics.dramBytes -= entry.length
        }
        if let memory = entry.dram {
            unlink(position)
            memory.deallocate()
            statistics.dramBytes -= entry.length
        }
        if let slot = entry.slot, pool != nil {
            // A store outliving its closed pool has nothing left to free there.
            releaseSlot(slot)
            statistics.poolBytes -= entry.length
            statistics.poolSlotsInUse -= 1
        }
        statistics.values -= 1
        entries[Int(position)] = Entry(id: 0, length: 0, dram: nil, slot: nil)
        freeEntries.append(position)
    }

    private func linkAtTail(_ position: Int32) {
        entries[Int(position)].previous = lruTail
        entries[Int(position)].next = -1
        if lruTail >= 0 { entries[Int(lruTail)].next = position } else { lruHead = position }
        lruTail = position
    }

    private func unlink(_ position: Int32) {
        let previous = entries[Int(position)].previous
        let next = entries[Int(position)].next
        if previous >= 0 { entries[Int(previous)].next = next } else { lruHead = next }
        if next >= 0 { entries[Int(next)].previous = previous } else { lruTail = previous }
        entries[Int(position)].previous = -1
        entries[Int(position)].next = -1
    }

    private func touch(_ position: Int32) {
        guard lruTail != position else { return }
        unlink(position)
        linkAtTail(position)
    }
}
