import ComplexModule
import Foundation
import ModularArithmetic
import Testing
@testable import CKKS

/// Keys, encoder and bootstrapper for one small, insecure bootstrappable ring.
final class BootstrapTestContext: @unchecked Sendable {
    let parameters: CKKSParameters
    let encoder: CKKSEncoder
    let encryptor: CKKSEncryptor
    let decryptor: CKKSDecryptor
    let bootstrapper: Bootstrapper
    var evaluator: CKKSEvaluator { bootstrapper.evaluator }
    var slots: Int { bootstrapper.slots }

    init(_ literal: BootstrappableParametersLiteral, slots: Int, seed: UInt64 = 7, trimmedKeys: Bool = true) throws {
        parameters = try CKKSParameters(literal.scheme)
        encoder = CKKSEncoder(parameters: parameters)
        var keygen = KeyGenerator(parameters: parameters, seed: seed)
        let secretKey = keygen.secretKey()
        encryptor = CKKSEncryptor(parameters: parameters, secretKey: secretKey, seed: seed + 1)
        decryptor = CKKSDecryptor(parameters: parameters, secretKey: secretKey)
        if trimmedKeys {
            let keys = try BootstrapKeys.generate(
                parameters: parameters, configuration: literal.bootstrapping, slots: slots, secretKey: secretKey, keyGenerator: &keygen,
                ephemeralSeed: seed + 2)
            bootstrapper = try Bootstrapper(parameters: parameters, configuration: literal.bootstrapping, slots: slots, keys: keys)
        } else {
            let rotations = try Bootstrapper.requiredRotations(parameters: parameters, configuration: literal.bootstrapping, slots: slots)
            let evaluator = CKKSEvaluator(
                parameters: parameters, relinearizationKey: keygen.relinearizationKey(secretKey),
                galoisKeys: keygen.galoisKeys(secretKey, rotations: rotations, conjugation: true))
            var encapsulation: EncapsulationKeys?
            if let weight = literal.bootstrapping.ephemeralHammingWeight {
                encapsulation = try EncapsulationKeys.generate(
                    parameters: parameters, hammingWeight: weight, secretKey: secretKey, keyGenerator: &keygen, seed: seed + 2)
            }
            bootstrapper = try Bootstrapper(
                parameters: parameters, configuration: literal.bootstrapping, slots: slots, evaluator: evaluator, encapsulation: encapsulation)
        }
    }

    /// N = 2^11, all 1024 slots, ModRaise under the main secret (h = 64, K = 16 is 6.9σ), keys from
    /// requiredRotations at full level.
    static let full = try! BootstrapTestContext(
        .insecureTest(logN: 11, bootstrapping: BootstrapConfiguration(coeffsToSlotsLevels: 3, slotsToCoeffsLevels: 2, ephemeralHammingWeight: nil)),
        slots: 1024, trimmedKeys: false)
    /// N = 2^12, 128 slots (sparse packing), sparse-secret encapsulation (ephemeral h = 32), trimmed keys.
    static let sparse = try! BootstrapTestContext(.insecureTest(logN: 12), slots: 128)

    /// n random values with |re|, |im| ≤ 1, replicated over all slots.
    func randomSlots(seed: UInt64) -> [Complex<Double>] {
        var rng = ChaChaRandom(seed: seed)
        let values = (0..<slots).map { _ in Complex(Double.random(in: -1...1, using: &rng), Double.random(in: -1...1, using: &rng)) }
        return Bootstrapper.replicated(values, toFill: parameters.slotCount)
    }

    func encrypt(_ values: [Complex<Double>], level: Int, scale: Double) throws -> Ciphertext {
        try encryptor.encrypt(try encoder.encode(values, scale: scale, level: level))
    }

    func decrypt(_ ct: Ciphertext) throws -> [Complex<Double>] { encoder.decode(try decryptor.decrypt(ct)) }
}

