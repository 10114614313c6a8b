/// The immediate (non-value) argument of an instruction. Which case an op takes is
/// `opcode.traits.immediate`; the verifier rejects any other.
public enum Immediate: Sendable, Hashable, Codable {
    case none
    /// `input` / `output`: which binding (index into `Program.inputs` or `Program.outputs`) and
    /// which of its ciphertexts.
    case binding(index: Int, ciphertext: Int)
    /// `constant`: index into `Program.constants`.
    case constantIndex(Int)
    /// `addConst`: the real constant added to every slot (encoded at the operand's scale).
    case scalar(Double)
    /// `mulConst`: the real constant multiplied into every slot, encoded at `scale` (the result's
    /// scale is the operand's × `scale`).
    case scaledScalar(value: Double, scale: Double)
    /// `rotate`: rotate slots left by `step` (negative: right).
    case rotationStep(Int)
    /// `rotateHoisted`: one left rotation per step, sharing one key-switch decomposition.
    case rotationSteps([Int])
    /// `levelDown`, `bootstrap`: the result's level.
    case targetLevel(Int)
    /// `refresh`: the key holder decrypts, applies the named function slot-wise (e.g. "relu"),
    /// and re-encrypts at `level` with the default scale.
    case refresh(function: String, level: Int)
    /// `gather`: index into `Program.laneMaps`.
    case laneMap(Int)
    /// `linearMap`: index into `Program.laneMaps`, and the scale its weights are encoded at (the result's scale is
    /// the operands' × `scale`).
    case scaledLaneMap(index: Int, scale: Double)
    /// `mulEncodeSum`: the constant-pool entry multiplied into each operand.
    case constantIndices([Int])

    /// The kind this immediate is (to compare with `OpTraits.immediate`).
    public var kind: ImmediateKind {
        switch self {
        case .none: return .none
        case .binding: return .binding
        case .constantIndex: return .constantIndex
        case .scalar: return .scalar
        case .scaledScalar: return .scaledScalar
        case .rotationStep: return .rotationStep
        case .rotationSteps: return .rotationSteps
        case .targetLevel: return .targetLevel
        case .refresh: return .refresh
        case .laneMap: return .laneMap
        case .scaledLaneMap: return .scaledLaneMap
        case .constantIndices: return .constantIndices
        }
    }
}

/// One SSA instruction: reads `operands`, defines `results`.
///
/// The interpreter's view: switch on `opcode` (or query `opcode.traits`), read values `operands`,
/// take the immediate through the typed accessors (`rotationSteps`, `constantIndex`, …) and store
/// each computed value under the matching id of `results`.
public struct Instruction: Sendable, Hashable, Codable {
    public var opcode: Opcode
    public var operands: [ValueID]
    public var immediate: Immediate
    public var results: [ValueID]

    public init(_ opcode: Opcode, operands: [ValueID] = [], immediate: Immediate = .none, results: [ValueID] = []) {
        self.opcode = opcode
        self.operands = operands
        self.immediate = immediate
        self.results = results
    }

    /// The single result (precondition: exactly one).
    public var result: ValueID {
        precondition(results.count == 1, "\(opcode) has \(results.count) results")
        return results[0]
    }

    /// The binding reference of `input` / `output`.
    public var binding: (index: Int, ciphertext: Int)? {
        if case .binding(let index, let ciphertext) = immediate { return (index, ciphertext) }
        return nil
    }

    /// The constant-pool index of `constant`.
    public var constantIndex: Int? {
        if case .constantIndex(let index) = immediate { return index }
        return nil
    }

    /// The rotation steps: one for `rotate`, several for `rotateHoisted`, empty otherwise.
    public var rotationSteps: [Int] {
        switch immediate {
        case .rotationStep(let step): return [step]
        case .rotationSteps(let steps): return steps
        default: return []
        }
    }

    /// The lane-map index of `gather` / `linearMap`.
    public var laneMapIndex: Int? {
        switch immediate {
        case .laneMap(let index): return index
        case .scaledLaneMap(let index, _): return index
        default: return nil
        }
    }

    /// The scalar of `addConst` / `mulConst`.
    public var scalar: Double? {
        switch immediate {
        case .scalar(let value): return value
        case .scaledScalar(let value, _): return value
        default: return nil
        }
    }

    /// The encoding scale of `mulConst`'s scalar or `linearMap`'s weights.
    public var scalarScale: Double? {
        switch immediate {
        case .scaledScalar(_, let scale): return scale
        case .scaledLaneMap(_, let scale): return scale
        default: return nil
        }
    }

    /// The target level of `levelDown`, `bootstrap` and `refresh`.
    public var targetLevel: Int? {
        switch immediate {
        case .targetLevel(let level): return level
        case .refresh(_, let level): return level
        default: return nil
        }
    }

    /// The function name of `refresh`.
    public var functionName: String? {
        if case .refresh(let function, _) = immediate { return function }
        return nil
    }

    /// The number of results `opcode` defines with this immediate.
    public var expectedResultCount: Int {
        switch opcode.traits.resultArity {
        case .zero: return 0
        case .one: return 1
        case .onePerStep: return rotationSteps.count
        }
    }
}
