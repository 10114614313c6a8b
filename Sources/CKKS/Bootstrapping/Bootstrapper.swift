import ComplexModule
import RealModule
import Foundation
import ModularArithmetic

/// Key-switching keys between the secret s and a sparse ephemeral secret s' for sparse-secret encapsulation
/// (Bossuat, Troncoso-Pastoriza, Hubaux 2022): s → s' at level 0 (generated modulo q_0·P only, where the small
/// weight of s' stays secure) and s' → s at the top of the chain. s' itself is discarded.
public struct EncapsulationKeys: Sendable {
    let toEphemeral: KeySwitchingKey
    let fromEphemeral: KeySwitchingKey
    /// Hamming weight of the ephemeral secret.
    public let hammingWeight: Int
    public var byteCount: Int { toEphemeral.byteCount + fromEphemeral.byteCount }

    /// Draws an ephemeral secret of `hammingWeight` (from `seed`, or the operating system) and makes both keys.
    public static func generate(
        parameters: CKKSParameters, hammingWeight: Int, secretKey: SecretKey, keyGenerator: inout KeyGenerator, seed: UInt64? = nil
    ) throws -> EncapsulationKeys {
        guard (1...parameters.degree).contains(hammingWeight) else {
            throw CKKSError.invalidParameter("ephemeral Hamming weight \(hammingWeight) outside 1...N")
        }
        var rng = seed.map { ChaChaRandom(seed: $0) } ?? ChaChaRandom()
        let coefficients = Sampler.ternary(degree: parameters.degree, distribution: .sparseTernary(hammingWeight: hammingWeight), rng: &rng)
        let polynomial = Sampler.evaluationPolynomial(
            coefficients, ring: parameters.ring, level: parameters.maxLevel, withSpecialPrimes: true, executor: keyGenerator.executor)
        let ephemeral = SecretKey(coefficients: coefficients, polynomial: polynomial)
        let toEphemeral = keyGenerator.keySwitchingKey(from: secretKey.polynomial, to: ephemeral, level: 0)
        let fromEphemeral = keyGenerator.keySwitchingKey(from: polynomial, to: secretKey)
        return EncapsulationKeys(toEphemeral: toEphemeral, fromEphemeral: fromEphemeral, hammingWeight: hammingWeight)
    }
}

/// Evaluation keys for bootstrapping, generated for exactly the rotations the circuit performs. Each Galois key is
/// trimmed to the highest level it is used at (its Q limbs above that level and its unused digits are dropped), which
/// saves about a fifth of the key memory at N = 2^16 (6.0 instead of 7.4 GB for 2^15 slots); the trimmed keys are
/// therefore only handed to the bootstrapper's own evaluator. The relinearization key covers EvalMod's levels only
/// (the application has its own, trimmed to the levels its plan uses).
public struct BootstrapKeys: Sendable {
    public let relinearizationKey: RelinearizationKey
    let galoisKeys: GaloisKeys
    /// The sparse-secret encapsulation keys, when the configuration asks for an ephemeral secret.
    public let encapsulation: EncapsulationKeys?
    /// Number of Galois keys (rotations plus conjugation).
    public var galoisKeyCount: Int { galoisKeys.keys.count }
    /// Bytes of all Galois keys (as trimmed), the relinearization key and the encapsulation keys.
    public var byteCount: Int { galoisKeys.byteCount + relinearizationKey.key.byteCount + (encapsulation?.byteCount ?? 0) }

    /// Generates the keys `Bootstrapper(parameters:configuration:slots:keys:)` needs; `ephemeralSeed` fixes the
    /// ephemeral secret (tests), nil draws it from the operating system.
    public static func generate(
        parameters: CKKSParameters, configuration: BootstrapConfiguration, slots: Int, secretKey: SecretKey,
        keyGenerator: inout KeyGenerator, ephemeralSeed: UInt64? = nil
    ) throws -> BootstrapKeys {
        let layout = try BootstrapLayout(parameters: parameters, configuration: configuration, slots: slots)
        var keys: [Int: KeySwitchingKey] = [:]
        for (element, level) in layout.galoisElementLevels().sorted(by: { $0.key < $1.key }) {
            keys[element] = keyGenerator.galoisKey(secretKey, galoisElement: element, level: level)
        }
        let encapsulation = try configuration.ephemeralHammingWeight.map {
            try EncapsulationKeys.generate(
                parameters: parameters, hammingWeight: $0, secretKey: secretKey, keyGenerator: &keyGenerator, seed: ephemeralSeed)
        }
        return BootstrapKeys(
            relinearizationKey: keyGenerator.relinearizationKey(secretKey, level: layout.evalModLevel), galoisKeys: GaloisKeys(keys: keys),
            encapsulation: encapsulation)
    }

