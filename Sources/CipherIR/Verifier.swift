extension Program {
    /// Checks the whole program and returns every problem found (errors and warnings).
    ///
    /// Rules (ir-spec/cipher-ir.md, "Verifier"): SSA order (every operand defined by an earlier
    /// instruction, every id defined once), operand counts and kinds, immediates in range, keys
    /// present in `keys`, ciphertext degree, and — where known — slots, levels and scales per each
    /// op's traits. Declared facts in `types` must match the inferred ones.
    public func verificationDiagnostics() -> [Diagnostic] {
        var verifier = Verifier(program: self)
        verifier.run()
        return verifier.diagnostics
    }

    /// Throws `CipherIRError.verificationFailed` when the verifier finds an error.
    public func verify() throws {
        let diagnostics = verificationDiagnostics()
        if diagnostics.contains(where: { $0.severity == .error }) {
            throw CipherIRError.verificationFailed(diagnostics)
        }
    }

    /// The facts the verifier infers for every value (declared facts fill in what the rules
    /// cannot derive). Meaningful for a program that verifies.
    public func inferredTypes() -> ValueTypeTable {
        var verifier = Verifier(program: self)
        verifier.run()
        var table = ValueTypeTable()
        for (id, fact) in verifier.facts { table[id] = fact.type }
        return table
    }

    /// Verifies, then records every inferred fact in `types` (one verifier pass).
    public mutating func annotateTypes() throws {
        var verifier = Verifier(program: self)
        verifier.run()
        if verifier.diagnostics.contains(where: { $0.severity == .error }) {
            throw CipherIRError.verificationFailed(verifier.diagnostics)
        }
        var table = ValueTypeTable()
        for (id, fact) in verifier.facts { table[id] = fact.type }
        types = table
    }
}

/// What the verifier knows about a defined value.
struct ValueFact {
    var kind: ValueKind
    var type: ValueType
    /// 1 for a normal ciphertext (and plaintexts), 2 after `mul` until `relinearize`.
    var degree: Int
    var definedAt: Int
}

struct Verifier {
    let program: Program
    var diagnostics: [Diagnostic] = []
    var facts: [ValueID: ValueFact] = [:]
    /// Where each value is defined (pre-scan), to tell "used before definition" from "never defined".
    var definitionSite: [ValueID: Int] = [:]

    init(program: Program) {
        self.program = program
    }

    var parameters: PlanParameters? { program.parameters }

    mutating func error(_ code: Diagnostic.Code, _ instruction: Int? = nil, _ message: String) {
        diagnostics.append(Diagnostic(.error, code, instruction: instruction, message))
    }

    mutating func run() {
        checkParameters()
        checkKeys()
        for (index, binding) in program.inputs.enumerated() { checkBinding(binding, index: index, isInput: true) }
        for (index, binding) in program.outputs.enumerated() { checkBinding(binding, index: index, isInput: false) }
        checkUniqueNames(program.inputs, role: "input")
        checkUniqueNames(program.outputs, role: "output")
        for (index, entry) in program.constants.enumerated() { checkConstant(entry, index: index) }
        for (index, map) in program.laneMaps.enumerated() {
            if let problem = map.validationError { error(.immediate, nil, "lane map #\(index): \(problem)") }
        }

        definitionSite.reserveCapacity(program.instructions.count)
        facts.reserveCapacity(program.instructions.count)
        for (index, instruction) in program.instructions.enumerated() {
            for result in instruction.results where definitionSite[result] == nil { definitionSite[result] = index }
        }
        var inputsRead: [String: Int] = [:]
        var outputsWritten: [String: Int] = [:]
        for (index, instruction) in program.instructions.enumerated() {
            checkInstruction(instruction, index: index, inputsRead: &inputsRead, outputsWritten: &outputsWritten)
        }
        for (bindingIndex, binding) in program.outputs.enumerated() {
            for ciphertext in 0..<max(0, binding.ciphertextCount) where outputsWritten["\(bindingIndex):\(ciphertext)"] == nil {
                error(.output, nil, "output \"\(binding.name)\"[\(ciphertext)] is never written; add `output %v -> \"\(binding.name)\"[\(ciphertext)]`")
            }
        }
    }

