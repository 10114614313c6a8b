/// The closed CipherIR op set. Raw values are the STABLE numeric codes stored in plan files: never
/// renumber a case; a new op gets a new code (and a plan format version bump if old readers must
/// reject it). The high byte groups ops by family. See ir-spec/cipher-ir.md for each op's rules.
public enum Opcode: UInt16, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    // program boundary and constants
    case input = 0x0001
    case output = 0x0002
    case constant = 0x0003
    // additive
    case add = 0x0100
    case sub = 0x0101
    case negate = 0x0102
    case addPlain = 0x0103
    case addConst = 0x0104
    // multiplicative
    case mulPlain = 0x0200
    case mulConst = 0x0201
    case mul = 0x0202
    case relinearize = 0x0203
    // modulus management
    case rescale = 0x0300
    case levelDown = 0x0301
    // slot permutations (key switching)
    case rotate = 0x0400
    case rotateHoisted = 0x0401
    case conjugate = 0x0402
    // level refresh
    case bootstrap = 0x0500
    case refresh = 0x0501
    // fused (declared last so `allCases` keeps the dense indices of the ops above)
    /// Σ_i ct_i ⊙ pt_i over operand pairs (ct_0, pt_0, ct_1, pt_1, …): the inner sum of a baby-step giant-step
    /// linear transform as one instruction.
    case mulPlainSum = 0x0204
    /// Lane mixing: result lane j = Σ_i w(j, i)·operand lane i + b_j, the map a `LaneMap` of the program (the batch
    /// layout's convolutions and dense layers as one instruction).
    case linearMap = 0x0205
    /// Lane selection: result lane j = operand lane indices[j] of a `LaneMap` (concatenation, pooling windows).
    case gather = 0x0206
    /// Σ_i ct_i ⊙ encode(pool entry k_i): `mulPlainSum` whose plaintexts are encoded inside the instruction, a few at a
    /// time, instead of living as values (the memory planner's just-in-time choice for single-use constants).
    case mulEncodeSum = 0x0207

    /// The properties passes and the runtime query instead of switching on the op.
    public var traits: OpTraits { OpTraits.byCode[denseIndex] }

    /// Position in `allCases` (an index into the traits array without hashing).
    var denseIndex: Int {
        switch self {
        case .input: return 0
        case .output: return 1
        case .constant: return 2
        case .add: return 3
        case .sub: return 4
        case .negate: return 5
        case .addPlain: return 6
        case .addConst: return 7
        case .mulPlain: return 8
        case .mulConst: return 9
        case .mul: return 10
        case .relinearize: return 11
        case .rescale: return 12
        case .levelDown: return 13
        case .rotate: return 14
        case .rotateHoisted: return 15
        case .conjugate: return 16
        case .bootstrap: return 17
        case .refresh: return 18
        case .mulPlainSum: return 19
        case .linearMap: return 20
        case .gather: return 21
        case .mulEncodeSum: return 22
        }
    }

    /// The spelling in the text format.
    public var mnemonic: String { traits.mnemonic }

    public var description: String { mnemonic }

    /// The opcode spelled `mnemonic` in the text format, or nil.
    public init?(mnemonic: String) {
        guard let found = Opcode.allCases.first(where: { $0.mnemonic == mnemonic }) else { return nil }
        self = found
    }
}

/// How an op changes the level of its (first) ciphertext operand.
public enum LevelEffect: UInt8, Sendable, Hashable, Codable {
    /// The level is not an operand's: it comes from a binding (`input`) or a pool entry (`constant`).
    case fromSource
    /// Result level = operand level (all operand levels must agree where `operandsMustAgree`).
    case preserves
    /// Result level = operand level − 1 (`rescale`).
    case consumesOne
    /// Result level = the immediate target level, below the operand's (`levelDown`).
    case dropsToTarget
    /// Result level = the immediate target level, any level up to the top (`bootstrap`, `refresh`).
    case resetsToTarget
    /// No result.
    case none
}

/// How an op sets the scale of its result.
public enum ScaleRule: UInt8, Sendable, Hashable, Codable {
    /// From a binding (`input`) or a pool entry (`constant`).
    case fromSource
    /// Result scale = operand scale (operands' scales must agree where `operandsMustAgree`).
    case preserves
    /// Result scale = product of the operands' scales (`mul`, `mulPlain`).
    case product
    /// Result scale = operand scale × the immediate encoding scale (`mulConst`).
    case productWithImmediate
    /// Result scale = operand scale / 2^qBits[level] (the dropped prime, nominally) (`rescale`).
    case dividesByDroppedPrime
    /// Result scale = the parameters' default scale 2^log2DefaultScale (`bootstrap`, `refresh`).
    case resetsToDefault
    /// Result scale = operand scale × the scale of the pool entries of the immediate (`mulEncodeSum`).
    case productWithPoolEntries
    /// No result.
    case none
}

