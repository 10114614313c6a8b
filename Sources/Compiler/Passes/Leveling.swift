import CipherIR

/// Waterline leveling (EVA): rebuilds an unleveled program with every value's level and scale fixed.
///
/// Rules, in one place:
/// - inputs are encrypted at the top level L with scale Δ; `refresh` re-encrypts at L with Δ;
/// - a product (`mul`, `mulPlain`, `mulConst`) leaves its result *pending* (scale ≈ Δ·q); it is rescaled lazily, right
///   before the value meets something that needs scale Δ (another product, an add with a settled value, an output),
///   so a multiply-accumulate of many products pays one rescale, not one per product;
/// - plaintexts and scalars multiplied into a ciphertext of scale s at level ℓ are encoded at scale q_ℓ·Δ/s, so the
///   scale returns to Δ exactly after the rescale that drops q_ℓ; plaintexts added are encoded at the operand's scale
///   and level;
/// - operands of add/sub/mul are brought to one level with `levelDown` (cached per value and level).
struct Leveler {
    let source: Program
    let parameters: PlanParameters
    let topLevel: Int
    var out: Program
    /// Old value id → new value id (nil for plaintexts, which are materialized per use).
    var map: [ValueID?]
    /// Old plaintext value id → constant-pool index in the source.
    var plaintextPool: [ValueID: Int] = [:]
    var level: [Int] = []
    var scale: [Double] = []
    var rescaledCache: [ValueID: ValueID] = [:]
    var levelDownCache: [LevelKey: ValueID] = [:]
    var constantCache: [ConstantKey: ValueID] = [:]
    /// Lowest level any value reaches.
    var minimumLevel: Int
    let defaultScale: Double
    let waterline: Double

    struct LevelKey: Hashable { var value: ValueID; var level: Int }
    struct ConstantKey: Hashable { var pool: Int; var level: Int; var scaleBits: UInt64 }

    /// Where bootstraps go (`.none` without bootstrapping parameters).
    let placement: BootstrapPlacement
    /// Depth of the polynomial activation reading each source value (for `.optimized` placement).
    let activationDepths: [ValueID: Int]
    /// Source values whose activation look-ahead was done.
    var lookedAhead = Set<ValueID>()
    var bootstrappedCache: [ValueID: ValueID] = [:]
    var bootstraps = 0
    /// `.optimized`: the cut values `BootstrapPlanner` chose to bootstrap (nil: decide greedily at each cut).
    var planned: Set<ValueID>? = nil

    init(source: Program, parameters: PlanParameters, placement: BootstrapPlacement = .none, activationDepths: [ValueID: Int] = [:]) {
        self.source = source
        self.parameters = parameters
        self.topLevel = parameters.applicationTopLevel
        self.minimumLevel = parameters.applicationTopLevel
        self.placement = parameters.bootstrapping == nil ? .none : placement
        self.activationDepths = activationDepths
        self.defaultScale = parameters.defaultScale
        let scalePrimeBits = parameters.qBits.dropFirst().min() ?? parameters.log2DefaultScale
        self.waterline = parameters.defaultScale * Double(sign: .plus, exponent: max(1, scalePrimeBits / 2), significand: 1)
        self.map = [ValueID?](repeating: nil, count: source.valueIDBound)
        var program = Program(parameters: parameters, keys: source.keys, inputs: source.inputs, outputs: source.outputs,
                              laneMaps: source.laneMaps, memoryPlan: source.memoryPlan)
        program.constants.reserveCapacity(source.constants.count)
        self.out = program
    }

    // MARK: facts of new values

    private mutating func record(_ id: ValueID, level newLevel: Int, scale newScale: Double) {
        let index = Int(id.raw)
        if level.count <= index {
            level.append(contentsOf: repeatElement(0, count: index + 1 - level.count))
            scale.append(contentsOf: repeatElement(0, count: index + 1 - scale.count))
        }
        level[index] = newLevel
        scale[index] = newScale
        minimumLevel = min(minimumLevel, newLevel)
    }

    private func slots(of old: ValueID) -> Int? { source.types[old].slots }