    // MARK: program-level checks

    mutating func checkParameters() {
        guard let parameters else { return }
        if !(1...20).contains(parameters.logN) {
            error(.parameters, nil, "logN \(parameters.logN) is outside 1…20; choose the ring degree N = 2^logN with logN in that range")
        }
        if parameters.qBits.isEmpty {
            error(.parameters, nil, "qBits is empty; a parameter set needs at least one ciphertext prime")
        }
        for bits in parameters.qBits + parameters.pBits where !(2...62).contains(bits) {
            error(.parameters, nil, "prime size \(bits) bits is outside 2…62")
        }
        if parameters.dnum < 1 {
            error(.parameters, nil, "dnum \(parameters.dnum) must be at least 1")
        }
        if case .sparseTernary(let weight) = parameters.secret, weight < 1 || (parameters.logN < 31 && weight > (1 << parameters.logN)) {
            error(.parameters, nil, "sparse secret Hamming weight \(weight) must be in 1…N")
        }
        if !(parameters.errorStandardDeviation.isFinite && parameters.errorStandardDeviation > 0) {
            error(.parameters, nil, "error standard deviation \(parameters.errorStandardDeviation) must be a positive number")
        }
        if !(1...200).contains(parameters.log2DefaultScale) {
            error(.parameters, nil, "log2DefaultScale \(parameters.log2DefaultScale) is outside 1…200")
        }
        if let b = parameters.bootstrapping {
            let counts = [b.coeffsToSlotsLevels, b.slotsToCoeffsLevels, b.evalModLevels, b.sineRange, b.cosineDegree]
            if counts.contains(where: { $0 < 1 }) || b.doubleAngles < 0 || !(b.messageRatioLog2.isFinite && b.messageRatioLog2 > 0) {
                error(.parameters, nil, "bootstrapping settings \(b) need positive level counts, range, degree and ratio")
            } else if b.outputLevel != parameters.maxLevel - b.levelsConsumed || b.outputLevel < 1 {
                error(.parameters, nil, "bootstrapping consumes \(b.levelsConsumed) of the \(parameters.maxLevel + 1) primes, so it lands at level \(parameters.maxLevel - b.levelsConsumed), not \(b.outputLevel); it must leave at least one level")
            }
        }
    }

    mutating func checkKeys() {
        if program.keys.rotationSteps.contains(0) {
            error(.keyRequirements, nil, "rotation step 0 needs no key; remove it from the key requirements")
        }
    }

    mutating func checkUniqueNames(_ bindings: [TensorBinding], role: String) {
        var seen = Set<String>()
        for binding in bindings where !seen.insert(binding.name).inserted {
            error(.binding, nil, "two \(role)s are named \"\(binding.name)\"; binding names must be unique")
        }
    }

    func isPowerOfTwo(_ value: Int) -> Bool { value > 0 && value & (value - 1) == 0 }

    mutating func checkLevel(_ level: Int, what: String, _ instruction: Int?) {
        if level < 0 {
            error(.levelOutOfRange, instruction, "\(what) has negative level \(level)")
        } else if let parameters, level > parameters.maxLevel {
            error(.levelOutOfRange, instruction, "\(what) has level \(level) but the parameters' top level is \(parameters.maxLevel) (\(parameters.qBits.count) primes)")
        }
    }

    mutating func checkSlots(_ slots: Int, what: String, _ instruction: Int?) {
        if !isPowerOfTwo(slots) {
            error(.slotMismatch, instruction, "\(what) has \(slots) slots; slot counts must be powers of two")
        } else if let parameters, parameters.maxSlots > 0, slots > parameters.maxSlots {
            error(.slotMismatch, instruction, "\(what) has \(slots) slots but N/2 = \(parameters.maxSlots)")
        }
    }

