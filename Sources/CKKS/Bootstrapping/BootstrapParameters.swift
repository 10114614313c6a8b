import Foundation

/// How bootstrapping spends its levels and approximates the modular reduction. The circuit uses the top primes of
/// the chain, in Lattigo's order: ModRaise → CoeffToSlot (`coeffsToSlotsLevels` primes from the top) → EvalMod
/// (`evalModDepth` primes) → SlotToCoeff (`slotsToCoeffsLevels` primes), so the output sits at
/// L − `levelsConsumed` and every prime below is left to the application.
public struct BootstrapConfiguration: Codable, Hashable, Sendable {
    /// Levels of CoeffToSlot: its log2(n) butterfly stages are merged into this many sparse diagonal transforms.
    public var coeffsToSlotsLevels: Int
    /// Levels of SlotToCoeff.
    public var slotsToCoeffsLevels: Int
    /// K: the cosine is approximated for x = coefficient/q_0 in [−K, K]; |x| exceeds K with probability about
    /// erfc(K/(σ√2)), σ = √((h+1)/12) for the secret (or ephemeral secret) of Hamming weight h.
    public var sineRange: Int
    /// Degree of the Chebyshev interpolant of the cosine (depth ⌈log2(degree+1)⌉).
    public var cosineDegree: Int
    /// r: double-angle steps after the cosine (one level each).
    public var doubleAngles: Int
    /// log2(q_0/Δ'): before ModRaise the message is multiplied by the power of two that brings its scale to about
    /// q_0/2^messageRatioLog2. A larger ratio R makes sin(2πx)/2π closer to x (a plaintext coefficient u, |u| ≤ 1,
    /// is off by (2πu/R)²·u/6: 2^-17.3 for u = 1 and R = 2^10) but multiplies the absolute error of x = t/q_0 that
    /// CoeffToSlot and EvalMod leave (≈ 2^-40 at N = 2^16) by R. 2^10 balances the two for random slots (N = 2^16:
    /// ≈ 22.7 bits worst slot, 24.7 mean); inputs concentrated in few coefficients (e.g. all slots equal: ≈ 17.7 bits)
    /// prefer 2^12.
    public var messageRatioLog2: Double
    /// Sparse-secret encapsulation (Bossuat et al. 2022): the level-0 ciphertext is switched to an ephemeral secret
    /// of this Hamming weight before ModRaise and back after it, so |I| follows the ephemeral weight (h = 32:
    /// σ ≈ 1.7, K = 16 is 9σ) whatever the main secret. Costs one key switch at level 0 and one at the top, and two
    /// keys. nil: ModRaise under the main secret (K must then cover its weight).
    public var ephemeralHammingWeight: Int?

    public init(
        coeffsToSlotsLevels: Int = 4, slotsToCoeffsLevels: Int = 3, sineRange: Int = 16, cosineDegree: Int = 59,
        doubleAngles: Int = 2, messageRatioLog2: Double = 10, ephemeralHammingWeight: Int? = 32
    ) {
        self.coeffsToSlotsLevels = coeffsToSlotsLevels
        self.slotsToCoeffsLevels = slotsToCoeffsLevels
        self.sineRange = sineRange
        self.cosineDegree = cosineDegree
        self.doubleAngles = doubleAngles
        self.messageRatioLog2 = messageRatioLog2
        self.ephemeralHammingWeight = ephemeralHammingWeight
    }

    /// Levels of EvalMod: ⌈log2(degree+1)⌉ for the cosine plus one per double angle.
    public var evalModDepth: Int { ChebyshevEvaluator.depth(ofIndex: cosineDegree + 1) + doubleAngles }

    /// Levels one bootstrap consumes.
    public var levelsConsumed: Int { coeffsToSlotsLevels + evalModDepth + slotsToCoeffsLevels }