/// Which evaluation key an op needs.
public enum KeyNeed: UInt8, Sendable, Hashable, Codable {
    case none
    case relinearization
    /// One Galois key per rotation step in the immediate.
    case galoisPerStep
    case conjugation
    case bootstrapping
}

/// Which immediate argument an op carries (the case of `Immediate` it must hold).
public enum ImmediateKind: UInt8, Sendable, Hashable, Codable {
    case none
    case binding
    case constantIndex
    case scalar
    case scaledScalar
    case rotationStep
    case rotationSteps
    case targetLevel
    case refresh
    /// `gather`: a lane-map index.
    case laneMap
    /// `linearMap`: a lane-map index and the weights' encoding scale.
    case scaledLaneMap
    /// `mulEncodeSum`: one constant-pool index per operand.
    case constantIndices
}

/// How many results an op defines.
public enum ResultArity: UInt8, Sendable, Hashable, Codable {
    case zero
    case one
    /// One result per rotation step of the immediate, in the immediate's order (`rotateHoisted`).
    case onePerStep
}

/// Ciphertext degree bookkeeping (a product of two ciphertexts has three polynomials until relinearized).
public enum DegreeRule: UInt8, Sendable, Hashable, Codable {
    /// Result degree = the largest operand degree (1 for sources).
    case preserves
    /// Every ciphertext operand must be degree 1; result degree 1.
    case requiresLinear
    /// Operands degree 1; result degree 2 (`mul`).
    case tensor
    /// Operand degree 2; result degree 1 (`relinearize`).
    case relinearizes
}

/// A coarse cost class for estimates and scheduling; the cost model maps each to measured time.
public enum CostClass: UInt8, Sendable, Hashable, Codable, CaseIterable {
    /// Binding a value into or out of the program (no arithmetic on the server).
    case io
    /// Encoding a pool entry into a plaintext (one inverse FFT and NTTs).
    case encode
    /// Coefficient-wise add/sub/negate, O(N·ℓ).
    case addition
    /// Plaintext or scalar multiply, O(N·ℓ).
    case plainMultiply
    /// Ciphertext × ciphertext tensor product, O(N·ℓ).
    case tensorMultiply
    /// Dropping primes without division, O(1)–O(N).
    case modulusDrop
    /// Rescale: inverse NTT, division by a prime, NTT, O(N·ℓ·log N).
    case rescale
    /// One key switch (relinearize, rotate, conjugate), O(N·ℓ·dnum·log N).
    case keySwitch
    /// Several rotations sharing one decomposition (hoisting).
    case hoistedKeySwitch
    /// Bootstrapping: by far the most expensive op.
    case bootstrap
    /// A round trip to the key holder (decrypt, apply, re-encrypt): network and client time.
    case clientRoundTrip
}

/// The properties of one op, as data. Passes ask `op.traits.consumesLevel` rather than matching names.
public struct OpTraits: Sendable, Hashable {
    public let mnemonic: String
    /// Kinds of the operands, in order (the operand count is this array's count, or a positive multiple of it when
    /// `repeatsOperands`).
    public let operandKinds: [ValueKind]
    /// The operand kinds repeat as a group any positive number of times (`mulPlainSum`'s ct, pt pairs).
    public let repeatsOperands: Bool
    /// Kind of every result (nil when the op has no result).
    public let resultKind: ValueKind?
    public let resultArity: ResultArity
    public let immediate: ImmediateKind
    public let levelEffect: LevelEffect
    public let scaleRule: ScaleRule
    /// Operands must have equal levels and (for additive ops) equal scales.
    public let operandsMustAgree: OperandAgreement
    public let key: KeyNeed
    public let degree: DegreeRule
    public let costClass: CostClass

    /// Whether an instruction of this op may have `count` operands.
    public func acceptsOperandCount(_ count: Int) -> Bool {
        repeatsOperands ? count > 0 && count % operandKinds.count == 0 : count == operandKinds.count
    }

    /// The kind operand `position` must have.
    public func operandKind(at position: Int) -> ValueKind {
        operandKinds[position % operandKinds.count]
    }

    /// "2", or "a positive multiple of 2" for repeating groups (for error messages).
    public var operandCountDescription: String {
        repeatsOperands ? "a positive multiple of \(operandKinds.count)" : "\(operandKinds.count)"
    }

    /// The op lowers the level by one (it spends a prime).
    public var consumesLevel: Bool { levelEffect == .consumesOne || levelEffect == .dropsToTarget }
    /// The op sets the level back up (bootstrap, refresh).
    public var resetsLevel: Bool { levelEffect == .resetsToTarget }
    /// The op needs an evaluation key (key switching) on the server.
    public var needsKey: Bool { key != .none }
    /// The op needs the key holder (client) online.
    public var needsKeyHolder: Bool { costClass == .clientRoundTrip }

