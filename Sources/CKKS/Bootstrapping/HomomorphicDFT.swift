import ComplexModule
import Foundation
import ModularArithmetic
import RealModule

// The homomorphic special DFT of bootstrapping: CoeffToSlot (slots → packed coefficients) and SlotToCoeff (back),
// each a product of log2(n) radix-2 butterfly stages grouped into a level budget. Every group is one sparse
// diagonal linear transform y = Σ_k d_k ⊙ rot(x, k), evaluated with baby-step giant-step and hoisted rotations.

/// A linear map on P-periodic slot vectors written by its nonzero diagonals: y_t = Σ_k d_k[t] · x_{(t+k) mod P}
/// (`rot(x, k)` is a left rotation by k). Offsets are kept in 0..<P.
struct SlotDiagonals {
    /// Length of the diagonals; the slot vectors the map acts on repeat with this period.
    var period: Int
    var diagonals: [Int: [Complex<Double>]]

    init(period: Int, diagonals: [Int: [Complex<Double>]] = [:]) {
        self.period = period
        self.diagonals = diagonals
    }

    /// The identity scaled by `value`, or any diagonal map (offset 0).
    static func diagonal(_ values: [Complex<Double>]) -> SlotDiagonals {
        SlotDiagonals(period: values.count, diagonals: [0: values])
    }

    /// d_k with the period lifted to `newPeriod` (a multiple of `period`) by repetition.
    func lifted(to newPeriod: Int) -> SlotDiagonals {
        precondition(newPeriod % period == 0, "period \(newPeriod) is not a multiple of \(period)")
        if newPeriod == period { return self }
        var result = SlotDiagonals(period: newPeriod)
        for (offset, d) in diagonals {
            result.diagonals[offset] = (0..<newPeriod).map { d[$0 % period] }
        }
        return result
    }

    /// self ∘ other (apply `other` first). Valid on the vectors where the offsets' representatives agree: when
    /// `self` has the shorter period, `other` must produce vectors of `self`'s period (true for every use here).
    func composed(after other: SlotDiagonals) -> SlotDiagonals {
        let p = max(period, other.period)
        let a = lifted(to: p), b = other.lifted(to: p)
        var result = SlotDiagonals(period: p)
        for (ka, da) in a.diagonals {
            for (kb, db) in b.diagonals {
                let k = (ka + kb) % p
                var acc = result.diagonals[k] ?? [Complex<Double>](repeating: .zero, count: p)
                for t in 0..<p { acc[t] = acc[t] + da[t] * db[(t + ka) % p] }
                result.diagonals[k] = acc
            }
        }
        return result
    }

    /// The map applied to a P-periodic vector (plaintext reference for tests).
    func apply(_ x: [Complex<Double>]) -> [Complex<Double>] {
        precondition(x.count == period)
        var y = [Complex<Double>](repeating: .zero, count: period)
        for (k, d) in diagonals {
            for t in 0..<period { y[t] = y[t] + d[t] * x[(t + k) % period] }
        }
        return y
    }

    /// self · value.
    func scaled(by value: Double) -> SlotDiagonals {
        var result = self
        for (k, d) in diagonals { result.diagonals[k] = d.map { $0 * Complex(value, 0) } }
        return result
    }
}

/// The butterfly stages of the size-n special FFT (the CKKS canonical embedding of the ring of degree 2n, roots
/// ξ^(5^j), ξ = e^(2πi/4n)) in slot order without the bit reversal, as diagonal maps of period n.
enum SpecialFFTStages {
    /// Twiddle e^(±2πi·(5^j mod 4·len)/(4·len)).
    static func twiddle(_ j: Int, length: Int, inverse: Bool) -> Complex<Double> {
        let lenq = 4 * length
        var power = 1, base = 5, e = j
        while e > 0 {
            if e & 1 == 1 { power = power * base % lenq }
            base = base * base % lenq
            e >>= 1
        }
        let angle = 2 * Double.pi * Double(power) / Double(lenq)
        return Complex(Foundation.cos(angle), inverse ? -Foundation.sin(angle) : Foundation.sin(angle))
    }