    mutating func checkScale(_ scale: Double, what: String, level: Int?, _ instruction: Int?) {
        guard scale.isFinite, scale > 1 else {
            error(.scaleOutOfRange, instruction, "\(what) has scale \(formatDouble(scale)); a scale must be a finite number above 1 (did a rescale drop more than the scale?)")
            return
        }
        if let parameters, let level, level >= 0, level <= parameters.maxLevel {
            let modulusBits = parameters.log2Modulus(atLevel: level)
            if scale.exponent >= modulusBits {
                error(.scaleOutOfRange, instruction, "\(what) has scale \(formatScale(scale)) ≥ the modulus 2^\(modulusBits) at level \(level); rescale earlier or pick larger primes")
            }
        }
    }

    mutating func checkBinding(_ binding: TensorBinding, index: Int, isInput: Bool) {
        let what = "\(isInput ? "input" : "output") \"\(binding.name)\""
        if binding.name.isEmpty { error(.binding, nil, "\(isInput ? "input" : "output") \(index) has an empty name") }
        if binding.shape.contains(where: { $0 < 1 }) {
            error(.binding, nil, "\(what) has shape \(binding.shape); every dimension must be at least 1")
            return
        }
        if binding.ciphertextCount < 1 { error(.binding, nil, "\(what) has \(binding.ciphertextCount) ciphertexts; it needs at least 1") }
        checkSlots(binding.slots, what: what, nil)
        if let level = binding.level { checkLevel(level, what: what, nil) }
        if let scale = binding.scale { checkScale(scale, what: what, level: binding.level, nil) }
        guard binding.ciphertextCount >= 1, isPowerOfTwo(binding.slots) else { return }
        let capacity = binding.ciphertextCount * binding.slots
        switch binding.layout {
        case .contiguous:
            break
        case .explicit(let positions):
            if positions.count != binding.elementCount {
                error(.binding, nil, "\(what) has \(binding.elementCount) elements but its explicit layout lists \(positions.count) positions")
                return
            }
        case .strided(let ciphertextStrides, let slotStrides, _):
            if ciphertextStrides.count != binding.shape.count || slotStrides.count != binding.shape.count {
                error(.binding, nil, "\(what) has rank \(binding.shape.count) but its strided layout has \(ciphertextStrides.count) ciphertext and \(slotStrides.count) slot strides")
                return
            }
        }
        var positions: [Int] = []
        positions.reserveCapacity(binding.elementCount)
        for element in 0..<binding.elementCount {
            let position: Int
            if case .strided = binding.layout {
                // Check each part separately: a slot outside 0..<slots must not spill into the next ciphertext.
                let location = stridedLocation(binding, element)
                guard (0..<binding.slots).contains(location.slot), (0..<binding.ciphertextCount).contains(location.ciphertext) else {
                    error(.binding, nil, "\(what): element \(element) maps to ciphertext \(location.ciphertext), slot \(location.slot), outside \(binding.ciphertextCount) ciphertexts of \(binding.slots) slots")
                    return
                }
                position = location.ciphertext * binding.slots + location.slot
            } else {
                position = binding.flatPosition(ofElement: element)
            }
            guard (0..<capacity).contains(position) else {
                error(.binding, nil, "\(what): element \(element) maps to position \(position), outside \(binding.ciphertextCount) ciphertexts of \(binding.slots) slots")
                return
            }
            positions.append(position)
        }
        if isInput {
            positions.sort()
            for index in positions.indices.dropFirst() where positions[index] == positions[index - 1] {
                error(.binding, nil, "\(what): two elements map to the same slot (position \(positions[index])); an input layout must be one-to-one")
                return
            }
        }
    }

    func stridedLocation(_ binding: TensorBinding, _ element: Int) -> (ciphertext: Int, slot: Int) {
        guard case .strided(let ciphertextStrides, let slotStrides, let slotOffset) = binding.layout else { return (0, 0) }
        var remainder = element
        var ciphertext = 0
        var slot = slotOffset
        for dimension in stride(from: binding.shape.count - 1, through: 0, by: -1) {
            let extent = binding.shape[dimension]
            let index = remainder % extent
            remainder /= extent
            ciphertext += index * ciphertextStrides[dimension]
            slot += index * slotStrides[dimension]
        }
        return (ciphertext, slot)
    }

