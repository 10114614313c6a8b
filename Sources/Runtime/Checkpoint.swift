import CipherIR
import Foundation
import PersistentMemory

#if canImport(Glibc)
    import Glibc
#endif

/// A durable point of a run in the PMem pool: the next instruction and, for every live ciphertext (and every output
/// ciphertext written so far), the pool slot holding it.
///
/// Layout: the value table goes into a pool slot (magic "TCKT", version, plan and key fingerprints, next instruction,
/// entry count, then per entry: value key i64 (outputs: `Checkpoint.outputKey`), slot u32, 4 zero bytes, length
/// u64, and a trailing xxHash64); the pool's root record (magic "TCKP", version, table slot, table length) then points
/// at it. `PMemPool.commitRoot` first persists every pending write and replaces the root atomically, so a crash at
/// any moment leaves the previous checkpoint (whose slots the value store keeps until the next one commits) or the
/// new one valid.
public struct Checkpoint: Equatable {
    public var nextInstruction: Int
    public var values: [Entry]
    public var planFingerprint: UInt64
    public var keyFingerprint: UInt64
    /// The pool slot holding this checkpoint's value table (set by `read`; freed once a newer checkpoint commits).
    public var tableSlot: SlotID? = nil

    public struct Entry: Equatable {
        public var key: Int
        public var slot: SlotID
        public var length: Int
    }

    /// The store key of output ciphertext `ciphertext` of output binding `binding` (negative: never a value id).
    public static func outputKey(binding: Int, ciphertext: Int) -> Int { -1 - (binding << 32 | ciphertext) }

    static let tableMagic = Array("TCKT".utf8), rootMagic = Array("TCKP".utf8)
    static let version: UInt32 = 1

    func tableBytes() -> [UInt8] {
        var bytes = Checkpoint.tableMagic
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
        u32(Checkpoint.version)
        u64(planFingerprint)
        u64(keyFingerprint)
        u64(UInt64(nextInstruction))
        u64(UInt64(values.count))
        for entry in values {
            u64(UInt64(bitPattern: Int64(entry.key)))
            u32(entry.slot.rawValue)
            u32(0)
            u64(UInt64(entry.length))
        }
        let hash = bytes.withUnsafeBytes { PoolChecksum.xxHash64($0, seed: 0x636B_7074) }
        u64(hash)
        return bytes
    }

    /// Makes the store's values durable and commits a checkpoint at `nextInstruction`; `tableSlot` is the slot of the
    /// previous checkpoint's table (freed once the new root is committed) and receives the new one.
    /// `crashMidway` (tests) kills the process after the slots are written, before the root is replaced.
    static func write(store: TieredStore, nextInstruction: Int, planFingerprint: UInt64, keyFingerprint: UInt64,
                      tableSlot: inout SlotID?, crashMidway: Bool = false) throws {
        guard let pool = store.pool else { return }
        let values = try store.persistAll().map { Entry(key: $0.id, slot: $0.slot, length: $0.length) }
        let checkpoint = Checkpoint(nextInstruction: nextInstruction, values: values, planFingerprint: planFingerprint,
                                    keyFingerprint: keyFingerprint)
        let table = checkpoint.tableBytes()
        guard table.count <= pool.slotSize else {
            throw RuntimeError.invalidArgument("a checkpoint of \(values.count) values needs \(table.count) bytes, more than a pool slot (\(pool.slotSize)); checkpoint more often")
        }
        let slot = try pool.allocate()
        try table.withUnsafeBytes { try pool.write($0, to: slot, userTag: 0x636B_7074, durability: .deferred) }
        if crashMidway { CrashInjection.kill() }
        var root = Checkpoint.rootMagic
        withUnsafeBytes(of: Checkpoint.version.littleEndian) { root.append(contentsOf: $0) }
        withUnsafeBytes(of: slot.rawValue.littleEndian) { root.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt64(table.count).littleEndian) { root.append(contentsOf: $0) }
        try pool.commitRoot(root)
        if let previous = tableSlot { try pool.free(previous, durability: .deferred) }
        tableSlot = slot
        store.checkpointCommitted(holding: Set(values.map(\.slot)))
    }