    /// The key restricted to ciphertexts of level ≤ `level`: Q limbs 0...level, the special primes, and the digits
    /// that exist at that level.
    static func trim(_ key: KeySwitchingKey, to level: Int, parameters: CKKSParameters) -> KeySwitchingKey {
        let digits = parameters.digitCount(atLevel: level)
        func cut(_ p: RNSPolynomial<Evaluation>) -> RNSPolynomial<Evaluation> {
            var view = p
            view.dropLevel(to: level)
            return view.compacted()
        }
        return KeySwitchingKey(b: key.b.prefix(digits).map(cut), a: key.a.prefix(digits).map(cut))
    }
}

/// Levels, scales and transforms of one bootstrapping circuit, derived from the parameters alone (no keys).
struct BootstrapLayout {
    let parameters: CKKSParameters
    let configuration: BootstrapConfiguration
    let slots: Int
    var sparse: Bool { slots < parameters.slotCount }
    /// Level of the first CoeffToSlot transform (the top of the chain).
    var coeffsToSlotsLevel: Int { parameters.maxLevel }
    /// Level at which EvalMod starts.
    var evalModLevel: Int { parameters.maxLevel - configuration.coeffsToSlotsLevels }
    /// Level of the first SlotToCoeff transform.
    var slotsToCoeffsLevel: Int { evalModLevel - configuration.evalModDepth }
    var outputLevel: Int { slotsToCoeffsLevel - configuration.slotsToCoeffsLevels }

    init(parameters: CKKSParameters, configuration: BootstrapConfiguration, slots: Int) throws {
        try configuration.validate(for: parameters, slots: slots)
        self.parameters = parameters
        self.configuration = configuration
        self.slots = slots
    }

    func plans(_ direction: DFTDirection) -> [BabyStepGiantStepPlan] {
        let levels = direction == .coeffsToSlots ? configuration.coeffsToSlotsLevels : configuration.slotsToCoeffsLevels
        return HomomorphicDFTPlanner.offsetSets(direction: direction, slots: slots, ringSlots: parameters.slotCount, levels: levels)
            .map { BabyStepGiantStepPlan(offsets: $0.offsets, period: $0.period) }
    }

    /// Every Galois element the circuit uses, with the highest level it is used at.
    func galoisElementLevels() -> [Int: Int] {
        var levels: [Int: Int] = [:]
        func use(_ steps: Set<Int>, at level: Int) {
            for s in steps {
                let g = parameters.galoisElement(forRotation: s)
                if g != 1 { levels[g] = max(levels[g] ?? 0, level) }
            }
        }
        if sparse { use(Set(ModRaise.traceRotations(slots: slots, ringSlots: parameters.slotCount)), at: coeffsToSlotsLevel) }
        for (i, plan) in plans(.coeffsToSlots).enumerated() { use(plan.rotations, at: coeffsToSlotsLevel - i) }
        for (i, plan) in plans(.slotsToCoeffs).enumerated() { use(plan.rotations, at: slotsToCoeffsLevel - i) }
        // The conjugation splitting real and imaginary parts runs before CoeffToSlot's last rescale.
        levels[parameters.conjugationGaloisElement] = max(levels[parameters.conjugationGaloisElement] ?? 0, evalModLevel + 1)
        return levels
    }

    /// Left rotations the circuit performs (conjugation not included).
    func rotations() -> [Int] {
        var steps = Set<Int>()
        if sparse { steps.formUnion(ModRaise.traceRotations(slots: slots, ringSlots: parameters.slotCount)) }
        for plan in plans(.coeffsToSlots) + plans(.slotsToCoeffs) { steps.formUnion(plan.rotations) }
        return steps.sorted()
    }
}

