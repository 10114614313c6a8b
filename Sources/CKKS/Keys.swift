import Foundation
import ModularArithmetic

/// The secret s: small ternary coefficients and s in Evaluation form over Q_L·P.
public struct SecretKey: Sendable {
    public let coefficients: [Int64]
    public let polynomial: RNSPolynomial<Evaluation>
}

/// Public key (b, a) = (−a·s + e, a) over Q_L, Evaluation form.
public struct PublicKey: Sendable {
    public let b: RNSPolynomial<Evaluation>
    public let a: RNSPolynomial<Evaluation>
}

/// Hybrid key-switching key from s' to s: one pair (b_j, a_j) over Q_ℓ·P per digit j, with
/// b_j = −a_j·s + e_j + P·[Q/Q_j · (Q/Q_j)^(-1) mod Q_j]·s'.
///
/// A key generated (or trimmed) at level ℓ has Q limbs 0...ℓ, the special primes, and the
/// `CKKSParameters.digitCount(atLevel: ℓ)` digits that exist at ℓ; it switches ciphertexts of any
/// level ≤ ℓ (the evaluator refuses higher ones with `CKKSError.missingKey`).
public struct KeySwitchingKey: Sendable {
    public let b: [RNSPolynomial<Evaluation>]
    public let a: [RNSPolynomial<Evaluation>]
    public var digitCount: Int { b.count }
    /// The highest ciphertext level the key switches: the Q level of its polynomials.
    public var level: Int { b[0].level }

    /// Bytes of key material (all limbs of all digits).
    public var byteCount: Int {
        (b + a).reduce(0) { $0 + $1.limbCount * $1.degree * 8 }
    }
}

/// Switches s² to s after a ciphertext product.
public struct RelinearizationKey: Sendable {
    public let key: KeySwitchingKey
}

/// Galois keys: for each Galois element g (5^k mod 2N for rotations by k, 2N−1 for conjugation),
/// a key switching σ_g(s) to s.
public struct GaloisKeys: Sendable {
    public internal(set) var keys: [Int: KeySwitchingKey]
    public var galoisElements: [Int] { keys.keys.sorted() }
    public var byteCount: Int { keys.values.reduce(0) { $0 + $1.byteCount } }
}

/// Generates secret, public and evaluation keys.
public struct KeyGenerator {
    public let parameters: CKKSParameters
    public var executor: ParallelExecutor
    private var rng: ChaChaRandom

    /// - Parameter seed: nil draws from the operating system (use a seed only for tests).
    public init(parameters: CKKSParameters, seed: UInt64? = nil, executor: ParallelExecutor = ParallelExecutor()) {
        self.parameters = parameters
        self.executor = executor
        rng = seed.map { ChaChaRandom(seed: $0) } ?? ChaChaRandom()
    }

    public mutating func secretKey() -> SecretKey {
        let s = Sampler.ternary(degree: parameters.degree, distribution: parameters.literal.secret, rng: &rng)
        let poly = Sampler.evaluationPolynomial(
            s, ring: parameters.ring, level: parameters.maxLevel, withSpecialPrimes: true, executor: executor)
        return SecretKey(coefficients: s, polynomial: poly)
    }

    public mutating func publicKey(_ secretKey: SecretKey) -> PublicKey {
        let ring = parameters.ring
        var a = RNSPolynomial<Evaluation>(ring: ring, level: parameters.maxLevel)
        Sampler.uniform(&a, rng: &rng)
        let e = Sampler.gaussian(degree: parameters.degree, standardDeviation: parameters.literal.errorStdDev, rng: &rng)
        var b = Sampler.evaluationPolynomial(e, ring: ring, level: parameters.maxLevel, withSpecialPrimes: false, executor: executor)
        var as_ = a
        as_.multiply(secretKey.polynomial.droppingSpecialPrimes(), executor: executor)
        b.subtract(as_, executor: executor)
        return PublicKey(b: b, a: a)
    }

