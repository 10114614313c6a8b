import Foundation
import Testing
@testable import PersistentMemory

/// Checks the store's byte counters against a recount from each value's residency.
private func expectCountersMatchResidency(_ store: TieredStore, _ reference: [Int: [UInt8]]) {
    var dram = 0, pool = 0, slots = 0
    for (id, bytes) in reference {
        switch store.residency(of: id) {
        case .dram: dram += bytes.count
        case .pool: pool += bytes.count; slots += 1
        case .both: dram += bytes.count; pool += bytes.count; slots += 1
        case nil: Issue.record("value \(id) is missing")
        }
    }
    let s = store.statistics
    #expect(s.values == reference.count)
    #expect(s.dramBytes == dram)
    #expect(s.poolBytes == pool)
    #expect(s.poolSlotsInUse == slots)
    #expect(store.pool.map { $0.slotsInUse } ?? 0 == slots)
}

@Test func withoutAPoolEverythingStaysInDRAM() throws {
    let store = TieredStore(pool: nil, budgetBytes: 10)
    var generator = SplitMix64(seed: 1)
    var reference: [Int: [UInt8]] = [:]
    for id in 0..<20 {
        let bytes = randomBytes(50 + id, &generator)
        try store.put(id, bytes)
        reference[id] = bytes
    }
    try store.evict(3)  // no pool: nothing to move
    for (id, bytes) in reference {
        #expect(Array(try store.get(id)) == bytes)
        #expect(store.residency(of: id) == .dram)
    }
    let total = reference.values.map(\.count).reduce(0, +)
    #expect(store.statistics.dramBytes == total)
    #expect(store.statistics.peakDRAMBytes == total)
    #expect(store.statistics.bytesToPool == 0 && store.statistics.bytesFromPool == 0)
    #expect(store.statistics.hits == 20 && store.statistics.misses == 0)
    store.free(5)
    #expect(!store.contains(5))
    #expect(store.statistics.dramBytes == total - reference[5]!.count)
    #expect(throws: PersistentMemoryError.unknownValue(id: 5)) { try store.get(5) }
}

