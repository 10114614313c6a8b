import ComplexModule
import Foundation
import ModularArithmetic
@testable import CKKS

/// Everything a test needs for one small, insecure parameter set.
final class TestContext: @unchecked Sendable {
    let parameters: CKKSParameters
    let encoder: CKKSEncoder
    let secretKey: SecretKey
    let publicKey: PublicKey
    let encryptor: CKKSEncryptor
    let decryptor: CKKSDecryptor
    let evaluator: CKKSEvaluator
    let galoisKeys: GaloisKeys
    let relinearizationKey: RelinearizationKey

    static let rotations = [1, 2, 3, 5, -1, -4, 7, 16]

    init(_ literal: CKKSParametersLiteral, threads: Int = 1, seed: UInt64 = 42) throws {
        parameters = try CKKSParameters(literal)
        let executor = ParallelExecutor(threads: threads)
        encoder = CKKSEncoder(parameters: parameters, executor: executor)
        var keygen = KeyGenerator(parameters: parameters, seed: seed, executor: executor)
        secretKey = keygen.secretKey()
        publicKey = keygen.publicKey(secretKey)
        relinearizationKey = keygen.relinearizationKey(secretKey)
        galoisKeys = keygen.galoisKeys(secretKey, rotations: Self.rotations, conjugation: true)
        encryptor = CKKSEncryptor(parameters: parameters, publicKey: publicKey, seed: seed + 1, executor: executor)
        decryptor = CKKSDecryptor(parameters: parameters, secretKey: secretKey, executor: executor)
        evaluator = CKKSEvaluator(
            parameters: parameters, relinearizationKey: relinearizationKey, galoisKeys: galoisKeys, executor: executor)
    }

    /// Shared small context: N = 2^11, 5 primes (q0 60 bits, 4 × 40 bits), 2 special primes, dnum 3.
    static let small: TestContext = try! TestContext(.insecureTest(logN: 11, levels: 4, scaleBits: 40))

    func randomValues(_ count: Int, seed: UInt64, range: ClosedRange<Double> = -1...1) -> [Complex<Double>] {
        var rng = ChaChaRandom(seed: seed)
        return (0..<count).map { _ in
            Complex(Double.random(in: range, using: &rng), Double.random(in: range, using: &rng))
        }
    }

    func encrypt(_ values: [Complex<Double>], level: Int? = nil, scale: Double? = nil) throws -> Ciphertext {
        try encryptor.encrypt(try encoder.encode(values, scale: scale, level: level))
    }

    func decrypt(_ ct: Ciphertext) throws -> [Complex<Double>] {
        encoder.decode(try decryptor.decrypt(ct))
    }
}

/// −log2 of the largest absolute slot error.
func precisionBits(_ actual: [Complex<Double>], _ expected: [Complex<Double>]) -> Double {
    var worst = 0.0
    for (a, e) in zip(actual, expected) {
        worst = max(worst, (a - e).length)
    }
    return worst == 0 ? 100 : -Foundation.log2(worst)
}

func rotateLeft(_ v: [Complex<Double>], _ k: Int) -> [Complex<Double>] {
    let n = v.count
    let s = ((k % n) + n) % n
    return Array(v[s...] + v[..<s])
}
