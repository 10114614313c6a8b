/// Byte layout of a pool (all integers little-endian; offsets from the start of the file or device).
///
/// ```
/// [0, 4096)              header: magic "TESSPOOL", version, flags, geometry, identity, owner tag, XXH64
/// [4096, 8192)           two root records of 2048 bytes (double-buffered, see PMemPool+Root)
/// [8192, dataOffset)     slot table: 32 bytes per slot, padded to 4096
///                          word 0  state: 0 = free, "US" << 48 | length = used
///                          word 1  XXH64 of the slot's first `length` bytes (0 without checksums)
///                          word 2  user tag (the caller's value id)
///                          word 3  commit sequence (pool-wide counter)
/// [dataOffset, ...)      slotCount slots of slotSize bytes (slotSize a multiple of 64)
/// ```
enum PoolLayout {
    /// "TESSPOOL" read as a little-endian word.
    static let magic: UInt64 = 0x4C4F_4F50_5353_4554
    static let version: UInt32 = 1
    static let headerBytes = 4096
    static let rootOffset = 4096
    static let rootRecordBytes = 2048
    static let rootRecordHeaderBytes = 32
    static let maximumRootPayload = rootRecordBytes - rootRecordHeaderBytes
    static let tableOffset = 8192
    static let entryBytes = 32
    static let slotAlignment = 64
    static let pageBytes = 4096

    static let usedMarker: UInt64 = 0x5553 << 48
    static let markerMask: UInt64 = 0xFFFF << 48
    static let lengthMask: UInt64 = (1 << 48) - 1

    static let flagSlotChecksums: UInt64 = 1

    // header field offsets
    static let magicOffset = 0
    static let versionOffset = 8
    static let headerBytesOffset = 12
    static let flagsOffset = 16
    static let poolSizeOffset = 24
    static let slotSizeOffset = 32
    static let slotCountOffset = 40
    static let tableOffsetOffset = 48
    static let dataOffsetOffset = 56
    static let rootOffsetOffset = 64
    static let rootRecordBytesOffset = 72
    static let identityHighOffset = 80
    static let identityLowOffset = 88
    static let ownerTagOffset = 96
    static let createdOffset = 128
    static let checksumOffset = 136

    static func roundUp(_ value: Int, to multiple: Int) -> Int { (value + multiple - 1) / multiple * multiple }

    static func dataOffset(slotCount: Int) -> Int {
        roundUp(tableOffset + slotCount * entryBytes, to: pageBytes)
    }

    /// Bytes needed for the layout with at least one slot of `slotSize`.
    static func minimumPoolSize(slotSize: Int) -> Int { dataOffset(slotCount: 1) + slotSize }

    /// The largest slot count that fits `poolSize` bytes (0 when none fits).
    static func slotCount(poolSize: Int, slotSize: Int) -> Int {
        let available = poolSize - tableOffset
        guard available > 0 else { return 0 }
        var count = min(available / (entryBytes + slotSize), Int(UInt32.max) - 1)
        while count > 0 && dataOffset(slotCount: count) + count * slotSize > poolSize { count -= 1 }
        return count
    }
}

/// The decoded header.
struct PoolHeader {
    var flags: UInt64
    var poolSize: Int
    var slotSize: Int
    var slotCount: Int
    var dataOffset: Int
    var identity: PoolIdentity
    var ownerTag: PoolOwnerTag
    var createdSeconds: UInt64

