import ComplexModule
import Foundation
import ModularArithmetic
import Testing
@testable import CKKS

@Suite struct EncryptionTests {
    @Test func publicKeyEncryptDecrypt() throws {
        let ctx = TestContext.small
        let values = ctx.randomValues(ctx.parameters.slotCount, seed: 10)
        let bits = precisionBits(try ctx.decrypt(try ctx.encrypt(values)), values)
        #expect(bits >= 20, "public-key encryption precision \(bits) bits")
    }

    @Test func secretKeyEncryptDecryptAtLowerLevel() throws {
        let ctx = TestContext.small
        let encryptor = CKKSEncryptor(parameters: ctx.parameters, secretKey: ctx.secretKey, seed: 3)
        let values = ctx.randomValues(64, seed: 11)
        let ct = try encryptor.encrypt(try ctx.encoder.encode(values, level: 1))
        #expect(ct.level == 1)
        let bits = precisionBits(Array(try ctx.decrypt(ct).prefix(64)), values)
        #expect(bits >= 25, "secret-key encryption precision \(bits) bits")
    }

    @Test func wrongSecretKeyDoesNotDecrypt() throws {
        let ctx = TestContext.small
        var keygen = KeyGenerator(parameters: ctx.parameters, seed: 999)
        let other = CKKSDecryptor(parameters: ctx.parameters, secretKey: keygen.secretKey())
        let values = ctx.randomValues(16, seed: 12)
        let decoded = ctx.encoder.decode(try other.decrypt(try ctx.encrypt(values)))
        #expect(precisionBits(Array(decoded.prefix(16)), values) < 0)
    }
}

@Suite struct EvaluatorTests {
    let ctx = TestContext.small
    var slots: Int { ctx.parameters.slotCount }

    @Test func addSubNegate() throws {
        let a = ctx.randomValues(slots, seed: 20), b = ctx.randomValues(slots, seed: 21)
        let ca = try ctx.encrypt(a), cb = try ctx.encrypt(b)
        let e = ctx.evaluator
        var out = Ciphertext(parameters: ctx.parameters, level: 0)
        try e.add(ca, cb, into: &out)
        let sumBits = precisionBits(try ctx.decrypt(out), zip(a, b).map { $0 + $1 })
        #expect(sumBits >= 19, "ct+ct \(sumBits) bits")
        let diffBits = precisionBits(try ctx.decrypt(try e.subtracting(ca, cb)), zip(a, b).map { $0 - $1 })
        #expect(diffBits >= 19, "ct−ct \(diffBits) bits")
        let negBits = precisionBits(try ctx.decrypt(try e.negated(ca)), a.map { -$0 })
        #expect(negBits >= 20, "−ct \(negBits) bits")
        var acc = ca
        try e.add(cb, to: &acc)
        #expect(precisionBits(try ctx.decrypt(acc), zip(a, b).map { $0 + $1 }) >= 19)
    }

    @Test func plaintextAndConstantOperands() throws {
        let a = ctx.randomValues(slots, seed: 22), b = ctx.randomValues(slots, seed: 23)
        let ca = try ctx.encrypt(a)
        let pb = try ctx.encoder.encode(b)
        let e = ctx.evaluator
        let addBits = precisionBits(try ctx.decrypt(try e.adding(ca, pb)), zip(a, b).map { $0 + $1 })
        #expect(addBits >= 19, "ct+pt \(addBits) bits")
        let subBits = precisionBits(try ctx.decrypt(try e.subtracting(ca, pb)), zip(a, b).map { $0 - $1 })
        #expect(subBits >= 19, "ct−pt \(subBits) bits")
        let constBits = precisionBits(try ctx.decrypt(try e.adding(ca, constant: 0.75)), a.map { $0 + Complex(0.75, 0) })
        #expect(constBits >= 20, "ct+const \(constBits) bits")
        var prod = try e.multiplying(ca, constant: -1.5)
        try e.rescale(&prod)
        #expect(abs(prod.scale - ca.scale) / ca.scale < 1e-12)  // default constant scale = q_ℓ
        let mulConstBits = precisionBits(try ctx.decrypt(prod), a.map { $0 * Complex(-1.5, 0) })
        #expect(mulConstBits >= 18, "ct×const \(mulConstBits) bits")
        var mp = try e.multiplying(ca, pb)
        try e.rescale(&mp)
        let mulPlainBits = precisionBits(try ctx.decrypt(mp), zip(a, b).map { $0 * $1 })
        #expect(mulPlainBits >= 18, "ct×pt \(mulPlainBits) bits")
    }