/// CKKS bootstrapping (Cheon–Han–Kim–Kim–Song, in the form of Bossuat et al., Eurocrypt 2021 and 2022): takes a
/// ciphertext at any level and returns one encrypting the same slots at `outputLevel`.
///
/// Pipeline (levels from the top of the chain L, Lattigo's order):
/// 1. drop to level 0 and multiply the message by a power of two so q_0/Δ' ≈ 2^messageRatioLog2;
/// 2. with an ephemeral secret, key-switch to it (level 0), ModRaise to Q_L (plaintext t = m + q_0·I, |I| small for
///    the sparse ephemeral secret), switch back; without one, ModRaise directly;
/// 3. for n < N/2 slots, the subring trace (log2(N/2n) rotations), which keeps the 2n coefficients of Z[X^(N/2n)];
/// 4. CoeffToSlot at levels L … L−c+1: the inverse special DFT of size n as c sparse diagonal transforms
///    (baby-step giant-step, double hoisting), output in bit-reversed order; the normalisation 1/(q_0·K) is a scale
///    relabel, the 1/n is spread over the butterflies, and one conjugation before the last rescale splits real and
///    imaginary parts (two ciphertexts for n = N/2, one of 2n real slots for n ≤ N/4);
/// 5. EvalMod: x ↦ sin(2πx)/2π on x = t/q_0 ∈ [−K, K], a Chebyshev cosine then r double angles;
/// 6. SlotToCoeff: the forward DFT in s levels, ending at L − c − depth(EvalMod) − s = `outputLevel`.
///
/// For n < N/2 the input's slots must be n-periodic (the n values repeated N/2n times, see `replicated`); the
/// output is n-periodic too. Slots should be of magnitude ≲ 1 (see `BootstrapConfiguration.messageRatioLog2`).
///
/// Scale: the output's scale is the `ScaleSchedule`'s S_outputLevel when the input's scale is the schedule's S_0
/// after the drop to level 0 (always so for inputs above level 0, which are dropped with a scale change onto S_0);
/// a level-0 input of another scale s yields S_outputLevel · s·2^k/(S_0·2^k₀), k and k₀ the message shifts.
public final class Bootstrapper: @unchecked Sendable {
    public let parameters: CKKSParameters
    public let configuration: BootstrapConfiguration
    /// Slot count n (N/2, or a power of two ≤ N/4).
    public let slots: Int
    public let evaluator: CKKSEvaluator
    let encapsulation: EncapsulationKeys?
    let layout: BootstrapLayout
    let encoder: CKKSEncoder
    let schedule: ScaleSchedule
    let coeffsToSlotsTransforms: [EncodedDiagonalTransform]
    let slotsToCoeffsTransforms: [EncodedDiagonalTransform]
    let modularReduction: ModularReduction
    let imaginaryUnit: ImaginaryUnit
    /// Scale the CoeffToSlot input is relabelled to: slots then hold t/(q_0·K) (before the DFT).
    let coeffsToSlotsInputScale: Double
    /// Scale of CoeffToSlot's output (EvalMod's input): q at the EvalMod level.
    let evalModInputScale: Double
    /// Scale of EvalMod's output, whose slots hold sin(2πx)/2π.
    let evalModOutputScale: Double
    /// Δ' = S_0 · 2^k₀: the message scale after the shift, for an input at S_0.
    let nominalMessageScale: Double

