import Foundation
import Testing
@testable import PersistentMemory

private let tagA = PoolOwnerTag(hashing: Array("plan A + keys A".utf8))
private let tagB = PoolOwnerTag(hashing: Array("plan B + keys B".utf8))

/// The largest slot count with table + data inside `size`, computed here by brute force.
private func expectedSlotCount(size: Int, slotSize: Int) -> Int {
    var n = 0
    while true {
        let table = 8192 + (n + 1) * 32
        let dataOffset = (table + 4095) / 4096 * 4096
        if dataOffset + (n + 1) * slotSize > size { return n }
        n += 1
    }
}

@Test(arguments: poolParentDirectories)
func createWriteCloseReopenKeepsSlots(parent: String) throws {
    let directory = try makeTemporaryDirectory(under: parent)
    defer { removeDirectory(directory) }
    let path = directory + "/pool.pmem"
    let size = 1 << 20
    var generator = SplitMix64(seed: 7)

    let pool = try PMemPool.create(path: path, size: size, slotSize: 1000, ownerTag: tagA)
    #expect(pool.slotSize == 1024)
    #expect(pool.slotCount == expectedSlotCount(size: size, slotSize: 1024))
    #expect(pool.storeGranularity == .page)  // an ordinary file or tmpfs
    #expect(pool.freeSlotCount == pool.slotCount)
    let identity = pool.identity

    let lengths = [0, 1, 100, 1023, 1024, 555]
    var written: [SlotID: (bytes: [UInt8], tag: UInt64)] = [:]
    for (i, length) in lengths.enumerated() {
        let slot = try pool.allocate()
        let bytes = randomBytes(length, &generator)
        try pool.write(bytes, to: slot, userTag: UInt64(100 + i), durability: i % 2 == 0 ? .persisted : .deferred)
        written[slot] = (bytes, UInt64(100 + i))
    }
    #expect(pool.committedSlotCount == lengths.count)
    // Free one written slot and leave one reserved but unwritten: neither survives.
    let freed = written.keys.sorted()[2]
    try pool.free(freed)
    written[freed] = nil
    let reservedOnly = try pool.allocate()
    #expect(try pool.contents(of: reservedOnly).count == 0)
    #expect(pool.slotsInUse == lengths.count)
    pool.close()
    #expect(pool.isClosed)

    let reopened = try PMemPool.open(path: path, expectedOwnerTag: tagA)
    defer { reopened.close() }
    #expect(reopened.identity == identity)
    #expect(reopened.ownerTag == tagA)
    #expect(reopened.slotSize == 1024)
    #expect(reopened.committedSlotCount == written.count)
    let infos = reopened.committedSlots()
    #expect(infos.map(\.slot) == written.keys.sorted())
    for info in infos {
        let expected = try #require(written[info.slot])
        #expect(info.length == expected.bytes.count)
        #expect(info.userTag == expected.tag)
        #expect(try reopened.bytes(of: info.slot) == expected.bytes)
        var copy = [UInt8](repeating: 0, count: 1024)
        let n = try copy.withUnsafeMutableBytes { try reopened.read(info.slot, into: $0) }
        #expect(Array(copy[0..<n]) == expected.bytes)
    }
    // Sequences are increasing in write order.
    #expect(infos.sorted { $0.userTag < $1.userTag }.map(\.sequence) == infos.map(\.sequence).sorted())
    #expect(reopened.verify().isValid)
    #expect(reopened.verify().slotsChecked == written.count)
    // The lowest free slot is handed out first after reopen: the freed one (lower than the reserved one).
    #expect(try reopened.allocate() == min(freed, reservedOnly))
}

@Test func zeroCopyWriteAndReadThroughSlotPointers() throws {
    let directory = try makeTemporaryDirectory()
    defer { removeDirectory(directory) }
    let path = directory + "/pool"
    do {
        let pool = try PMemPool.create(path: path, size: 64 * 1024, slotSize: 256)
        let slot = try pool.allocate()
        let buffer = try pool.mutableBuffer(of: slot)
        #expect(buffer.count == 256)
        let limbs = buffer.bindMemory(to: UInt64.self)
        for i in 0..<20 { limbs[i] = UInt64(i) &* 0x0123_4567_89AB_CDEF }
        try pool.commit(slot, length: 160, userTag: 42)
        // Batch: flush a range, drain.
        pool.flush(UnsafeRawBufferPointer(buffer))
        pool.drain()
        let view = try pool.contents(of: slot)
        #expect(view.baseAddress == UnsafeRawPointer(buffer.baseAddress!))
        #expect(view.count == 160)
        pool.close()
    }
    let pool = try PMemPool.open(path: path)
    defer { pool.close() }
    let info = try #require(try pool.info(of: SlotID(0)))
    #expect(info.length == 160 && info.userTag == 42)
    let limbs = try pool.contents(of: SlotID(0)).bindMemory(to: UInt64.self)
    #expect(Array(limbs) == (0..<20).map { UInt64($0) &* 0x0123_4567_89AB_CDEF })
}

