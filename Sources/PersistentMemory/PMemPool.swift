import CPmem2
import Synchronization
// libpmem2 exists for Linux (and Windows); this target is Linux-only.
import Glibc

/// A pool of fixed-size slots for ciphertext blobs in persistent memory, mapped through libpmem2.
///
/// The source may be a file on a DAX file system, a devdax character device (real PMem or CXL
/// memory), a file on an ordinary disk, or a file on tmpfs: the mapping asks only for page store
/// granularity, so ordinary files work (persisting is then msync; `storeGranularity` says which).
/// The layout is described in `PoolLayout`.
///
/// **Crash consistency.** A slot becomes durable in this order: (1) `allocate()` reserves it in memory
/// only (a crash forgets the reservation, nothing leaks); (2) `write` copies the data and persists it;
/// (3) the slot-table entry's checksum, user tag and sequence are persisted; (4) the entry's state word
/// (used marker and length, one aligned 8-byte store) is persisted. So after a crash a slot is either
/// free or holds complete data whose checksum matches. `free` persists the state word back to 0.
/// Overwriting a used slot in place is not atomic: checkpoints write new versions to fresh slots, then
/// `commitRoot` (a durability barrier that first persists all deferred writes, then flips the
/// double-buffered root record), and only then free the slots of the previous checkpoint.
/// With `.deferred` durability, steps (2)–(4) are copies without flushes; `persistPendingWrites()`
/// flushes all deferred data, drains, then flushes their table entries and drains again. A deferred
/// free lost in a crash leaves the slot used; a resume reconciles `committedSlots()` (each carries its
/// user tag and commit sequence) against its checkpoint and frees the rest.
///
/// **Threads.** `allocate`, `free`, and the bookkeeping of `write`/`commit` are serialized by an
/// internal mutex, so they may be called from several threads; writing or reading *distinct* slots
/// concurrently is safe. Reading a slot while another thread writes or frees it is a race (the
/// caller's job to avoid). `close` must not race with any other call.
public final class PMemPool: @unchecked Sendable {
    /// File or device path the pool was opened from.
    public let path: String
    /// Random identity given at creation.
    public let identity: PoolIdentity
    /// The owner tag given at creation.
    public let ownerTag: PoolOwnerTag
    /// Bytes per slot (a multiple of 64).
    public let slotSize: Int
    /// Number of slots.
    public let slotCount: Int
    /// Bytes the pool layout spans (≤ `mappedSize`).
    public let poolSize: Int
    /// Bytes mapped.
    public let mappedSize: Int
    /// Whether slot contents carry an XXH64 checksum (checked by `verify()`).
    public let slotChecksums: Bool
    /// Byte or cache line on real persistent memory, page on ordinary files and tmpfs.
    public let storeGranularity: StoreGranularity
    /// Whether the source is a device (devdax) rather than a regular file.
    public let isDevice: Bool

    @usableFromInline let base: UnsafeMutableRawPointer
    @usableFromInline let dataOffset: Int
    private let descriptor: Int32
    private let map: OpaquePointer
    private let source: OpaquePointer
    private let persistFunction: @convention(c) (UnsafeRawPointer?, Int) -> Void
    private let flushFunction: @convention(c) (UnsafeRawPointer?, Int) -> Void
    private let drainFunction: @convention(c) () -> Void
    private let memcpyFunction: @convention(c) (UnsafeMutableRawPointer?, UnsafeRawPointer?, Int, UInt32) -> UnsafeMutableRawPointer?
    private let memsetFunction: @convention(c) (UnsafeMutableRawPointer?, Int32, Int, UInt32) -> UnsafeMutableRawPointer?
    let state: Mutex<AllocatorState>

    struct AllocatorState {
        static let free: UInt8 = 0, reserved: UInt8 = 1, committed: UInt8 = 2, freeing: UInt8 = 3
        var slotStates: [UInt8]
        /// Stack of free slots; the top is the lowest index at open, then the most recently freed.
        var freeList: [UInt32]
        var reservedCount = 0
        var committedCount = 0
        var pendingData: [UInt32] = []
        var pendingEntries: [UInt32] = []
        var nextSequence: UInt64 = 1
        var rootIndex: Int?
        var rootGeneration: UInt64 = 0
        var closed = false
    }