    private mutating func emit(_ opcode: Opcode, _ operands: [ValueID], _ immediate: Immediate = .none, slots: Int?,
                               level newLevel: Int, scale newScale: Double) -> ValueID {
        let id = out.emitOne(opcode, operands, immediate, type: ValueType(slots: slots, level: newLevel, scale: newScale))
        record(id, level: newLevel, scale: newScale)
        return id
    }

    private func levelOf(_ id: ValueID) -> Int { level[Int(id.raw)] }
    private func scaleOf(_ id: ValueID) -> Double { scale[Int(id.raw)] }
    private func slotsOf(_ id: ValueID) -> Int? { out.types[id].slots }
    private func isPending(_ id: ValueID) -> Bool { scaleOf(id) > waterline }

    // MARK: scale and level management

    private mutating func rescale(_ id: ValueID, instruction: Int) throws -> ValueID {
        if let cached = rescaledCache[id] { return cached }
        let current = levelOf(id)
        guard current >= 1 else {
            throw CompilerError.levelingFailed(instruction: instruction, detail: "no level left to rescale \(id); the parameters' chain is too short for the program's depth")
        }
        let result = emit(.rescale, [id], slots: slotsOf(id), level: current - 1,
                          scale: scaleOf(id) / parameters.nominalPrime(atLevel: current))
        rescaledCache[id] = result
        return result
    }

    /// Rescales a pending value (scale back near Δ).
    private mutating func settle(_ id: ValueID, instruction: Int) throws -> ValueID {
        var value = id
        while isPending(value) { value = try rescale(value, instruction: instruction) }
        return value
    }

    private mutating func levelDown(_ id: ValueID, to target: Int) -> ValueID {
        if levelOf(id) == target { return id }
        let key = LevelKey(value: id, level: target)
        if let cached = levelDownCache[key] { return cached }
        let result = emit(.levelDown, [id], .targetLevel(target), slots: slotsOf(id), level: target, scale: scaleOf(id))
        levelDownCache[key] = result
        return result
    }

    /// A settled value with at least `need` levels for what follows: bootstrapped when it has fewer and placement
    /// allows (cached per value).
    private mutating func ready(_ id: ValueID, need: Int = 1) -> ValueID {
        guard placement != .none, levelOf(id) < min(need, topLevel) else { return id }
        if let cached = bootstrappedCache[id] { return cached }
        let result = emit(.bootstrap, [id], .targetLevel(topLevel), slots: slotsOf(id), level: topLevel, scale: defaultScale)
        out.keys.bootstrapping = true
        bootstrappedCache[id] = result
        bootstraps += 1
        return result
    }

    /// `.optimized` placement: before the first instruction that reads a marked value (an activation's input, a value a
    /// composite activation narrows to between its stages, an activation's output), the value is bootstrapped once if
    /// its level cannot hold the depth recorded for it, so polynomials run without bootstrapping their intermediate
    /// powers one by one. Bootstrapping only at the last such point keeps values at the lowest levels, where every
    /// operation is cheapest.
    private mutating func lookAhead(_ instruction: Instruction, index: Int) throws {
        guard placement == .optimized || placement == .greedy else { return }
        for old in instruction.operands where !lookedAhead.contains(old) {
            guard let depth = activationDepths[old], Int(old.raw) < map.count, let current = map[Int(old.raw)] else { continue }
            lookedAhead.insert(old)
            // Settled once here, so a value rotated many times (a convolution's input) is rescaled before, not per copy.
            let settled = try settle(current, instruction: index)
            let need = planned.map { $0.contains(old) ? topLevel : 0 } ?? depth
            let bootstrapped = ready(settled, need: need)
            if bootstrapped != current { define(old, bootstrapped) }
        }
    }

    /// Brings two ciphertexts to one level and scale (for add/sub).
    private mutating func align(_ a: ValueID, _ b: ValueID, instruction: Int) throws -> (ValueID, ValueID) {
        var (x, y) = (a, b)
        if levelOf(x) == levelOf(y) && scalesAgree(scaleOf(x), scaleOf(y)) { return (x, y) }
        x = try settle(x, instruction: instruction)
        y = try settle(y, instruction: instruction)
        let target = min(levelOf(x), levelOf(y))
        x = levelDown(x, to: target)
        y = levelDown(y, to: target)
        guard scalesAgree(scaleOf(x), scaleOf(y)) else {
            throw CompilerError.levelingFailed(
                instruction: instruction,
                detail: "operand scales \(scaleOf(x)) and \(scaleOf(y)) differ after rescaling; use scale primes equal to the scale")
        }
        return (x, y)
    }