    /// Levels one bootstrap consumes (from the top of the chain).
    public var levelsConsumed: Int { configuration.levelsConsumed }
    /// Level of every bootstrapped ciphertext.
    public var outputLevel: Int { layout.outputLevel }
    /// Scale of a bootstrapped ciphertext for an input on the schedule (S_outputLevel).
    public var outputScale: Double { schedule.scale(atLevel: outputLevel) }
    /// Bytes of the precomputed DFT diagonals (plaintexts at their levels).
    public var diagonalByteCount: Int { (coeffsToSlotsTransforms + slotsToCoeffsTransforms).reduce(0) { $0 + $1.byteCount } }
    /// Number of precomputed diagonal plaintexts.
    public var diagonalCount: Int {
        (coeffsToSlotsTransforms + slotsToCoeffsTransforms).reduce(0) { $0 + $1.groups.reduce(0) { $0 + $1.terms.count } }
    }
    /// log2 of the largest error of EvalMod's polynomial model (cosine, double angles, sine) against the exact
    /// reduction, for plaintext coefficients of magnitude up to 1 at the nominal message scale, in units of the message
    /// (one coefficient's error before SlotToCoeff; the sine's curvature (2π/R)²/6 dominates for R = 2^10).
    public let evalModErrorLog2: Double
    /// log2 of the probability that one bootstrap meets a coefficient outside [−K, K].
    public var failureProbabilityLog2: Double {
        configuration.coefficientFailureLog2(secret: parameters.literal.secret, degree: parameters.degree) + Foundation.log2(Double(2 * slots))
    }

    /// A bootstrapper using `evaluator`, which must hold the relinearization key, the conjugation key and the
    /// rotation keys of `requiredRotations` at full level, and the encapsulation keys when the configuration names an
    /// ephemeral secret. Precomputes and encodes every DFT diagonal.
    public init(
        parameters: CKKSParameters, configuration: BootstrapConfiguration, slots: Int, evaluator: CKKSEvaluator,
        encapsulation: EncapsulationKeys? = nil
    ) throws {
        guard evaluator.parameters == parameters else { throw CKKSError.parameterMismatch }
        layout = try BootstrapLayout(parameters: parameters, configuration: configuration, slots: slots)
        if let h = configuration.ephemeralHammingWeight {
            guard let keys = encapsulation else {
                throw CKKSError.missingKey("sparse-secret encapsulation keys for an ephemeral secret of weight \(h); make them with EncapsulationKeys.generate or BootstrapKeys.generate")
            }
            guard keys.hammingWeight == h else {
                throw CKKSError.invalidInput("encapsulation keys have ephemeral weight \(keys.hammingWeight), the configuration asks for \(h)")
            }
        }
        self.encapsulation = configuration.ephemeralHammingWeight == nil ? nil : encapsulation
        let needed = layout.galoisElementLevels().keys
        if let missing = needed.first(where: { evaluator.galoisKeys[$0] == nil }) {
            throw CKKSError.missingKey("bootstrapping needs the Galois key of element \(missing); generate the keys of Bootstrapper.requiredRotations plus conjugation, or use BootstrapKeys.generate")
        }
        guard evaluator.relinearizationKey != nil else { throw CKKSError.missingKey("relinearization key (for EvalMod)") }
        self.parameters = parameters
        self.configuration = configuration
        self.slots = slots
        self.evaluator = evaluator
        encoder = CKKSEncoder(parameters: parameters, executor: evaluator.executor)
        schedule = ScaleSchedule(parameters: parameters)
        imaginaryUnit = ImaginaryUnit(parameters: parameters, executor: evaluator.executor)
        let primes = parameters.qPrimes.map { Double($0) }
        let q0 = primes[0]
        let k = Double(configuration.sineRange)
        let ringSlots = parameters.slotCount
        modularReduction = ModularReduction(range: configuration.sineRange, degree: configuration.cosineDegree, doubleAngles: configuration.doubleAngles)

        let shift = Self.messageShift(q0: q0, scale: schedule.scale(atLevel: 0), ratioLog2: configuration.messageRatioLog2)
        nominalMessageScale = schedule.scale(atLevel: 0) * Foundation.exp2(Double(shift))
        coeffsToSlotsInputScale = q0 * k * Double(ringSlots / slots)
        evalModInputScale = primes[layout.evalModLevel]
        evalModOutputScale = modularReduction.outputScale(
            cosineScale: evalModInputScale, inputLevel: layout.evalModLevel, primes: parameters.qPrimes)
        // The reduction's error for coefficients up to 1 (at the nominal message scale): |m'/q_0| ≤ Δ'/q_0, in units
        // of Δ'.
        evalModErrorLog2 = Foundation.log2(modularReduction.reductionError(window: nominalMessageScale / q0) * q0 / nominalMessageScale)

        // CoeffToSlot keeps its ciphertexts at large scales, where the baby steps' key-switching noise is small, and
        // its plaintext scales near its primes (precise diagonals): the scale falls geometrically to 8·q_EvalMod
        // before the last group, which drops the remaining 2^3.
        let lastInputScale = min(coeffsToSlotsInputScale, 8 * evalModInputScale)
        let coeffsToSlotsScales = Self.geometricScales(
            from: coeffsToSlotsInputScale, to: lastInputScale, count: configuration.coeffsToSlotsLevels - 1) + [evalModInputScale]
        coeffsToSlotsTransforms = try Self.encodeTransforms(
            direction: .coeffsToSlots, layout: layout, encoder: encoder, topLevel: layout.coeffsToSlotsLevel, scales: coeffsToSlotsScales)
        let slotsToCoeffsInputScale = evalModOutputScale * nominalMessageScale / q0
        slotsToCoeffsTransforms = try Self.encodeTransforms(
            direction: .slotsToCoeffs, layout: layout, encoder: encoder, topLevel: layout.slotsToCoeffsLevel,
            scales: Self.geometricScales(
                from: slotsToCoeffsInputScale, to: schedule.scale(atLevel: layout.outputLevel), count: configuration.slotsToCoeffsLevels))
    }