    /// One stage of the forward transform (SlotToCoeff) with butterfly half-width `half`:
    /// y_t = x_t + w_j·x_{t+h} (first half of each block), y_t = x_{t−h} − w_j·x_t (second half).
    static func forward(n: Int, half h: Int) -> SlotDiagonals {
        let length = 2 * h
        let w = (0..<h).map { twiddle($0, length: length, inverse: false) }
        var d0 = [Complex<Double>](repeating: .zero, count: n)
        var plus = d0, minus = d0
        for t in 0..<n {
            let j = t % h
            if t % length < h {
                d0[t] = .one
                plus[t] = w[j]
            } else {
                minus[t] = .one
                d0[t] = -w[j]
            }
        }
        return combine(n: n, half: h, d0: d0, plus: plus, minus: minus)
    }

    /// One stage of the inverse transform (CoeffToSlot), including its factor 1/2 (the n stages give 1/n):
    /// y_t = (x_t + x_{t+h})/2, y_t = (x_{t−h} − x_t)·w̄_j/2.
    static func inverse(n: Int, half h: Int) -> SlotDiagonals {
        let length = 2 * h
        let w = (0..<h).map { twiddle($0, length: length, inverse: true) }
        var d0 = [Complex<Double>](repeating: .zero, count: n)
        var plus = d0, minus = d0
        for t in 0..<n {
            let j = t % h
            if t % length < h {
                d0[t] = Complex(0.5, 0)
                plus[t] = Complex(0.5, 0)
            } else {
                minus[t] = w[j] * Complex(0.5, 0)
                d0[t] = -w[j] * Complex(0.5, 0)
            }
        }
        return combine(n: n, half: h, d0: d0, plus: plus, minus: minus)
    }

    private static func combine(n: Int, half h: Int, d0: [Complex<Double>], plus: [Complex<Double>], minus: [Complex<Double>]) -> SlotDiagonals {
        var result = SlotDiagonals(period: n, diagonals: [0: d0])
        let up = h % n, down = (n - h) % n
        if up == down {
            result.diagonals[up] = zip(plus, minus).map { $0 + $1 }
        } else {
            result.diagonals[up] = plus
            result.diagonals[down] = minus
        }
        return result
    }

    /// Offsets of one stage of half-width h (mod n).
    static func offsets(n: Int, half h: Int) -> Set<Int> { [0, h % n, (n - h) % n] }
}

/// How one diagonal transform is split into baby steps (hoisted rotations of the input) and giant steps (rotations
/// of partial sums): offset k = giant + baby with baby = b·unit, b < babyCount.
struct BabyStepGiantStepPlan {
    let period: Int
    /// Every offset is a multiple of this power of two.
    let unit: Int
    let babyCount: Int
    /// (giant rotation, baby rotation, offset) for every diagonal; rotations in 0..<period.
    let entries: [(giant: Int, baby: Int, offset: Int)]

    var babySteps: [Int] { Array(Set(entries.map(\.baby))).sorted() }
    /// Rotations (left, in slots) this transform performs.
    var rotations: Set<Int> { Set(entries.map(\.baby) + entries.map(\.giant)).subtracting([0]) }

    /// The split of `offsets` (in 0..<period) minimising the rotation count, hoisted baby steps weighted 0.6 of a
    /// giant step (they skip ModUp).
    init(offsets: Set<Int>, period: Int) {
        self.period = period
        let signed = offsets.map { $0 > period / 2 ? $0 - period : $0 }
        var unit = period
        for k in signed where k != 0 { unit = min(unit, 1 << k.magnitude.trailingZeroBitCount) }
        if unit == period { unit = 1 }
        self.unit = unit
        func split(_ babyCount: Int) -> [(giant: Int, baby: Int, offset: Int)] {
            signed.sorted().map { k in
                let j = k / unit
                let g = Int((Double(j) / Double(babyCount)).rounded(.down))
                let b = j - g * babyCount
                let giant = ((g * babyCount * unit) % period + period) % period
                return (giant, b * unit, (k % period + period) % period)
            }
        }
        var best = split(1), bestCost = Double.infinity, bestCount = 1
        var count = 1
        while count * unit <= period {
            let candidate = split(count)
            let babies = Set(candidate.map(\.baby)).subtracting([0]).count
            let giants = Set(candidate.map(\.giant)).subtracting([0]).count
            let cost = 0.6 * Double(babies) + Double(giants)
            if cost < bestCost { best = candidate; bestCost = cost; bestCount = count }
            count *= 2
        }
        babyCount = bestCount
        entries = best
    }
}

