import CModularKernels
import Foundation
import ModularArithmetic

// EvalMod: the homomorphic reduction x ↦ x − round(x) (for x within 1/R of an integer) computed as
// sin(2πx)/(2π): a Chebyshev interpolant of cos(2π(x − 1/4)/2^r) on [−K, K] followed by r double-angle steps
// cos 2θ = 2cos²θ − 1.

/// A polynomial in the Chebyshev basis: Σ c_i T_i(y) for y in [−1, 1].
struct ChebyshevSeries {
    var coefficients: [Double]

    var degree: Int { coefficients.lastIndex { $0 != 0 } ?? 0 }

    /// The interpolant of `f` at the d+1 Chebyshev nodes of [−1, 1] (degree d).
    init(interpolating f: (Double) -> Double, degree d: Int) {
        let n = d + 1
        let nodes = (0..<n).map { Double.pi * (Double($0) + 0.5) / Double(n) }
        let values = nodes.map { f(Foundation.cos($0)) }
        coefficients = (0...d).map { k in
            var s = 0.0
            for (theta, v) in zip(nodes, values) { s += v * Foundation.cos(Double(k) * theta) }
            return (k == 0 ? 1 : 2) * s / Double(n)
        }
    }

    init(coefficients: [Double]) { self.coefficients = coefficients }

    /// Clenshaw evaluation at y.
    func callAsFunction(_ y: Double) -> Double {
        var b1 = 0.0, b2 = 0.0
        for c in coefficients.dropFirst().reversed() {
            let b0 = 2 * y * b1 - b2 + c
            b2 = b1
            b1 = b0
        }
        return y * b1 - b2 + (coefficients.first ?? 0)
    }

    /// p = q·T_g + r with deg r < g, from T_{g+k} = 2·T_g·T_k − T_{g−k}.
    func divided(byPowerOf g: Int) -> (quotient: ChebyshevSeries, remainder: ChebyshevSeries) {
        let d = degree
        precondition(g >= 1 && g <= d && d < 2 * g, "split at T_\(g) needs g ≤ degree \(d) < 2g")
        var q = [Double](repeating: 0, count: d - g + 1)
        var r = Array(coefficients[0..<g])
        q[0] = coefficients[g]
        for k in 1...max(1, d - g) where k <= d - g {
            q[k] = 2 * coefficients[g + k]
            r[g - k] -= coefficients[g + k]
        }
        return (ChebyshevSeries(coefficients: q), ChebyshevSeries(coefficients: r))
    }
}

/// Evaluates Chebyshev series on one ciphertext in the optimal depth ⌈log2(d+1)⌉, with exact scale bookkeeping.
///
/// Powers T_i come from T_2i = 2T_i² − 1 and T_(a+b) = 2T_a·T_b − T_(a−b) (a the largest power of two below
/// a+b), so T_i sits ⌈log2 i⌉ levels below T_1. A series is split as q·T_G + r at the largest power of two G ≤ its
/// degree until it is a leaf Σ c_i·T_i whose terms are all at least one level above the target; a leaf multiplies
/// each T_i by the integer round(c_i·F/scale_i) for the common scale F = target·q (no level), adds, and rescales
/// once. Every result is built to land exactly on the requested (level, scale), so the branches add without any
/// scale correction.
final class ChebyshevEvaluator {
    let evaluator: CKKSEvaluator
    /// Level of T_1.
    let topLevel: Int
    /// Largest non-power-of-two index a leaf may use (baby steps).
    let babyLimit: Int
    private var powers: [Int: Ciphertext]

    init(input: Ciphertext, evaluator: CKKSEvaluator, babyLimit: Int) {
        self.evaluator = evaluator
        topLevel = input.level
        self.babyLimit = babyLimit
        powers = [1: input]
    }

    static func depth(ofIndex i: Int) -> Int { i <= 1 ? 0 : Int.bitWidth - (i - 1).leadingZeroBitCount }

    func level(ofIndex i: Int) -> Int { topLevel - Self.depth(ofIndex: i) }

    private func prime(_ level: Int) -> Double { Double(evaluator.parameters.ring.qModuli[level].value) }