    /// A bootstrapper with its own evaluator over `keys` (from `BootstrapKeys.generate`).
    public convenience init(
        parameters: CKKSParameters, configuration: BootstrapConfiguration, slots: Int, keys: BootstrapKeys,
        executor: ParallelExecutor = ParallelExecutor()
    ) throws {
        let evaluator = CKKSEvaluator(
            parameters: parameters, relinearizationKey: keys.relinearizationKey, galoisKeys: keys.galoisKeys, executor: executor)
        try self.init(parameters: parameters, configuration: configuration, slots: slots, evaluator: evaluator, encapsulation: keys.encapsulation)
    }

    /// The left rotations (slot steps) bootstrapping performs; generate their Galois keys, plus the conjugation key
    /// (`galoisKeys(_:rotations:conjugation: true)`) and the relinearization key.
    public static func requiredRotations(parameters: CKKSParameters, configuration: BootstrapConfiguration, slots: Int) throws -> [Int] {
        try BootstrapLayout(parameters: parameters, configuration: configuration, slots: slots).rotations()
    }

    /// The Galois elements bootstrapping uses (rotations and conjugation).
    public static func requiredGaloisElements(parameters: CKKSParameters, configuration: BootstrapConfiguration, slots: Int) throws -> [Int] {
        try BootstrapLayout(parameters: parameters, configuration: configuration, slots: slots).galoisElementLevels().keys.sorted()
    }

    /// `values` (n of them) repeated to fill `slotCount` slots: the n-periodic input sparse bootstrapping expects.
    public static func replicated(_ values: [Complex<Double>], toFill slotCount: Int) -> [Complex<Double>] {
        guard !values.isEmpty else { return [] }
        return (0..<slotCount).map { values[$0 % values.count] }
    }

    /// k such that scale·2^k ≈ q_0/2^ratio (k ≥ 0).
    static func messageShift(q0: Double, scale: Double, ratioLog2: Double) -> Int {
        max(0, Int((Foundation.log2(q0) - ratioLog2 - Foundation.log2(scale)).rounded()))
    }

    /// Encodes one DFT's groups at consecutive levels from `topLevel` down; group i's plaintext scale takes the
    /// ciphertext from `scales[i]` to `scales[i + 1]` through its rescale.
    static func encodeTransforms(
        direction: DFTDirection, layout: BootstrapLayout, encoder: CKKSEncoder, topLevel: Int, scales: [Double]
    ) throws -> [EncodedDiagonalTransform] {
        let levels = direction == .coeffsToSlots ? layout.configuration.coeffsToSlotsLevels : layout.configuration.slotsToCoeffsLevels
        precondition(scales.count == levels + 1)
        let maps = HomomorphicDFTPlanner.transforms(direction: direction, slots: layout.slots, ringSlots: layout.parameters.slotCount, levels: levels)
        let plans = layout.plans(direction)
        let primes = layout.parameters.qPrimes.map { Double($0) }
        return try zip(maps, plans).enumerated().map { i, pair in
            let level = topLevel - i
            return try EncodedDiagonalTransform(
                map: pair.0, plan: pair.1, level: level, plaintextScale: primes[level] * scales[i + 1] / scales[i], encoder: encoder)
        }
    }