    /// log2 of the probability that one coefficient of I = (c_0 + c_1·s − t)/q_0 leaves [−K, K] (Gaussian tail of a
    /// sum of h+1 uniform variables on [−1/2, 1/2]; h of the ephemeral secret when there is one).
    public func coefficientFailureLog2(secret: SecretDistribution, degree: Int) -> Double {
        let weight: Double
        switch (ephemeralHammingWeight, secret) {
        case let (h?, _): weight = Double(h)
        case let (nil, .sparseTernary(h)): weight = Double(h)
        case (nil, .uniformTernary): weight = 2 * Double(degree) / 3
        }
        let sigma = ((weight + 1) / 12).squareRoot()
        let tail = Foundation.erfc((Double(sineRange) - 0.5) / (sigma * 2.0.squareRoot()))
        return tail > 0 ? Foundation.log2(tail) : -1074
    }

    /// Checks the configuration against `parameters` and a slot count; throws a message naming the fix.
    public func validate(for parameters: CKKSParameters, slots: Int) throws {
        let ringSlots = parameters.slotCount
        guard slots >= 2, slots & (slots - 1) == 0, slots == ringSlots || slots <= ringSlots / 2 else {
            throw CKKSError.invalidParameter(
                "bootstrapping slot count \(slots) must be a power of two, N/2 = \(ringSlots) or at most N/4 = \(ringSlots / 2)")
        }
        guard coeffsToSlotsLevels >= 1, slotsToCoeffsLevels >= 1 else {
            throw CKKSError.invalidParameter("CoeffToSlot and SlotToCoeff need at least one level each")
        }
        let stages = slots.trailingZeroBitCount
        guard coeffsToSlotsLevels <= stages, slotsToCoeffsLevels <= stages else {
            throw CKKSError.invalidParameter(
                "\(slots) slots have \(stages) DFT stages: use at most \(stages) CoeffToSlot / SlotToCoeff levels (have \(coeffsToSlotsLevels) / \(slotsToCoeffsLevels))")
        }
        guard sineRange >= 2, cosineDegree >= 2, doubleAngles >= 0, doubleAngles <= 8 else {
            throw CKKSError.invalidParameter(
                "EvalMod needs K ≥ 2, cosine degree ≥ 2 and 0...8 double angles (have K = \(sineRange), degree \(cosineDegree), r = \(doubleAngles))")
        }
        if let h = ephemeralHammingWeight, h < 1 || h > parameters.degree {
            throw CKKSError.invalidParameter("ephemeral Hamming weight \(h) outside 1...N")
        }
        guard messageRatioLog2 >= 1, messageRatioLog2 <= 40 else {
            throw CKKSError.invalidParameter("messageRatioLog2 = \(messageRatioLog2) outside 1...40")
        }
        guard parameters.maxLevel >= levelsConsumed else {
            throw CKKSError.invalidParameter(
                "bootstrapping consumes \(levelsConsumed) levels (CoeffToSlot \(coeffsToSlotsLevels) + EvalMod \(evalModDepth) + SlotToCoeff \(slotsToCoeffsLevels)) but the chain has L = \(parameters.maxLevel); add primes or lower the level budgets")
        }
        let failure = coefficientFailureLog2(secret: parameters.literal.secret, degree: parameters.degree) + Foundation.log2(Double(2 * slots))
        guard failure <= -20 else {
            throw CKKSError.invalidParameter(
                "K = \(sineRange) is too small for the secret (a bootstrap fails with probability 2^\(String(format: "%.1f", failure))); use an ephemeral secret (ephemeralHammingWeight 32), a sparse main secret or a larger sineRange")
        }
    }
}

/// A CKKS parameter set together with the bootstrapping configuration its prime chain was laid out for.
public struct BootstrappableParametersLiteral: Codable, Hashable, Sendable {
    public var scheme: CKKSParametersLiteral
    public var bootstrapping: BootstrapConfiguration

