import ComplexModule
import Foundation
import Testing
@testable import CKKS

/// Evaluation keys generated only up to the level they are used at: Q limbs 0...ℓ, the special primes and the
/// digits that exist at ℓ. They switch ciphertexts of level ≤ ℓ as precisely as full keys, refuse higher ones by
/// name, and survive serialization.
@Suite struct TrimmedKeyTests {
    let ctx = TestContext.small  // N = 2^11, levels 0...4, dnum 3 (2 primes per digit)

    /// The message of a `missingKey` error, or nil for anything else.
    static func missingKeyMessage(_ error: CKKSError?) -> String? {
        if case .missingKey(let message)? = error { return message }
        return nil
    }

    @Test(arguments: [0, 1, 2, 3])
    func trimmedGaloisKeysRotateAndConjugateLikeFullKeys(level: Int) throws {
        var keygen = KeyGenerator(parameters: ctx.parameters, seed: 100 + UInt64(level))
        let g = ctx.parameters.galoisElement(forRotation: 3)
        let conjugation = ctx.parameters.conjugationGaloisElement
        let keys = keygen.galoisKeys(ctx.secretKey, rotations: [3, -1], conjugation: true, levels: [g: level, conjugation: level])
        let right = ctx.parameters.galoisElement(forRotation: -1)
        // Elements the map does not name get full keys.
        #expect(keys.keys[right]?.level == ctx.parameters.maxLevel)
        for element in [g, conjugation] {
            let key = try #require(keys.keys[element])
            #expect(key.level == level)
            #expect(key.digitCount == ctx.parameters.digitCount(atLevel: level))
            #expect(key.b.allSatisfy { $0.level == level && $0.limbCount == level + 1 + ctx.parameters.pPrimes.count })
            let full = try #require(ctx.galoisKeys.keys[element])
            #expect(key.byteCount < full.byteCount)
        }
        let trimmed = CKKSEvaluator(parameters: ctx.parameters, galoisKeys: keys)
        let values = ctx.randomValues(ctx.parameters.slotCount, seed: 50 + UInt64(level))
        // At the key's level and below it.
        for ciphertextLevel in Set([level, max(level - 1, 0)]) {
            let ct = try ctx.encrypt(values, level: ciphertextLevel)
            let full = precisionBits(try ctx.decrypt(try ctx.evaluator.rotated(ct, by: 3)), rotateLeft(values, 3))
            let bits = precisionBits(try ctx.decrypt(try trimmed.rotated(ct, by: 3)), rotateLeft(values, 3))
            #expect(bits >= 19 && bits >= full - 1, "rotation at level \(ciphertextLevel): \(bits) bits (full key \(full))")
            let hoisted = try trimmed.rotateHoisted(ct, by: [3])
            #expect(precisionBits(try ctx.decrypt(hoisted[0]), rotateLeft(values, 3)) >= 19)
            let conjugated = precisionBits(try ctx.decrypt(try trimmed.conjugated(ct)), values.map { $0.conjugate })
            #expect(conjugated >= 19, "conjugation at level \(ciphertextLevel): \(conjugated) bits")
        }
    }

    @Test(arguments: [1, 2, 3])
    func trimmedRelinearizationKeyMultipliesLikeTheFullKey(level: Int) throws {
        var keygen = KeyGenerator(parameters: ctx.parameters, seed: 200 + UInt64(level))
        let key = keygen.relinearizationKey(ctx.secretKey, level: level)
        #expect(key.key.level == level && key.key.digitCount == ctx.parameters.digitCount(atLevel: level))
        let trimmed = CKKSEvaluator(parameters: ctx.parameters, relinearizationKey: key)
        let a = ctx.randomValues(ctx.parameters.slotCount, seed: 60), b = ctx.randomValues(ctx.parameters.slotCount, seed: 61)
        let expected = zip(a, b).map(*)
        func bits(_ evaluator: CKKSEvaluator) throws -> Double {
            var product = try evaluator.multiplyingRelinearizing(try ctx.encrypt(a, level: level), try ctx.encrypt(b, level: level))
            try evaluator.rescale(&product)
            return precisionBits(try ctx.decrypt(product), expected)
        }
        let full = try bits(ctx.evaluator)
        let withTrimmed = try bits(trimmed)
        #expect(withTrimmed >= 17 && withTrimmed >= full - 1, "ct×ct at level \(level): \(withTrimmed) bits (full key \(full))")
    }

