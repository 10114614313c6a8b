import CipherIR
import CKKS

/// Chooses the CKKS parameters: the Q chain for the measured depth, the special primes P and dnum, and the smallest
/// ring degree N that is secure (HE standard, 128-bit classical) for log(QP) and gives the packing's slots.
public enum ParameterSelection {
    /// Largest log2(QP) per logN at 128-bit classical security (HE standard; 2^16 extrapolated, as Lattigo and
    /// OpenFHE do). Mirrors CKKS's `SecurityTable` so the compiler does not depend on the CKKS target.
    public static let maximumLogQP128: [Int: Int] = [13: 218, 14: 438, 15: 881, 16: 1761]
    /// The largest ring the compiler picks.
    public static let largestLogN = 16
    /// Most ciphertext primes per key-switching digit it tries (fewer digits: faster key switching).
    public static let maximumPrimesPerDigit = 4

    /// The special primes for digits of at most `digitBits` bits: P must exceed every digit (61-bit primes at most).
    static func specialPrimes(digitBits: Int) -> [Int] {
        let count = max(1, (digitBits + 59) / 60)
        let bits = min(61, max(20, (digitBits + count - 1) / count + 1))
        return Array(repeating: bits, count: count)
    }

    /// The bits of the largest key-switching digit when `qBits` is split into digits of `alpha` consecutive primes.
    static func largestDigitBits(_ qBits: [Int], alpha: Int) -> Int {
        stride(from: 0, to: qBits.count, by: alpha).map { qBits[$0..<min($0 + alpha, qBits.count)].reduce(0, +) }.max() ?? 0
    }

    /// A parameter set for `depth` rescales and `slots` slots under `security`.
    public static func select(depth: Int, slots: Int, options: CompilerOptions) throws(CompilerError) -> PlanParameters {
        let qBits = [options.firstPrimeBits] + Array(repeating: options.scaleBits, count: depth)
        let logQ = qBits.reduce(0, +)
        let minimumLogN = max(1, slots.trailingZeroBitCount + 1)
        switch options.security {
        case .insecure(let logN):
            guard slots <= 1 << (logN - 1) else { throw .tooManySlots(slots: slots, logN: logN) }
            let alpha = min(2, qBits.count)
            return PlanParameters(logN: logN, qBits: qBits, pBits: specialPrimes(digitBits: largestDigitBits(qBits, alpha: alpha)),
                                  dnum: (qBits.count + alpha - 1) / alpha, log2DefaultScale: options.scaleBits,
                                  securityPreset: "insecure")
        case .classical128:
            for logN in max(13, minimumLogN)...largestLogN {
                guard let bound = maximumLogQP128[logN] else { continue }
                for alpha in stride(from: min(maximumPrimesPerDigit, qBits.count), through: 1, by: -1) {
                    let pBits = specialPrimes(digitBits: largestDigitBits(qBits, alpha: alpha))
                    if logQ + pBits.reduce(0, +) <= bound {
                        return PlanParameters(logN: logN, qBits: qBits, pBits: pBits, dnum: (qBits.count + alpha - 1) / alpha,
                                              log2DefaultScale: options.scaleBits, securityPreset: "HE-128-classic")
                    }
                }
            }
            if minimumLogN > largestLogN { throw .tooManySlots(slots: slots, logN: largestLogN) }
            throw .tooDeep(depth: depth, maxDepth: maximumDepth(options: options), hint: "compile with --activations client, or let the compiler bootstrap (--bootstrap-placement optimized|naive), or use a shallower model or lower-degree activations (--relu-degree)")
        }
    }

    /// `select`, or when the depth needs more levels than a secure chain holds (or than the insecure ring's chain was
    /// asked for) and bootstrapping is allowed, a chain laid out for bootstrapping: N = 2^16 with a sparse secret
    /// (h = 192) and 9 application levels at 128-bit security, or the insecure test ring of `options.security`.
    public static func selectAllowingBootstrapping(depth: Int, slots: Int, options: CompilerOptions) throws(CompilerError) -> PlanParameters {
        do {
            let plain = try select(depth: depth, slots: slots, options: options)
            if case .insecure = options.security, options.bootstrapPlacement != .none, depth > options.maximumInsecureDepth {
                return try bootstrappable(slots: slots, options: options)
            }
            return plain
        } catch .tooDeep(let depth, let maxDepth, let hint) {
            guard options.bootstrapPlacement != .none else { throw .tooDeep(depth: depth, maxDepth: maxDepth, hint: hint) }
            return try bootstrappable(slots: slots, options: options)
        }
    }