    /// `count + 1` scales from `from` to `to`, geometric (just `from` for a count of 0).
    static func geometricScales(from: Double, to: Double, count: Int) -> [Double] {
        guard count > 0 else { return [from] }
        let step = Foundation.log2(to / from) / Double(count)
        return (0...count).map { $0 == count ? to : from * Foundation.exp2(step * Double($0)) }
    }

    // MARK: stages

    /// Level 0 with the message shifted up; returns the ciphertext and its message scale Δ'.
    func prepareInput(_ input: Ciphertext) throws -> (Ciphertext, Double) {
        guard input.ring === parameters.ring else { throw CKKSError.parameterMismatch }
        guard input.degree == 1 else { throw CKKSError.ciphertextDegree(expected: 1, actual: input.degree) }
        var ct = input
        if ct.level > 0 { try evaluator.dropLevel(&ct, to: 0, scale: schedule.scale(atLevel: 0)) }
        let shift = Self.messageShift(q0: Double(parameters.qPrimes[0]), scale: ct.scale, ratioLog2: configuration.messageRatioLog2)
        if shift > 0 { try evaluator.multiply(&ct, byInteger: Int64(1) << shift) }
        return (ct, ct.scale * Foundation.exp2(Double(shift)))
    }

    /// c_0 + KeySwitch(c_1) with `key`: the same plaintext under the key's target secret.
    func switchKey(_ ct: Ciphertext, with key: KeySwitchingKey) -> Ciphertext {
        var c0 = ct.polynomials[0].compacted()
        c0.makeUnique()
        let c1 = RNSPolynomial<Evaluation>.uninitialized(ring: parameters.ring, level: ct.level)
        let decomposition = evaluator.switcher.decompose(ct.polynomials[1])
        evaluator.switcher.apply(decomposition, key: key, permutation: nil, out0: c0, accumulate0: true, out1: c1, accumulate1: false)
        return Ciphertext(polynomials: [c0, c1], scale: ct.scale)
    }

    /// ModRaise (under the ephemeral secret, with encapsulation), then the subring trace for sparse slots; the scale
    /// is relabelled so the slots hold t/(q_0·K).
    func raise(_ ct: Ciphertext) throws -> Ciphertext {
        var raised: Ciphertext
        if let keys = encapsulation {
            let ephemeral = switchKey(ct, with: keys.toEphemeral)
            raised = switchKey(ModRaise.raise(ephemeral, parameters: parameters, executor: evaluator.executor), with: keys.fromEphemeral)
        } else {
            raised = ModRaise.raise(ct, parameters: parameters, executor: evaluator.executor)
        }
        if layout.sparse { raised = try ModRaise.subringTrace(raised, slots: slots, evaluator: evaluator) }
        raised.scale = coeffsToSlotsInputScale
        return raised
    }

    /// The CoeffToSlot transforms and the split into real ciphertexts: the input (level L) holds the slots z; the
    /// output (EvalMod's level, `evalModInputScale` for an input at `coeffsToSlotsInputScale`) is one ciphertext
    /// whose 2n real slots hold Re and Im of BR(V⁻¹z) for sparse slots, or (Re, Im) of BR(V⁻¹z) for full slots.
    /// The conjugation that splits them runs before the last rescale, where its key-switching noise is small
    /// against the product's scale.
    func coeffsToSlots(_ ct: Ciphertext) throws -> [Ciphertext] {
        var x = ct
        if x.level > layout.coeffsToSlotsLevel { try evaluator.dropLevel(&x, to: layout.coeffsToSlotsLevel) }
        for (i, transform) in coeffsToSlotsTransforms.enumerated() {
            x = try transform.applyDoubleHoisted(x, evaluator: evaluator, rescale: i < coeffsToSlotsTransforms.count - 1)
        }
        let conjugate = try evaluator.conjugated(x)
        var parts: [Ciphertext]
        if layout.sparse {
            parts = [try evaluator.adding(x, conjugate)]
        } else {
            let real = try evaluator.adding(x, conjugate)
            let imaginary = imaginaryUnit.times(try evaluator.subtracting(x, conjugate), negated: true, executor: evaluator.executor)
            parts = [real, imaginary]
        }
        for i in parts.indices { try evaluator.rescale(&parts[i]) }
        return parts
    }

