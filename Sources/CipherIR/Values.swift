/// Identifies one SSA value of a program. Printed `%N`. Every value is defined by exactly one
/// instruction result; ids need not be dense (see `Program.valueIDBound`).
public struct ValueID: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public let raw: UInt32
    public init(_ raw: UInt32) { self.raw = raw }
    public init(_ raw: Int) {
        precondition(raw >= 0 && raw <= Int(UInt32.max), "value id \(raw) out of range")
        self.raw = UInt32(raw)
    }
    public static func < (lhs: ValueID, rhs: ValueID) -> Bool { lhs.raw < rhs.raw }
    public var description: String { "%\(raw)" }
}

/// What a value holds.
///
/// Constants proper (raw real vectors) live in the program's constant pool and become values
/// through the `constant` instruction, whose result is a plaintext encoded at the entry's level and
/// scale; scalar constants are immediates of `addConst` / `mulConst`.
public enum ValueKind: UInt8, Sendable, Hashable, Codable, CustomStringConvertible {
    /// An encrypted vector (two polynomials, or three after `mul` until `relinearize`).
    case ciphertext = 0
    /// An encoded, unencrypted vector (one polynomial).
    case plaintext = 1

    /// The spelling in the text format: `ct` or `pt`.
    public var mnemonic: String {
        switch self {
        case .ciphertext: return "ct"
        case .plaintext: return "pt"
        }
    }

    public var description: String { mnemonic }
}

/// The facts known about a value: each is `nil` until a pass (or the verifier's inference) fixes it.
///
/// - `slots`: number of packed slots (a power of two, at most N/2).
/// - `level`: index of the top prime of the value's modulus; level ℓ keeps primes q_0 … q_ℓ, so the
///   fresh level is `qBits.count - 1` and level 0 is the last one usable.
/// - `scale`: the CKKS scaling factor Δ as a real number (e.g. 2^40), never its logarithm.
public struct ValueType: Sendable, Hashable, Codable, CustomStringConvertible {
    public var slots: Int?
    public var level: Int?
    public var scale: Double?
    /// Number of ciphertexts (or plaintexts) the value holds, side by side as *lanes* (nil: one). A lane value is
    /// the batch layout's whole tensor: lane r holds element r of every image; elementwise ops apply lane by lane,
    /// `linearMap` and `gather` mix lanes (see ir-spec/cipher-ir.md "Lanes").
    public var lanes: Int?

    public init(slots: Int? = nil, level: Int? = nil, scale: Double? = nil, lanes: Int? = nil) {
        self.slots = slots
        self.level = level
        self.scale = scale
        self.lanes = lanes == 1 ? nil : lanes
    }

    /// Nothing known.
    public static let unknown = ValueType()

    /// The lane count (1 for an ordinary value).
    public var laneCount: Int { lanes ?? 1 }

    public var isUnknown: Bool { slots == nil && level == nil && scale == nil && lanes == nil }
    /// Slots, level and scale all known.
    public var isComplete: Bool { slots != nil && level != nil && scale != nil }

    /// `slots=8, level=3, scale=2^40` (known fields only), as inside `ct<…>` in the text format.
    public var description: String {
        var parts: [String] = []
        if let slots { parts.append("slots=\(slots)") }
        if let level { parts.append("level=\(level)") }
        if let scale { parts.append("scale=\(formatScale(scale))") }
        if let lanes { parts.append("lanes=\(lanes)") }
        return parts.joined(separator: ", ")
    }
}

/// The side table of value facts, keyed by value id. Reading an absent id gives `.unknown`;
/// storing `.unknown` removes the entry, so two tables with the same facts are equal. Stored densely by id
/// (ids are nearly dense: `Program.emit` hands them out in order).
public struct ValueTypeTable: Sendable, Equatable, Codable {
    private var storage: [ValueType?] = []
    public private(set) var count = 0

    public init() {}

    public subscript(_ id: ValueID) -> ValueType {
        get {
            let index = Int(id.raw)
            return index < storage.count ? storage[index] ?? .unknown : .unknown
        }
        set {
            let index = Int(id.raw)
            if newValue.isUnknown {
                guard index < storage.count, storage[index] != nil else { return }
                storage[index] = nil
                count -= 1
                return
            }
            if index >= storage.count {
                storage.append(contentsOf: repeatElement(nil, count: max(index + 1 - storage.count, storage.count / 2)))
            }
            if storage[index] == nil { count += 1 }
            storage[index] = newValue
        }
    }

    /// The entries sorted by value id (the order of the binary format).
    public var sortedEntries: [(id: ValueID, type: ValueType)] {
        storage.indices.compactMap { index in storage[index].map { (id: ValueID(index), type: $0) } }
    }

    public mutating func removeAll() {
        storage.removeAll()
        count = 0
    }

    public static func == (lhs: ValueTypeTable, rhs: ValueTypeTable) -> Bool {
        guard lhs.count == rhs.count else { return false }
        let longer = max(lhs.storage.count, rhs.storage.count)
        for index in 0..<longer {
            let a = index < lhs.storage.count ? lhs.storage[index] : nil
            let b = index < rhs.storage.count ? rhs.storage[index] : nil
            if a != b { return false }
        }
        return true
    }

    enum CodingKeys: String, CodingKey { case entries }
    struct Entry: Codable { var id: ValueID; var type: ValueType }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        for entry in try container.decode([Entry].self, forKey: .entries) { self[entry.id] = entry.type }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(sortedEntries.map { Entry(id: $0.id, type: $0.type) }, forKey: .entries)
    }
}

/// Prints a scale as `2^k` when it is an exact power of two with integer exponent, otherwise as the
/// shortest decimal that reads back to the same Double.
func formatScale(_ scale: Double) -> String {
    if scale.isNormal, scale > 0, scale.significandBitPattern == 0 {
        return "2^\(Int(scale.exponent))"
    }
    return formatDouble(scale)
}

/// The shortest decimal spelling that reads back to the same Double (Swift's `description`).
func formatDouble(_ value: Double) -> String {
    value.description
}

/// Two scales agree when they are within relative 1e-9 (the IR's nominal scales use 2^bits for each
/// prime; the runtime tracks the exact ones).
public func scalesAgree(_ a: Double, _ b: Double) -> Bool {
    if a == b { return true }
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b))
}