@Test func ownerTagMismatchIsRefused() throws {
    let directory = try makeTemporaryDirectory()
    defer { removeDirectory(directory) }
    let path = directory + "/pool"
    try PMemPool.create(path: path, size: 64 * 1024, slotSize: 128, ownerTag: tagA).close()
    #expect(throws: PersistentMemoryError.wrongOwner(path: path, expected: tagB, found: tagA)) {
        try PMemPool.open(path: path, expectedOwnerTag: tagB)
    }
    let pool = try PMemPool.open(path: path, expectedOwnerTag: nil)
    #expect(pool.ownerTag == tagA)
    pool.close()
}

@Test(arguments: [
    (PoolLayout.slotCountOffset, "corrupted"),
    (PoolLayout.ownerTagOffset + 3, "corrupted"),
    (PoolLayout.identityLowOffset, "corrupted"),
    (PoolLayout.checksumOffset + 7, "corrupted"),
    (PoolLayout.magicOffset, "not a pool"),
    (PoolLayout.versionOffset, "version"),
])
func flippedHeaderByteIsRefused(offset: Int, kind: String) throws {
    let directory = try makeTemporaryDirectory()
    defer { removeDirectory(directory) }
    let path = directory + "/pool"
    try PMemPool.create(path: path, size: 64 * 1024, slotSize: 128).close()
    try flipByte(in: path, at: offset)
    do {
        _ = try PMemPool.open(path: path)
        Issue.record("a pool with byte \(offset) flipped was accepted")
    } catch let error as PersistentMemoryError {
        switch (error, kind) {
        case (.corruptedHeader, "corrupted"), (.notAPool, "not a pool"), (.unsupportedVersion(_, 0, 1), "version"): break
        default: Issue.record("byte \(offset): expected \(kind), got \(error)")
        }
    }
    // The lock was released by the failed open: a fresh create over it works.
    try PMemPool.create(path: path, size: 64 * 1024, slotSize: 128, options: .init(overwrite: true)).close()
    try PMemPool.open(path: path).close()
}

@Test func filesThatAreNotPoolsAreRefused() throws {
    let directory = try makeTemporaryDirectory()
    defer { removeDirectory(directory) }
    let empty = directory + "/empty", text = directory + "/text", truncated = directory + "/truncated"
    _ = FileManager.default.createFile(atPath: empty, contents: Data())
    _ = FileManager.default.createFile(atPath: text, contents: Data(repeating: 0x41, count: 10000))
    #expect(throws: PersistentMemoryError.notAPool(path: empty)) { try PMemPool.open(path: empty) }
    #expect(throws: PersistentMemoryError.notAPool(path: text)) { try PMemPool.open(path: text) }
    #expect(throws: PersistentMemoryError.self) { try PMemPool.open(path: directory + "/missing") }

    try PMemPool.create(path: truncated, size: 64 * 1024, slotSize: 128).close()
    #expect(truncate(truncated, 32 * 1024) == 0)
    #expect {
        try PMemPool.open(path: truncated)
    } throws: { error in
        if case .corruptedHeader(_, let detail) = error as? PersistentMemoryError { return detail.contains("truncated") }
        return false
    }
    #expect(truncate(truncated, 100) == 0)
    #expect(throws: PersistentMemoryError.self) { try PMemPool.open(path: truncated) }
}

@Test func createRefusesExistingFilesTooSmallSizesAndLockedPools() throws {
    let directory = try makeTemporaryDirectory()
    defer { removeDirectory(directory) }
    let path = directory + "/pool"
    let minimum = 8192 + 4096 + 4096
    #expect(throws: PersistentMemoryError.tooSmall(path: path, size: minimum - 1, minimum: minimum)) {
        try PMemPool.create(path: path, size: minimum - 1, slotSize: 4096)
    }
    #expect(!FileManager.default.fileExists(atPath: path))
    let pool = try PMemPool.create(path: path, size: minimum, slotSize: 4096)
    #expect(pool.slotCount == 1)
    #expect(throws: PersistentMemoryError.poolInUse(path: path)) { try PMemPool.open(path: path) }
    pool.close()
    #expect(throws: PersistentMemoryError.alreadyExists(path: path)) {
        try PMemPool.create(path: path, size: minimum, slotSize: 4096)
    }
    #expect(throws: PersistentMemoryError.self) { try PMemPool.create(path: path, size: minimum, slotSize: 0) }
}

