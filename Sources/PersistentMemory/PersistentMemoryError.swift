/// Problems with a persistent-memory pool or the tiered value store. Each message names the pool (or
/// value) and what to do about it.
public enum PersistentMemoryError: Error, Equatable, CustomStringConvertible {
    /// The file does not start with the pool magic: it is not a Tessera pool (or was never finished).
    case notAPool(path: String)
    /// The pool was written by another layout version of this library.
    case unsupportedVersion(path: String, found: UInt32, supported: UInt32)
    /// The header's checksum or geometry is wrong: the pool was damaged or truncated.
    case corruptedHeader(path: String, detail: String)
    /// An entry of the slot allocation table is not a valid state.
    case corruptedSlotTable(path: String, slot: Int, detail: String)
    /// The pool belongs to another plan or key set.
    case wrongOwner(path: String, expected: PoolOwnerTag, found: PoolOwnerTag)
    /// The file or device cannot hold the pool header, table and at least one slot.
    case tooSmall(path: String, size: Int, minimum: Int)
    /// `create` would overwrite an existing non-empty file.
    case alreadyExists(path: String)
    /// Another process (or another open pool in this process) holds the pool's lock.
    case poolInUse(path: String)
    /// An operating-system call failed.
    case system(operation: String, path: String, errno: Int32, message: String)
    /// A libpmem2 call failed; `message` is `pmem2_errormsg()`.
    case libpmem2(operation: String, path: String, code: Int32, message: String)
    /// A creation parameter is out of range.
    case invalidArgument(String)
    /// Every slot is allocated.
    case poolFull(path: String, slotCount: Int, slotSize: Int)
    /// A blob does not fit one slot.
    case valueTooLarge(bytes: Int, slotSize: Int)
    /// A slot number outside the pool, or a slot that is not allocated.
    case invalidSlot(SlotID, detail: String)
    /// A destination buffer is smaller than the slot's contents.
    case bufferTooSmall(needed: Int, given: Int)
    /// A root payload is larger than a root record holds.
    case rootTooLarge(bytes: Int, maximum: Int)
    /// The tiered store has no value with this id.
    case unknownValue(id: Int)

    public var description: String {
        switch self {
        case .notAPool(let path):
            return "'\(path)' is not a Tessera PMem pool (wrong magic); create one with PMemPool.create or pass the right --pmem path"
        case .unsupportedVersion(let path, let found, let supported):
            return "pool '\(path)' has layout version \(found) but this build reads version \(supported); recreate the pool"
        case .corruptedHeader(let path, let detail):
            return "pool '\(path)' has a corrupted header (\(detail)); the pool cannot be trusted, recreate it"
        case .corruptedSlotTable(let path, let slot, let detail):
            return "pool '\(path)' slot table entry \(slot) is corrupted (\(detail)); recreate the pool"
        case .wrongOwner(let path, let expected, let found):
            return "pool '\(path)' belongs to owner \(found), not \(expected) (another plan or key set); use a fresh pool for this plan"
        case .tooSmall(let path, let size, let minimum):
            return "pool '\(path)' is \(size) bytes but needs at least \(minimum); give a larger size or a smaller slot size"
        case .alreadyExists(let path):
            return "'\(path)' already exists and is not empty; remove it or create with overwrite: true"
        case .poolInUse(let path):
            return "pool '\(path)' is locked by another user; close the other run or pick another pool file"
        case .system(let operation, let path, let errno, let message):
            return "\(operation) on '\(path)' failed: \(message) (errno \(errno))"
        case .libpmem2(let operation, let path, let code, let message):
            return "libpmem2 \(operation) on '\(path)' failed: \(message) (code \(code))"
        case .invalidArgument(let detail):
            return "invalid pool argument: \(detail)"
        case .poolFull(let path, let slotCount, let slotSize):
            return "pool '\(path)' is full (\(slotCount) slots of \(slotSize) bytes); use a larger pool or a larger DRAM budget"
        case .valueTooLarge(let bytes, let slotSize):
            return "a value of \(bytes) bytes does not fit a pool slot of \(slotSize) bytes; create the pool with a larger slot size"
        case .invalidSlot(let slot, let detail):
            return "\(slot): \(detail)"
        case .bufferTooSmall(let needed, let given):
            return "destination buffer holds \(given) bytes but the slot contains \(needed)"
        case .rootTooLarge(let bytes, let maximum):
            return "root payload of \(bytes) bytes exceeds the \(maximum) bytes a root record holds; store the data in a slot and put its SlotID in the root"
        case .unknownValue(let id):
            return "value %\(id) is not in the store (never put, or already freed)"
        }
    }
}