@Test(arguments: poolParentDirectories)
func budgetSmallerThanLiveSetReturnsIdenticalBytes(parent: String) throws {
    let directory = try makeTemporaryDirectory(under: parent)
    defer { removeDirectory(directory) }
    let pool = try PMemPool.create(path: directory + "/pool", size: 256 * 1024, slotSize: 512)
    defer { pool.close() }
    let budget = 2048
    let store = TieredStore(pool: pool, budgetBytes: budget)
    var generator = SplitMix64(seed: 11)
    var reference: [Int: [UInt8]] = [:]
    var expectedToPool = 0, expectedFromPool = 0, expectedSpills = 0, expectedFetches = 0, expectedHits = 0

    /// Runs one store operation and recounts the bytes it moved from the residency change of every value.
    /// `replacing` names a value the operation replaces (its old copy vanishes, so it moved nothing).
    func step(replacing: Int? = nil, _ operation: () throws -> Void) throws {
        let before = Dictionary(uniqueKeysWithValues: reference.keys.filter { $0 != replacing }.map { ($0, store.residency(of: $0)) })
        try operation()
        for (id, old) in before {
            guard let new = store.residency(of: id), let length = reference[id]?.count else { continue }
            if old == .dram && new == .pool { expectedToPool += length; expectedSpills += 1 }
            if old == .pool && new != .pool { expectedFromPool += length; expectedFetches += 1 }
        }
        #expect(store.statistics.dramBytes <= budget)
        expectCountersMatchResidency(store, reference)
    }

    // 64 values of 64…512 bytes: about 18 KiB live against a 2 KiB budget.
    for id in 0..<64 {
        let bytes = randomBytes(Int.random(in: 8...64, using: &generator) * 8, &generator)
        reference[id] = bytes
        try step { try store.put(id, bytes) }
    }
    let live = reference.values.map(\.count).reduce(0, +)
    #expect(live > 8 * budget)
    for _ in 0..<3 {
        for id in reference.keys.shuffled(using: &generator) {
            let wasInDRAM = store.residency(of: id) != .pool
            if wasInDRAM { expectedHits += 1 }
            try step { let got = Array(try store.get(id)); #expect(got == reference[id]!) }
        }
    }
    // Free a third, replace a few, and read everything once more.
    for id in stride(from: 0, to: 64, by: 3) {
        store.free(id)
        reference[id] = nil
    }
    for id in [1, 2, 4] {
        let bytes = randomBytes(96, &generator)
        reference[id] = bytes
        try step(replacing: id) { try store.put(id, bytes) }
    }
    for id in reference.keys.sorted() {
        if store.residency(of: id) != .pool { expectedHits += 1 }
        try step { let got = Array(try store.get(id)); #expect(got == reference[id]!) }
    }

    let s = store.statistics
    #expect(s.peakDRAMBytes <= budget)
    #expect(s.peakPoolBytes <= live)
    #expect(s.bytesToPool == expectedToPool)
    #expect(s.bytesFromPool == expectedFromPool)
    #expect(s.spills == expectedSpills)
    #expect(s.fetches == expectedFetches)
    #expect(s.hits == expectedHits)
    #expect(s.hits + s.misses == 3 * 64 + reference.count)
    #expect(s.misses == s.fetches)
    #expect(s.puts == 64 + 3)
    #expect(s.frees == 22 + 3)  // a replacing put frees the old value
    #expect(s.bytesToPool > 0 && s.bytesFromPool > 0)
    // Eviction of a value with a pool copy writes nothing: every spill is a distinct evicted value write.
    #expect(s.evictions >= s.spills)

    store.removeAll()
    #expect(store.statistics.dramBytes == 0 && store.statistics.poolBytes == 0)
    #expect(pool.slotsInUse == 0)
}

@Test func explicitEvictPrefetchViewAndPinning() throws {
    let directory = try makeTemporaryDirectory()
    defer { removeDirectory(directory) }
    let pool = try PMemPool.create(path: directory + "/pool", size: 128 * 1024, slotSize: 1024)
    defer { pool.close() }
    let store = TieredStore(pool: pool, budgetBytes: 3 * 1024)
    let limbs: [[UInt64]] = (0..<4).map { v in (0..<128).map { UInt64($0) &* 0x9E37_79B9 &+ UInt64(v) } }
    for (id, value) in limbs.enumerated() { try value.withUnsafeBufferPointer { try store.put(id, limbs: $0) } }
    // Four 1 KiB values against a 3 KiB budget: value 0 (least recently used) went to the pool.
    #expect(store.residency(of: 0) == .pool)
    #expect(store.statistics.bytesToPool == 1024 && store.statistics.spills == 1)
    #expect(try pool.info(of: store.slot(of: 0)!)?.userTag == 0)
    // view reads the pool copy in place, moving nothing.
    let inPlace = try store.view(0)
    #expect(inPlace.baseAddress == (try pool.contents(of: store.slot(of: 0)!)).baseAddress)
    #expect(Array(inPlace.bindMemory(to: UInt64.self)) == limbs[0])
    #expect(store.statistics.bytesFromPool == 0)

    try store.pin(1)
    try store.prefetch(0)  // needs room: 1 is pinned, so 2 (next LRU) is evicted
    #expect(store.residency(of: 0) == .both)
    #expect(store.residency(of: 1) == .dram)
    #expect(store.residency(of: 2) == .pool)
    try store.unpin(1)
    #expect(Array(try store.getLimbs(0)) == limbs[0])
    #expect(store.statistics.fetches == 1 && store.statistics.hits == 1)

    // Evicting a value that already has a pool copy moves no bytes.
    let written = store.statistics.bytesToPool
    try store.evict(0)
    #expect(store.residency(of: 0) == .pool)
    #expect(store.statistics.bytesToPool == written)
    #expect(Array(try store.getLimbs(2)) == limbs[2])
    #expect(Array(try store.getLimbs(0)) == limbs[0])

    // Zero-copy results: reserve, fill, read back.
    let buffer = try store.reserve(9, byteCount: 64)
    buffer.initializeMemory(as: UInt8.self, repeating: 0xAB)
    #expect(Array(try store.get(9)) == [UInt8](repeating: 0xAB, count: 64))
    #expect(throws: PersistentMemoryError.valueTooLarge(bytes: 2048, slotSize: 1024)) {
        try store.put(10, [UInt8](repeating: 0, count: 2048))
    }

    // Lowering the budget takes effect at enforceBudget; a value larger than the budget is let through.
    store.budgetBytes = 1024
    try store.enforceBudget()
    #expect(store.statistics.dramBytes <= 1024)
    store.budgetBytes = 100
    #expect(Array(try store.getLimbs(3)) == limbs[3])
    #expect(store.statistics.dramBytes == 1024)
    #expect(store.residency(of: 9) == .pool)
    for (id, value) in limbs.enumerated() { #expect(Array(try store.getLimbs(id)) == value) }
}

@Test func fullPoolReclaimsCopiesOfValuesStillInDRAM() throws {
    let directory = try makeTemporaryDirectory()
    defer { removeDirectory(directory) }
    // A pool with exactly 4 slots of 256 bytes.
    let size = 8192 + 4096 + 4 * 256
    let pool = try PMemPool.create(path: directory + "/pool", size: size, slotSize: 256)
    defer { pool.close() }
    #expect(pool.slotCount == 4)
    let store = TieredStore(pool: pool, budgetBytes: 2 * 256)
    var generator = SplitMix64(seed: 5)
    var reference: [Int: [UInt8]] = [:]
    for id in 0..<5 {
        reference[id] = randomBytes(256, &generator)
        try store.put(id, reference[id]!)
    }
    // 5 values: 3 and 4 in DRAM, 0, 1, 2 in the pool.
    #expect(pool.freeSlotCount == 1)
    // Fetching 0 spills 3 into the last slot and keeps 0's pool copy.
    #expect(Array(try store.get(0)) == reference[0]!)
    #expect(store.residency(of: 0) == .both)
    #expect(pool.freeSlotCount == 0)
    // Storing 5 must spill 4: the full pool gives up 0's redundant copy.
    reference[5] = randomBytes(256, &generator)
    try store.put(5, reference[5]!)
    #expect(store.residency(of: 0) == .dram)
    #expect(store.residency(of: 4) == .pool)
    for id in 0..<6 { #expect(Array(try store.view(id)) == reference[id]!) }
    // Six values of 256 bytes, 4 slots, 2 in DRAM: one more cannot fit.
    #expect(throws: PersistentMemoryError.self) { try store.put(6, [UInt8](repeating: 1, count: 256)) }
}