    static func bootstrappable(slots: Int, options: CompilerOptions) throws(CompilerError) -> PlanParameters {
        let literal: BootstrappableParametersLiteral
        let preset: String
        switch options.security {
        case .classical128:
            literal = .n16H192
            preset = "HE-128-classic"
        case .insecure(let logN):
            literal = .insecureTest(logN: logN, applicationLevels: options.insecureBootstrapLevels, hammingWeight: min(64, 1 << (logN - 2)))
            preset = "insecure"
        }
        let scheme = literal.scheme
        guard slots <= 1 << (scheme.logN - 1) else { throw .tooManySlots(slots: slots, logN: scheme.logN) }
        var parameters = PlanParameters(
            logN: scheme.logN, qBits: scheme.qBits, pBits: scheme.pBits, dnum: scheme.dnum,
            secret: { if case .sparseTernary(let h) = scheme.secret { return .sparseTernary(hammingWeight: h) } else { return .uniformTernary } }(),
            log2DefaultScale: Int(scheme.defaultScaleLog2), securityPreset: preset)
        let b = literal.bootstrapping
        parameters.bootstrapping = PlanBootstrapping(
            coeffsToSlotsLevels: b.coeffsToSlotsLevels, slotsToCoeffsLevels: b.slotsToCoeffsLevels, evalModLevels: b.evalModDepth,
            sineRange: b.sineRange, cosineDegree: b.cosineDegree, doubleAngles: b.doubleAngles, messageRatioLog2: b.messageRatioLog2,
            outputLevel: scheme.qBits.count - 1 - b.levelsConsumed)
        return parameters
    }

    /// The deepest program N = 2^16 supports at 128-bit security with these prime sizes.
    public static func maximumDepth(options: CompilerOptions) -> Int {
        let bound = maximumLogQP128[largestLogN]!
        // one 61-bit special prime, dnum = L + 1
        return max(0, (bound - options.firstPrimeBits - 61) / options.scaleBits)
    }
}

/// Chooses the parameters from the measured depth and the slot count of the values (recorded in the state; the
/// leveling pass installs them, since an unleveled program is not yet valid under a concrete chain).
public struct SelectParameters: CipherPass {
    public init() {}
    public var name: String { "select-parameters" }

    public func run(_ program: inout Program, state: CompilationState) throws {
        let depth: Int
        if let measured = state.depth { depth = measured } else { depth = try MeasureDepth.depth(of: program, options: state.options) }
        var slots = 1
        for binding in program.inputs + program.outputs { slots = max(slots, binding.slots) }
        for entry in program.constants { slots = max(slots, entry.length) }
        let parameters = try ParameterSelection.selectAllowingBootstrapping(depth: depth, slots: slots, options: state.options)
        state.parameters = parameters
        let logQ = parameters.qBits.reduce(0, +), logP = parameters.pBits.reduce(0, +)
        state.report.append("parameters: N = 2^\(parameters.logN), depth \(depth), log Q = \(logQ), log P = \(logP) (\(parameters.pBits.count) special primes), dnum \(parameters.dnum), scale 2^\(parameters.log2DefaultScale), \(parameters.securityPreset)"
            + (parameters.bootstrapping.map { ", bootstrapping to level \($0.outputLevel) (\($0.levelsConsumed) levels per bootstrap; \(state.options.bootstrapPlacement.rawValue) placement)" } ?? ""))
    }
}

/// Records exactly the evaluation keys the instructions use (rotation steps collected from the program).
public struct SelectKeys: CipherPass {
    public init() {}
    public var name: String { "select-keys" }

    public func run(_ program: inout Program, state: CompilationState) throws {
        program.keys = program.usedKeys()
        state.report.append("keys: relinearization \(program.keys.relinearization ? "yes" : "no"), \(program.keys.rotationSteps.count) rotation keys\(program.keys.rotationSteps.isEmpty ? "" : " \(program.keys.rotationSteps.prefix(16).map(String.init).joined(separator: ","))\(program.keys.rotationSteps.count > 16 ? ",…" : "")")")
    }
}

/// Removes instructions whose results nothing uses (outputs are the roots).
public struct EliminateDeadValues: CipherPass {
    public init() {}
    public var name: String { "eliminate-dead-values" }

    public func run(_ program: inout Program, state: CompilationState) throws {
        var live = [Bool](repeating: false, count: program.valueIDBound)
        var keep = [Bool](repeating: false, count: program.instructions.count)
        for index in program.instructions.indices.reversed() {
            let instruction = program.instructions[index]
            let isRoot = instruction.opcode.traits.resultKind == nil || instruction.opcode == .input
            if isRoot || instruction.results.contains(where: { live[Int($0.raw)] }) {
                keep[index] = true
                for operand in instruction.operands where Int(operand.raw) < live.count { live[Int(operand.raw)] = true }
            }
        }
        guard keep.contains(false) else { return }
        var instructions: [Instruction] = []
        instructions.reserveCapacity(program.instructions.count)
        for (index, instruction) in program.instructions.enumerated() where keep[index] { instructions.append(instruction) }
        var rebuilt = Program(parameters: program.parameters, keys: program.keys, inputs: program.inputs, outputs: program.outputs,
                              constants: program.constants, laneMaps: program.laneMaps, instructions: instructions, memoryPlan: program.memoryPlan)
        for instruction in instructions { for result in instruction.results { rebuilt.types[result] = program.types[result] } }
        program = rebuilt
    }
}

/// Records every inferred value fact in the type table (the plan carries complete types).
public struct AnnotateTypes: CipherPass {
    public init() {}
    public var name: String { "annotate-types" }

    public func run(_ program: inout Program, state: CompilationState) throws {
        do {
            try program.annotateTypes()
        } catch {
            throw CompilerError.verificationFailed(pass: name, detail: "\(error)")
        }
    }
}