    /// The encoding scale that brings a product with an operand of scale `operandScale` at `atLevel` back to Δ after
    /// one rescale.
    private func productEncodingScale(operandScale: Double, atLevel: Int) -> Double {
        let prime = atLevel >= 1 ? parameters.nominalPrime(atLevel: atLevel) : defaultScale
        return prime * defaultScale / operandScale
    }

    /// The plaintext of old value `old` encoded at (level, scale); one pool entry and `constant` per distinct encoding.
    private mutating func plaintext(_ old: ValueID, level encodeLevel: Int, scale encodeScale: Double, instruction: Int) throws -> ValueID {
        guard let pool = plaintextPool[old] else {
            throw CompilerError.levelingFailed(instruction: instruction, detail: "\(old) is not a constant plaintext")
        }
        let key = ConstantKey(pool: pool, level: encodeLevel, scaleBits: encodeScale.bitPattern)
        if let cached = constantCache[key] { return cached }
        let index = out.constants.count
        out.constants.append(source.constants[pool].encoded(level: encodeLevel, scale: encodeScale))
        let id = out.emitOne(.constant, [], .constantIndex(index),
                             type: ValueType(slots: source.constants[pool].length, level: encodeLevel, scale: encodeScale))
        record(id, level: encodeLevel, scale: encodeScale)
        constantCache[key] = id
        return id
    }

    private func mapped(_ old: ValueID, instruction: Int) throws -> ValueID {
        guard Int(old.raw) < map.count, let id = map[Int(old.raw)] else {
            throw CompilerError.levelingFailed(instruction: instruction, detail: "\(old) is used before it is defined (or is a plaintext where a ciphertext is expected)")
        }
        return id
    }

    // MARK: the walk

    mutating func run() throws -> Program {
        for (index, instruction) in source.instructions.enumerated() {
            try visit(instruction, index: index)
        }
        return out
    }

    private mutating func define(_ old: ValueID, _ new: ValueID) { map[Int(old.raw)] = new }