@Suite struct BootstrappingTests {
    /// The grouped butterfly stages, applied in plaintext, are the encoder's special FFT: CoeffToSlot gives the
    /// packed bit-reversed coefficients, SlotToCoeff brings back the slots (sparse packing for n < N/2).
    @Test(arguments: [(11, 1024, 3, 2), (11, 256, 4, 3), (12, 64, 2, 3)])
    func dftFactorizationMatchesTheEncoder(logN: Int, n: Int, ctsLevels: Int, stcLevels: Int) throws {
        let parameters = try CKKSParameters(.insecureTest(logN: logN, levels: 1))
        let encoder = CKKSEncoder(parameters: parameters)
        let ringSlots = parameters.slotCount
        var rng = ChaChaRandom(seed: 2)
        let values = (0..<n).map { _ in Complex(Double.random(in: -1...1, using: &rng), Double.random(in: -1...1, using: &rng)) }
        let z = Bootstrapper.replicated(values, toFill: ringSlots)
        var re = z.map(\.real), im = z.map(\.imaginary)
        encoder.specialInverseFFT(&re, &im)
        let gap = ringSlots / n, bits = n.trailingZeroBitCount
        let u = (0..<n).map { Complex(re[$0 * gap], im[$0 * gap]) }
        let w = (0..<n).map { u[NTTTables.bitReverse($0, bits: bits)] }

        var x = values
        for map in HomomorphicDFTPlanner.transforms(direction: .coeffsToSlots, slots: n, ringSlots: ringSlots, levels: ctsLevels) {
            x = map.apply(Bootstrapper.replicated(x, toFill: map.period))
        }
        var packed: [Complex<Double>]
        if n < ringSlots {
            // x + conj(x) holds Re(w) then Im(w).
            #expect(x.count == 2 * n)
            packed = x.map { Complex(2 * $0.real, 0) }
            let expected = (0..<(2 * n)).map { $0 < n ? Complex(w[$0].real, 0) : Complex(w[$0 - n].imaginary, 0) }
            #expect(precisionBits(packed, expected) >= 45)
        } else {
            // CoeffToSlot's last group carries 1/2 for the split x ± conj(x).
            #expect(precisionBits(x.map { $0 * Complex(2, 0) }, w) >= 45)
            packed = x.map { $0 * Complex(2, 0) }
        }
        var y = packed
        for map in HomomorphicDFTPlanner.transforms(direction: .slotsToCoeffs, slots: n, ringSlots: ringSlots, levels: stcLevels) {
            y = map.apply(Bootstrapper.replicated(y, toFill: map.period))
        }
        #expect(precisionBits(Array(y.prefix(n)), values) >= 45)
    }

    /// CoeffToSlot then SlotToCoeff, no EvalMod: the packed real coefficients match the plaintext special FFT and the
    /// round trip returns the slots.
    @Test(arguments: [false, true])
    func homomorphicDFTRoundTrip(sparse: Bool) throws {
        let ctx = sparse ? BootstrapTestContext.sparse : BootstrapTestContext.full
        let b = ctx.bootstrapper
        let z = ctx.randomSlots(seed: 1)
        let ct = try ctx.encrypt(z, level: ctx.parameters.maxLevel, scale: b.coeffsToSlotsInputScale)
        let parts = try b.coeffsToSlots(ct)
        #expect(parts.count == (sparse ? 1 : 2))
        #expect(parts[0].level == ctx.parameters.maxLevel - b.configuration.coeffsToSlotsLevels)

        // Expected: coefficient vector u_k = a_k + i·a_(k+n) of the subring polynomial, in bit-reversed order.
        var re = z.map(\.real), im = z.map(\.imaginary)
        ctx.encoder.specialInverseFFT(&re, &im)
        let n = ctx.slots, gap = ctx.parameters.slotCount / n, bits = n.trailingZeroBitCount
        let u = (0..<n).map { Complex(re[$0 * gap], im[$0 * gap]) }
        let bitReversed = (0..<n).map { u[NTTTables.bitReverse($0, bits: bits)] }
        let decrypted = try parts.map { try ctx.decrypt($0) }
        var expected: [[Complex<Double>]]
        if sparse {
            let packed = (0..<(2 * n)).map { $0 < n ? Complex(bitReversed[$0].real, 0) : Complex(bitReversed[$0 - n].imaginary, 0) }
            expected = [Bootstrapper.replicated(packed, toFill: ctx.parameters.slotCount)]
        } else {
            expected = [bitReversed.map { Complex($0.real, 0) }, bitReversed.map { Complex($0.imaginary, 0) }]
        }
        for (got, want) in zip(decrypted, expected) {
            let bits = precisionBits(got, want)
            #expect(bits >= 40, "CoeffToSlot precision \(bits) bits")
        }

        let back = try b.slotsToCoeffs(try b.mergeRealParts(parts))
        #expect(back.level == b.outputLevel)
        let roundTrip = precisionBits(try ctx.decrypt(back), z)
        #expect(roundTrip >= 25, "CoeffToSlot → SlotToCoeff round trip \(roundTrip) bits")
    }