    /// What operands must share.
    public enum OperandAgreement: UInt8, Sendable, Hashable, Codable {
        /// Nothing beyond slot counts.
        case slotsOnly
        /// Equal levels (plaintext level ≥ ciphertext level for ct × pt) and equal slots.
        case levels
        /// Equal levels, equal scales (relative 1e-9) and equal slots.
        case levelsAndScales
    }

    /// The traits in `Opcode.allCases` order, indexed by `denseIndex`.
    static let byCode: [OpTraits] = Opcode.allCases.map { table[$0]! }

    /// The traits of every op; the single source of truth (ir-spec/cipher-ir.md mirrors it).
    static let table: [Opcode: OpTraits] = {
        func op(
            _ mnemonic: String, _ operands: [ValueKind], _ result: ValueKind?, repeats: Bool = false, arity: ResultArity = .one,
            immediate: ImmediateKind = .none, level: LevelEffect = .preserves, scale: ScaleRule = .preserves,
            agree: OperandAgreement = .slotsOnly, key: KeyNeed = .none, degree: DegreeRule = .preserves,
            cost: CostClass
        ) -> OpTraits {
            OpTraits(
                mnemonic: mnemonic, operandKinds: operands, repeatsOperands: repeats, resultKind: result, resultArity: result == nil ? .zero : arity,
                immediate: immediate, levelEffect: result == nil ? .none : level, scaleRule: result == nil ? .none : scale,
                operandsMustAgree: agree, key: key, degree: degree, costClass: cost)
        }
        let ct = ValueKind.ciphertext
        let pt = ValueKind.plaintext
        return [
            .input: op("input", [], ct, immediate: .binding, level: .fromSource, scale: .fromSource, cost: .io),
            .output: op("output", [ct], nil, immediate: .binding, degree: .requiresLinear, cost: .io),
            .constant: op("constant", [], pt, immediate: .constantIndex, level: .fromSource, scale: .fromSource, cost: .encode),
            .add: op("add", [ct, ct], ct, agree: .levelsAndScales, cost: .addition),
            .sub: op("sub", [ct, ct], ct, agree: .levelsAndScales, cost: .addition),
            .negate: op("negate", [ct], ct, cost: .addition),
            .addPlain: op("addPlain", [ct, pt], ct, agree: .levelsAndScales, cost: .addition),
            .addConst: op("addConst", [ct], ct, immediate: .scalar, cost: .addition),
            .mulPlain: op("mulPlain", [ct, pt], ct, scale: .product, agree: .levels, cost: .plainMultiply),
            .mulConst: op("mulConst", [ct], ct, immediate: .scaledScalar, scale: .productWithImmediate, cost: .plainMultiply),
            .mulPlainSum: op("mulPlainSum", [ct, pt], ct, repeats: true, scale: .product, agree: .levels, cost: .plainMultiply),
            .linearMap: op(
                "linearMap", [ct], ct, repeats: true, immediate: .scaledLaneMap, scale: .productWithImmediate, agree: .levelsAndScales,
                degree: .requiresLinear, cost: .plainMultiply),
            .gather: op("gather", [ct], ct, repeats: true, immediate: .laneMap, agree: .levelsAndScales, cost: .io),
            .mulEncodeSum: op(
                "mulEncodeSum", [ct], ct, repeats: true, immediate: .constantIndices, scale: .productWithPoolEntries, agree: .levels,
                cost: .plainMultiply),
            .mul: op("mul", [ct, ct], ct, scale: .product, agree: .levels, degree: .tensor, cost: .tensorMultiply),
            .relinearize: op("relinearize", [ct], ct, key: .relinearization, degree: .relinearizes, cost: .keySwitch),
            .rescale: op("rescale", [ct], ct, level: .consumesOne, scale: .dividesByDroppedPrime, cost: .rescale),
            .levelDown: op("levelDown", [ct], ct, immediate: .targetLevel, level: .dropsToTarget, cost: .modulusDrop),
            .rotate: op("rotate", [ct], ct, immediate: .rotationStep, key: .galoisPerStep, degree: .requiresLinear, cost: .keySwitch),
            .rotateHoisted: op(
                "rotateHoisted", [ct], ct, arity: .onePerStep, immediate: .rotationSteps, key: .galoisPerStep,
                degree: .requiresLinear, cost: .hoistedKeySwitch),
            .conjugate: op("conjugate", [ct], ct, key: .conjugation, degree: .requiresLinear, cost: .keySwitch),
            .bootstrap: op(
                "bootstrap", [ct], ct, immediate: .targetLevel, level: .resetsToTarget, scale: .resetsToDefault,
                key: .bootstrapping, degree: .requiresLinear, cost: .bootstrap),
            .refresh: op(
                "refresh", [ct], ct, immediate: .refresh, level: .resetsToTarget, scale: .resetsToDefault,
                degree: .requiresLinear, cost: .clientRoundTrip),
        ]
    }()
}
