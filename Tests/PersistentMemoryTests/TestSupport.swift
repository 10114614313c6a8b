import Foundation
@testable import PersistentMemory

/// Deterministic bytes for tests (SplitMix64).
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func randomBytes(_ count: Int, _ generator: inout SplitMix64) -> [UInt8] {
    (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
}

/// A fresh directory under `parent` (removed by the caller with `removeDirectory`).
func makeTemporaryDirectory(under parent: String = NSTemporaryDirectory()) throws -> String {
    let path = (parent as NSString).appendingPathComponent("tessera-pmem-\(UUID().uuidString)")
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func removeDirectory(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

/// Directories to put pools in: the temp dir, and tmpfs when /dev/shm exists.
let poolParentDirectories: [String] = {
    var parents = [NSTemporaryDirectory()]
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: "/dev/shm", isDirectory: &isDirectory), isDirectory.boolValue,
       FileManager.default.isWritableFile(atPath: "/dev/shm") {
        parents.append("/dev/shm")
    }
    return parents
}()

/// XORs one byte of a closed pool file.
func flipByte(in path: String, at offset: Int, mask: UInt8 = 0x01) throws {
    let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    try handle.seek(toOffset: UInt64(offset))
    let original = try handle.read(upToCount: 1)![0]
    try handle.seek(toOffset: UInt64(offset))
    try handle.write(contentsOf: Data([original ^ mask]))
}

extension PMemPool {
    func write(_ bytes: [UInt8], to slot: SlotID, userTag: UInt64 = 0, durability: Durability = .persisted) throws {
        try bytes.withUnsafeBytes { try write($0, to: slot, userTag: userTag, durability: durability) }
    }
}

extension TieredStore {
    func put(_ id: Int, _ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try put(id, bytes: $0) }
    }
}