    /// EvalMod alone on x = I + ε for integers |I| < K and |ε| ≤ 2^-10: returns sin(2πx)/2π ≈ ε.
    @Test func evalModOnKnownInputs() throws {
        let ctx = BootstrapTestContext.full
        let b = ctx.bootstrapper
        let k = b.configuration.sineRange
        var rng = ChaChaRandom(seed: 3)
        let count = ctx.parameters.slotCount
        let integers = (0..<count).map { _ in Double(Int.random(in: (-k + 1)...(k - 1), using: &rng)) }
        let offsets = (0..<count).map { _ in Double.random(in: -0x1p-10...0x1p-10, using: &rng) }
        let y = zip(integers, offsets).map { Complex(($0 + $1) / Double(k), 0) }
        let ct = try ctx.encrypt(y, level: b.layout.evalModLevel, scale: b.evalModInputScale)
        let out = try b.evalMod(ct)
        #expect(out.level == b.layout.slotsToCoeffsLevel)
        #expect(abs(out.scale / b.evalModOutputScale - 1) < 1e-12)
        let got = try ctx.decrypt(out)
        let sine = zip(integers, offsets).map { Complex(Foundation.sin(2 * Double.pi * ($0 + $1)) / (2 * Double.pi), 0) }
        let bits = precisionBits(got, sine)
        #expect(bits >= 38, "EvalMod vs sin(2πx)/2π: \(bits) bits")
        // Against the reduction itself, the sine's curvature (2π)²ε³/6 ≤ 2^-27 dominates.
        let reduction = precisionBits(got, offsets.map { Complex($0, 0) })
        #expect(reduction >= 26, "EvalMod vs x − round(x): \(reduction) bits")
        // The plaintext model: the approximation alone (tiny offsets) and with the sine's curvature for coefficients
        // up to 1 at R = 2^10, (2π/R)²/6 ≈ 2^-17.3 of the message.
        #expect(b.modularReduction.reductionError(window: 0x1p-20) < 0x1p-38)
        #expect(b.evalModErrorLog2 < -17 && b.evalModErrorLog2 > -17.6, "EvalMod model error 2^\(b.evalModErrorLog2)")
    }