/// Which half of the bootstrapping DFT a transform belongs to.
enum DFTDirection { case coeffsToSlots, slotsToCoeffs }

/// The factorisation of one homomorphic DFT into level-sized groups of butterfly stages, with the packing maps of
/// bootstrapping folded in:
/// - CoeffToSlot, n < N/2: the last group is followed by c ⊙ · with c = 1/2 on slots [0, n) and −i/2 on [n, 2n)
///   (period 2n), so that x + conj(x) holds Re(u) in slots [0, n) and Im(u) in [n, 2n): the 2n real coefficients
///   of the subring polynomial in one ciphertext.
/// - CoeffToSlot, n = N/2: the last group carries a factor 1/2; the real and imaginary parts are split afterwards
///   with a conjugation into two ciphertexts.
/// - SlotToCoeff, n < N/2: the first group is preceded by x ↦ M1 ⊙ x + M2 ⊙ rot(x, n), (M1, M2) = (1, i) on
///   [0, n) and (i, 1) on [n, 2n), which turns the 2n real coefficients back into n complex ones, n-periodic.
enum HomomorphicDFTPlanner {
    /// Sizes of `groups` groups covering `stages` stages, larger groups last (they run at lower levels, where
    /// rotations are cheaper).
    static func groupSizes(stages: Int, groups: Int) -> [Int] {
        let base = stages / groups, extra = stages % groups
        return (0..<groups).map { $0 < groups - extra ? base : base + 1 }
    }

    /// Half-widths of the butterfly stages of each group, in application order.
    static func stageHalves(direction: DFTDirection, slots n: Int, levels: Int) -> [[Int]] {
        let logN = n.trailingZeroBitCount
        let halves: [Int] = direction == .coeffsToSlots
            ? (0..<logN).map { n >> ($0 + 1) }  // n/2, n/4, ..., 1
            : (0..<logN).map { 1 << $0 }  // 1, 2, ..., n/2
        var result: [[Int]] = []
        var start = 0
        for size in groupSizes(stages: logN, groups: levels) {
            result.append(Array(halves[start..<(start + size)]))
            start += size
        }
        return result
    }

    /// The period of the vectors each group works on and its offsets, without computing any diagonal.
    static func offsetSets(direction: DFTDirection, slots n: Int, ringSlots: Int, levels: Int) -> [(period: Int, offsets: Set<Int>)] {
        let sparse = n < ringSlots
        let groups = stageHalves(direction: direction, slots: n, levels: levels)
        return groups.enumerated().map { index, halves in
            var offsets: Set<Int> = [0]
            for h in halves {
                let stage = SpecialFFTStages.offsets(n: n, half: h)
                offsets = Set(offsets.flatMap { a in stage.map { (a + $0) % n } })
            }
            if sparse && direction == .slotsToCoeffs && index == 0 {
                // The unpacking map adds offset n (period 2n).
                return (2 * n, Set(offsets.flatMap { [$0, $0 + n] }))
            }
            if sparse && direction == .coeffsToSlots && index == groups.count - 1 {
                return (2 * n, offsets)
            }
            return (n, offsets)
        }
    }

