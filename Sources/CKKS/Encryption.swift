import Foundation
import ModularArithmetic

/// A CKKS ciphertext (c_0, c_1[, c_2]) in Evaluation form: decrypts to Σ c_i·s^i ≈ Δ·m.
public struct Ciphertext: Sendable {
    public internal(set) var polynomials: [RNSPolynomial<Evaluation>]
    /// Scale Δ, tracked exactly as a Double.
    public internal(set) var scale: Double

    public init(polynomials: [RNSPolynomial<Evaluation>], scale: Double) {
        precondition(polynomials.count >= 2)
        self.polynomials = polynomials
        self.scale = scale
    }

    /// Zero ciphertext of the given degree at `level` (an output buffer for `op(…, into:)`).
    public init(parameters: CKKSParameters, level: Int, degree: Int = 1, scale: Double = 1) {
        polynomials = (0...degree).map { _ in RNSPolynomial(ring: parameters.ring, level: level) }
        self.scale = scale
    }

    public var level: Int { polynomials[0].level }
    /// 1 for a normal ciphertext, 2 after a product before relinearization.
    public var degree: Int { polynomials.count - 1 }
    var ring: RNSRing { polynomials[0].ring }

    /// Drops to `level` (a view change, no copy).
    public mutating func dropLevel(to level: Int) {
        for i in polynomials.indices { polynomials[i].dropLevel(to: level) }
    }
}

/// Encrypts plaintexts with a public key or a secret key.
public final class CKKSEncryptor: @unchecked Sendable {
    public let parameters: CKKSParameters
    public let executor: ParallelExecutor
    private let publicKey: PublicKey?
    private let secretKey: SecretKey?
    private let lock = NSLock()
    private var rng: ChaChaRandom

    public init(parameters: CKKSParameters, publicKey: PublicKey, seed: UInt64? = nil, executor: ParallelExecutor = ParallelExecutor()) {
        self.parameters = parameters
        self.publicKey = publicKey
        secretKey = nil
        self.executor = executor
        rng = seed.map { ChaChaRandom(seed: $0) } ?? ChaChaRandom()
    }

    public init(parameters: CKKSParameters, secretKey: SecretKey, seed: UInt64? = nil, executor: ParallelExecutor = ParallelExecutor()) {
        self.parameters = parameters
        self.secretKey = secretKey
        publicKey = nil
        self.executor = executor
        rng = seed.map { ChaChaRandom(seed: $0) } ?? ChaChaRandom()
    }

    private func nextSeed() -> [UInt64] {
        lock.lock()
        defer { lock.unlock() }
        return (0..<4).map { _ in rng.next() }
    }

    public func encrypt(_ plaintext: Plaintext) throws -> Ciphertext {
        var out = Ciphertext(parameters: parameters, level: plaintext.level)
        try encrypt(plaintext, into: &out)
        return out
    }

    public func encrypt(_ plaintext: Plaintext, into out: inout Ciphertext) throws {
        guard plaintext.polynomial.ring === parameters.ring else { throw CKKSError.parameterMismatch }
        var rng = ChaChaRandom(seedWords: nextSeed())
        let level = plaintext.level
        let ring = parameters.ring
        let n = parameters.degree
        let sigma = parameters.literal.errorStdDev
        if let pk = publicKey {
            let u = Sampler.evaluationPolynomial(
                Sampler.ternary(degree: n, distribution: .uniformTernary, rng: &rng),
                ring: ring, level: level, withSpecialPrimes: false, executor: executor)
            var c0 = Sampler.evaluationPolynomial(
                Sampler.gaussian(degree: n, standardDeviation: sigma, rng: &rng),
                ring: ring, level: level, withSpecialPrimes: false, executor: executor)
            var c1 = Sampler.evaluationPolynomial(
                Sampler.gaussian(degree: n, standardDeviation: sigma, rng: &rng),
                ring: ring, level: level, withSpecialPrimes: false, executor: executor)
            var b = pk.b, a = pk.a
            b.dropLevel(to: level)
            a.dropLevel(to: level)
            c0.multiplyAdd(u, b, executor: executor)
            c1.multiplyAdd(u, a, executor: executor)
            c0.add(plaintext.polynomial, executor: executor)
            out = Ciphertext(polynomials: [c0, c1], scale: plaintext.scale)
        } else if let sk = secretKey {
            var a = RNSPolynomial<Evaluation>(ring: ring, level: level)
            Sampler.uniform(&a, rng: &rng)
            var c0 = Sampler.evaluationPolynomial(
                Sampler.gaussian(degree: n, standardDeviation: sigma, rng: &rng),
                ring: ring, level: level, withSpecialPrimes: false, executor: executor)
            var s = sk.polynomial.droppingSpecialPrimes()
            s.dropLevel(to: level)
            var as_ = a
            as_.multiply(s, executor: executor)
            c0.subtract(as_, executor: executor)
            c0.add(plaintext.polynomial, executor: executor)
            out = Ciphertext(polynomials: [c0, a], scale: plaintext.scale)
        }
    }
}

/// Decrypts ciphertexts of any degree with the secret key.
public final class CKKSDecryptor: @unchecked Sendable {
    public let parameters: CKKSParameters
    public let executor: ParallelExecutor
    private let secretKey: SecretKey

    public init(parameters: CKKSParameters, secretKey: SecretKey, executor: ParallelExecutor = ParallelExecutor()) {
        self.parameters = parameters
        self.secretKey = secretKey
        self.executor = executor
    }

    public func decrypt(_ ciphertext: Ciphertext) throws -> Plaintext {
        guard ciphertext.ring === parameters.ring else { throw CKKSError.parameterMismatch }
        let level = ciphertext.level
        var s = secretKey.polynomial.droppingSpecialPrimes()
        s.dropLevel(to: level)
        // Horner: ((c_d·s + c_{d-1})·s + …)·s + c_0
        var result = ciphertext.polynomials[ciphertext.degree].compacted()
        var k = ciphertext.degree - 1
        while k >= 0 {
            result.multiply(s, executor: executor)
            result.add(ciphertext.polynomials[k], executor: executor)
            k -= 1
        }
        return Plaintext(polynomial: result, scale: ciphertext.scale)
    }
}