    /// Bootstrapping a level-0 ciphertext restores `outputLevel` on the schedule's scale with the slots intact.
    @Test(arguments: [false, true])
    func bootstrapRestoresLevels(sparse: Bool) throws {
        let ctx = sparse ? BootstrapTestContext.sparse : BootstrapTestContext.full
        let b = ctx.bootstrapper
        let z = ctx.randomSlots(seed: 5)
        let schedule = ScaleSchedule(parameters: ctx.parameters)
        let ct = try ctx.encrypt(z, level: 0, scale: schedule.scale(atLevel: 0))
        let out = try b.bootstrap(ct)
        #expect(out.level == ctx.parameters.maxLevel - b.levelsConsumed)
        #expect(out.level == b.outputLevel && b.outputLevel == 2)
        #expect(abs(out.scale / schedule.scale(atLevel: out.level) - 1) < 1e-9)
        let bits = precisionBits(try ctx.decrypt(out), z)
        #expect(bits >= 20, "bootstrap precision \(bits) bits (\(sparse ? "sparse" : "full") slots)")
    }

    /// All slots equal: the whole message sits in one coefficient of size ≈ 1, where sin(2πx)/2π bends away from x by
    /// (2π/R)²/6 ≈ 2^-17.3 at R = 2^10: the documented worst case, still well above noise.
    @Test func constantSlotsAreLimitedByTheSineCurvature() throws {
        let ctx = BootstrapTestContext.full
        let schedule = ScaleSchedule(parameters: ctx.parameters)
        let z = [Complex<Double>](repeating: Complex(0.9, -0.4), count: ctx.parameters.slotCount)
        let out = try ctx.bootstrapper.bootstrap(try ctx.encrypt(z, level: 0, scale: schedule.scale(atLevel: 0)))
        let bits = precisionBits(try ctx.decrypt(out), z)
        #expect(bits >= 16.5 && bits <= 19, "constant slots: \(bits) bits")
    }

    /// Unit-modulus values through squarings and products with unit constants, longer than the chain: the
    /// bootstrapper refreshes whenever the level runs out.
    @Test func multiplicationChainThroughBootstraps() throws {
        let ctx = BootstrapTestContext.sparse
        let b = ctx.bootstrapper
        let e = ctx.evaluator
        let schedule = ScaleSchedule(parameters: ctx.parameters)
        var rng = ChaChaRandom(seed: 9)
        func unit() -> Complex<Double> {
            let a = Double.random(in: 0..<(2 * Double.pi), using: &rng)
            return Complex(Foundation.cos(a), Foundation.sin(a))
        }
        var expected = Bootstrapper.replicated((0..<ctx.slots).map { _ in unit() }, toFill: ctx.parameters.slotCount)
        var ct = try ctx.encrypt(expected, level: b.outputLevel, scale: schedule.scale(atLevel: b.outputLevel))
        var bootstraps = 0
        for step in 0..<7 {
            if ct.level == 0 {
                ct = try b.bootstrap(ct)
                bootstraps += 1
            }
            if step % 2 == 0 {
                ct = try e.multiplyingRelinearizing(ct, ct)
                expected = expected.map { $0 * $0 }
            } else {
                let w = Bootstrapper.replicated((0..<ctx.slots).map { _ in unit() }, toFill: ctx.parameters.slotCount)
                let scale = schedule.multiplierScale(operandScale: ct.scale, level: ct.level, requested: ct.scale)
                ct = try e.multiplying(ct, try ctx.encoder.encode(w, scale: scale, level: ct.level))
                expected = zip(expected, w).map { $0 * $1 }
            }
            try e.rescale(&ct)
            #expect(abs(ct.scale / schedule.scale(atLevel: ct.level) - 1) < 1e-9)
        }
        #expect(bootstraps >= 2)
        let bits = precisionBits(try ctx.decrypt(ct), expected)
        #expect(bits >= 15, "7 products through \(bootstraps) bootstraps: \(bits) bits")
    }