    /// The diagonal maps of each group (in application order).
    static func transforms(direction: DFTDirection, slots n: Int, ringSlots: Int, levels: Int) -> [SlotDiagonals] {
        let sparse = n < ringSlots
        let groups = stageHalves(direction: direction, slots: n, levels: levels)
        var result: [SlotDiagonals] = []
        for (index, halves) in groups.enumerated() {
            var map = SlotDiagonals(period: n, diagonals: [0: [Complex<Double>](repeating: .one, count: n)])
            for h in halves {
                let stage = direction == .coeffsToSlots ? SpecialFFTStages.inverse(n: n, half: h) : SpecialFFTStages.forward(n: n, half: h)
                map = stage.composed(after: map)
            }
            if direction == .coeffsToSlots && index == groups.count - 1 {
                if sparse {
                    let c = (0..<(2 * n)).map { $0 < n ? Complex<Double>(0.5, 0) : Complex<Double>(0, -0.5) }
                    map = SlotDiagonals.diagonal(c).composed(after: map)
                } else {
                    map = map.scaled(by: 0.5)
                }
            }
            if direction == .slotsToCoeffs && index == 0 && sparse {
                let m1 = (0..<(2 * n)).map { $0 < n ? Complex<Double>.one : Complex<Double>(0, 1) }
                let m2 = (0..<(2 * n)).map { $0 < n ? Complex<Double>(0, 1) : Complex<Double>.one }
                let unpack = SlotDiagonals(period: 2 * n, diagonals: [0: m1, n: m2])
                map = map.composed(after: unpack)
            }
            result.append(map)
        }
        return result
    }
}

/// One precomputed diagonal transform at a fixed level: its plan and its diagonals encoded once as plaintexts at
/// that level and one scale, pre-rotated for their giant step.
final class EncodedDiagonalTransform: @unchecked Sendable {
    let plan: BabyStepGiantStepPlan
    let level: Int
    /// Scale of every diagonal plaintext.
    let plaintextScale: Double
    /// giant → [(baby, plaintext)].
    let groups: [(giant: Int, terms: [(baby: Int, plaintext: Plaintext)])]
    /// Bytes held by the plaintexts.
    let byteCount: Int

    /// The plaintexts carry the special primes P (the baby steps are multiplied in Q·P) and are stored in
    /// Montgomery form (each residue times 2^64 mod its prime), so the diagonal products accumulate unreduced and
    /// take one Montgomery reduction (`KeySwitcher.montgomeryProducts`).
    init(map: SlotDiagonals, plan: BabyStepGiantStepPlan, level: Int, plaintextScale: Double, encoder: CKKSEncoder) throws {
        self.plan = plan
        self.level = level
        self.plaintextScale = plaintextScale
        let ringSlots = encoder.parameters.slotCount
        let p = map.period
        var byGiant: [Int: [(baby: Int, plaintext: Plaintext)]] = [:]
        var bytes = 0
        for entry in plan.entries {
            guard let d = map.diagonals[entry.offset] else { continue }
            // rot(d, −giant): the giant rotation is applied after the product.
            var re = [Double](repeating: 0, count: ringSlots), im = re
            for t in 0..<ringSlots {
                let v = d[((t - entry.giant) % p + p) % p]
                re[t] = v.real
                im[t] = v.imaginary
            }
            let plaintext = Self.encodeWithSpecialPrimes(real: re, imaginary: im, scale: plaintextScale, level: level, encoder: encoder)
            bytes += plaintext.polynomial.limbCount * plaintext.polynomial.degree * 8
            byGiant[entry.giant, default: []].append((entry.baby, plaintext))
        }
        groups = byGiant.keys.sorted().map { ($0, byGiant[$0]!.sorted { $0.baby < $1.baby }) }
        byteCount = bytes
    }

    /// The encoder's rounding of `real + i·imaginary` at `scale`, over Q_level and the special primes P, every
    /// residue r stored as r · 2^64 mod its prime (Montgomery form).
    static func encodeWithSpecialPrimes(real: [Double], imaginary: [Double], scale: Double, level: Int, encoder: CKKSEncoder) -> Plaintext {
        var re = real, im = imaginary
        encoder.specialInverseFFT(&re, &im)
        let parameters = encoder.parameters
        let n = parameters.degree, slots = n / 2
        var coefficients = [Double](repeating: 0, count: n)
        for i in 0..<slots {
            coefficients[i] = (re[i] * scale).rounded()
            coefficients[i + slots] = (im[i] * scale).rounded()
        }
        var polynomial = RNSPolynomial<Coefficient>(ring: parameters.ring, level: level, withSpecialPrimes: true)
        polynomial.makeUnique()
        let target = polynomial
        encoder.executor.forEach(target.limbCount) { i in
            let m = target.modulus(i)
            let out = target.limb(i)
            for c in 0..<n { out[c] = CKKSEncoder.reduce(coefficients[c], m) }
        }
        let transformed = target.forwardNTT(executor: encoder.executor)
        encoder.executor.forEach(transformed.limbCount) { i in
            let m = transformed.modulus(i)
            let w = m.reduce(high: 1, low: 0), ws = m.shoupPrecompute(w)  // 2^64 mod q
            let limb = transformed.limb(i)
            for c in 0..<n { limb[c] = m.multiplyShoup(limb[c], w, ws) }
        }
        return Plaintext(polynomial: transformed, scale: scale)
    }

