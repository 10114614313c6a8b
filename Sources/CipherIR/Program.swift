/// The CKKS parameter set a plan was compiled for, mirrored here so CipherIR does not depend on the
/// CKKS target (the runtime converts it to validated CKKS parameters).
public struct PlanParameters: Sendable, Hashable, Codable {
    /// How the secret key's coefficients are drawn.
    public enum SecretDistribution: Sendable, Hashable, Codable {
        /// Each coefficient uniform in {−1, 0, 1}.
        case uniformTernary
        /// Exactly `hammingWeight` nonzero coefficients in {−1, 1} (sparse secrets, for bootstrapping).
        case sparseTernary(hammingWeight: Int)
    }

    /// log2 of the ring degree N (slots ≤ N/2).
    public var logN: Int
    /// Bit sizes of the ciphertext primes q_0 … q_L (q_0 first; level ℓ keeps q_0 … q_ℓ).
    public var qBits: [Int]
    /// Bit sizes of the special (key-switching) primes.
    public var pBits: [Int]
    /// Gadget decomposition number for key switching.
    public var dnum: Int
    public var secret: SecretDistribution
    /// Standard deviation of the discrete Gaussian error (3.2 in the HE standard).
    public var errorStandardDeviation: Double
    /// log2 of the default scale Δ used for fresh encodings, bootstrap and refresh outputs.
    public var log2DefaultScale: Int
    /// Name of the security preset the runtime validates against (e.g. "HE-128-classic").
    public var securityPreset: String
    /// How `bootstrap` is carried out, for a chain laid out for it (nil: the plan cannot bootstrap).
    public var bootstrapping: PlanBootstrapping?

    public init(
        logN: Int, qBits: [Int], pBits: [Int], dnum: Int = 1, secret: SecretDistribution = .uniformTernary,
        errorStandardDeviation: Double = 3.2, log2DefaultScale: Int, securityPreset: String = "HE-128-classic"
    ) {
        self.logN = logN
        self.qBits = qBits
        self.pBits = pBits
        self.dnum = dnum
        self.secret = secret
        self.errorStandardDeviation = errorStandardDeviation
        self.log2DefaultScale = log2DefaultScale
        self.securityPreset = securityPreset
    }

    /// The highest level of the chain: `qBits.count - 1`.
    public var maxLevel: Int { qBits.count - 1 }
    /// The highest level the program's own ops use: inputs are encrypted and bootstraps land there. The chain's top
    /// without bootstrapping; below the primes bootstrapping spends with it.
    public var applicationTopLevel: Int { bootstrapping?.outputLevel ?? maxLevel }
    /// N/2, the most slots a ciphertext can pack.
    public var maxSlots: Int { logN >= 1 && logN < 62 ? 1 << (logN - 1) : 0 }
    /// 2^log2DefaultScale.
    public var defaultScale: Double { Double(sign: .plus, exponent: log2DefaultScale, significand: 1) }
    /// The nominal value of prime q_level, 2^qBits[level] (the IR's rescale rule; exact primes are the runtime's).
    public func nominalPrime(atLevel level: Int) -> Double {
        Double(sign: .plus, exponent: qBits[level], significand: 1)
    }
    /// log2 of the nominal modulus at `level`: Σ qBits[0...level].
    public func log2Modulus(atLevel level: Int) -> Int { qBits[0...level].reduce(0, +) }
}

/// The bootstrapping circuit a plan's `bootstrap` instructions use (mirrors the CKKS library's
/// `BootstrapConfiguration`; the chain's top `levelsConsumed` primes are bootstrapping's).
public struct PlanBootstrapping: Sendable, Hashable, Codable {
    public var coeffsToSlotsLevels: Int
    public var slotsToCoeffsLevels: Int
    /// EvalMod's levels (cosine and double angles).
    public var evalModLevels: Int
    /// K: the range of the cosine approximation.
    public var sineRange: Int
    public var cosineDegree: Int
    public var doubleAngles: Int
    /// log2(q_0/Δ') of the message before ModRaise.
    public var messageRatioLog2: Double
    /// Level of every bootstrapped ciphertext (L − levels consumed).
    public var outputLevel: Int