@Test func allocationExhaustionAndSlotErrors() throws {
    let directory = try makeTemporaryDirectory()
    defer { removeDirectory(directory) }
    let path = directory + "/pool"
    let pool = try PMemPool.create(path: path, size: 32 * 1024, slotSize: 1024)
    defer { pool.close() }
    let count = expectedSlotCount(size: 32 * 1024, slotSize: 1024)
    #expect(pool.slotCount == count)
    var slots: [SlotID] = []
    for _ in 0..<count { slots.append(try pool.allocate()) }
    #expect(Set(slots).count == count)
    #expect(throws: PersistentMemoryError.poolFull(path: path, slotCount: count, slotSize: 1024)) { try pool.allocate() }
    try pool.free(slots[3])
    #expect(try pool.allocate() == slots[3])
    #expect(throws: PersistentMemoryError.valueTooLarge(bytes: 1025, slotSize: 1024)) {
        try pool.write([UInt8](repeating: 1, count: 1025), to: slots[0])
    }
    try pool.free(slots[1])
    #expect(throws: PersistentMemoryError.self) { try pool.write([1, 2, 3], to: slots[1]) }
    #expect(throws: PersistentMemoryError.self) { try pool.free(slots[1]) }
    #expect(throws: PersistentMemoryError.self) { try pool.contents(of: SlotID(count)) }
    try pool.write([1, 2, 3, 4], to: slots[0])
    #expect(throws: PersistentMemoryError.bufferTooSmall(needed: 4, given: 2)) {
        var small = [UInt8](repeating: 0, count: 2)
        _ = try small.withUnsafeMutableBytes { try pool.read(slots[0], into: $0) }
    }
}

@Test func corruptedSlotContentsAndTableEntriesAreDetected() throws {
    let directory = try makeTemporaryDirectory()
    defer { removeDirectory(directory) }
    let path = directory + "/pool"
    var generator = SplitMix64(seed: 3)
    let dataOffset: Int
    do {
        let pool = try PMemPool.create(path: path, size: 64 * 1024, slotSize: 512)
        dataOffset = pool.dataOffset
        for _ in 0..<3 { try pool.write(randomBytes(300, &generator), to: try pool.allocate()) }
        #expect(pool.verify() == PoolVerification(slotsChecked: 3, bytesChecked: 900, corruptedSlots: []))
        pool.close()
    }
    try flipByte(in: path, at: dataOffset + 512 + 17)  // slot 1, byte 17
    do {
        let pool = try PMemPool.open(path: path)
        #expect(pool.verify().corruptedSlots == [SlotID(1)])
        pool.close()
    }
    try flipByte(in: path, at: PoolLayout.tableOffset + 2 * PoolLayout.entryBytes + 7, mask: 0x80)  // slot 2 state word
    #expect {
        try PMemPool.open(path: path)
    } throws: { error in
        if case .corruptedSlotTable(_, 2, _) = error as? PersistentMemoryError { return true }
        return false
    }
}

@Test func rootRecordsAreDoubleBufferedAndSurviveATornWrite() throws {
    let directory = try makeTemporaryDirectory()
    defer { removeDirectory(directory) }
    let path = directory + "/pool"
    do {
        let pool = try PMemPool.create(path: path, size: 64 * 1024, slotSize: 128)
        #expect(pool.root == nil)
        let slot = try pool.allocate()
        try pool.write([9, 9, 9], to: slot, durability: .deferred)
        try pool.commitRoot([1, 2, 3])
        try pool.commitRoot(Array("checkpoint 2".utf8))
        #expect(pool.root == PoolRoot(generation: 2, payload: Array("checkpoint 2".utf8)))
        #expect(throws: PersistentMemoryError.rootTooLarge(bytes: 5000, maximum: PMemPool.maximumRootPayloadBytes)) {
            try pool.commitRoot([UInt8](repeating: 0, count: 5000))
        }
        try pool.commitRoot(Array("checkpoint 3".utf8))  // generation 3 lands in record 0
        pool.close()
    }
    do {
        let pool = try PMemPool.open(path: path)
        #expect(pool.root == PoolRoot(generation: 3, payload: Array("checkpoint 3".utf8)))
        #expect(try pool.bytes(of: SlotID(0)) == [9, 9, 9])  // the deferred write was made durable by commitRoot
        pool.close()
    }
    // Tear the newest record (generation 3, record 0): the previous root is what a resume sees.
    try flipByte(in: path, at: PoolLayout.rootOffset + PoolLayout.rootRecordHeaderBytes + 4)
    let pool = try PMemPool.open(path: path)
    defer { pool.close() }
    #expect(pool.root == PoolRoot(generation: 2, payload: Array("checkpoint 2".utf8)))
    try pool.commitRoot([7])  // overwrites the torn record, not the valid one
    #expect(pool.root == PoolRoot(generation: 3, payload: [7]))
}