    @Test func multiplyRelinearizeRescale() throws {
        let a = ctx.randomValues(slots, seed: 24), b = ctx.randomValues(slots, seed: 25)
        let e = ctx.evaluator
        var product = try e.multiplyingRelinearizing(try ctx.encrypt(a), try ctx.encrypt(b))
        #expect(product.degree == 1)
        let topLevel = product.level
        try e.rescale(&product)
        #expect(product.level == topLevel - 1)
        let bits = precisionBits(try ctx.decrypt(product), zip(a, b).map { $0 * $1 })
        #expect(bits >= 17, "ct×ct+relin+rescale \(bits) bits")
        // Degree-2 product decrypts too, before relinearization.
        var raw = Ciphertext(parameters: ctx.parameters, level: 0)
        try e.multiply(try ctx.encrypt(a), try ctx.encrypt(b), into: &raw)
        #expect(raw.degree == 2)
        try e.rescale(&raw)
        #expect(precisionBits(try ctx.decrypt(raw), zip(a, b).map { $0 * $1 }) >= 17)
    }

    @Test func depthChainToTheLastLevel() throws {
        // x^(2^L) by repeated squaring on values on the unit circle (magnitude stays 1).
        let angles = (0..<slots).map { Double($0) * 0.01 }
        let x = angles.map { Complex(Foundation.cos($0), Foundation.sin($0)) }
        let e = ctx.evaluator
        var ct = try ctx.encrypt(x)
        var expected = x
        while ct.level > 0 {
            try e.multiplyRelinearize(ct, ct, into: &ct)
            try e.rescale(&ct)
            expected = expected.map { $0 * $0 }
        }
        #expect(ct.level == 0)
        let bits = precisionBits(try ctx.decrypt(ct), expected)
        #expect(bits >= 12, "depth-\(ctx.parameters.maxLevel) chain \(bits) bits")
    }

    @Test(arguments: TestContext.rotations)
    func rotationByPositiveAndNegativeSteps(steps: Int) throws {
        let a = ctx.randomValues(slots, seed: 26)
        let rotated = try ctx.evaluator.rotated(try ctx.encrypt(a), by: steps)
        let bits = precisionBits(try ctx.decrypt(rotated), rotateLeft(a, steps))
        #expect(bits >= 19, "rotate by \(steps): \(bits) bits")
    }

    @Test func rotationAtLowerLevel() throws {
        let a = ctx.randomValues(slots, seed: 27)
        var ct = try ctx.encrypt(a)
        try ctx.evaluator.dropLevel(&ct, to: 1)
        let bits = precisionBits(try ctx.decrypt(try ctx.evaluator.rotated(ct, by: -4)), rotateLeft(a, -4))
        #expect(bits >= 19, "rotate at level 1: \(bits) bits")
    }

    @Test func hoistedRotationsEqualPlainRotations() throws {
        let a = ctx.randomValues(slots, seed: 28)
        let ct = try ctx.encrypt(a)
        let steps = [1, 2, 3, 5, -1, -4, 7, 16]
        let hoisted = try ctx.evaluator.rotateHoisted(ct, by: steps)
        for (k, s) in steps.enumerated() {
            let plain = try ctx.decrypt(try ctx.evaluator.rotated(ct, by: s))
            let fromHoisted = try ctx.decrypt(hoisted[k])
            let agreement = precisionBits(fromHoisted, plain)
            #expect(agreement >= 19, "hoisted vs plain rotation by \(s): \(agreement) bits")
            #expect(precisionBits(fromHoisted, rotateLeft(a, s)) >= 19)
        }
    }