    public init(scheme: CKKSParametersLiteral, bootstrapping: BootstrapConfiguration) {
        self.scheme = scheme
        self.bootstrapping = bootstrapping
    }

    /// The prime sizes, bottom to top: q_0, the application's primes, then SlotToCoeff, EvalMod and CoeffToSlot.
    public static func chain(
        q0: Int, applicationLevels: Int, applicationBits: Int, bootstrapping: BootstrapConfiguration,
        slotsToCoeffsBits: Int, evalModBits: Int, coeffsToSlotsBits: Int
    ) -> [Int] {
        [q0] + Array(repeating: applicationBits, count: applicationLevels)
            + Array(repeating: slotsToCoeffsBits, count: bootstrapping.slotsToCoeffsLevels)
            + Array(repeating: evalModBits, count: bootstrapping.evalModDepth)
            + Array(repeating: coeffsToSlotsBits, count: bootstrapping.coeffsToSlotsLevels)
    }

    /// N = 2^16 at 128-bit security with a sparse ternary secret of Hamming weight 192 and an ephemeral secret of
    /// weight 32 for ModRaise, laid out as Lattigo's N16QP1546H192H32: q_0 of 60 bits, 9 application primes of 40
    /// bits (scale 2^40), SlotToCoeff 3 × 40, EvalMod 8 × 60 (cosine of degree 59 on [−16, 16], 2 double angles),
    /// CoeffToSlot 4 × 56; P = 5 × 60 bits, dnum 5 (5 primes per digit). log2 QP ≈ 1544, inside Lattigo's 1546 for
    /// h = 192 (sparse secrets lower the security of a given QP, so the uniform-ternary table's 1761 is not used in
    /// full). Bootstraps land at level 9.
    public static var n16H192: BootstrappableParametersLiteral {
        let bootstrapping = BootstrapConfiguration()
        let q = chain(q0: 60, applicationLevels: 9, applicationBits: 40, bootstrapping: bootstrapping,
                      slotsToCoeffsBits: 40, evalModBits: 60, coeffsToSlotsBits: 56)
        return BootstrappableParametersLiteral(
            scheme: CKKSParametersLiteral(
                logN: 16, qBits: q, pBits: Array(repeating: 60, count: 5), dnum: (q.count + 4) / 5,
                secret: .sparseTernary(hammingWeight: 192), defaultScaleLog2: 40, securityLevel: .classical128),
            bootstrapping: bootstrapping)
    }

    /// A small, INSECURE bootstrappable ring for unit tests and quick benchmarks: N = 2^logN, sparse secret of
    /// Hamming weight `hammingWeight`, the same prime sizes as `n16H192` with `applicationLevels` 40-bit primes,
    /// `primesPerDigit` 60-bit special primes and as many primes per key-switching digit. The default configuration
    /// uses 3 CoeffToSlot and 2 SlotToCoeff levels.
    public static func insecureTest(
        logN: Int = 11, applicationLevels: Int = 2, hammingWeight: Int = 64,
        bootstrapping: BootstrapConfiguration = BootstrapConfiguration(coeffsToSlotsLevels: 3, slotsToCoeffsLevels: 2),
        primesPerDigit: Int = 3
    ) -> BootstrappableParametersLiteral {
        let q = chain(q0: 60, applicationLevels: applicationLevels, applicationBits: 40, bootstrapping: bootstrapping,
                      slotsToCoeffsBits: 40, evalModBits: 60, coeffsToSlotsBits: 56)
        return BootstrappableParametersLiteral(
            scheme: CKKSParametersLiteral(
                logN: logN, qBits: q, pBits: Array(repeating: 60, count: primesPerDigit),
                dnum: (q.count + primesPerDigit - 1) / primesPerDigit,
                secret: .sparseTernary(hammingWeight: hammingWeight), defaultScaleLog2: 40,
                securityLevel: .insecureForTestingOnly),
            bootstrapping: bootstrapping)
    }
}