    @Test func aCiphertextAboveTheKeysLevelIsRefusedByName() throws {
        var keygen = KeyGenerator(parameters: ctx.parameters, seed: 300)
        let galois = keygen.galoisKeys(
            ctx.secretKey, rotations: [3], conjugation: true,
            levels: [ctx.parameters.galoisElement(forRotation: 3): 1, ctx.parameters.conjugationGaloisElement: 1])
        let evaluator = CKKSEvaluator(
            parameters: ctx.parameters, relinearizationKey: keygen.relinearizationKey(ctx.secretKey, level: 1), galoisKeys: galois)
        let ct = try ctx.encrypt(ctx.randomValues(16, seed: 70), level: 2)
        let operations: [(String, () throws -> Void)] = [
            ("rotate", { _ = try evaluator.rotated(ct, by: 3) }),
            ("rotateHoisted", { _ = try evaluator.rotateHoisted(ct, by: [3]) }),
            ("conjugate", { _ = try evaluator.conjugated(ct) }),
            ("multiplyRelinearize", { _ = try evaluator.multiplyingRelinearizing(ct, ct) }),
            ("relinearize", {
                var product = Ciphertext(parameters: ctx.parameters, level: ct.level, degree: 2)
                try evaluator.multiply(ct, ct, into: &product)
                try evaluator.relinearize(&product)
            }),
        ]
        for (name, operation) in operations {
            let error = #expect(throws: CKKSError.self, "\(name)") { try operation() }
            let message = try #require(Self.missingKeyMessage(error), "\(name): \(String(describing: error))")
            #expect(message.contains("covers levels ≤ 1") && message.contains("at level 2"), "\(name): \(message)")
        }
        // The same keys serve level 1.
        _ = try evaluator.rotated(try ctx.encrypt(ctx.randomValues(16, seed: 71), level: 1), by: 3)
    }