    @Test func conjugation() throws {
        let a = ctx.randomValues(slots, seed: 29)
        let bits = precisionBits(try ctx.decrypt(try ctx.evaluator.conjugated(try ctx.encrypt(a))), a.map { $0.conjugate })
        #expect(bits >= 19, "conjugate \(bits) bits")
    }

    @Test func missingKeysAndMismatchedScalesThrow() throws {
        let bare = CKKSEvaluator(parameters: ctx.parameters)
        let ct = try ctx.encrypt(ctx.randomValues(4, seed: 30))
        #expect(throws: CKKSError.self) { try bare.rotated(ct, by: 1) }
        #expect(throws: CKKSError.self) { try bare.multiplyingRelinearizing(ct, ct) }
        #expect(throws: CKKSError.self) { try ctx.evaluator.rotated(ct, by: 9) }  // no key for 9
        let other = try ctx.encrypt(ctx.randomValues(4, seed: 31), scale: 0x1p30)
        #expect(throws: CKKSError.self) { try ctx.evaluator.adding(ct, other) }
        var bottom = ct
        try ctx.evaluator.dropLevel(&bottom, to: 0)
        #expect(throws: CKKSError.self) { try ctx.evaluator.rescale(&bottom) }
    }

    @Test func matchScalesThenAdd() throws {
        let a = ctx.randomValues(slots, seed: 32), b = ctx.randomValues(slots, seed: 33)
        let e = ctx.evaluator
        // a·b rescaled has scale Δ²/q_L ≠ Δ; b fresh at scale Δ.
        var ab = try e.multiplyingRelinearizing(try ctx.encrypt(a), try ctx.encrypt(b))
        try e.rescale(&ab)
        var cb = try ctx.encrypt(b)
        #expect(abs(ab.scale - cb.scale) / cb.scale > 1e-9)
        try e.matchScales(&ab, &cb)
        let sum = try e.adding(ab, cb)
        let expected = zip(a, b).map { $0 * $1 + $1 }
        let bits = precisionBits(try ctx.decrypt(sum), expected)
        #expect(bits >= 15, "matched-scale sum \(bits) bits")
        // Integer ratio: scale Δ vs 3Δ.
        var x = try ctx.encrypt(a)
        var y = try ctx.encrypt(b, scale: 3 * ctx.parameters.defaultScale)
        try e.matchScales(&x, &y)
        #expect(x.level == y.level && x.level == ctx.parameters.maxLevel)
        #expect(precisionBits(try ctx.decrypt(try e.adding(x, y)), zip(a, b).map { $0 + $1 }) >= 18)
    }

    @Test func multiThreadedEvaluationMatches() throws {
        let threaded = try TestContext(.insecureTest(logN: 11, levels: 3, scaleBits: 40, dnum: 4), threads: 3)
        let a = threaded.randomValues(slots, seed: 34), b = threaded.randomValues(slots, seed: 35)
        var p = try threaded.evaluator.multiplyingRelinearizing(try threaded.encrypt(a), try threaded.encrypt(b))
        try threaded.evaluator.rescale(&p)
        let r = try threaded.evaluator.rotated(p, by: 3)
        let expected = rotateLeft(zip(a, b).map { $0 * $1 }, 3)
        let bits = precisionBits(try threaded.decrypt(r), expected)
        #expect(bits >= 17, "3-thread mul+rotate \(bits) bits")
    }
}