    private mutating func visit(_ instruction: Instruction, index: Int) throws {
        let op = instruction.opcode
        if !activationDepths.isEmpty { try lookAhead(instruction, index: index) }
        let resultSlots = instruction.results.first.flatMap(slots(of:))
        switch op {
        case .input:
            guard let binding = instruction.binding else { return }
            out.inputs[binding.index].level = topLevel
            out.inputs[binding.index].scale = defaultScale
            let id = out.emitOne(.input, [], instruction.immediate,
                                 type: ValueType(slots: resultSlots, level: topLevel, scale: defaultScale, lanes: source.types[instruction.result].lanes))
            record(id, level: topLevel, scale: defaultScale)
            define(instruction.result, id)
        case .constant:
            guard let pool = instruction.constantIndex else { return }
            plaintextPool[instruction.result] = pool
        case .output:
            guard let binding = instruction.binding else { return }
            let value = try settle(try mapped(instruction.operands[0], instruction: index), instruction: index)
            out.outputs[binding.index].level = levelOf(value)
            out.outputs[binding.index].scale = scaleOf(value)
            out.emit(.output, [value], instruction.immediate)
        case .add, .sub:
            let (a, b) = try align(try mapped(instruction.operands[0], instruction: index),
                                   try mapped(instruction.operands[1], instruction: index), instruction: index)
            define(instruction.result, emit(op, [a, b], slots: resultSlots, level: levelOf(a), scale: scaleOf(a)))
        case .negate, .addConst, .relinearize, .conjugate:
            let a = try mapped(instruction.operands[0], instruction: index)
            define(instruction.result, emit(op, [a], instruction.immediate, slots: resultSlots, level: levelOf(a), scale: scaleOf(a)))
        case .addPlain:
            let a = try mapped(instruction.operands[0], instruction: index)
            let p = try plaintext(instruction.operands[1], level: levelOf(a), scale: scaleOf(a), instruction: index)
            define(instruction.result, emit(op, [a, p], slots: resultSlots, level: levelOf(a), scale: scaleOf(a)))
        case .mulPlain:
            let a = ready(try settle(try mapped(instruction.operands[0], instruction: index), instruction: index))
            let encodeScale = productEncodingScale(operandScale: scaleOf(a), atLevel: levelOf(a))
            let p = try plaintext(instruction.operands[1], level: levelOf(a), scale: encodeScale, instruction: index)
            define(instruction.result, emit(op, [a, p], slots: resultSlots, level: levelOf(a), scale: scaleOf(a) * encodeScale))
        case .mulPlainSum:
            // Every ciphertext settled and brought to the lowest level; each plaintext encoded so its product lands on
            // q_ℓ·Δ, the scale one rescale turns back into Δ.
            var ciphertexts: [ValueID] = []
            for pair in stride(from: 0, to: instruction.operands.count, by: 2) {
                ciphertexts.append(ready(try settle(try mapped(instruction.operands[pair], instruction: index), instruction: index)))
            }
            let target = ciphertexts.map(levelOf).min() ?? topLevel
            var operands: [ValueID] = []
            operands.reserveCapacity(instruction.operands.count)
            var productScale = 0.0
            for (pair, ciphertext) in ciphertexts.enumerated() {
                let a = levelDown(ciphertext, to: target)
                let encodeScale = productEncodingScale(operandScale: scaleOf(a), atLevel: target)
                operands.append(a)
                operands.append(try plaintext(instruction.operands[2 * pair + 1], level: target, scale: encodeScale, instruction: index))
                productScale = scaleOf(a) * encodeScale
            }
            define(instruction.result, emit(op, operands, slots: resultSlots, level: target, scale: productScale))
        case .mulConst:
            let a = ready(try settle(try mapped(instruction.operands[0], instruction: index), instruction: index))
            let encodeScale = productEncodingScale(operandScale: scaleOf(a), atLevel: levelOf(a))
            let immediate = Immediate.scaledScalar(value: instruction.scalar ?? 0, scale: encodeScale)
            define(instruction.result, emit(op, [a], immediate, slots: resultSlots, level: levelOf(a), scale: scaleOf(a) * encodeScale))
        case .mulEncodeSum:
            throw CompilerError.levelingFailed(instruction: index, detail: "mulEncodeSum is made after leveling (by choose-constant-encoding); lower to mulPlainSum")
        case .linearMap, .gather:
            // Every operand settled (for a weighted map) and brought to one level and scale.
            var operands = try instruction.operands.map { try mapped($0, instruction: index) }
            if op == .linearMap || operands.contains(where: isPending) {
                operands = try operands.map { try settle($0, instruction: index) }
            }
            if op == .linearMap { operands = operands.map { ready($0) } }
            let target = operands.map(levelOf).min() ?? topLevel
            operands = operands.map { levelDown($0, to: target) }
            for other in operands.dropFirst() where !scalesAgree(scaleOf(operands[0]), scaleOf(other)) {
                throw CompilerError.levelingFailed(
                    instruction: index, detail: "\(op) operands have scales \(scaleOf(operands[0])) and \(scaleOf(other)) at level \(target)")
            }
            let a = operands[0]
            if op == .gather {
                define(instruction.result, emit(op, operands, instruction.immediate, slots: resultSlots, level: target, scale: scaleOf(a)))
            } else {
                let encodeScale = productEncodingScale(operandScale: scaleOf(a), atLevel: target)
                let immediate = Immediate.scaledLaneMap(index: instruction.laneMapIndex ?? 0, scale: encodeScale)
                define(instruction.result, emit(op, operands, immediate, slots: resultSlots, level: target, scale: scaleOf(a) * encodeScale))
            }
        case .mul:
            var a = ready(try settle(try mapped(instruction.operands[0], instruction: index), instruction: index))
            var b = ready(try settle(try mapped(instruction.operands[1], instruction: index), instruction: index))
            let target = min(levelOf(a), levelOf(b))
            a = levelDown(a, to: target)
            b = levelDown(b, to: target)
            define(instruction.result, emit(op, [a, b], slots: resultSlots, level: target, scale: scaleOf(a) * scaleOf(b)))
        case .rescale:
            let a = try mapped(instruction.operands[0], instruction: index)
            define(instruction.result, try rescale(a, instruction: index))
        case .levelDown:
            // The leveler places its own level drops; a source levelDown is an identity here.
            define(instruction.result, try mapped(instruction.operands[0], instruction: index))
        case .rotate:
            let a = try mapped(instruction.operands[0], instruction: index)
            define(instruction.result, emit(op, [a], instruction.immediate, slots: resultSlots, level: levelOf(a), scale: scaleOf(a)))
        case .rotateHoisted:
            let a = try mapped(instruction.operands[0], instruction: index)
            let types = instruction.results.map { _ in ValueType(slots: resultSlots, level: levelOf(a), scale: scaleOf(a)) }
            let results = out.emit(op, [a], instruction.immediate, types: types)
            for (old, new) in zip(instruction.results, results) {
                record(new, level: levelOf(a), scale: scaleOf(a))
                define(old, new)
            }
        case .refresh:
            // Settled first: a pending product needs the prime its rescale drops (it may sit at the last level).
            let a = try settle(try mapped(instruction.operands[0], instruction: index), instruction: index)
            let immediate = Immediate.refresh(function: instruction.functionName ?? "identity", level: topLevel)
            define(instruction.result, emit(op, [a], immediate, slots: resultSlots, level: topLevel, scale: defaultScale))
        case .bootstrap:
            let a = try settle(try mapped(instruction.operands[0], instruction: index), instruction: index)
            define(instruction.result, emit(op, [a], .targetLevel(topLevel), slots: resultSlots, level: topLevel, scale: defaultScale))
        }
    }
}