    /// Key switching s' → s at `level` (default: the top of the chain); `from` is s' in Evaluation form
    /// over Q_ℓ'·P with ℓ' ≥ `level` (only its Q limbs 0...level are read). The key has Q limbs
    /// 0...level, the special primes and `digitCount(atLevel: level)` digits: the same key as one
    /// generated at the top and cut down to `level` (limbs and digits are independent), for a
    /// fraction of the work and memory.
    mutating func keySwitchingKey(from sPrime: RNSPolynomial<Evaluation>, to secretKey: SecretKey, level: Int? = nil) -> KeySwitchingKey {
        let ring = parameters.ring
        let level = level ?? parameters.maxLevel
        precondition(level >= 0 && level <= sPrime.level, "key level \(level) outside 0...\(sPrime.level)")
        let pModuli = ring.pModuli
        let s = secretKey.polynomial.atLevel(level)
        var bs: [RNSPolynomial<Evaluation>] = []
        var as_: [RNSPolynomial<Evaluation>] = []
        for digit in 0..<parameters.digitCount(atLevel: level) {
            var a = RNSPolynomial<Evaluation>(ring: ring, level: level, withSpecialPrimes: true)
            Sampler.uniform(&a, rng: &rng)
            let e = Sampler.gaussian(degree: parameters.degree, standardDeviation: parameters.literal.errorStdDev, rng: &rng)
            var b = Sampler.evaluationPolynomial(e, ring: ring, level: level, withSpecialPrimes: true, executor: executor)
            var product = a
            product.multiply(s, executor: executor)
            b.subtract(product, executor: executor)
            // + (P mod q_i)·s' on the digit's own primes.
            for i in parameters.digitRange(digit, level: level) {
                let q = ring.qModuli[i]
                var pModQ: UInt64 = 1
                for p in pModuli { pModQ = q.multiply(pModQ, q.reduce(p.value)) }
                let dst = b.limb(i), src = sPrime.limb(i)
                for c in 0..<parameters.degree { dst[c] = q.add(dst[c], q.multiply(src[c], pModQ)) }
            }
            bs.append(b)
            as_.append(a)
        }
        return KeySwitchingKey(b: bs, a: as_)
    }

    /// The relinearization key (s² → s) for ciphertexts of level ≤ `level` (default: every level).
    public mutating func relinearizationKey(_ secretKey: SecretKey, level: Int? = nil) -> RelinearizationKey {
        let level = level ?? parameters.maxLevel
        let s = secretKey.polynomial.atLevel(level)
        var s2 = s.compacted()
        s2.multiply(s, executor: executor)
        return RelinearizationKey(key: keySwitchingKey(from: s2, to: secretKey, level: level))
    }

    /// Galois keys for left rotations by each of `rotations` (negative = right) and, if asked,
    /// complex conjugation. `levels` maps a Galois element (`galoisElement(forRotation:)`,
    /// `conjugationGaloisElement`) to the highest ciphertext level its key must switch; elements
    /// it does not name get full keys (`maxLevel`).
    public mutating func galoisKeys(
        _ secretKey: SecretKey, rotations: [Int], conjugation: Bool = false, levels: [Int: Int] = [:]
    ) -> GaloisKeys {
        var elements = Set(rotations.map { parameters.galoisElement(forRotation: $0) })
        elements.remove(1)
        if conjugation { elements.insert(parameters.conjugationGaloisElement) }
        var keys: [Int: KeySwitchingKey] = [:]
        for g in elements.sorted() {
            keys[g] = galoisKey(secretKey, galoisElement: g, level: levels[g])
        }
        return GaloisKeys(keys: keys)
    }

    /// The key for one Galois element g (odd, < 2N), for ciphertexts of level ≤ `level` (default: every level).
    public mutating func galoisKey(_ secretKey: SecretKey, galoisElement g: Int, level: Int? = nil) -> KeySwitchingKey {
        let level = level ?? parameters.maxLevel
        let permutation = GaloisPermutation(degree: parameters.degree, galoisElement: g)
        let s = secretKey.polynomial.atLevel(level)
        var sigmaS = RNSPolynomial<Evaluation>(ring: parameters.ring, level: level, withSpecialPrimes: true)
        permutation.indices.withUnsafeBufferPointer { p in
            s.applyingPermutation(p.baseAddress!, into: &sigmaS, executor: executor)
        }
        return keySwitchingKey(from: sigmaS, to: secretKey, level: level)
    }
}

extension RNSPolynomial {
    /// A view restricted to Q limbs 0...level, special primes kept (limb-wise operations need both
    /// operands at one level: limb indices past the Q limbs are the special primes').
    fileprivate func atLevel(_ level: Int) -> RNSPolynomial {
        precondition(level >= 0 && level <= self.level, "level \(level) outside 0...\(self.level)")
        var view = self
        view.dropLevel(to: level)
        return view
    }
}

/// The evaluation-domain index map of X ↦ X^g: out[j] = in[indices[j]].
public struct GaloisPermutation: Sendable {
    public let galoisElement: Int
    public let indices: [Int32]

    public init(degree n: Int, galoisElement g: Int) {
        precondition(g & 1 == 1 && g > 0 && g < 2 * n, "Galois element must be odd and below 2N")
        galoisElement = g
        let logN = n.trailingZeroBitCount
        let mask = 2 * n - 1
        indices = (0..<n).map { j in
            let e = ((2 * NTTTables.bitReverse(j, bits: logN) + 1) * g) & mask
            return Int32(NTTTables.bitReverse((e - 1) >> 1, bits: logN))
        }
    }
}