    /// T_i (computed on first use).
    func power(_ i: Int) throws -> Ciphertext {
        if let t = powers[i] { return t }
        precondition(i >= 2)
        let a = 1 << (Int.bitWidth - 1 - (i - 1).leadingZeroBitCount)  // largest power of two below i (i/2 if i is one)
        let b = i - a
        let ta = try power(a), tb = try power(b)
        var product = try evaluator.multiplyingRelinearizing(ta, tb)
        try evaluator.multiply(&product, byInteger: 2)
        if a == b {
            product = try evaluator.adding(product, constant: -1)
        } else {
            var correction = try power(a - b)
            try evaluator.dropLevel(&correction, to: product.level)
            correction = try evaluator.multiplying(correction, constant: 1, constantScale: product.scale / correction.scale)
            correction.scale = product.scale
            product = try evaluator.subtracting(product, correction)
        }
        try evaluator.rescale(&product)
        powers[i] = product
        return product
    }

    /// Σ c_i·T_i at exactly (`level`, `scale`) without a rescale: each T_i (at or above `level`) is multiplied by
    /// the integer round(c_i·scale/scale_i).
    private func leaf(_ p: ChebyshevSeries, level: Int, scale: Double) throws -> Ciphertext {
        var terms: [(Ciphertext, Double)] = []
        for i in 1...p.degree where p.coefficients[i] != 0 { terms.append((try power(i), p.coefficients[i])) }
        var result = Self.linearCombination(
            terms.map { ($0.0, $0.1 * scale / $0.0.scale) }, constant: p.coefficients[0] * scale, level: level, evaluator: evaluator)
        result.scale = scale
        return result
    }

    /// Σ round(k_i)·ct_i + round(constant) at `level` in one pass per limb (no temporaries); the scale is left to
    /// the caller (the terms' scales times their factors should agree). Every ct_i has degree 1 and level ≥ `level`.
    static func linearCombination(_ terms: [(Ciphertext, Double)], constant: Double, level: Int, evaluator: CKKSEvaluator) -> Ciphertext {
        let parameters = evaluator.parameters
        let n = parameters.degree
        var out = Ciphertext(parameters: parameters, level: level)
        for k in 0...1 {
            out.polynomials[k].prepareForOverwrite(level: level)
            let o = out.polynomials[k]
            let factors = terms.map { $0.1.rounded() }
            let constantTerm = constant.rounded()
            evaluator.executor.forEach(level + 1) { i in
                let q = parameters.ring.qModuli[i]
                let qv = q.value
                let r = o.limb(i)
                let c0 = k == 0 ? CKKSEncoder.reduce(constantTerm, q) : 0
                if NTTTables.vectorKernels {
                    let w = factors.map { CKKSEncoder.reduce($0, q) }
                    let ws = w.map { q.shoupPrecompute($0) }
                    let inputs: [UnsafePointer<UInt64>?] = terms.map { UnsafePointer($0.0.polynomials[k].limb(i)) }
                    tessera_linear_combination(r, inputs, w, ws, Int32(terms.count), c0, n, qv)
                    return
                }
                for c in 0..<n { r[c] = c0 }
                for (t, term) in terms.enumerated() {
                    let w = CKKSEncoder.reduce(factors[t], q)
                    let ws = q.shoupPrecompute(w)
                    let x = term.0.polynomials[k].limb(i)
                    for c in 0..<n {
                        let sum = r[c] &+ q.multiplyShoup(x[c], w, ws)
                        r[c] = sum >= qv ? sum &- qv : sum
                    }
                }
            }
        }
        return out
    }

    private func isLeaf(_ p: ChebyshevSeries, level: Int) -> Bool {
        for i in 1...max(1, p.degree) where i <= p.degree && p.coefficients[i] != 0 {
            let allowed = i < babyLimit || i & (i - 1) == 0
            if !allowed || self.level(ofIndex: i) < level + 1 { return false }
        }
        return true
    }

