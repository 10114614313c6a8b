import CipherIR
import Foundation
import PersistentMemory

/// Building the interpreter's value store from the command line's memory options.
public enum ValueStoreSetup {
    /// Bytes of the largest ciphertext a plan can hold in CKKS (degree 2 at the top level) plus the
    /// store header: the pool's slot size.
    public static func largestCiphertextBytes(_ parameters: PlanParameters) -> Int {
        CKKSBackend.headerBytes + 3 * parameters.qBits.count * (1 << parameters.logN) * 8
    }

    /// A store in DRAM only, or with a PMem pool at `poolPath`:
    /// - a missing or empty file is created with `poolSize` bytes (default: room for `defaultSlots`
    ///   slots) and slots of `slotSize` bytes;
    /// - an existing Tessera pool is opened if it belongs to this plan (`ownerTag`), and the values a
    ///   previous run left in it are freed; a pool of another plan is refused;
    /// - any other existing file is refused (never overwritten).
    /// With a pool and no `dramBudget`, every value is spilled to the pool right after it is written
    /// (budget 0: the pool holds the ciphertexts, DRAM only the ones in use), unless `followingPlan`: then the plan's
    /// memory schedule alone moves values (no budget in the store).
    public static func makeStore(
        poolPath: String?, poolSize: Int?, dramBudget: Int?, slotSize: Int, defaultSlots: Int, ownerTag: PoolOwnerTag,
        followingPlan: Bool = false, keepingSlots: Bool = false
    ) throws -> TieredStore {
        guard let poolPath else {
            if dramBudget != nil {
                throw RuntimeError.invalidArgument("--dram-budget needs a pool to spill to; pass --pmem POOL (a file, tmpfs file or devdax device)")
            }
            return TieredStore()
        }
        var information = stat()
        let exists = stat(poolPath, &information) == 0
        let pool: PMemPool
        if !exists || ((information.st_mode & S_IFMT) == S_IFREG && information.st_size == 0) {
            let size = poolSize ?? (PoolOverhead.bytes + (slotSize + 4096) * max(defaultSlots, 1))
            pool = try PMemPool.create(path: poolPath, size: size, slotSize: slotSize, ownerTag: ownerTag,
                                       options: .init(overwrite: true, slotChecksums: false))
        } else if (information.st_mode & S_IFMT) == S_IFCHR {
            pool = try PMemPool.create(path: poolPath, size: poolSize ?? Int(information.st_size), slotSize: slotSize, ownerTag: ownerTag)
        } else {
            pool = try PMemPool.open(path: poolPath, expectedOwnerTag: ownerTag)
            guard pool.slotSize >= slotSize else {
                throw RuntimeError.invalidArgument(
                    "pool '\(poolPath)' has slots of \(pool.slotSize) bytes but this plan's ciphertexts need \(slotSize); remove the file to recreate it")
            }
            // A resumed run keeps the slots (its checkpoint's values are among them); otherwise the old values go.
            if !keepingSlots { for slot in pool.committedSlots() { try pool.free(slot.slot, durability: .deferred) } }
            pool.persistPendingWrites()
        }
        return TieredStore(pool: pool, budgetBytes: dramBudget ?? (followingPlan ? nil : 0))
    }

    /// Parses a size: bytes, or a number with K, M, G, T (powers of 1024; `KiB`, `MB`… accepted).
    public static func parseSize(_ text: String) throws(RuntimeError) -> Int {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        var number = trimmed
        var multiplier = 1.0
        let units: [(String, Double)] = [("k", 1024), ("m", 0x1p20), ("g", 0x1p30), ("t", 0x1p40)]
        let lower = trimmed.lowercased()
        for suffix in ["ib", "b"] where lower.hasSuffix(suffix) && lower.count > suffix.count {
            let stripped = String(lower.dropLast(suffix.count))
            if units.contains(where: { stripped.hasSuffix($0.0) }) || suffix == "b" { number = String(trimmed.prefix(stripped.count)); break }
        }
        if let last = number.lowercased().last, let unit = units.first(where: { $0.0 == String(last) }) {
            multiplier = unit.1
            number.removeLast()
        }
        guard let value = Double(number), value.isFinite, value >= 0, value * multiplier < 0x1p62 else {
            throw .invalidArgument("'\(text)' is not a size; write bytes or a number with K, M, G or T (e.g. 512M)")
        }
        return Int(value * multiplier)
    }
}

/// Bytes a pool needs besides its slots (header and slot table), generously.
enum PoolOverhead {
    static let bytes = 1 << 20
}
