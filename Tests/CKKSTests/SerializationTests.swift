import ComplexModule
import Foundation
import Testing
@testable import CKKS

@Suite struct SerializationTests {
    let ctx = TestContext.small

    @Test func ciphertextRoundTripAndDecrypts() throws {
        let values = ctx.randomValues(32, seed: 40)
        let ct = try ctx.encrypt(values)
        let bytes = ct.serialized(parameters: ctx.parameters)
        let back = try Ciphertext(deserializing: bytes, parameters: ctx.parameters)
        #expect(back.scale == ct.scale && back.level == ct.level)
        #expect(back.polynomials == ct.polynomials)
        #expect(precisionBits(Array(try ctx.decrypt(back).prefix(32)), values) >= 20)
    }

    @Test func flippedByteIsRejected() throws {
        let ct = try ctx.encrypt(ctx.randomValues(8, seed: 41))
        var bytes = ct.serialized(parameters: ctx.parameters)
        for position in [0, 5, 30, bytes.count / 2, bytes.count - 1] {
            var corrupted = bytes
            corrupted[position] ^= 0x10
            #expect(throws: CKKSError.self) { try Ciphertext(deserializing: corrupted, parameters: ctx.parameters) }
        }
        bytes.removeLast(9)
        #expect(throws: CKKSError.self) { try Ciphertext(deserializing: bytes, parameters: ctx.parameters) }
    }

    @Test func mismatchedParametersAndKindsAreRejected() throws {
        let other = try CKKSParameters(.insecureTest(logN: 11, levels: 3))
        let ct = try ctx.encrypt(ctx.randomValues(8, seed: 42))
        let bytes = ct.serialized(parameters: ctx.parameters)
        #expect(throws: CKKSError.parameterMismatch) { try Ciphertext(deserializing: bytes, parameters: other) }
        #expect(throws: CKKSError.wrongObjectKind(expected: "plaintext", actual: "ciphertext")) {
            try Plaintext(deserializing: bytes, parameters: ctx.parameters)
        }
    }

    @Test func parametersAndKeysRoundTrip() throws {
        let p = try CKKSParameters.deserialized(ctx.parameters.serialized())
        #expect(p == ctx.parameters)
        #expect(p.qPrimes == ctx.parameters.qPrimes && p.pPrimes == ctx.parameters.pPrimes)
        let sk = try SecretKey(deserializing: ctx.secretKey.serialized(parameters: p), parameters: ctx.parameters)
        #expect(sk.coefficients == ctx.secretKey.coefficients)
        #expect(sk.polynomial == ctx.secretKey.polynomial)
        let pk = try PublicKey(deserializing: ctx.publicKey.serialized(parameters: p), parameters: ctx.parameters)
        #expect(pk.a == ctx.publicKey.a && pk.b == ctx.publicKey.b)
        let rlk = try RelinearizationKey(deserializing: ctx.relinearizationKey.serialized(parameters: p), parameters: ctx.parameters)
        #expect(rlk.key.b == ctx.relinearizationKey.key.b && rlk.key.a == ctx.relinearizationKey.key.a)
        let gk = try GaloisKeys(deserializing: ctx.galoisKeys.serialized(parameters: p), parameters: ctx.parameters)
        #expect(gk.galoisElements == ctx.galoisKeys.galoisElements)
        // Evaluation with deserialized keys still works.
        let evaluator = CKKSEvaluator(parameters: ctx.parameters, relinearizationKey: rlk, galoisKeys: gk)
        let values = ctx.randomValues(ctx.parameters.slotCount, seed: 43)
        let rotated = try evaluator.rotated(try ctx.encrypt(values), by: 3)
        #expect(precisionBits(try ctx.decrypt(rotated), rotateLeft(values, 3)) >= 19)
        let pt = try ctx.encoder.encode(values)
        let ptBack = try Plaintext(deserializing: pt.serialized(parameters: p), parameters: ctx.parameters)
        #expect(ptBack.polynomial == pt.polynomial && ptBack.scale == pt.scale)
    }
}