    /// Writes the header, with its checksum, into a zeroed `PoolLayout.headerBytes` buffer.
    func encode(into header: UnsafeMutableRawPointer) {
        func put64(_ value: UInt64, _ offset: Int) { header.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt64.self) }
        put64(PoolLayout.magic, PoolLayout.magicOffset)
        header.storeBytes(of: PoolLayout.version.littleEndian, toByteOffset: PoolLayout.versionOffset, as: UInt32.self)
        header.storeBytes(of: UInt32(PoolLayout.headerBytes).littleEndian, toByteOffset: PoolLayout.headerBytesOffset, as: UInt32.self)
        put64(flags, PoolLayout.flagsOffset)
        put64(UInt64(poolSize), PoolLayout.poolSizeOffset)
        put64(UInt64(slotSize), PoolLayout.slotSizeOffset)
        put64(UInt64(slotCount), PoolLayout.slotCountOffset)
        put64(UInt64(PoolLayout.tableOffset), PoolLayout.tableOffsetOffset)
        put64(UInt64(dataOffset), PoolLayout.dataOffsetOffset)
        put64(UInt64(PoolLayout.rootOffset), PoolLayout.rootOffsetOffset)
        put64(UInt64(PoolLayout.rootRecordBytes), PoolLayout.rootRecordBytesOffset)
        put64(identity.high, PoolLayout.identityHighOffset)
        put64(identity.low, PoolLayout.identityLowOffset)
        put64(ownerTag.words.0, PoolLayout.ownerTagOffset)
        put64(ownerTag.words.1, PoolLayout.ownerTagOffset + 8)
        put64(ownerTag.words.2, PoolLayout.ownerTagOffset + 16)
        put64(ownerTag.words.3, PoolLayout.ownerTagOffset + 24)
        put64(createdSeconds, PoolLayout.createdOffset)
        put64(PoolHeader.checksum(header), PoolLayout.checksumOffset)
    }

    static func checksum(_ header: UnsafeRawPointer) -> UInt64 {
        PoolChecksum.xxHash64(UnsafeRawBufferPointer(start: header, count: PoolLayout.checksumOffset), seed: 0x7465_7373)
    }

    /// Decodes and validates a header of `availableBytes` (the mapped size). Checks, in order: magic,
    /// version, checksum, geometry, size.
    static func decode(_ header: UnsafeRawPointer, availableBytes: Int, path: String) throws -> PoolHeader {
        func get64(_ offset: Int) -> UInt64 { UInt64(littleEndian: header.load(fromByteOffset: offset, as: UInt64.self)) }
        guard get64(PoolLayout.magicOffset) == PoolLayout.magic else { throw PersistentMemoryError.notAPool(path: path) }
        let version = UInt32(littleEndian: header.load(fromByteOffset: PoolLayout.versionOffset, as: UInt32.self))
        guard version == PoolLayout.version else {
            throw PersistentMemoryError.unsupportedVersion(path: path, found: version, supported: PoolLayout.version)
        }
        guard get64(PoolLayout.checksumOffset) == checksum(header) else {
            throw PersistentMemoryError.corruptedHeader(path: path, detail: "header checksum mismatch")
        }
        let headerBytes = UInt32(littleEndian: header.load(fromByteOffset: PoolLayout.headerBytesOffset, as: UInt32.self))
        let poolSize = get64(PoolLayout.poolSizeOffset)
        let slotSize = get64(PoolLayout.slotSizeOffset)
        let slotCount = get64(PoolLayout.slotCountOffset)
        let dataOffset = get64(PoolLayout.dataOffsetOffset)
        guard headerBytes == UInt32(PoolLayout.headerBytes),
              get64(PoolLayout.tableOffsetOffset) == UInt64(PoolLayout.tableOffset),
              get64(PoolLayout.rootOffsetOffset) == UInt64(PoolLayout.rootOffset),
              get64(PoolLayout.rootRecordBytesOffset) == UInt64(PoolLayout.rootRecordBytes),
              slotSize > 0, slotSize % UInt64(PoolLayout.slotAlignment) == 0, slotSize <= 1 << 47,
              slotCount > 0, slotCount < UInt64(UInt32.max),
              dataOffset == UInt64(PoolLayout.dataOffset(slotCount: Int(slotCount))),
              poolSize <= 1 << 62,
              dataOffset + slotCount * slotSize <= poolSize
        else {
            throw PersistentMemoryError.corruptedHeader(path: path, detail: "inconsistent geometry")
        }
        guard Int(poolSize) <= availableBytes else {
            throw PersistentMemoryError.corruptedHeader(
                path: path, detail: "pool is \(poolSize) bytes but only \(availableBytes) are present (truncated)")
        }
        return PoolHeader(
            flags: get64(PoolLayout.flagsOffset), poolSize: Int(poolSize), slotSize: Int(slotSize),
            slotCount: Int(slotCount), dataOffset: Int(dataOffset),
            identity: PoolIdentity(high: get64(PoolLayout.identityHighOffset), low: get64(PoolLayout.identityLowOffset)),
            ownerTag: PoolOwnerTag(words: (
                get64(PoolLayout.ownerTagOffset), get64(PoolLayout.ownerTagOffset + 8),
                get64(PoolLayout.ownerTagOffset + 16), get64(PoolLayout.ownerTagOffset + 24))),
            createdSeconds: get64(PoolLayout.createdOffset))
    }
}