/// Measures the multiplicative depth: levels a leveled program consumes below the top (refresh resets count).
public struct MeasureDepth: CipherPass {
    public init() {}
    public var name: String { "measure-depth" }

    /// The depth of `program` leveled with scale primes of `scaleBits` bits.
    public static func depth(of program: Program, options: CompilerOptions) throws -> Int {
        let probeLevels = 4096
        let probe = PlanParameters(logN: 16, qBits: [options.firstPrimeBits] + Array(repeating: options.scaleBits, count: probeLevels),
                                   pBits: [61], log2DefaultScale: options.scaleBits)
        var leveler = Leveler(source: program, parameters: probe)
        _ = try leveler.run()
        return probeLevels - leveler.minimumLevel
    }

    public func run(_ program: inout Program, state: CompilationState) throws {
        state.depth = try Self.depth(of: program, options: state.options)
    }
}

/// Inserts rescale and levelDown and fixes every value's level and scale for the chosen parameters.
public struct InsertRescalesAndLevels: CipherPass {
    public init() {}
    public var name: String { "insert-rescales" }

    public func run(_ program: inout Program, state: CompilationState) throws {
        guard let parameters = state.parameters ?? program.parameters else {
            throw CompilerError.levelingFailed(instruction: 0, detail: "no parameters chosen; run select-parameters first")
        }
        var leveler = Leveler(source: program, parameters: parameters, placement: state.options.bootstrapPlacement,
                              activationDepths: state.activationDepths)
        var detail = ""
        if leveler.placement == .optimized, !state.activationDepths.isEmpty {
            let planner = BootstrapPlanner(program: program, cuts: Set(state.activationDepths.keys), topLevel: parameters.applicationTopLevel)
            leveler.planned = planner.chosen
            detail = planner.chosen == nil
                ? " (the level model found no placement; greedy at cut points)"
                : " (\(state.activationDepths.count) cut points, at most \(planner.largestFrontier) states per cut)"
        }
        program = try leveler.run()
        state.bootstrapCount = leveler.bootstraps
        if parameters.bootstrapping != nil {
            state.report.append("bootstrapping: \(leveler.bootstraps) bootstrap instruction(s), \(state.options.bootstrapPlacement.rawValue) placement\(detail)")
        }
    }
}