/// Key switching has two reduction paths (see `CKKSParameters.montgomeryKeySwitch`): Montgomery when
/// dnum · 2 · max(q, p) < 2^64 (`TestContext.small`: dnum 3, 61-bit special primes), 128-bit Barrett
/// otherwise (dnum 5 with the same primes), and one-prime digits with a single special prime. All
/// must give the same message.
@Suite struct KeySwitchingPathTests {
    @Test func montgomeryAndBarrettPathsAgree() throws {
        let montgomery = TestContext.small
        let barrett = try TestContext(.insecureTest(logN: 11, levels: 4, scaleBits: 40, dnum: 5))
        // One-prime digits and a single special prime (SEAL's layout): exact one-source conversions.
        let singleSpecial = try TestContext(CKKSParametersLiteral(
            logN: 11, qBits: [60, 40, 40, 40, 40], pBits: [60], dnum: 5, defaultScaleLog2: 40,
            securityLevel: .insecureForTestingOnly))
        #expect(montgomery.parameters.montgomeryKeySwitch)
        #expect(!barrett.parameters.montgomeryKeySwitch)
        for ctx in [montgomery, barrett, singleSpecial] {
            let slots = ctx.parameters.slotCount
            let a = ctx.randomValues(slots, seed: 71), b = ctx.randomValues(slots, seed: 72)
            let e = ctx.evaluator
            var p = try e.multiplyingRelinearizing(try ctx.encrypt(a), try ctx.encrypt(b))
            try e.rescale(&p)
            let product = zip(a, b).map { $0 * $1 }
            let bits = precisionBits(try ctx.decrypt(p), product)
            #expect(bits >= 20, "mul+relin+rescale \(bits) bits (Montgomery \(ctx.parameters.montgomeryKeySwitch))")
            let rotated = try e.rotated(p, by: 5)
            let rotBits = precisionBits(try ctx.decrypt(rotated), rotateLeft(product, 5))
            #expect(rotBits >= 19, "rotate by 5 \(rotBits) bits")
            let hoisted = try e.rotateHoisted(p, by: [1, -4])
            #expect(precisionBits(try ctx.decrypt(hoisted[0]), rotateLeft(product, 1)) >= 19)
            #expect(precisionBits(try ctx.decrypt(hoisted[1]), rotateLeft(product, -4)) >= 19)
        }
    }
}

@Suite struct MultiplyAccumulateTests {
    /// Σ ct_i · pt_i in one pass equals the products added one by one, coefficient for coefficient, and decrypts to
    /// the sum of the slot products.
    @Test func matchesProductsAddedOneByOne() throws {
        let ctx = TestContext.small
        let slots = ctx.parameters.slotCount
        var pairs: [(Ciphertext, Plaintext)] = []
        var expected = [Complex<Double>](repeating: .zero, count: slots)
        for seed in 0..<5 {
            let x = ctx.randomValues(slots, seed: UInt64(10 + seed)), w = ctx.randomValues(slots, seed: UInt64(20 + seed))
            pairs.append((try ctx.encrypt(x), try ctx.encoder.encode(w, scale: nil, level: nil)))
            for s in 0..<slots { expected[s] += x[s] * w[s] }
        }
        let fused = try ctx.evaluator.multiplyAccumulate(pairs)
        var sequential = try ctx.evaluator.multiplying(pairs[0].0, pairs[0].1)
        for (ct, pt) in pairs.dropFirst() { try ctx.evaluator.add(try ctx.evaluator.multiplying(ct, pt), to: &sequential) }
        #expect(fused.scale == sequential.scale && fused.level == sequential.level)
        for k in 0...fused.degree {
            for i in 0...fused.level {
                #expect(Array(UnsafeBufferPointer(start: fused.polynomials[k].limb(i), count: ctx.parameters.degree))
                    == Array(UnsafeBufferPointer(start: sequential.polynomials[k].limb(i), count: ctx.parameters.degree)))
            }
        }
        var rescaled = fused
        try ctx.evaluator.rescale(&rescaled)
        let bits = precisionBits(try ctx.decrypt(rescaled), expected)
        #expect(bits >= 18, "fused multiply-accumulate precision \(bits) bits")
    }
}