    /// p(T_1) at exactly (`level`, `scale`). Needs degree ≥ 1 and level ≥ topLevel − ⌈log2(degree+1)⌉. With
    /// `rescaled` false the result is returned before its last rescale (at `level + 1`, scale × q_(level+1)), so
    /// that sums of branches share one rescale.
    func evaluate(_ p: ChebyshevSeries, level: Int, scale: Double, rescaled: Bool = true) throws -> Ciphertext {
        let d = p.degree
        guard d >= 1 else { throw CKKSError.invalidInput("Chebyshev series of degree 0 has no ciphertext term") }
        guard topLevel - level >= Self.depth(ofIndex: d + 1) else {
            throw CKKSError.levelTooLow(operation: "Chebyshev series of degree \(d) (depth \(Self.depth(ofIndex: d + 1)))", level: topLevel)
        }
        let pending = scale * prime(level + 1)
        var result: Ciphertext
        if isLeaf(p, level: level) {
            result = try leaf(p, level: level + 1, scale: pending)
        } else {
            let g = 1 << (Int.bitWidth - 1 - d.leadingZeroBitCount)  // largest power of two ≤ d
            let (q, r) = p.divided(byPowerOf: g)
            if q.degree == 0 {
                var single = [Double](repeating: 0, count: g + 1)
                single[g] = q.coefficients[0]
                result = try leaf(ChebyshevSeries(coefficients: single), level: level + 1, scale: pending)
            } else {
                var tg = try power(g)
                try evaluator.dropLevel(&tg, to: level + 1)
                let quotient = try evaluate(q, level: level + 1, scale: pending / tg.scale)
                result = try evaluator.multiplyingRelinearizing(quotient, tg)
                result.scale = pending
            }
            if r.degree >= 1 {
                try evaluator.add(try evaluate(r, level: level, scale: scale, rescaled: false), to: &result)
            } else if r.coefficients[0] != 0 {
                result = try evaluator.adding(result, constant: r.coefficients[0])
            }
        }
        if rescaled {
            try evaluator.rescale(&result)
            result.scale = scale
        }
        return result
    }
}

/// The parameters and precomputed approximation of EvalMod.
struct ModularReduction {
    /// The interval [−K, K] of x = (coefficient / q_0).
    let range: Int
    let doubleAngles: Int
    /// cos(2π(K·y − 1/4)/2^r) on y ∈ [−1, 1].
    let cosine: ChebyshevSeries

    init(range: Int, degree: Int, doubleAngles: Int) {
        self.range = range
        self.doubleAngles = doubleAngles
        let k = Double(range), r = Double(1 << doubleAngles)
        cosine = ChebyshevSeries(interpolating: { Foundation.cos(2 * Double.pi * (k * $0 - 0.25) / r) }, degree: degree)
    }

    var polynomialDepth: Int { ChebyshevEvaluator.depth(ofIndex: cosine.degree + 1) }

    /// The plaintext model of the circuit: sin(2πx)/(2π) as computed from y = x/K.
    func model(_ x: Double) -> Double {
        var c = cosine(x / Double(range))
        for _ in 0..<doubleAngles { c = 2 * c * c - 1 }
        return c / (2 * Double.pi)
    }

    /// max |model(x) − (x − round(x))| over x within `window` of the integers of [−K+1, K−1] (sampled): the
    /// approximation error of the reduction in units of q_0, including the sine's own curvature.
    func reductionError(window: Double, samplesPerInteger: Int = 64) -> Double {
        var worst = 0.0
        for integer in (-range + 1)...(range - 1) {
            for s in 0...samplesPerInteger {
                let offset = window * (2 * Double(s) / Double(samplesPerInteger) - 1)
                let x = Double(integer) + offset
                worst = max(worst, abs(model(x) - offset))
            }
        }
        return worst
    }

    /// Evaluates the reduction: the input's slots hold y = x/K; the output's slots hold sin(2πx)/(2π) at
    /// `level − depth`. The scale of the cosine is `scale`; each double angle squares and rescales it. With
    /// `deferLastRescale` the last double angle is returned before its rescale (one level higher, scale × q).
    func evaluate(_ input: Ciphertext, scale: Double, evaluator: CKKSEvaluator, deferLastRescale: Bool = false) throws -> Ciphertext {
        let babyLimit = 1 << ((polynomialDepth + 1) / 2)
        let chebyshev = ChebyshevEvaluator(input: input, evaluator: evaluator, babyLimit: babyLimit)
        var c = try chebyshev.evaluate(cosine, level: input.level - polynomialDepth, scale: scale)
        for step in 0..<doubleAngles {
            var square = try evaluator.multiplyingRelinearizing(c, c)
            try evaluator.multiply(&square, byInteger: 2)
            square = try evaluator.adding(square, constant: -1)
            if !(deferLastRescale && step == doubleAngles - 1) { try evaluator.rescale(&square) }
            c = square
        }
        c.scale *= 2 * Double.pi
        return c
    }

    /// The scale `evaluate` returns for a cosine scale `scale` starting at `level` (the double angles' s²/q).
    func outputScale(cosineScale scale: Double, inputLevel level: Int, primes: [UInt64]) -> Double {
        var s = scale
        var l = level - polynomialDepth
        for _ in 0..<doubleAngles {
            s = s * s / Double(primes[l])
            l -= 1
        }
        return s * 2 * Double.pi
    }
}