    /// The pool's newest checkpoint (nil when it has none), checked against the plan and key fingerprints; the slot
    /// of its table is returned too.
    public static func read(pool: PMemPool, planFingerprint: UInt64, keyFingerprint: UInt64) throws -> (Checkpoint, SlotID)? {
        guard let root = pool.root else { return nil }
        let bytes = root.payload
        func bad(_ detail: String) -> RuntimeError {
            .invalidArgument("the checkpoint in pool '\(pool.path)' is unusable: \(detail); run without --resume to start over")
        }
        guard bytes.count == 20, Array(bytes[0..<4]) == rootMagic else { throw bad("its root record is not a Tessera checkpoint") }
        func u32(_ b: [UInt8], _ at: Int) -> UInt32 { b[at..<at + 4].enumerated().reduce(0) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) } }
        func u64(_ b: [UInt8], _ at: Int) -> UInt64 { b[at..<at + 8].enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) } }
        guard u32(bytes, 4) == version else { throw bad("checkpoint version \(u32(bytes, 4)) is not \(version)") }
        let slot = SlotID(rawValue: u32(bytes, 8))
        let length = Int(u64(bytes, 12))
        let table = try pool.bytes(of: slot)
        guard table.count >= length, length >= 48, Array(table[0..<4]) == tableMagic else { throw bad("its value table is damaged") }
        let body = Array(table[0..<(length - 8)])
        let hash = body.withUnsafeBytes { PoolChecksum.xxHash64($0, seed: 0x636B_7074) }
        guard hash == u64(table, length - 8) else { throw bad("its value table fails its checksum") }
        let plan = u64(table, 8), keys = u64(table, 16)
        guard plan == planFingerprint else { throw bad("it was made by another plan") }
        guard keys == keyFingerprint else { throw bad("it was made with other evaluation keys") }
        let next = Int(u64(table, 24)), count = Int(u64(table, 32))
        guard 40 + count * 24 + 8 == length else { throw bad("its value table has the wrong length") }
        var values: [Entry] = []
        for index in 0..<count {
            let at = 40 + index * 24
            values.append(Entry(key: Int(Int64(bitPattern: u64(table, at))), slot: SlotID(rawValue: u32(table, at + 8)), length: Int(u64(table, at + 16))))
        }
        return (Checkpoint(nextInstruction: next, values: values, planFingerprint: plan, keyFingerprint: keys, tableSlot: slot), slot)
    }
}

/// How often a run checkpoints, and the identities its checkpoints carry.
public struct CheckpointPolicy {
    /// A checkpoint after every `every` instructions.
    public var every: Int
    public var planFingerprint: UInt64
    public var keyFingerprint: UInt64
    public init(every: Int, planFingerprint: UInt64, keyFingerprint: UInt64) {
        self.every = every
        self.planFingerprint = planFingerprint
        self.keyFingerprint = keyFingerprint
    }
}

/// Crash injection for the resume tests: `TESSERA_CRASH_AFTER_INSTRUCTION=N` kills the process (SIGKILL) right after
/// instruction N; `TESSERA_CRASH_IN_CHECKPOINT=K` kills it in the middle of its K-th checkpoint (after the value
/// slots and table are written, before the root is replaced). Both act only in runs that checkpoint to a pool.
enum CrashInjection {
    static let afterInstruction: Int? = ProcessInfo.processInfo.environment["TESSERA_CRASH_AFTER_INSTRUCTION"].flatMap { Int($0) }
    static let inCheckpoint: Int? = ProcessInfo.processInfo.environment["TESSERA_CRASH_IN_CHECKPOINT"].flatMap { Int($0) }

    static func kill() -> Never {
        raise(SIGKILL)
        fatalError("SIGKILL did not stop the process")
    }
}