    /// Options for `create`.
    public struct CreateOptions: Sendable {
        /// Replace an existing non-empty file instead of refusing.
        public var overwrite: Bool
        /// Store an XXH64 of each slot's contents (costs one hash per write; enables `verify()`).
        public var slotChecksums: Bool
        public init(overwrite: Bool = false, slotChecksums: Bool = true) {
            self.overwrite = overwrite
            self.slotChecksums = slotChecksums
        }
    }

    // MARK: - Create and open

    /// Creates a pool of `size` bytes at `path` with slots of `slotSize` bytes (rounded up to a multiple
    /// of 64). A regular file is created (or, with `options.overwrite`, replaced) and its blocks
    /// allocated; a devdax device is formatted and `size` must not exceed it. Throws `tooSmall` when not
    /// even one slot fits.
    public static func create(
        path: String, size: Int, slotSize: Int, ownerTag: PoolOwnerTag = .none, options: CreateOptions = .init()
    ) throws -> PMemPool {
        guard slotSize > 0, slotSize <= 1 << 47 else {
            throw PersistentMemoryError.invalidArgument("slot size \(slotSize) must be between 1 byte and 128 TiB")
        }
        let slotBytes = PoolLayout.roundUp(slotSize, to: PoolLayout.slotAlignment)
        let minimum = PoolLayout.minimumPoolSize(slotSize: slotBytes)
        guard size >= minimum else { throw PersistentMemoryError.tooSmall(path: path, size: size, minimum: minimum) }

        let existed = access(path, F_OK) == 0
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw systemError("open", path) }
        var succeeded = false
        defer {
            if !succeeded {
                _ = Glibc.close(fd)
                if !existed { _ = unlink(path) }
            }
        }
        try lock(fd, path)
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw systemError("fstat", path) }
        let isDevice = (info.st_mode & S_IFMT) == S_IFCHR
        if !isDevice {
            guard (info.st_mode & S_IFMT) == S_IFREG else {
                throw PersistentMemoryError.invalidArgument("'\(path)' is neither a regular file nor a devdax device")
            }
            if info.st_size > 0 && !options.overwrite { throw PersistentMemoryError.alreadyExists(path: path) }
            if Int(info.st_size) > size, ftruncate(fd, off_t(size)) != 0 { throw systemError("ftruncate", path) }
            let result = posix_fallocate(fd, 0, off_t(size))
            if result == EOPNOTSUPP || result == EINVAL {
                // Some file systems cannot preallocate; a sparse file still works.
                guard ftruncate(fd, off_t(size)) == 0 else { throw systemError("ftruncate", path) }
            } else if result != 0 {
                throw PersistentMemoryError.system(
                    operation: "posix_fallocate(\(size) bytes)", path: path, errno: result, message: String(cString: strerror(result)))
            }
        }
        let (source, map) = try mapSource(fd, path)
        var mapped = false
        defer {
            if !succeeded && mapped == false {
                var m: OpaquePointer? = map
                _ = pmem2_map_delete(&m)
                var s: OpaquePointer? = source
                _ = pmem2_source_delete(&s)
            }
        }
        let mappedSize = pmem2_map_get_size(map)
        guard mappedSize >= size else {
            throw PersistentMemoryError.tooSmall(path: path, size: mappedSize, minimum: size)
        }
        let slotCount = PoolLayout.slotCount(poolSize: size, slotSize: slotBytes)
        let header = PoolHeader(
            flags: options.slotChecksums ? PoolLayout.flagSlotChecksums : 0, poolSize: size, slotSize: slotBytes,
            slotCount: slotCount, dataOffset: PoolLayout.dataOffset(slotCount: slotCount),
            identity: .random(), ownerTag: ownerTag, createdSeconds: UInt64(max(0, time(nil))))
        let pool = try PMemPool(path: path, descriptor: fd, source: source, map: map, header: header, isDevice: isDevice)
        mapped = true
        succeeded = true
        pool.format(header)
        return pool
    }

    /// Opens an existing pool. With `expectedOwnerTag`, a pool made for another owner is refused
    /// (`wrongOwner`). Validates magic, version, header checksum, geometry, size and every slot-table
    /// entry; rebuilds the free list and finds the newest valid root record.
    public static func open(path: String, expectedOwnerTag: PoolOwnerTag? = nil) throws -> PMemPool {
        let fd = Glibc.open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw systemError("open", path) }
        var succeeded = false
        defer { if !succeeded { _ = Glibc.close(fd) } }
        try lock(fd, path)
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw systemError("fstat", path) }
        let isDevice = (info.st_mode & S_IFMT) == S_IFCHR
        if !isDevice && Int(info.st_size) < PoolLayout.headerBytes {
            var magic: UInt64 = 0
            let got = pread(fd, &magic, 8, 0)
            if got == 8 && UInt64(littleEndian: magic) == PoolLayout.magic {
                throw PersistentMemoryError.corruptedHeader(path: path, detail: "file truncated to \(info.st_size) bytes")
            }
            throw PersistentMemoryError.notAPool(path: path)
        }
        let (source, map) = try mapSource(fd, path)
        var owned = false
        defer {
            if !owned {
                var m: OpaquePointer? = map
                _ = pmem2_map_delete(&m)
                var s: OpaquePointer? = source
                _ = pmem2_source_delete(&s)
            }
        }
        guard let address = pmem2_map_get_address(map) else {
            throw PersistentMemoryError.libpmem2(operation: "pmem2_map_get_address", path: path, code: 0, message: "no address")
        }
        let header = try PoolHeader.decode(address, availableBytes: pmem2_map_get_size(map), path: path)
        if let expectedOwnerTag, expectedOwnerTag != header.ownerTag {
            throw PersistentMemoryError.wrongOwner(path: path, expected: expectedOwnerTag, found: header.ownerTag)
        }
        let pool = try PMemPool(path: path, descriptor: fd, source: source, map: map, header: header, isDevice: isDevice)
        owned = true
        succeeded = true
        do {
            try pool.loadTable()
        } catch {
            pool.close()
            throw error
        }
        pool.loadRoot()
        return pool
    }

    private init(
        path: String, descriptor: Int32, source: OpaquePointer, map: OpaquePointer, header: PoolHeader, isDevice: Bool
    ) throws {
        guard let address = pmem2_map_get_address(map),
              let persist = pmem2_get_persist_fn(map), let flush = pmem2_get_flush_fn(map),
              let drain = pmem2_get_drain_fn(map), let memcpy = pmem2_get_memcpy_fn(map),
              let memset = pmem2_get_memset_fn(map)
        else {
            throw PersistentMemoryError.libpmem2(operation: "pmem2_get_*_fn", path: path, code: 0, message: "missing function")
        }
        self.path = path
        self.identity = header.identity
        self.ownerTag = header.ownerTag
        self.slotSize = header.slotSize
        self.slotCount = header.slotCount
        self.poolSize = header.poolSize
        self.mappedSize = pmem2_map_get_size(map)
        self.slotChecksums = header.flags & PoolLayout.flagSlotChecksums != 0
        switch pmem2_map_get_store_granularity(map) {
        case PMEM2_GRANULARITY_BYTE: self.storeGranularity = .byte
        case PMEM2_GRANULARITY_CACHE_LINE: self.storeGranularity = .cacheLine
        default: self.storeGranularity = .page
        }
        self.isDevice = isDevice
        self.base = address
        self.dataOffset = header.dataOffset
        self.descriptor = descriptor
        self.map = map
        self.source = source
        self.persistFunction = persist
        self.flushFunction = flush
        self.drainFunction = drain
        self.memcpyFunction = memcpy
        self.memsetFunction = memset
        self.state = Mutex(AllocatorState(
            slotStates: [UInt8](repeating: AllocatorState.free, count: header.slotCount),
            freeList: (0..<UInt32(header.slotCount)).reversed()))
    }

    deinit { close() }

    private static func systemError(_ operation: String, _ path: String) -> PersistentMemoryError {
        let code = errno
        return .system(operation: operation, path: path, errno: code, message: String(cString: strerror(code)))
    }

    private static func pmemError(_ operation: String, _ path: String, _ code: Int32) -> PersistentMemoryError {
        let message = pmem2_errormsg().map { String(cString: $0) } ?? ""
        return .libpmem2(operation: operation, path: path, code: code, message: message)
    }

    private static func lock(_ fd: Int32, _ path: String) throws {
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            if errno == EWOULDBLOCK { throw PersistentMemoryError.poolInUse(path: path) }
            // Other failures (a file system without locks) leave the pool unlocked but usable.
        }
    }

    private static func mapSource(_ fd: Int32, _ path: String) throws -> (OpaquePointer, OpaquePointer) {
        var source: OpaquePointer?
        var code = pmem2_source_from_fd(&source, fd)
        guard code == 0, let source else { throw pmemError("pmem2_source_from_fd", path, code) }
        var config: OpaquePointer?
        code = pmem2_config_new(&config)
        guard code == 0, let config else {
            var s: OpaquePointer? = source
            _ = pmem2_source_delete(&s)
            throw pmemError("pmem2_config_new", path, code)
        }
        defer {
            var c: OpaquePointer? = config
            _ = pmem2_config_delete(&c)
        }
        code = pmem2_config_set_required_store_granularity(config, PMEM2_GRANULARITY_PAGE)
        var map: OpaquePointer?
        if code == 0 {
            // libpmem2 picks an aligned address and maps it with MAP_FIXED_NOREPLACE; two threads mapping at once can
            // race for the same address and one gets −EEXIST. Mapping is serialized, and a lost race is retried.
            code = mappingLock.withLock { _ in pmem2_map_new(&map, config, source) }
            var attempts = 0
            while code == -EEXIST && attempts < 8 {
                attempts += 1
                code = mappingLock.withLock { _ in pmem2_map_new(&map, config, source) }
            }
        }
        guard code == 0, let map else {
            let error = pmemError(code == 0 ? "pmem2_map_new" : "pmem2_map_new", path, code)
            var s: OpaquePointer? = source
            _ = pmem2_source_delete(&s)
            throw error
        }
        return (source, map)
    }

    /// Writes an empty pool: invalidates any old magic, zeroes roots and table, then writes the header.
    private func format(_ header: PoolHeader) {
        _ = memsetFunction(base, 0, 8, 0)
        _ = memsetFunction(base + PoolLayout.rootOffset, 0, dataOffset - PoolLayout.rootOffset, 0)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: PoolLayout.headerBytes, alignment: 64)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: PoolLayout.headerBytes)
        header.encode(into: buffer)
        // Everything after the magic first, then the magic: a torn create never looks like a pool.
        _ = memcpyFunction(base + 8, buffer + 8, PoolLayout.headerBytes - 8, 0)
        _ = memcpyFunction(base, buffer, 8, 0)
    }

    /// Rebuilds the in-memory allocator from the slot table.
    private func loadTable() throws {
        try state.withLock { s in
            var free: [UInt32] = []
            free.reserveCapacity(slotCount)
            var committed = 0
            var maxSequence: UInt64 = 0
            for index in stride(from: slotCount - 1, through: 0, by: -1) {
                let entry = entryPointer(index)
                let word = UInt64(littleEndian: entry.load(as: UInt64.self))
                if word == 0 {
                    free.append(UInt32(index))
                    continue
                }
                guard word & PoolLayout.markerMask == PoolLayout.usedMarker else {
                    throw PersistentMemoryError.corruptedSlotTable(path: path, slot: index, detail: "unknown state word 0x\(String(word, radix: 16))")
                }
                guard word & PoolLayout.lengthMask <= UInt64(slotSize) else {
                    throw PersistentMemoryError.corruptedSlotTable(path: path, slot: index, detail: "length \(word & PoolLayout.lengthMask) exceeds the slot size \(slotSize)")
                }
                s.slotStates[index] = AllocatorState.committed
                committed += 1
                maxSequence = max(maxSequence, UInt64(littleEndian: entry.load(fromByteOffset: 24, as: UInt64.self)))
            }
            s.freeList = free
            s.committedCount = committed
            s.nextSequence = maxSequence + 1
        }
    }

    /// Unmaps the pool after persisting deferred writes. Pointers into the pool become invalid.
    /// Calling it twice is harmless; any other call after it is a programmer error.
    public func close() {
        let wasOpen = state.withLock { s in !s.closed }
        guard wasOpen else { return }
        persistPendingWrites()
        state.withLock { $0.closed = true }
        var m: OpaquePointer? = map
        _ = pmem2_map_delete(&m)
        var s: OpaquePointer? = source
        _ = pmem2_source_delete(&s)
        _ = flock(descriptor, LOCK_UN)
        _ = Glibc.close(descriptor)
    }

    /// Whether `close()` was called.
    public var isClosed: Bool { state.withLock { $0.closed } }

    // MARK: - Addresses

    @inline(__always) @usableFromInline
    func entryPointer(_ index: Int) -> UnsafeMutableRawPointer {
        base + PoolLayout.tableOffset + index * PoolLayout.entryBytes
    }

    @inline(__always) @usableFromInline
    func slotPointer(_ index: Int) -> UnsafeMutableRawPointer {
        base + dataOffset + index * slotSize
    }

    @inline(__always)
    func entryLength(_ index: Int) -> Int {
        let word = UInt64(littleEndian: entryPointer(index).load(as: UInt64.self))
        return word & PoolLayout.markerMask == PoolLayout.usedMarker ? Int(word & PoolLayout.lengthMask) : 0
    }

    /// Throws unless `slot` exists and is in one of `allowed` states; returns its state.
    private func checkSlot(_ slot: SlotID, _ s: borrowing AllocatorState, allowCommitted: Bool = true, allowReserved: Bool = true) throws -> UInt8 {
        precondition(!s.closed, "PMemPool '\(path)' is closed")
        guard slot.index < slotCount else {
            throw PersistentMemoryError.invalidSlot(slot, detail: "outside the pool's \(slotCount) slots")
        }
        let current = s.slotStates[slot.index]
        if current == AllocatorState.committed && allowCommitted { return current }
        if current == AllocatorState.reserved && allowReserved { return current }
        throw PersistentMemoryError.invalidSlot(slot, detail: current == AllocatorState.free ? "not allocated" : "not in a usable state")
    }

    // MARK: - Allocation

    /// Reserves a free slot (in memory only until a write commits it). Throws `poolFull`.
    public func allocate() throws -> SlotID {
        try state.withLock { s in
            precondition(!s.closed, "PMemPool '\(path)' is closed")
            guard let index = s.freeList.popLast() else {
                throw PersistentMemoryError.poolFull(path: path, slotCount: slotCount, slotSize: slotSize)
            }
            s.slotStates[Int(index)] = AllocatorState.reserved
            s.reservedCount += 1
            return SlotID(rawValue: index)
        }
    }

    /// Releases a reserved or used slot. For a used slot the table entry is cleared (and persisted
    /// with `.persisted`) before the slot can be handed out again.
    public func free(_ slot: SlotID, durability: Durability = .persisted) throws {
        let previous = try state.withLock { s in
            let current = try checkSlot(slot, s)
            if current == AllocatorState.reserved {
                s.reservedCount -= 1
                s.slotStates[slot.index] = AllocatorState.free
                s.freeList.append(slot.rawValue)
            } else {
                s.committedCount -= 1
                s.slotStates[slot.index] = AllocatorState.freeing
            }
            return current
        }
        guard previous == AllocatorState.committed else { return }
        let entry = entryPointer(slot.index)
        entry.storeBytes(of: 0, as: UInt64.self)
        if durability == .persisted { persistFunction(entry, 8) }
        state.withLock { s in
            if durability == .deferred { s.pendingEntries.append(slot.rawValue) }
            s.slotStates[slot.index] = AllocatorState.free
            s.freeList.append(slot.rawValue)
        }
    }

    /// Slots reserved or used.
    public var slotsInUse: Int { state.withLock { $0.reservedCount + $0.committedCount } }
    /// Slots holding committed data.
    public var committedSlotCount: Int { state.withLock { $0.committedCount } }
    /// Slots available to `allocate`.
    public var freeSlotCount: Int { state.withLock { $0.freeList.count } }

    // MARK: - Writing

    /// Copies `bytes` (at most `slotSize`) into an allocated slot with libpmem2's non-temporal memcpy,
    /// then commits the slot-table entry (see the type's ordering). `userTag` is stored with the entry
    /// (use the value id, so a resume can find it).
    public func write(
        _ bytes: UnsafeRawBufferPointer, to slot: SlotID, userTag: UInt64 = 0, durability: Durability = .persisted
    ) throws {
        guard bytes.count <= slotSize else { throw PersistentMemoryError.valueTooLarge(bytes: bytes.count, slotSize: slotSize) }
        _ = try state.withLock { s in try checkSlot(slot, s) }
        let destination = slotPointer(slot.index)
        if let source = bytes.baseAddress, bytes.count > 0 {
            if durability == .persisted {
                _ = memcpyFunction(destination, source, bytes.count, UInt32(PMEM2_F_MEM_NONTEMPORAL))
            } else {
                tessera_stream_copy(destination, source, bytes.count)
            }
        }
        let checksum = slotChecksums ? PoolChecksum.xxHash64(bytes, seed: UInt64(slot.rawValue)) : 0
        try commitEntry(slot, length: bytes.count, checksum: checksum, userTag: userTag, durability: durability)
    }

    /// Copies `limbs` into an allocated slot (see `write(_:to:userTag:durability:)`).
    public func write(
        limbs: UnsafeBufferPointer<UInt64>, to slot: SlotID, userTag: UInt64 = 0, durability: Durability = .persisted
    ) throws {
        try write(UnsafeRawBufferPointer(limbs), to: slot, userTag: userTag, durability: durability)
    }

    /// The whole slot as writable memory, for serializing straight into the pool; finish with
    /// `commit(_:length:userTag:durability:)`. Valid until the slot is freed or the pool closed.
    public func mutableBuffer(of slot: SlotID) throws -> UnsafeMutableRawBufferPointer {
        _ = try state.withLock { s in try checkSlot(slot, s) }
        return UnsafeMutableRawBufferPointer(start: slotPointer(slot.index), count: slotSize)
    }

    /// Commits the first `length` bytes written through `mutableBuffer(of:)`: persists them (with
    /// `.persisted`), then the table entry.
    public func commit(_ slot: SlotID, length: Int, userTag: UInt64 = 0, durability: Durability = .persisted) throws {
        guard length >= 0, length <= slotSize else { throw PersistentMemoryError.valueTooLarge(bytes: length, slotSize: slotSize) }
        _ = try state.withLock { s in try checkSlot(slot, s) }
        let data = UnsafeRawBufferPointer(start: slotPointer(slot.index), count: length)
        if durability == .persisted && length > 0 { persistFunction(data.baseAddress, length) }
        let checksum = slotChecksums ? PoolChecksum.xxHash64(data, seed: UInt64(slot.rawValue)) : 0
        try commitEntry(slot, length: length, checksum: checksum, userTag: userTag, durability: durability)
    }

    private func commitEntry(_ slot: SlotID, length: Int, checksum: UInt64, userTag: UInt64, durability: Durability) throws {
        let sequence = try state.withLock { s in
            let current = try checkSlot(slot, s)
            if current == AllocatorState.reserved {
                s.reservedCount -= 1
                s.committedCount += 1
                s.slotStates[slot.index] = AllocatorState.committed
            }
            let sequence = s.nextSequence
            s.nextSequence += 1
            return sequence
        }
        let entry = entryPointer(slot.index)
        entry.storeBytes(of: checksum.littleEndian, toByteOffset: 8, as: UInt64.self)
        entry.storeBytes(of: userTag.littleEndian, toByteOffset: 16, as: UInt64.self)
        entry.storeBytes(of: sequence.littleEndian, toByteOffset: 24, as: UInt64.self)
        if durability == .persisted { persistFunction(entry + 8, 24) }
        entry.storeBytes(of: (PoolLayout.usedMarker | UInt64(length)).littleEndian, as: UInt64.self)
        if durability == .persisted {
            persistFunction(entry, 8)
        } else {
            state.withLock { s in
                s.pendingData.append(slot.rawValue)
                s.pendingEntries.append(slot.rawValue)
            }
        }
    }

    // MARK: - Reading

    /// The committed contents of a slot, zero-copy (empty for a reserved, unwritten slot). Valid until
    /// the slot is written, freed, or the pool closed.
    public func contents(of slot: SlotID) throws -> UnsafeRawBufferPointer {
        _ = try state.withLock { s in try checkSlot(slot, s) }
        return UnsafeRawBufferPointer(start: slotPointer(slot.index), count: entryLength(slot.index))
    }

    /// Copies a slot's contents into `buffer`; returns the byte count.
    @discardableResult
    public func read(_ slot: SlotID, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let bytes = try contents(of: slot)
        guard bytes.count <= buffer.count else { throw PersistentMemoryError.bufferTooSmall(needed: bytes.count, given: buffer.count) }
        if bytes.count > 0 { buffer.baseAddress!.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
        return bytes.count
    }

    /// A slot's contents as a new array.
    public func bytes(of slot: SlotID) throws -> [UInt8] {
        Array(try contents(of: slot))
    }

    /// What the table says about a used slot (`nil` if reserved but not written).
    public func info(of slot: SlotID) throws -> SlotInfo? {
        let current = try state.withLock { s in try checkSlot(slot, s) }
        guard current == AllocatorState.committed else { return nil }
        return entryInfo(slot.index)
    }

    private func entryInfo(_ index: Int) -> SlotInfo {
        let entry = entryPointer(index)
        return SlotInfo(
            slot: SlotID(index), length: entryLength(index),
            userTag: UInt64(littleEndian: entry.load(fromByteOffset: 16, as: UInt64.self)),
            sequence: UInt64(littleEndian: entry.load(fromByteOffset: 24, as: UInt64.self)))
    }

    /// Every used slot, in slot order (what a resume reconciles against its checkpoint).
    public func committedSlots() -> [SlotInfo] {
        let indices = state.withLock { s in
            precondition(!s.closed, "PMemPool '\(path)' is closed")
            return s.slotStates.indices.filter { s.slotStates[$0] == AllocatorState.committed }
        }
        return indices.map(entryInfo)
    }

    /// Recomputes the checksum of every used slot (when the pool has slot checksums).
    public func verify() -> PoolVerification {
        var report = PoolVerification()
        for info in committedSlots() {
            report.slotsChecked += 1
            report.bytesChecked += info.length
            guard slotChecksums else { continue }
            let data = UnsafeRawBufferPointer(start: slotPointer(info.slot.index), count: info.length)
            let stored = UInt64(littleEndian: entryPointer(info.slot.index).load(fromByteOffset: 8, as: UInt64.self))
            if PoolChecksum.xxHash64(data, seed: UInt64(info.slot.rawValue)) != stored { report.corruptedSlots.append(info.slot) }
        }
        return report
    }

    // MARK: - Persistence primitives

    private func checkRange(_ range: UnsafeRawBufferPointer) {
        guard let start = range.baseAddress, range.count > 0 else { return }
        precondition(start >= UnsafeRawPointer(base) && start + range.count <= UnsafeRawPointer(base) + mappedSize,
                     "range is outside the pool mapping")
    }

    /// Makes `range` (inside the mapping) durable: flush and drain.
    public func persist(_ range: UnsafeRawBufferPointer) {
        checkRange(range)
        guard range.count > 0 else { return }
        persistFunction(range.baseAddress, range.count)
    }

    /// Flushes `range` without waiting; batch many flushes, then call `drain()` once.
    public func flush(_ range: UnsafeRawBufferPointer) {
        checkRange(range)
        guard range.count > 0 else { return }
        flushFunction(range.baseAddress, range.count)
    }

    /// Waits until all flushed ranges are durable.
    public func drain() { drainFunction() }

    /// Makes every `.deferred` write and free so far durable: flushes all their data, drains, then
    /// flushes their table entries (coalesced into contiguous runs) and drains.
    public func persistPendingWrites() {
        let (data, entries) = state.withLock { s -> ([UInt32], [UInt32]) in
            defer { s.pendingData.removeAll(keepingCapacity: true); s.pendingEntries.removeAll(keepingCapacity: true) }
            return (s.pendingData, s.pendingEntries)
        }
        guard !entries.isEmpty else { return }
        for index in Set(data) {
            let length = entryLength(Int(index))
            if length > 0 { flushFunction(slotPointer(Int(index)), length) }
        }
        drainFunction()
        let sorted = Set(entries).sorted()
        var runStart = 0
        while runStart < sorted.count {
            var runEnd = runStart + 1
            while runEnd < sorted.count && sorted[runEnd] == sorted[runEnd - 1] + 1 { runEnd += 1 }
            flushFunction(entryPointer(Int(sorted[runStart])), (runEnd - runStart) * PoolLayout.entryBytes)
            runStart = runEnd
        }
        drainFunction()
    }

    // MARK: - Root records

    /// Largest payload `commitRoot` accepts.
    public static let maximumRootPayloadBytes = PoolLayout.maximumRootPayload

    private func rootPointer(_ index: Int) -> UnsafeMutableRawPointer {
        base + PoolLayout.rootOffset + index * PoolLayout.rootRecordBytes
    }

    /// Decodes root record `index`; nil when empty or torn (checksum mismatch).
    private func decodeRoot(_ index: Int) -> PoolRoot? {
        let record = rootPointer(index)
        let generation = UInt64(littleEndian: record.load(as: UInt64.self))
        let length = UInt64(littleEndian: record.load(fromByteOffset: 8, as: UInt64.self))
        guard generation > 0, length <= UInt64(PoolLayout.maximumRootPayload) else { return nil }
        let stored = UInt64(littleEndian: record.load(fromByteOffset: 16, as: UInt64.self))
        guard rootChecksum(record, payloadLength: Int(length)) == stored else { return nil }
        let payload = UnsafeRawBufferPointer(start: record + PoolLayout.rootRecordHeaderBytes, count: Int(length))
        return PoolRoot(generation: generation, payload: Array(payload))
    }

    private func rootChecksum(_ record: UnsafeRawPointer, payloadLength: Int) -> UInt64 {
        let head = PoolChecksum.xxHash64(UnsafeRawBufferPointer(start: record, count: 16), seed: 0x726F_6F74)
        return PoolChecksum.xxHash64(
            UnsafeRawBufferPointer(start: record + PoolLayout.rootRecordHeaderBytes, count: payloadLength), seed: head)
    }

    private func loadRoot() {
        let candidates = (0..<2).compactMap { index in decodeRoot(index).map { (index, $0.generation) } }
        if let best = candidates.max(by: { $0.1 < $1.1 }) {
            state.withLock { s in
                s.rootIndex = best.0
                s.rootGeneration = best.1
            }
        }
    }

    /// The newest valid root record, or nil when none was ever committed.
    public var root: PoolRoot? {
        guard let index = state.withLock({ s -> Int? in
            precondition(!s.closed, "PMemPool '\(path)' is closed")
            return s.rootIndex
        }) else { return nil }
        return decodeRoot(index)
    }

    /// Atomically replaces the root record (e.g. a checkpoint's program counter and the slot holding its
    /// value table). First persists every deferred write (a durability barrier), then writes the new
    /// record into the half not holding the current root and persists it: a crash at any point leaves
    /// either the old or the new root valid. Payload at most `maximumRootPayloadBytes`.
    public func commitRoot(_ payload: UnsafeRawBufferPointer) throws {
        guard payload.count <= PoolLayout.maximumRootPayload else {
            throw PersistentMemoryError.rootTooLarge(bytes: payload.count, maximum: PoolLayout.maximumRootPayload)
        }
        persistPendingWrites()
        drainFunction()
        try state.withLock { s in
            precondition(!s.closed, "PMemPool '\(path)' is closed")
            let target = s.rootIndex == 0 ? 1 : 0
            let generation = s.rootGeneration + 1
            let size = PoolLayout.rootRecordHeaderBytes + payload.count
            let record = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
            defer { record.deallocate() }
            record.initializeMemory(as: UInt8.self, repeating: 0, count: size)
            record.storeBytes(of: generation.littleEndian, as: UInt64.self)
            record.storeBytes(of: UInt64(payload.count).littleEndian, toByteOffset: 8, as: UInt64.self)
            if let source = payload.baseAddress, payload.count > 0 {
                (record + PoolLayout.rootRecordHeaderBytes).copyMemory(from: source, byteCount: payload.count)
            }
            record.storeBytes(of: rootChecksum(record, payloadLength: payload.count).littleEndian, toByteOffset: 16, as: UInt64.self)
            _ = memcpyFunction(rootPointer(target), record, size, 0)
            guard decodeRoot(target)?.generation == generation else {
                throw PersistentMemoryError.corruptedHeader(path: path, detail: "root record did not read back")
            }
            s.rootIndex = target
            s.rootGeneration = generation
        }
    }

    /// `commitRoot` for an array payload.
    public func commitRoot(_ payload: [UInt8]) throws {
        try payload.withUnsafeBytes { try commitRoot($0) }
    }
}

/// Serializes `pmem2_map_new` across threads (see its call site).
private let mappingLock = Mutex(())