    mutating func checkConstant(_ entry: ConstantEntry, index: Int) {
        let what = "constant @\(index)"
        checkSlots(entry.length, what: what, nil)
        checkLevel(entry.level, what: what, nil)
        checkScale(entry.scale, what: what, level: entry.level, nil)
        switch entry.content {
        case .dense(let values):
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                error(.constant, nil, "\(what) has a non-finite value \(values[bad]) at element \(bad)")
            }
        case .pattern(let pattern):
            if let problem = pattern.validationError { error(.constant, nil, "\(what): \(problem)") }
        }
    }

    // MARK: instructions

    mutating func checkInstruction(_ instruction: Instruction, index: Int, inputsRead: inout [String: Int], outputsWritten: inout [String: Int]) {
        let traits = instruction.opcode.traits
        let name = instruction.opcode.mnemonic
        var structurallyValid = true

        // Operands: count, definition, kind.
        if !traits.acceptsOperandCount(instruction.operands.count) {
            error(.operandCount, index, "\(name) takes \(traits.operandCountDescription) operand(s) but has \(instruction.operands.count)")
            structurallyValid = false
        }
        var operandFacts: [ValueFact] = []
        for (position, operand) in instruction.operands.enumerated() {
            guard let fact = facts[operand] else {
                if let site = definitionSite[operand] {
                    error(.useBeforeDefinition, index, "\(name) uses \(operand) before its definition at instruction \(site); reorder so definitions come first")
                } else {
                    error(.undefinedValue, index, "\(name) uses \(operand), which no instruction defines")
                }
                structurallyValid = false
                continue
            }
            if traits.repeatsOperands || position < traits.operandKinds.count, fact.kind != traits.operandKind(at: position) {
                error(.operandKind, index, "\(name) operand \(position + 1) (\(operand)) must be a \(traits.operandKind(at: position).mnemonic) but is a \(fact.kind.mnemonic)")
                structurallyValid = false
            }
            operandFacts.append(fact)
        }

        // Immediate.
        if instruction.immediate.kind != traits.immediate {
            error(.immediate, index, "\(name) takes an immediate of kind \(traits.immediate) but has \(instruction.immediate.kind)")
            structurallyValid = false
        }

        // Results: count and single definition.
        if instruction.results.count != instruction.expectedResultCount {
            error(.resultCount, index, "\(name) defines \(instruction.expectedResultCount) result(s) but lists \(instruction.results.count)")
            structurallyValid = false
        }
        var seenHere = Set<ValueID>()
        for result in instruction.results {
            if facts[result] != nil || !seenHere.insert(result).inserted {
                error(.redefinition, index, "\(result) is defined more than once (first at instruction \(definitionSite[result] ?? index)); SSA values are defined exactly once")
            }
        }

        // Keys.
        let keys = program.keys
        switch traits.key {
        case .none: break
        case .relinearization where !keys.relinearization:
            error(.missingKey, index, "\(name) needs the relinearization key; add `relinearization=true` to the key requirements")
        case .conjugation where !keys.conjugation:
            error(.missingKey, index, "\(name) needs the conjugation key; add `conjugation=true` to the key requirements")
        case .bootstrapping where !keys.bootstrapping:
            error(.missingKey, index, "\(name) needs the bootstrapping keys; add `bootstrapping=true` to the key requirements")
        case .galoisPerStep:
            for step in instruction.rotationSteps where !keys.rotationSteps.contains(step) {
                error(.missingKey, index, "\(name) by \(step) needs a Galois key for step \(step); add it to the key requirements' rotations")
            }
        default: break
        }

        // Degree.
        let ciphertextDegrees = operandFacts.filter { $0.kind == .ciphertext }.map(\.degree)
        var resultDegree = ciphertextDegrees.max() ?? 1
        switch traits.degree {
        case .preserves: break
        case .requiresLinear, .tensor:
            if let bad = zip(instruction.operands, operandFacts).first(where: { $0.1.kind == .ciphertext && $0.1.degree != 1 }) {
                error(.degree, index, "\(name) needs a relinearized ciphertext but \(bad.0) has degree \(bad.1.degree); insert relinearize after the mul")
            }
            resultDegree = traits.degree == .tensor ? 2 : 1
        case .relinearizes:
            if let bad = zip(instruction.operands, operandFacts).first(where: { $0.1.degree != 2 }) {
                error(.degree, index, "relinearize expects the degree-2 result of a mul but \(bad.0) has degree \(bad.1.degree)")
            }
            resultDegree = 1
        }

        // Facts of the result(s).
        var inferred = ValueType()
        if structurallyValid {
            inferred = inferResult(instruction, index: index, operands: operandFacts, inputsRead: &inputsRead, outputsWritten: &outputsWritten)
        }
        guard let kind = traits.resultKind else { return }
        for result in instruction.results where facts[result] == nil {
            let declared = program.types[result]
            var effective = inferred
            compare(declared.slots, inferred.slots, field: "slots", result: result, index: index) { "\($0)" }
            compare(declared.level, inferred.level, field: "level", result: result, index: index) { "\($0)" }
            if let declaredScale = declared.scale, let inferredScale = inferred.scale, !scalesAgree(declaredScale, inferredScale) {
                error(.typeMismatch, index, "\(result) is declared with scale \(formatScale(declaredScale)) but the rules give \(formatScale(inferredScale))")
            }
            effective.slots = effective.slots ?? declared.slots
            effective.level = effective.level ?? declared.level
            effective.scale = effective.scale ?? declared.scale
            if declared.laneCount != (inferred.lanes ?? 1) {
                error(.typeMismatch, index, "\(result) is declared with \(declared.laneCount) lane(s) but the rules give \(inferred.lanes ?? 1)")
            }
            facts[result] = ValueFact(kind: kind, type: effective, degree: resultDegree, definedAt: index)
        }
    }

    mutating func compare(_ declared: Int?, _ inferred: Int?, field: String, result: ValueID, index: Int, _ show: (Int) -> String) {
        if let declared, let inferred, declared != inferred {
            error(.typeMismatch, index, "\(result) is declared with \(field) \(show(declared)) but the rules give \(show(inferred))")
        }
    }

    /// The result's lane count (nil for one lane); reports operands whose lanes disagree.
    mutating func laneRule(_ instruction: Instruction, index: Int, operands: [ValueFact]) -> Int? {
        let name = instruction.opcode.mnemonic
        if let mapIndex = instruction.laneMapIndex {
            guard (0..<program.laneMaps.count).contains(mapIndex) else { return nil }
            let map = program.laneMaps[mapIndex]
            let total = operands.reduce(0) { $0 + $1.type.laneCount }
            if total != map.inputLanes {
                error(.typeMismatch, index, "\(name) operands hold \(total) lanes but lane map #\(mapIndex) reads \(map.inputLanes)")
            }
            return map.outputLanes == 1 ? nil : map.outputLanes
        }
        guard instruction.opcode != .input, instruction.opcode != .constant else { return nil }
        let ciphertextLanes = zip(instruction.operands, operands).filter { $0.1.kind == .ciphertext }
        guard let first = ciphertextLanes.first else { return nil }
        let lanes = first.1.type.laneCount
        for (operand, fact) in zip(instruction.operands, operands) where fact.type.laneCount != lanes {
            if fact.kind == .plaintext && fact.type.laneCount == 1 { continue }
            error(.typeMismatch, index, "\(name) operands have different lane counts (\(first.0): \(lanes), \(operand): \(fact.type.laneCount))")
            break
        }
        return lanes == 1 ? nil : lanes
    }

    /// Applies the op's level and scale rules; reports violations; returns the result's facts.
    mutating func inferResult(
        _ instruction: Instruction, index: Int, operands: [ValueFact], inputsRead: inout [String: Int], outputsWritten: inout [String: Int]
    ) -> ValueType {
        let traits = instruction.opcode.traits
        let name = instruction.opcode.mnemonic
        var result = ValueType()

        // Slots: sources set them; otherwise all operands agree.
        let knownSlots = zip(instruction.operands, operands).compactMap { pair in pair.1.type.slots.map { (pair.0, $0) } }
        if let first = knownSlots.first {
            if let other = knownSlots.first(where: { $0.1 != first.1 }) {
                error(.slotMismatch, index, "\(name) operands have different slot counts (\(first.0): \(first.1), \(other.0): \(other.1))")
            }
            result.slots = first.1
        }

        // Lanes: elementwise ops keep their ciphertext operands' lane count (a one-lane plaintext applies to every lane);
        // lane maps set their own.
        result.lanes = laneRule(instruction, index: index, operands: operands)

        // Lane maps: every operand at one level and scale.
        if instruction.laneMapIndex != nil, let first = operands.first {
            for (position, operand) in operands.enumerated().dropFirst() {
                if let a = first.type.level, let b = operand.type.level, a != b {
                    error(.levelMismatch, index, "\(name) operands are at levels \(a) and \(b) (\(instruction.operands[0]), \(instruction.operands[position])); bring them to one level")
                    break
                }
                if let a = first.type.scale, let b = operand.type.scale, !scalesAgree(a, b) {
                    error(.scaleMismatch, index, "\(name) operands have scales \(formatScale(a)) and \(formatScale(b)) (\(instruction.operands[0]), \(instruction.operands[position]))")
                    break
                }
            }
        }

        // A sum of ct × pt products: every ciphertext at one level, every plaintext at least there, one product scale.
        if traits.repeatsOperands && traits.operandKinds.count == 2 && operands.count >= 2 && operands.count % 2 == 0 {
            let ciphertextLevels = stride(from: 0, to: operands.count, by: 2).compactMap { operands[$0].type.level }
            if let lowest = ciphertextLevels.min(), let highest = ciphertextLevels.max(), lowest != highest {
                error(.levelMismatch, index, "\(name) ciphertext operands are at levels \(lowest)…\(highest); bring them to one level with levelDown or rescale")
            }
            var productScale: Double? = nil
            for pair in stride(from: 0, to: operands.count, by: 2) {
                let ct = operands[pair].type, pt = operands[pair + 1].type
                if let ctLevel = ct.level, let ptLevel = pt.level, ptLevel < ctLevel {
                    error(.levelMismatch, index, "\(name) plaintext \(instruction.operands[pair + 1]) is at level \(ptLevel), below its ciphertext's \(ctLevel); the plaintext's level must be at least the ciphertext's")
                }
                guard let a = ct.scale, let b = pt.scale else { continue }
                if let productScale, !scalesAgree(productScale, a * b) {
                    error(.scaleMismatch, index, "\(name) products have different scales (\(formatScale(productScale)) and \(formatScale(a * b)) at operands \(pair + 1)–\(pair + 2)); encode each plaintext so the products share one scale")
                    break
                }
                productScale = productScale ?? a * b
            }
        }
        // Agreement of levels and scales between the two operands.
        if operands.count == 2 && traits.operandsMustAgree != .slotsOnly {
            let (a, b) = (instruction.operands[0], instruction.operands[1])
            if let levelA = operands[0].type.level, let levelB = operands[1].type.level {
                let plaintextSecond = operands[1].kind == .plaintext
                if plaintextSecond ? levelB < levelA : levelA != levelB {
                    let need = plaintextSecond ? "the plaintext's level must be at least the ciphertext's" : "use levelDown or rescale so both are at one level"
                    error(.levelMismatch, index, "\(name) operand levels differ (\(a) at level \(levelA), \(b) at level \(levelB)); \(need)")
                }
            }
            if traits.operandsMustAgree == .levelsAndScales, let scaleA = operands[0].type.scale, let scaleB = operands[1].type.scale, !scalesAgree(scaleA, scaleB) {
                error(.scaleMismatch, index, "\(name) operand scales differ (\(a) at scale \(formatScale(scaleA)), \(b) at scale \(formatScale(scaleB))); rescale or multiply by a constant so they match within 1e-9")
            }
        }
        let level = operands.first?.type.level
        let scale = operands.first?.type.scale

        // Immediates in range.
        switch instruction.immediate {
        case .binding(let bindingIndex, let ciphertext):
            let isInput = instruction.opcode == .input
            let bindings = isInput ? program.inputs : program.outputs
            guard (0..<bindings.count).contains(bindingIndex) else {
                error(.immediate, index, "\(name) refers to \(isInput ? "input" : "output") binding \(bindingIndex) but the program has \(bindings.count)")
                return result
            }
            let binding = bindings[bindingIndex]
            let lanes = isInput ? (instruction.results.first.map { program.types[$0].laneCount } ?? 1) : (operands.first?.type.laneCount ?? 1)
            guard ciphertext >= 0, ciphertext < binding.ciphertextCount, lanes <= binding.ciphertextCount - ciphertext else {
                let span = lanes == 1 ? "[\(ciphertext)]" : "[\(ciphertext)..<\(ciphertext + lanes)]"
                error(.immediate, index, "\(name) refers to \"\(binding.name)\"\(span) but that binding has \(binding.ciphertextCount) ciphertext(s)")
                return result
            }
            // Reads and writes are tracked per binding and first ciphertext; lane spans are checked for overlap below.
            let key = "\(bindingIndex):\(ciphertext)"
            if isInput {
                if let first = inputsRead[key] {
                    error(.redefinition, index, "input \"\(binding.name)\"[\(ciphertext)] is read again (first at instruction \(first)); reuse that value")
                }
                inputsRead[key] = index
                for lane in 1..<max(lanes, 1) where inputsRead["\(bindingIndex):\(ciphertext + lane)"] == nil { inputsRead["\(bindingIndex):\(ciphertext + lane)"] = index }
                result = ValueType(slots: binding.slots, level: binding.level, scale: binding.scale, lanes: lanes)
            } else {
                if let first = outputsWritten[key] {
                    error(.output, index, "output \"\(binding.name)\"[\(ciphertext)] is written twice (first at instruction \(first))")
                }
                outputsWritten[key] = index
                for lane in 1..<max(lanes, 1) {
                    if let first = outputsWritten["\(bindingIndex):\(ciphertext + lane)"] {
                        error(.output, index, "output \"\(binding.name)\"[\(ciphertext + lane)] is written twice (first at instruction \(first))")
                        break
                    }
                    outputsWritten["\(bindingIndex):\(ciphertext + lane)"] = index
                }
                if let slots = operands.first?.type.slots, slots != binding.slots {
                    error(.slotMismatch, index, "output \"\(binding.name)\" has \(binding.slots) slots but \(instruction.operands[0]) has \(slots)")
                }
            }
            return result
        case .constantIndex(let constant):
            guard (0..<program.constants.count).contains(constant) else {
                error(.immediate, index, "constant @\(constant) does not exist; the pool has \(program.constants.count) entries")
                return result
            }
            let entry = program.constants[constant]
            return ValueType(slots: entry.length, level: entry.level, scale: entry.scale)
        case .scalar(let value):
            if !value.isFinite { error(.immediate, index, "\(name) has a non-finite constant \(value)") }
        case .scaledScalar(let value, let constantScale):
            if !value.isFinite { error(.immediate, index, "\(name) has a non-finite constant \(value)") }
            if !(constantScale.isFinite && constantScale >= 1) {
                error(.immediate, index, "\(name) encodes its constant at scale \(formatDouble(constantScale)); the encoding scale must be at least 1")
            }
        case .rotationStep, .rotationSteps:
            let steps = instruction.rotationSteps
            if steps.isEmpty { error(.immediate, index, "\(name) needs at least one step") }
            if Set(steps).count != steps.count { error(.immediate, index, "\(name) lists a step twice: \(steps)") }
            for step in steps {
                if step == 0 {
                    error(.immediate, index, "\(name) by 0 is a no-op; remove it")
                } else if let slots = result.slots, abs(step) >= slots {
                    error(.immediate, index, "\(name) step \(step) is not smaller than the \(slots) slots; reduce it modulo the slot count")
                }
            }
        case .targetLevel(let target), .refresh(_, let target):
            if case .refresh(let function, _) = instruction.immediate, function.isEmpty {
                error(.immediate, index, "refresh needs a function name such as \"relu\"")
            }
            if instruction.opcode == .bootstrap, let parameters {
                if let b = parameters.bootstrapping {
                    if target != b.outputLevel {
                        error(.levelOutOfRange, index, "bootstrap to level \(target): the plan's bootstrapping lands at level \(b.outputLevel)")
                    }
                } else {
                    error(.parameters, index, "bootstrap needs parameters laid out for bootstrapping (params bootstrapping=(…)); compile with bootstrapping or use refresh")
                }
            }
            checkLevel(target, what: "\(name) target", index)
        case .constantIndices(let indices):
            guard indices.count == instruction.operands.count else {
                error(.immediate, index, "\(name) lists \(indices.count) constants for \(instruction.operands.count) operands; give one per operand")
                return result
            }
            if let bad = indices.first(where: { !(0..<program.constants.count).contains($0) }) {
                error(.immediate, index, "constant @\(bad) does not exist; the pool has \(program.constants.count) entries")
                return result
            }
            var productScale: Double? = nil
            for (position, (operand, constant)) in zip(operands, indices).enumerated() {
                let entry = program.constants[constant]
                if let level = operand.type.level {
                    if let first = operands[0].type.level, level != first {
                        error(.levelMismatch, index, "\(name) operands are at levels \(first) and \(level); bring them to one level")
                        break
                    }
                    if entry.level < level {
                        error(.levelMismatch, index, "\(name) constant @\(constant) is encoded at level \(entry.level), below its operand's \(level)")
                        break
                    }
                }
                if let slots = operand.type.slots, slots != entry.length {
                    error(.slotMismatch, index, "\(name) constant @\(constant) has \(entry.length) slots but operand \(position) has \(slots)")
                    break
                }
                guard let scale = operand.type.scale else { continue }
                if let productScale, !scalesAgree(productScale, scale * entry.scale) {
                    error(.scaleMismatch, index, "\(name) products have different scales (\(formatScale(productScale)) and \(formatScale(scale * entry.scale)) at operand \(position)); encode the constants so the products share one scale")
                    break
                }
                productScale = productScale ?? scale * entry.scale
            }
        case .laneMap(let mapIndex), .scaledLaneMap(let mapIndex, _):
            guard (0..<program.laneMaps.count).contains(mapIndex) else {
                error(.immediate, index, "\(name) uses lane map #\(mapIndex) but the program has \(program.laneMaps.count)")
                return result
            }
            if let constantScale = instruction.scalarScale, !(constantScale.isFinite && constantScale >= 1) {
                error(.immediate, index, "\(name) encodes its weights at scale \(formatDouble(constantScale)); the encoding scale must be at least 1")
            }
        case .none:
            break
        }

        // Level rule.
        switch traits.levelEffect {
        case .preserves:
            result.level = level
        case .consumesOne:
            if let level {
                if level < 1 {
                    error(.levelOutOfRange, index, "\(name) of \(instruction.operands[0]) at level 0: no prime left to drop; bootstrap or refresh first")
                } else {
                    result.level = level - 1
                }
            }
        case .dropsToTarget:
            if let target = instruction.targetLevel {
                if let level, target >= level {
                    error(.levelOutOfRange, index, "levelDown to \(target) from level \(level): the target must be below the current level")
                }
                result.level = target
            }
        case .resetsToTarget:
            result.level = instruction.targetLevel
        case .fromSource, .none:
            break
        }

        // Scale rule.
        switch traits.scaleRule {
        case .preserves:
            result.scale = scale
        case .product:
            if let scale, let other = operands[1].type.scale { result.scale = scale * other }
        case .productWithImmediate:
            if let scale, let constantScale = instruction.scalarScale { result.scale = scale * constantScale }
        case .dividesByDroppedPrime:
            if let scale, let level, level >= 1, let parameters, level <= parameters.maxLevel {
                result.scale = scale / parameters.nominalPrime(atLevel: level)
            }
        case .resetsToDefault:
            result.scale = parameters?.defaultScale
        case .productWithPoolEntries:
            if let scale, case .constantIndices(let indices) = instruction.immediate, let first = indices.first,
               (0..<program.constants.count).contains(first) {
                result.scale = scale * program.constants[first].scale
            }
        case .fromSource, .none:
            break
        }

        if let slots = result.slots, instruction.opcode != .input { checkSlots(slots, what: "the result of \(name)", index) }
        if let scale = result.scale, traits.scaleRule != .preserves {
            checkScale(scale, what: "the result of \(name)", level: result.level, index)
        }
        return result
    }
}