    /// A key generated at level ℓ has the shape of a full key cut down to ℓ (`BootstrapKeys.trim`).
    @Test(arguments: [0, 2, 4])
    func generatingAtALevelMatchesTrimmingAFullKey(level: Int) throws {
        var keygen = KeyGenerator(parameters: ctx.parameters, seed: 400)
        let g = ctx.parameters.galoisElement(forRotation: 5)
        let generated = keygen.galoisKey(ctx.secretKey, galoisElement: g, level: level)
        let cut = BootstrapKeys.trim(keygen.galoisKey(ctx.secretKey, galoisElement: g), to: level, parameters: ctx.parameters)
        #expect(generated.level == cut.level && generated.digitCount == cut.digitCount && generated.byteCount == cut.byteCount)
        #expect(zip(generated.b + generated.a, cut.b + cut.a).allSatisfy { $0.level == $1.level && $0.limbCount == $1.limbCount })
        if level == ctx.parameters.maxLevel { #expect(generated.digitCount == ctx.parameters.dnum) }
    }

    @Test func trimmedKeysRoundTripThroughSerialization() throws {
        var keygen = KeyGenerator(parameters: ctx.parameters, seed: 500)
        let g = ctx.parameters.galoisElement(forRotation: 3)
        let galois = keygen.galoisKeys(ctx.secretKey, rotations: [3, 7], levels: [g: 1])
        let relinearization = keygen.relinearizationKey(ctx.secretKey, level: 2)
        let galoisBack = try GaloisKeys(deserializing: galois.serialized(parameters: ctx.parameters), parameters: ctx.parameters)
        let relinearizationBack = try RelinearizationKey(
            deserializing: relinearization.serialized(parameters: ctx.parameters), parameters: ctx.parameters)
        #expect(galoisBack.galoisElements == galois.galoisElements)
        for element in galois.galoisElements {
            let (original, back) = (try #require(galois.keys[element]), try #require(galoisBack.keys[element]))
            #expect(back.level == original.level && back.b == original.b && back.a == original.a)
        }
        #expect(galoisBack.keys[g]?.level == 1)
        #expect(relinearizationBack.key.level == 2 && relinearizationBack.key.b == relinearization.key.b)
        // The read-back keys evaluate.
        let evaluator = CKKSEvaluator(parameters: ctx.parameters, relinearizationKey: relinearizationBack, galoisKeys: galoisBack)
        let values = ctx.randomValues(ctx.parameters.slotCount, seed: 80)
        let rotated = try evaluator.rotated(try ctx.encrypt(values, level: 1), by: 3)
        #expect(precisionBits(try ctx.decrypt(rotated), rotateLeft(values, 3)) >= 19)
        var square = try evaluator.multiplyingRelinearizing(try ctx.encrypt(values, level: 2), try ctx.encrypt(values, level: 2))
        try evaluator.rescale(&square)
        #expect(precisionBits(try ctx.decrypt(square), values.map { $0 * $0 }) >= 17)
    }

    @Test func keysOfTheWrongShapeAreRejected() throws {
        var keygen = KeyGenerator(parameters: ctx.parameters, seed: 600)
        let atOne = keygen.relinearizationKey(ctx.secretKey, level: 1).key  // one digit
        let atThree = keygen.relinearizationKey(ctx.secretKey, level: 3).key  // two digits
        func read(_ key: KeySwitchingKey) throws -> RelinearizationKey {
            try RelinearizationKey(deserializing: RelinearizationKey(key: key).serialized(parameters: ctx.parameters), parameters: ctx.parameters)
        }
        func rejection(_ key: KeySwitchingKey) -> String? {
            do {
                _ = try read(key)
            } catch CKKSError.invalidInput(let message) {
                return message
            } catch {
                Issue.record("unexpected error \(error)")
            }
            return nil
        }
        // A digit too many or too few for the key's level.
        let extraDigit = rejection(KeySwitchingKey(b: atOne.b + atOne.b, a: atOne.a + atOne.a))
        #expect(extraDigit?.contains("level 1 with 2 digits") == true, "\(String(describing: extraDigit))")
        let missingDigit = rejection(KeySwitchingKey(b: [atThree.b[0]], a: [atThree.a[0]]))
        #expect(missingDigit?.contains("level 3 with 1 digits; level 3 has 2") == true, "\(String(describing: missingDigit))")
        // Digits at different levels.
        #expect(rejection(KeySwitchingKey(b: [atThree.b[0], atOne.b[0]], a: [atThree.a[0], atOne.a[0]]))?.contains("one level") == true)
        // More digits than dnum.
        let many = KeySwitchingKey(b: Array(repeating: atOne.b[0], count: ctx.parameters.dnum + 1),
                                   a: Array(repeating: atOne.a[0], count: ctx.parameters.dnum + 1))
        #expect(rejection(many)?.contains("digits") == true)
        // A corrupted digit count field (the checksum made consistent) is a typed error too, not a crash: the count
        // is the payload's first word, after the 24-byte envelope header.
        let original = RelinearizationKey(key: atOne).serialized(parameters: ctx.parameters)
        func withDigitCount(_ count: UInt8) -> [UInt8] {
            var bytes = Array(original.dropLast(4))
            bytes[24] = count
            let crc = bytes.withUnsafeBytes { CKKSSerialization.crc32($0) }
            withUnsafeBytes(of: crc.littleEndian) { bytes.append(contentsOf: $0) }
            return bytes
        }
        #expect(try RelinearizationKey(deserializing: withDigitCount(1), parameters: ctx.parameters).key.level == 1)
        #expect(throws: CKKSError.invalidInput("key-switching key with 0 digits; the parameters allow 1...\(ctx.parameters.dnum)")) {
            try RelinearizationKey(deserializing: withDigitCount(0), parameters: ctx.parameters)
        }
        #expect(throws: CKKSError.self) { try RelinearizationKey(deserializing: withDigitCount(2), parameters: ctx.parameters) }
        // Full keys (as every earlier file holds) still read.
        #expect(try read(ctx.relinearizationKey.key).key.level == ctx.parameters.maxLevel)
    }

    /// Files written before trimmed keys existed hold `dnum` digits at the top level even where the top level has
    /// fewer (dnum not dividing the prime count): they still read.
    @Test func legacyTopLevelKeysWithDnumDigitsRead() throws {
        let parameters = try CKKSParameters(.insecureTest(logN: 10, levels: 5, dnum: 4))  // 6 primes, 2 per digit: 3 digits at the top
        #expect(parameters.digitCount(atLevel: parameters.maxLevel) == 3 && parameters.dnum == 4)
        var keygen = KeyGenerator(parameters: parameters, seed: 700)
        let sk = keygen.secretKey()
        let key = keygen.relinearizationKey(sk).key
        #expect(key.digitCount == 3)
        let legacy = KeySwitchingKey(b: key.b + [key.b[2]], a: key.a + [key.a[2]])
        let back = try RelinearizationKey(deserializing: RelinearizationKey(key: legacy).serialized(parameters: parameters), parameters: parameters)
        #expect(back.key.digitCount == 4 && back.key.level == parameters.maxLevel)
    }
}