    /// EvalMod: slots y = x/K at `evalModLevel` → sin(2πx)/2π at `slotsToCoeffsLevel` (scale `evalModOutputScale`),
    /// or one level above with the last rescale left to SlotToCoeff if `deferRescale`.
    func evalMod(_ ct: Ciphertext, deferRescale: Bool = false) throws -> Ciphertext {
        var x = ct
        if x.level > layout.evalModLevel { try evaluator.dropLevel(&x, to: layout.evalModLevel) }
        return try modularReduction.evaluate(
            x, scale: evalModInputScale, evaluator: evaluator, deferLastRescale: deferRescale && configuration.doubleAngles > 0)
    }

    /// The inverse of CoeffToSlot's split after EvalMod (re + i·im for full slots).
    func mergeRealParts(_ parts: [Ciphertext]) throws -> Ciphertext {
        if parts.count == 1 { return parts[0] }
        return try evaluator.adding(parts[0], imaginaryUnit.times(parts[1], negated: false, executor: evaluator.executor))
    }

    /// The SlotToCoeff transforms: packed real coefficients (bit-reversed) → slots, ending at `outputLevel`. The
    /// input may have its rescale pending (one level above `slotsToCoeffsLevel`). Every group runs double-hoisted
    /// (its baby steps stay in Q·P, one ModDown per giant step and two per group) and rescales its output: half
    /// the NTTs of single hoisting, whose baby steps each ModDown and then rescale at the pending scale, for the
    /// same precision (N = 2^16: 24.5 / 22.7 bits mean / worst either way).
    func slotsToCoeffs(_ ct: Ciphertext) throws -> Ciphertext {
        var x = ct
        if x.level > layout.slotsToCoeffsLevel + 1 { try evaluator.dropLevel(&x, to: layout.slotsToCoeffsLevel) }
        if x.level == layout.slotsToCoeffsLevel + 1 { try evaluator.rescale(&x) }
        for transform in slotsToCoeffsTransforms {
            x = try transform.applyDoubleHoisted(x, evaluator: evaluator, rescale: true)
        }
        return x
    }

    // MARK: bootstrap

    /// Refreshes `ciphertext` (any level, degree 1, slots of magnitude ≲ 1 at the schedule scale): returns a
    /// ciphertext of the same slots at `outputLevel`.
    public func bootstrap(_ ciphertext: Ciphertext) throws -> Ciphertext {
        var ignored: [(stage: String, milliseconds: Double)] = []
        return try bootstrap(ciphertext, stages: &ignored)
    }

    /// `bootstrap`, appending the wall time of each stage (ModRaise with encapsulation, CoeffToSlot, EvalMod,
    /// SlotToCoeff) to `stages`.
    public func bootstrap(_ ciphertext: Ciphertext, stages: inout [(stage: String, milliseconds: Double)]) throws -> Ciphertext {
        var clock = DispatchTime.now().uptimeNanoseconds
        func lap(_ stage: String) {
            let now = DispatchTime.now().uptimeNanoseconds
            stages.append((stage, Double(now - clock) / 1e6))
            clock = now
        }
        let (prepared, messageScale) = try prepareInput(ciphertext)
        let raised = try raise(prepared)
        lap("modRaise")
        let parts = try coeffsToSlots(raised)
        lap("coeffsToSlots")
        let q0 = Double(parameters.qPrimes[0])
        var reduced = try parts.map { part -> Ciphertext in
            var r = try evalMod(part, deferRescale: true)
            // sin(2πx)/2π ≈ m'/q_0: relabel so the slots hold m'/Δ'.
            r.scale *= messageScale / q0
            return r
        }
        let merged = try mergeRealParts(reduced)
        reduced = []
        lap("evalMod")
        let output = try slotsToCoeffs(merged)
        lap("slotsToCoeffs")
        return output
    }
}