    public init(coeffsToSlotsLevels: Int, slotsToCoeffsLevels: Int, evalModLevels: Int, sineRange: Int, cosineDegree: Int,
                doubleAngles: Int, messageRatioLog2: Double, outputLevel: Int) {
        self.coeffsToSlotsLevels = coeffsToSlotsLevels
        self.slotsToCoeffsLevels = slotsToCoeffsLevels
        self.evalModLevels = evalModLevels
        self.sineRange = sineRange
        self.cosineDegree = cosineDegree
        self.doubleAngles = doubleAngles
        self.messageRatioLog2 = messageRatioLog2
        self.outputLevel = outputLevel
    }

    /// Levels one bootstrap consumes from the top of the chain.
    public var levelsConsumed: Int { coeffsToSlotsLevels + evalModLevels + slotsToCoeffsLevels }
}

/// The evaluation keys a program needs on the server.
public struct KeyRequirements: Sendable, Hashable, Codable {
    public var relinearization: Bool
    public var conjugation: Bool
    public var bootstrapping: Bool
    /// Rotation steps with a Galois key, sorted ascending, without duplicates (use `insertRotationStep`).
    public private(set) var rotationSteps: [Int]

    public init(relinearization: Bool = false, conjugation: Bool = false, bootstrapping: Bool = false, rotationSteps: [Int] = []) {
        self.relinearization = relinearization
        self.conjugation = conjugation
        self.bootstrapping = bootstrapping
        self.rotationSteps = Array(Set(rotationSteps)).sorted()
    }

    public mutating func insertRotationStep(_ step: Int) {
        guard !rotationSteps.contains(step) else { return }
        rotationSteps.append(step)
        rotationSteps.sort()
    }

    /// True when every key of `other` is also here.
    public func covers(_ other: KeyRequirements) -> Bool {
        (relinearization || !other.relinearization) && (conjugation || !other.conjugation)
            && (bootstrapping || !other.bootstrapping) && Set(other.rotationSteps).isSubset(of: Set(rotationSteps))
    }
}

/// Where each element of a tensor lives: element `e` (row-major flat index) is at slot `slot` of
/// ciphertext `ciphertext` of its binding.
public enum SlotLayout: Sendable, Hashable, Codable {
    /// Element e at ciphertext e / slots, slot e % slots (the tensor fills ciphertexts in order).
    case contiguous
    /// Affine per dimension: for multi-index (i_0 … i_{r−1}), ciphertext = Σ i_d·ciphertextStrides[d]
    /// and slot = slotOffset + Σ i_d·slotStrides[d] (e.g. the batch layout: slot = image, ciphertext = rest).
    case strided(ciphertextStrides: [Int], slotStrides: [Int], slotOffset: Int)
    /// Explicit: positions[e] = ciphertext·slots + slot (Int32 per element).
    case explicit([Int32])
}

/// A program input or output: a named tensor packed into `ciphertextCount` ciphertexts of `slots` slots.
public struct TensorBinding: Sendable, Hashable, Codable {
    /// The tensor's name (the ONNX graph input/output name).
    public var name: String
    public var shape: [Int]
    public var ciphertextCount: Int
    public var slots: Int
    public var layout: SlotLayout
    /// Level at which the client encrypts an input (nil: not yet chosen; informational for outputs).
    public var level: Int?
    /// Scale at which the client encrypts an input (nil: not yet chosen; informational for outputs).
    public var scale: Double?

    public init(name: String, shape: [Int], ciphertextCount: Int, slots: Int, layout: SlotLayout = .contiguous, level: Int? = nil, scale: Double? = nil) {
        self.name = name
        self.shape = shape
        self.ciphertextCount = ciphertextCount
        self.slots = slots
        self.layout = layout
        self.level = level
        self.scale = scale
    }

    /// Number of tensor elements (product of the shape).
    public var elementCount: Int { shape.reduce(1, *) }

    /// The (ciphertext, slot) of element `element` (row-major flat index, 0 ≤ element < elementCount).
    /// The verifier guarantees the result is in range for a verified program.
    public func location(ofElement element: Int) -> (ciphertext: Int, slot: Int) {
        let position = flatPosition(ofElement: element)
        return (position / slots, position % slots)
    }

    /// ciphertext·slots + slot of element `element`.
    public func flatPosition(ofElement element: Int) -> Int {
        switch layout {
        case .contiguous:
            return element
        case .explicit(let positions):
            return Int(positions[element])
        case .strided(let ciphertextStrides, let slotStrides, let slotOffset):
            var remainder = element
            var ciphertext = 0
            var slot = slotOffset
            for dimension in stride(from: shape.count - 1, through: 0, by: -1) {
                let extent = shape[dimension]
                let index = extent > 0 ? remainder % extent : 0
                remainder = extent > 0 ? remainder / extent : 0
                ciphertext += index * ciphertextStrides[dimension]
                slot += index * slotStrides[dimension]
            }
            return ciphertext * slots + slot
        }
    }