    @Test func requiredRotationsMatchTheKeysAndTrimmingShrinksThem() throws {
        let literal = BootstrappableParametersLiteral.insecureTest(logN: 11)
        let parameters = try CKKSParameters(literal.scheme)
        let rotations = try Bootstrapper.requiredRotations(parameters: parameters, configuration: literal.bootstrapping, slots: 256)
        let elements = try Bootstrapper.requiredGaloisElements(parameters: parameters, configuration: literal.bootstrapping, slots: 256)
        #expect(elements.contains(parameters.conjugationGaloisElement))
        #expect(Set(rotations.map { parameters.galoisElement(forRotation: $0) }).union([parameters.conjugationGaloisElement]) == Set(elements))
        // The trace of 256 slots in 1024 uses rotations by 256 and 512.
        #expect(rotations.contains(256) && rotations.contains(512))
        var keygen = KeyGenerator(parameters: parameters, seed: 1)
        let sk = keygen.secretKey()
        let keys = try BootstrapKeys.generate(parameters: parameters, configuration: literal.bootstrapping, slots: 256, secretKey: sk, keyGenerator: &keygen)
        #expect(keys.galoisKeyCount == elements.count)
        let fullKeyBytes = keygen.galoisKey(sk, galoisElement: elements[0]).byteCount
        #expect(keys.galoisKeys.byteCount < elements.count * fullKeyBytes)
        // A missing key is named, not a crash.
        let bare = CKKSEvaluator(parameters: parameters, relinearizationKey: keys.relinearizationKey)
        #expect(throws: CKKSError.self) {
            try Bootstrapper(parameters: parameters, configuration: literal.bootstrapping, slots: 256, evaluator: bare)
        }
    }

    @Test func configurationIsValidated() throws {
        let literal = BootstrappableParametersLiteral.insecureTest(logN: 11)
        let parameters = try CKKSParameters(literal.scheme)
        let configuration = literal.bootstrapping
        #expect(throws: CKKSError.self) { try configuration.validate(for: parameters, slots: 768) }  // not a power of two
        #expect(throws: CKKSError.self) { try configuration.validate(for: parameters, slots: 2) }  // fewer stages than levels
        var deep = configuration
        deep.coeffsToSlotsLevels = 6
        #expect(throws: CKKSError.self) { try deep.validate(for: parameters, slots: 1024) }  // more levels than the chain
        // A dense secret makes |I| far larger than K, unless ModRaise runs under a sparse ephemeral secret.
        var dense = literal.scheme
        dense.secret = .uniformTernary
        var direct = configuration
        direct.ephemeralHammingWeight = nil
        #expect(throws: CKKSError.self) { try direct.validate(for: try CKKSParameters(dense), slots: 1024) }
        try configuration.validate(for: try CKKSParameters(dense), slots: 1024)
        try configuration.validate(for: parameters, slots: 1024)
        // The encapsulation keys must come with a configuration that names an ephemeral secret.
        let keygenParameters = try CKKSParameters(literal.scheme)
        var keygen = KeyGenerator(parameters: keygenParameters, seed: 4)
        let sk = keygen.secretKey()
        let evaluator = CKKSEvaluator(
            parameters: keygenParameters, relinearizationKey: keygen.relinearizationKey(sk),
            galoisKeys: keygen.galoisKeys(
                sk, rotations: try Bootstrapper.requiredRotations(parameters: keygenParameters, configuration: configuration, slots: 1024),
                conjugation: true))
        #expect(throws: CKKSError.self) {
            try Bootstrapper(parameters: keygenParameters, configuration: configuration, slots: 1024, evaluator: evaluator)
        }
    }

    @Test func secureN16PresetIsAcceptedAndLeavesNineLevels() throws {
        let literal = BootstrappableParametersLiteral.n16H192
        let parameters = try CKKSParameters(literal.scheme)
        #expect(parameters.logQP <= 1550)
        #expect(parameters.maxLevel - literal.bootstrapping.levelsConsumed == 9)
        try literal.bootstrapping.validate(for: parameters, slots: parameters.slotCount)
        #expect(literal.bootstrapping.coefficientFailureLog2(secret: literal.scheme.secret, degree: parameters.degree) < -60)
        #expect(parameters.dnum == 5 && literal.bootstrapping.ephemeralHammingWeight == 32)
    }
}