    /// Σ_giant rot(Σ_baby pt ⊙ rot(x, baby), giant) for x at `level`, then one rescale unless `rescale` is false,
    /// with double hoisting (Bossuat et al. 2021): the baby steps stay in the extended basis Q_ℓ·P (their ModDown
    /// skipped), the diagonals multiply them there, each giant step ModDowns only its c_1 to key-switch it, and one
    /// ModDown per output polynomial ends the transform: about half the ModDowns of single hoisting, same noise.
    func applyDoubleHoisted(_ x: Ciphertext, evaluator: CKKSEvaluator, rescale: Bool = true) throws -> Ciphertext {
        guard x.level == level, x.degree == 1 else {
            throw CKKSError.levelMismatch("diagonal transform precomputed at level \(level), ciphertext at \(x.level)")
        }
        let parameters = evaluator.parameters
        let ring = parameters.ring
        let n = ring.degree
        let switcher = evaluator.switcher
        let executor = evaluator.executor
        let limbs = level + 1 + ring.pModuli.count
        let level = self.level
        func modulus(_ t: Int) -> Modulus { t <= level ? ring.qModuli[t] : ring.pModuli[t - level - 1] }
        // P mod q_i: the extended basis holds P·(value).
        let pModQ: [UInt64] = (0...level).map { i in
            let q = ring.qModuli[i]
            return ring.pModuli.reduce(UInt64(1)) { q.multiply($0, q.reduce($1.value)) }
        }
        func key(_ steps: Int) throws -> (KeySwitchingKey, GaloisPermutation) {
            let g = parameters.galoisElement(forRotation: steps)
            guard let key = evaluator.galoisKeys[g], let permutation = evaluator.permutations[g] else {
                throw CKKSError.missingKey("Galois key for element \(g) (rotation by \(steps))")
            }
            return (key, permutation)
        }

        let decomposition = switcher.decompose(x.polynomials[1])
        let x0 = x.polynomials[0], x1 = x.polynomials[1]
        var babies: [Int: (WordBuffer, WordBuffer)] = [:]
        for baby in plan.babySteps {
            let c0 = WordBuffer(count: limbs * n, pool: switcher.pool), c1 = WordBuffer(count: limbs * n, pool: switcher.pool)
            let out0 = c0.words, out1 = c1.words
            if baby == 0 {
                executor.forEach(limbs) { t in
                    let d0 = out0 + t * n, d1 = out1 + t * n
                    guard t <= level else {
                        d0.update(repeating: 0, count: n)
                        d1.update(repeating: 0, count: n)
                        return
                    }
                    let q = ring.qModuli[t]
                    let w = pModQ[t], ws = q.shoupPrecompute(w)
                    let s0 = x0.limb(t), s1 = x1.limb(t)
                    for c in 0..<n {
                        d0[c] = q.multiplyShoup(s0[c], w, ws)
                        d1[c] = q.multiplyShoup(s1[c], w, ws)
                    }
                }
            } else {
                let (k, permutation) = try key(baby)
                permutation.indices.withUnsafeBufferPointer { p in
                    let perm = p.baseAddress!
                    switcher.innerProduct(decomposition, key: k, permutation: perm, acc0: out0, acc1: out1)
                    executor.forEach(level + 1) { t in
                        let q = ring.qModuli[t]
                        let w = pModQ[t], ws = q.shoupPrecompute(w)
                        let src = x0.limb(t), dst = out0 + t * n
                        for c in 0..<n { dst[c] = q.add(dst[c], q.multiplyShoup(src[Int(perm[c])], w, ws)) }
                    }
                }
            }
            babies[baby] = (c0, c1)
        }

        let acc0 = WordBuffer(count: limbs * n, pool: switcher.pool), acc1 = WordBuffer(count: limbs * n, pool: switcher.pool)
        // Groups are sorted by giant step: a giant-0 group, if any, comes first and writes the accumulators.
        if groups.first?.giant != 0 {
            acc0.words.update(repeating: 0, count: limbs * n)
            acc1.words.update(repeating: 0, count: limbs * n)
        }
        for (giant, terms) in groups {
            let part0 = giant == 0 ? acc0 : WordBuffer(count: limbs * n, pool: switcher.pool)
            let part1 = giant == 0 ? acc1 : WordBuffer(count: limbs * n, pool: switcher.pool)
            let inputs = terms.map { (babies[$0.baby]!, $0.plaintext.polynomial) }
            let p0 = part0.words, p1 = part1.words
            // Σ pt·u over at most 16 terms stays below 2q · 2^64 (q < 2^61); longer groups go in chunks.
            let chunk = 16
            executor.forEach(limbs) { t in
                let q = modulus(t)
                let r0 = p0 + t * n, r1 = p1 + t * n
                withUnsafeTemporaryAllocation(of: UnsafeMutablePointer<UInt64>.self, capacity: 3 * min(chunk, inputs.count)) { triples in
                    var start = 0
                    while start < inputs.count {
                        let end = min(start + chunk, inputs.count)
                        for (j, ((b0, b1), plaintext)) in inputs[start..<end].enumerated() {
                            triples[3 * j] = plaintext.limb(t)
                            triples[3 * j + 1] = b0.words + t * n
                            triples[3 * j + 2] = b1.words + t * n
                        }
                        if start == 0 {
                            KeySwitcher.montgomeryProducts(
                                triples.baseAddress!, terms: end - start, permutation: nil, n: n, out0: r0, out1: r1, q: q.value)
                        } else {
                            let extra = WordBuffer(count: 2 * n)
                            KeySwitcher.montgomeryProducts(
                                triples.baseAddress!, terms: end - start, permutation: nil, n: n, out0: extra.words,
                                out1: extra.words + n, q: q.value)
                            for c in 0..<n {
                                r0[c] = q.add(r0[c], extra.words[c])
                                r1[c] = q.add(r1[c], extra.words[n + c])
                            }
                        }
                        start = end
                    }
                }
            }
            guard giant != 0 else { continue }
            // rot(part, giant): σ(c_0) stays in Q·P; c_1 comes down to Q to be decomposed and key-switched.
            let c1 = RNSPolynomial<Evaluation>.uninitialized(ring: ring, level: level)
            switcher.modDown(p1, level: level, into: c1, accumulate: false)
            let giantDecomposition = switcher.decompose(c1)
            let (k, permutation) = try key(giant)
            let ip = WordBuffer(count: 2 * limbs * n, pool: switcher.pool)
            let ip0 = ip.words, ip1 = ip.words + limbs * n
            let a0 = acc0.words, a1 = acc1.words
            permutation.indices.withUnsafeBufferPointer { p in
                let perm = p.baseAddress!
                switcher.innerProduct(giantDecomposition, key: k, permutation: perm, acc0: ip0, acc1: ip1)
                executor.forEach(limbs) { t in
                    let q = modulus(t)
                    let src = p0 + t * n, k0 = ip0 + t * n, k1 = ip1 + t * n, d0 = a0 + t * n, d1 = a1 + t * n
                    for c in 0..<n {
                        d0[c] = q.add(d0[c], q.add(src[Int(perm[c])], k0[c]))
                        d1[c] = q.add(d1[c], k1[c])
                    }
                }
            }
        }
        let out0 = RNSPolynomial<Evaluation>.uninitialized(ring: ring, level: level)
        let out1 = RNSPolynomial<Evaluation>.uninitialized(ring: ring, level: level)
        switcher.modDown(acc0.words, level: level, into: out0, accumulate: false)
        switcher.modDown(acc1.words, level: level, into: out1, accumulate: false)
        var output = Ciphertext(polynomials: [out0, out1], scale: x.scale * plaintextScale)
        if rescale { try evaluator.rescale(&output) }
        return output
    }
}