    /// Every element's flat position, in element order (what an encryptor packs).
    public func flatPositions() -> [Int] {
        (0..<elementCount).map(flatPosition(ofElement:))
    }
}

/// A constant-pool entry: a real vector to be encoded as a plaintext at `level` and `scale`, stored either as
/// its values or by its structure (`SlotPattern`, materialized just before encoding). Its length is the
/// plaintext's slot count.
public struct ConstantEntry: Sendable, Hashable, Codable {
    /// How the vector is stored.
    public enum Content: Sendable, Hashable, Codable {
        case dense([Double])
        case pattern(SlotPattern)
    }

    public var content: Content
    public var level: Int
    public var scale: Double

    public init(values: [Double], level: Int, scale: Double) {
        self.content = .dense(values)
        self.level = level
        self.scale = scale
    }

    public init(pattern: SlotPattern, level: Int, scale: Double) {
        self.content = .pattern(pattern)
        self.level = level
        self.scale = scale
    }

    public init(content: Content, level: Int, scale: Double) {
        self.content = content
        self.level = level
        self.scale = scale
    }

    /// The vector's length (slot count), without materializing a pattern.
    public var length: Int {
        switch content {
        case .dense(let values): return values.count
        case .pattern(let pattern): return pattern.length
        }
    }

    /// The vector (a pattern is materialized); setting it stores dense values.
    public var values: [Double] {
        get {
            switch content {
            case .dense(let values): return values
            case .pattern(let pattern): return pattern.materialized()
            }
        }
        set { content = .dense(newValue) }
    }

    /// Bytes the entry's vector takes in a plan file.
    public var storedBytes: Int {
        switch content {
        case .dense(let values): return 8 * values.count
        case .pattern(let pattern): return pattern.storedBytes
        }
    }

    /// The same entry encoded at another level and scale.
    public func encoded(level: Int, scale: Double) -> ConstantEntry {
        ConstantEntry(content: content, level: level, scale: scale)
    }
}

/// The memory plan (which values live in DRAM or the PMem pool, prefetches, frees). Its content is
/// defined by a later issue; until then it is an opaque byte string that the formats carry verbatim
/// (empty for a plan compiled without one).
public struct MemoryPlan: Sendable, Hashable, Codable {
    public var bytes: [UInt8]
    public init(bytes: [UInt8] = []) { self.bytes = bytes }
    public var isEmpty: Bool { bytes.isEmpty }
}

/// The id bound `emit` computed over the first `scannedCount` instructions (which it assumes were
/// only appended to since; an edit that raises an earlier id without changing the count is caught
/// by the verifier as a redefinition).
struct ValueIDCache: Sendable, Equatable {
    var scannedCount = 0
    var bound = 0
    static func == (lhs: ValueIDCache, rhs: ValueIDCache) -> Bool { true }
}

/// A CipherIR program: everything a plan file holds.
///
/// Instructions are in execution order and in SSA form: every value id is defined by exactly one
/// instruction result, before any use. Value facts (slots, level, scale) live in the side table
/// `types` until they are final.
public struct Program: Sendable, Equatable, Codable {
    /// The CKKS parameters (nil until the compiler's parameter selection pass chose them).
    public var parameters: PlanParameters?
    public var keys: KeyRequirements
    public var inputs: [TensorBinding]
    public var outputs: [TensorBinding]
    public var constants: [ConstantEntry]
    /// Lane maps of `linearMap` and `gather` instructions (batch-layout programs).
    public var laneMaps: [LaneMap]
    public var instructions: [Instruction]
    public var types: ValueTypeTable
    public var memoryPlan: MemoryPlan
    /// `emit`'s memory of the id bound; not part of the program's value (equality, coding).
    var idCache = ValueIDCache()

    enum CodingKeys: String, CodingKey {
        case parameters, keys, inputs, outputs, constants, laneMaps, instructions, types, memoryPlan
    }

