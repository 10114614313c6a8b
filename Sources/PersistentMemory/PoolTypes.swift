/// A fixed-size slot of a `PMemPool`, numbered from 0.
public struct SlotID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public init(_ index: Int) { self.rawValue = UInt32(index) }
    public var index: Int { Int(rawValue) }
    public static func < (lhs: SlotID, rhs: SlotID) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { "slot \(rawValue)" }
}

/// 32 bytes that say whom a pool belongs to (for example a hash of the plan and its key set), so
/// that a pool written for another plan is refused at open.
public struct PoolOwnerTag: Hashable, Sendable, CustomStringConvertible {
    /// The tag as four little-endian words.
    public var words: (UInt64, UInt64, UInt64, UInt64)

    public static let none = PoolOwnerTag(words: (0, 0, 0, 0))

    public init(words: (UInt64, UInt64, UInt64, UInt64)) { self.words = words }

    /// A tag from exactly 32 bytes (e.g. a SHA-256 digest).
    public init(bytes: some Collection<UInt8>) {
        precondition(bytes.count == 32, "an owner tag is exactly 32 bytes")
        var w: [UInt64] = [0, 0, 0, 0]
        for (i, b) in bytes.enumerated() { w[i / 8] |= UInt64(b) << (8 * UInt64(i % 8)) }
        self.words = (w[0], w[1], w[2], w[3])
    }

    /// A tag derived from arbitrary bytes by four seeded XXH64 hashes (identity, not security).
    public init(hashing bytes: UnsafeRawBufferPointer) {
        self.words = (
            PoolChecksum.xxHash64(bytes, seed: 1), PoolChecksum.xxHash64(bytes, seed: 2),
            PoolChecksum.xxHash64(bytes, seed: 3), PoolChecksum.xxHash64(bytes, seed: 4)
        )
    }

    /// A tag derived from arbitrary bytes (see `init(hashing:)`).
    public init(hashing bytes: [UInt8]) {
        self = bytes.withUnsafeBytes { PoolOwnerTag(hashing: $0) }
    }

    public var bytes: [UInt8] {
        [words.0, words.1, words.2, words.3].flatMap { w in (0..<8).map { UInt8(truncatingIfNeeded: w >> (8 * UInt64($0))) } }
    }

    public static func == (lhs: PoolOwnerTag, rhs: PoolOwnerTag) -> Bool {
        lhs.words.0 == rhs.words.0 && lhs.words.1 == rhs.words.1 && lhs.words.2 == rhs.words.2 && lhs.words.3 == rhs.words.3
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0); hasher.combine(words.1); hasher.combine(words.2); hasher.combine(words.3)
    }

    public var description: String { hexString(bytes) }
}

/// The random 128-bit identity a pool receives when it is created.
public struct PoolIdentity: Hashable, Sendable, CustomStringConvertible {
    public let high: UInt64
    public let low: UInt64
    public init(high: UInt64, low: UInt64) { self.high = high; self.low = low }
    static func random() -> PoolIdentity {
        var generator = SystemRandomNumberGenerator()
        return PoolIdentity(high: generator.next(), low: generator.next())
    }
    public var description: String {
        let hex = hexString((0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64($0))) }
            + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64($0))) })
        let c = Array(hex)
        return String(c[0..<8]) + "-" + String(c[8..<12]) + "-" + String(c[12..<16]) + "-" + String(c[16..<20]) + "-" + String(c[20..<32])
    }
}

/// The smallest store a mapping makes durable by itself: byte or cache line on real persistent memory
/// (DAX, devdax, CXL), page on an ordinary file or tmpfs (persisted with msync).
public enum StoreGranularity: Sendable, Equatable, CustomStringConvertible {
    case byte, cacheLine, page
    public var description: String {
        switch self {
        case .byte: return "byte"
        case .cacheLine: return "cache line"
        case .page: return "page"
        }
    }
}

/// When a pool write becomes durable.
public enum Durability: Sendable, Equatable {
    /// Data, then its slot-table entry, are persisted before the call returns.
    case persisted
    /// Copied without flushing; durable after `persistPendingWrites()`, `commitRoot` or `close`.
    case deferred
}

/// What the slot table says about one slot written before (read back at open or any time later).
public struct SlotInfo: Sendable, Equatable {
    public let slot: SlotID
    /// Bytes of the blob stored in the slot.
    public let length: Int
    /// The caller's tag given at write time (e.g. the value id).
    public let userTag: UInt64
    /// Pool-wide commit counter: of two slots with the same tag, the larger sequence was written later.
    public let sequence: UInt64
}

/// The durable root record most recently committed.
public struct PoolRoot: Sendable, Equatable {
    /// Increases by one at every `commitRoot`.
    public let generation: UInt64
    public let payload: [UInt8]
}

/// Result of `PMemPool.verify()`.
public struct PoolVerification: Sendable, Equatable {
    public var slotsChecked = 0
    public var bytesChecked = 0
    /// Committed slots whose contents no longer match their checksum.
    public var corruptedSlots: [SlotID] = []
    public var isValid: Bool { corruptedSlots.isEmpty }
}

func hexString(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef")
    var s = ""
    s.reserveCapacity(bytes.count * 2)
    for b in bytes { s.append(digits[Int(b >> 4)]); s.append(digits[Int(b & 15)]) }
    return s
}