    public init(
        parameters: PlanParameters? = nil, keys: KeyRequirements = KeyRequirements(), inputs: [TensorBinding] = [],
        outputs: [TensorBinding] = [], constants: [ConstantEntry] = [], laneMaps: [LaneMap] = [], instructions: [Instruction] = [],
        types: ValueTypeTable = ValueTypeTable(), memoryPlan: MemoryPlan = MemoryPlan()
    ) {
        self.laneMaps = laneMaps
        self.parameters = parameters
        self.keys = keys
        self.inputs = inputs
        self.outputs = outputs
        self.constants = constants
        self.instructions = instructions
        self.types = types
        self.memoryPlan = memoryPlan
    }

    /// One more than the largest value id defined (0 for no values): the size of a dense value array.
    public var valueIDBound: Int {
        var bound = 0
        for instruction in instructions {
            for result in instruction.results { bound = max(bound, Int(result.raw) + 1) }
        }
        return bound
    }

    /// Appends an instruction whose results get fresh ids (one past the largest so far), records
    /// their facts when given, and returns the result ids. Amortized O(1): the id bound is cached
    /// for the instructions already scanned.
    @discardableResult
    public mutating func emit(_ opcode: Opcode, _ operands: [ValueID] = [], _ immediate: Immediate = .none, types resultTypes: [ValueType] = []) -> [ValueID] {
        var instruction = Instruction(opcode, operands: operands, immediate: immediate)
        if idCache.scannedCount > instructions.count { idCache = ValueIDCache() }
        for scanned in instructions[idCache.scannedCount...] {
            for result in scanned.results { idCache.bound = max(idCache.bound, Int(result.raw) + 1) }
        }
        let first = idCache.bound
        instruction.results = (0..<instruction.expectedResultCount).map { ValueID(first + $0) }
        idCache.bound = first + instruction.results.count
        idCache.scannedCount = instructions.count + 1
        for (result, type) in zip(instruction.results, resultTypes) {
            var type = type
            if type.lanes == nil, let lanes = inferredLanes(instruction), lanes != 1 { type.lanes = lanes }
            types[result] = type
        }
        instructions.append(instruction)
        return instruction.results
    }

    /// The lane count an instruction's results get from its operands or lane map (nil: none to infer, as for
    /// `input` and `constant`, whose lanes are declared).
    public func inferredLanes(_ instruction: Instruction) -> Int? {
        if let index = instruction.laneMapIndex {
            return index >= 0 && index < laneMaps.count ? laneMaps[index].outputLanes : nil
        }
        guard let first = instruction.operands.first else { return nil }
        return types[first].laneCount
    }

    /// The lane count of `value` (1 unless its type says otherwise).
    public func lanes(of value: ValueID) -> Int { types[value].laneCount }

    /// `emit` for ops with exactly one result.
    @discardableResult
    public mutating func emitOne(_ opcode: Opcode, _ operands: [ValueID] = [], _ immediate: Immediate = .none, type: ValueType = .unknown) -> ValueID {
        let results = emit(opcode, operands, immediate, types: [type])
        precondition(results.count == 1, "\(opcode) does not define exactly one result")
        return results[0]
    }

    /// The keys the instructions actually use (what a key-selection pass records in `keys`).
    public func usedKeys() -> KeyRequirements {
        var used = KeyRequirements()
        for instruction in instructions {
            switch instruction.opcode.traits.key {
            case .none: break
            case .relinearization: used.relinearization = true
            case .conjugation: used.conjugation = true
            case .bootstrapping: used.bootstrapping = true
            case .galoisPerStep: for step in instruction.rotationSteps { used.insertRotationStep(step) }
            }
        }
        return used
    }

    /// For each value id, the index of the last instruction that reads it (−1 if none).
    public func lastUses() -> [Int] {
        var last = [Int](repeating: -1, count: valueIDBound)
        for (index, instruction) in instructions.enumerated() {
            for operand in instruction.operands where Int(operand.raw) < last.count { last[Int(operand.raw)] = index }
        }
        return last
    }

    /// The kind of every defined value, from its defining op.
    public func valueKinds() -> [ValueID: ValueKind] {
        var kinds: [ValueID: ValueKind] = [:]
        for instruction in instructions {
            guard let kind = instruction.opcode.traits.resultKind else { continue }
            for result in instruction.results { kinds[result] = kind }
        }
        return kinds
    }

    /// Instruction counts per op (for `tessera estimate`).
    public func opcodeHistogram() -> [Opcode: Int] {
        var histogram: [Opcode: Int] = [:]
        for instruction in instructions { histogram[instruction.opcode, default: 0] += 1 }
        return histogram
    }
}
