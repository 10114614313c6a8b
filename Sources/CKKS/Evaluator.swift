import CModularKernels
import Foundation
import ModularArithmetic

/// Homomorphic operations on ciphertexts. Binary operations work at the lower of the two input
/// levels. Forms: `op(in…, into: &out)` writes into caller-owned output (its storage is reused
/// when uniquely owned and large enough), `opped(in…)` allocates, `op(&x)` mutates in place.
///
/// Scale rules: add/sub need equal scales (relative difference below `scaleTolerance`; see
/// `matchScales`); products multiply scales; `rescale` divides the scale by the dropped prime.
public final class CKKSEvaluator: @unchecked Sendable {
    public let parameters: CKKSParameters
    public let executor: ParallelExecutor
    let relinearizationKey: KeySwitchingKey?
    let galoisKeys: [Int: KeySwitchingKey]
    let permutations: [Int: GaloisPermutation]
    let switcher: KeySwitcher

    /// Largest relative difference of two scales that add/sub accept as equal.
    public static let scaleTolerance = 0x1p-36

    public init(
        parameters: CKKSParameters, relinearizationKey: RelinearizationKey? = nil, galoisKeys: GaloisKeys? = nil,
        executor: ParallelExecutor = ParallelExecutor()
    ) {
        self.parameters = parameters
        self.executor = executor
        self.relinearizationKey = relinearizationKey?.key
        self.galoisKeys = galoisKeys?.keys ?? [:]
        var perms: [Int: GaloisPermutation] = [:]
        for g in self.galoisKeys.keys { perms[g] = GaloisPermutation(degree: parameters.degree, galoisElement: g) }
        permutations = perms
        switcher = KeySwitcher(parameters: parameters, executor: executor, pool: ScratchPool())
    }

    // MARK: checks

    private func check(_ ct: Ciphertext) throws {
        guard ct.ring === parameters.ring else { throw CKKSError.parameterMismatch }
    }

    /// A key switches ciphertexts up to its own level only (a trimmed key has no limbs above it).
    @inline(__always)
    private func checkKeyLevel(_ key: KeySwitchingKey, _ name: @autoclosure () -> String, ciphertextLevel level: Int) throws {
        guard key.level >= level else {
            throw CKKSError.missingKey(
                "\(name()) covers levels ≤ \(key.level); the ciphertext is at level \(level) — regenerate the keys for this plan")
        }
    }

    private func checkScales(_ a: Double, _ b: Double) throws {
        guard abs(a - b) <= Self.scaleTolerance * max(a, b) else { throw CKKSError.scaleMismatch(lhs: a, rhs: b) }
    }

    // MARK: add / sub / negate

    private enum Combine { case add, subtract }

    private func combine(_ a: RNSPolynomial<Evaluation>, _ b: RNSPolynomial<Evaluation>, level: Int,
                         into out: inout RNSPolynomial<Evaluation>, _ op: Combine) {
        out.prepareForOverwrite(level: level)
        let o = out
        let n = parameters.degree
        executor.forEach(level + 1) { i in
            let q = parameters.ring.qModuli[i].value
            let x = a.limb(i), y = b.limb(i), r = o.limb(i)
            switch op {
            case .add:
                for c in 0..<n { let s = x[c] &+ y[c]; r[c] = s >= q ? s &- q : s }
            case .subtract:
                for c in 0..<n { let u = x[c], v = y[c]; r[c] = u >= v ? u &- v : u &+ q &- v }
            }
        }
    }

    private func combine(_ a: Ciphertext, _ b: Ciphertext, into out: inout Ciphertext, _ op: Combine) throws {
        try check(a)
        try check(b)
        try checkScales(a.scale, b.scale)
        let level = min(a.level, b.level)
        let degree = max(a.degree, b.degree)
        var polys = out.polynomials
        out.polynomials = []
        while polys.count < degree + 1 { polys.append(.uninitialized(ring: parameters.ring, level: level)) }
        if polys.count > degree + 1 { polys.removeLast(polys.count - degree - 1) }
        for k in 0...degree {
            if k <= a.degree && k <= b.degree {
                combine(a.polynomials[k], b.polynomials[k], level: level, into: &polys[k], op)
            } else if k <= a.degree {
                polys[k] = a.polynomials[k]
                polys[k].dropLevel(to: level)
            } else {
                polys[k] = b.polynomials[k]
                polys[k].dropLevel(to: level)
                if op == .subtract { polys[k].negate(executor: executor) }
            }
        }
        out.polynomials = polys
        out.scale = a.scale
    }

    /// out = a + b.
    public func add(_ a: Ciphertext, _ b: Ciphertext, into out: inout Ciphertext) throws {
        try combine(a, b, into: &out, .add)
    }

    public func adding(_ a: Ciphertext, _ b: Ciphertext) throws -> Ciphertext {
        var out = Ciphertext(polynomials: a.polynomials, scale: a.scale)
        try add(a, b, into: &out)
        return out
    }

    /// a += b (in place).
    public func add(_ b: Ciphertext, to a: inout Ciphertext) throws {
        try check(a)
        try check(b)
        try checkScales(a.scale, b.scale)
        let level = min(a.level, b.level)
        a.dropLevel(to: level)
        for k in 0...b.degree {
            if k < a.polynomials.count {
                a.polynomials[k].add(b.polynomials[k], executor: executor)
            } else {
                var extra = b.polynomials[k]
                extra.dropLevel(to: level)
                a.polynomials.append(extra)
            }
        }
    }

    /// out = a − b.
    public func subtract(_ a: Ciphertext, _ b: Ciphertext, into out: inout Ciphertext) throws {
        try combine(a, b, into: &out, .subtract)
    }

    public func subtracting(_ a: Ciphertext, _ b: Ciphertext) throws -> Ciphertext {
        var out = Ciphertext(polynomials: a.polynomials, scale: a.scale)
        try subtract(a, b, into: &out)
        return out
    }

    /// ct = −ct.
    public func negate(_ ct: inout Ciphertext) throws {
        try check(ct)
        for k in ct.polynomials.indices { ct.polynomials[k].negate(executor: executor) }
    }

    public func negated(_ ct: Ciphertext) throws -> Ciphertext {
        var out = ct
        try negate(&out)
        return out
    }

    /// out = ct + pt (scales must match).
    public func add(_ ct: Ciphertext, _ pt: Plaintext, into out: inout Ciphertext) throws {
        try plainCombine(ct, pt, into: &out, .add)
    }

    /// out = ct − pt.
    public func subtract(_ ct: Ciphertext, _ pt: Plaintext, into out: inout Ciphertext) throws {
        try plainCombine(ct, pt, into: &out, .subtract)
    }

    public func adding(_ ct: Ciphertext, _ pt: Plaintext) throws -> Ciphertext {
        var out = ct
        try add(ct, pt, into: &out)
        return out
    }

    public func subtracting(_ ct: Ciphertext, _ pt: Plaintext) throws -> Ciphertext {
        var out = ct
        try subtract(ct, pt, into: &out)
        return out
    }

    private func plainCombine(_ ct: Ciphertext, _ pt: Plaintext, into out: inout Ciphertext, _ op: Combine) throws {
        try check(ct)
        guard pt.polynomial.ring === parameters.ring else { throw CKKSError.parameterMismatch }
        try checkScales(ct.scale, pt.scale)
        let level = min(ct.level, pt.level)
        var destination = out.polynomials.first ?? .uninitialized(ring: parameters.ring, level: level)
        out.polynomials = []
        combine(ct.polynomials[0], pt.polynomial, level: level, into: &destination, op)
        var polys = ct.polynomials
        polys[0] = destination
        for k in 1..<polys.count { polys[k].dropLevel(to: level) }
        out = Ciphertext(polynomials: polys, scale: ct.scale)
    }

    /// out = ct + value (a real constant, encoded at the ciphertext's scale).
    public func add(_ ct: Ciphertext, constant value: Double, into out: inout Ciphertext) throws {
        try check(ct)
        guard value.isFinite else { throw CKKSError.invalidInput("constant \(value) is not finite") }
        out = ct
        let c = (value * ct.scale).rounded()
        var c0 = out.polynomials[0]
        out.polynomials[0] = .uninitialized(ring: parameters.ring, level: 0)
        c0.makeUnique()
        let p = c0
        executor.forEach(p.qCount) { i in
            let q = p.modulus(i)
            let r = CKKSEncoder.reduce(c, q)
            let x = p.limb(i)
            for k in 0..<p.degree { x[k] = q.add(x[k], r) }
        }
        out.polynomials[0] = c0
    }

    public func adding(_ ct: Ciphertext, constant value: Double) throws -> Ciphertext {
        var out = ct
        try add(ct, constant: value, into: &out)
        return out
    }

    public func subtracting(_ ct: Ciphertext, constant value: Double) throws -> Ciphertext {
        try adding(ct, constant: -value)
    }

    // MARK: products

    /// out = ct · pt (pointwise in the NTT domain); scale = ct.scale · pt.scale.
    public func multiply(_ ct: Ciphertext, _ pt: Plaintext, into out: inout Ciphertext) throws {
        try check(ct)
        guard pt.polynomial.ring === parameters.ring else { throw CKKSError.parameterMismatch }
        let level = min(ct.level, pt.level)
        var polys = out.polynomials
        out.polynomials = []
        let count = ct.polynomials.count
        while polys.count < count { polys.append(.uninitialized(ring: parameters.ring, level: level)) }
        if polys.count > count { polys.removeLast(polys.count - count) }
        let n = parameters.degree
        for k in 0..<count {
            polys[k].prepareForOverwrite(level: level)
            let o = polys[k], a = ct.polynomials[k], b = pt.polynomial
            executor.forEach(level + 1) { i in
                let q = parameters.ring.qModuli[i]
                let x = a.limb(i), y = b.limb(i), r = o.limb(i)
                for c in 0..<n { r[c] = q.multiplyReduced(x[c], y[c]) }
            }
        }
        out.polynomials = polys
        out.scale = ct.scale * pt.scale
    }

    /// Σ_i ct_i · pt_i in one pass per limb (each product accumulated with a lazy add, no temporary ciphertexts);
    /// the products' scales must agree (checked); the result is at the lowest level of the operands.
    public func multiplyAccumulate(_ pairs: [(Ciphertext, Plaintext)]) throws -> Ciphertext {
        guard let first = pairs.first else { throw CKKSError.parameterMismatch }
        var level = Int.max, degree = 0
        for (ct, pt) in pairs {
            try check(ct)
            guard pt.polynomial.ring === parameters.ring else { throw CKKSError.parameterMismatch }
            try checkScales(first.0.scale * first.1.scale, ct.scale * pt.scale)
            level = min(level, ct.level, pt.level)
            degree = max(degree, ct.degree)
        }
        var out = Ciphertext(parameters: parameters, level: level, degree: degree)
        let n = parameters.degree
        for k in 0...degree {
            out.polynomials[k].prepareForOverwrite(level: level)
            let o = out.polynomials[k]
            executor.forEach(level + 1) { i in
                let q = parameters.ring.qModuli[i]
                let modulus = q.value
                let r = o.limb(i)
                for c in 0..<n { r[c] = 0 }
                for (ct, pt) in pairs where k < ct.polynomials.count {
                    let x = ct.polynomials[k].limb(i), y = pt.polynomial.limb(i)
                    for c in 0..<n {
                        let sum = r[c] &+ q.multiplyReduced(x[c], y[c])
                        r[c] = sum >= modulus ? sum &- modulus : sum
                    }
                }
            }
        }
        out.scale = first.0.scale * first.1.scale
        return out
    }

    public func multiplying(_ ct: Ciphertext, _ pt: Plaintext) throws -> Ciphertext {
        var out = Ciphertext(parameters: parameters, level: min(ct.level, pt.level), degree: ct.degree)
        try multiply(ct, pt, into: &out)
        return out
    }

    /// out = ct · round(value · constantScale); scale = ct.scale · constantScale. The default
    /// constant scale is the last prime q_ℓ, so that a following `rescale` restores ct.scale exactly.
    public func multiply(_ ct: Ciphertext, constant value: Double, constantScale: Double? = nil, into out: inout Ciphertext) throws {
        try check(ct)
        let scale = constantScale ?? Double(parameters.ring.qModuli[ct.level].value)
        guard value.isFinite, scale.isFinite, scale > 0 else { throw CKKSError.invalidInput("constant \(value) at scale \(scale)") }
        let c = (value * scale).rounded()
        let residues = (0...ct.level).map { CKKSEncoder.reduce(c, parameters.ring.qModuli[$0]) }
        out = ct
        for k in out.polynomials.indices { out.polynomials[k].multiply(byResidues: residues, executor: executor) }
        out.scale = ct.scale * scale
    }

    public func multiplying(_ ct: Ciphertext, constant value: Double, constantScale: Double? = nil) throws -> Ciphertext {
        var out = ct
        try multiply(ct, constant: value, constantScale: constantScale, into: &out)
        return out
    }

    /// ct *= k for an integer k, without consuming a level; the scale is unchanged, so the
    /// message is multiplied by k. Use `multiplyScale(_:byInteger:)` to keep the message instead.
    public func multiply(_ ct: inout Ciphertext, byInteger k: Int64) throws {
        try check(ct)
        for i in ct.polynomials.indices { ct.polynomials[i].multiply(byInteger: k, executor: executor) }
    }

    /// Multiplies the scale by the integer k (message unchanged): used to align scales.
    public func multiplyScale(_ ct: inout Ciphertext, byInteger k: Int64) throws {
        try multiply(&ct, byInteger: k)
        ct.scale *= Double(k)
    }

    /// out = a · b (degree 2, not relinearized); scale = a.scale · b.scale.
    public func multiply(_ a: Ciphertext, _ b: Ciphertext, into out: inout Ciphertext) throws {
        try check(a)
        try check(b)
        guard a.degree == 1, b.degree == 1 else { throw CKKSError.ciphertextDegree(expected: 1, actual: max(a.degree, b.degree)) }
        let level = min(a.level, b.level)
        var polys = out.polynomials
        out.polynomials = []
        while polys.count < 3 { polys.append(.uninitialized(ring: parameters.ring, level: level)) }
        if polys.count > 3 { polys.removeLast(polys.count - 3) }
        for k in 0..<3 { polys[k].prepareForOverwrite(level: level) }
        tensor(a, b, level: level, d0: polys[0], d1: polys[1], d2: polys[2])
        out.polynomials = polys
        out.scale = a.scale * b.scale
    }

    private func tensor(_ a: Ciphertext, _ b: Ciphertext, level: Int,
                        d0: RNSPolynomial<Evaluation>, d1: RNSPolynomial<Evaluation>, d2: RNSPolynomial<Evaluation>) {
        let n = parameters.degree
        let a0 = a.polynomials[0], a1 = a.polynomials[1], b0 = b.polynomials[0], b1 = b.polynomials[1]
        executor.forEach(level + 1) { i in
            let q = parameters.ring.qModuli[i]
            let x0 = a0.limb(i), x1 = a1.limb(i), y0 = b0.limb(i), y1 = b1.limb(i)
            let r0 = d0.limb(i), r1 = d1.limb(i), r2 = d2.limb(i)
            for c in 0..<n {
                let u0 = x0[c], u1 = x1[c], v0 = y0[c], v1 = y1[c]
                r0[c] = q.multiply(u0, v0)
                r2[c] = q.multiply(u1, v1)
                let p = u0.multipliedFullWidth(by: v1)
                let s = u1.multipliedFullWidth(by: v0)
                let (low, overflow) = p.low.addingReportingOverflow(s.low)
                r1[c] = q.reduce(high: p.high &+ s.high &+ (overflow ? 1 : 0), low: low)
            }
        }
    }

    /// Relinearizes a degree-2 ciphertext in place (needs the relinearization key).
    public func relinearize(_ ct: inout Ciphertext) throws {
        try check(ct)
        guard ct.degree == 2 else { throw CKKSError.ciphertextDegree(expected: 2, actual: ct.degree) }
        guard let key = relinearizationKey else { throw CKKSError.missingKey("relinearization key") }
        try checkKeyLevel(key, "relinearization key", ciphertextLevel: ct.level)
        let d2 = ct.polynomials.removeLast()
        ct.polynomials[0].makeUnique()
        ct.polynomials[1].makeUnique()
        let decomposition = switcher.decompose(d2)
        switcher.apply(decomposition, key: key, permutation: nil,
                       out0: ct.polynomials[0], accumulate0: true, out1: ct.polynomials[1], accumulate1: true)
    }

    public func relinearized(_ ct: Ciphertext) throws -> Ciphertext {
        var out = ct
        try relinearize(&out)
        return out
    }

    /// out = relinearize(a · b).
    public func multiplyRelinearize(_ a: Ciphertext, _ b: Ciphertext, into out: inout Ciphertext) throws {
        guard let key = relinearizationKey else { throw CKKSError.missingKey("relinearization key") }
        try checkKeyLevel(key, "relinearization key", ciphertextLevel: min(a.level, b.level))
        try multiply(a, b, into: &out)
        try relinearize(&out)
    }

    public func multiplyingRelinearizing(_ a: Ciphertext, _ b: Ciphertext) throws -> Ciphertext {
        var out = Ciphertext(parameters: parameters, level: min(a.level, b.level), degree: 2)
        try multiplyRelinearize(a, b, into: &out)
        return out
    }

    // MARK: levels and scales

    /// Divides by the last prime q_ℓ with rounding (exact RNS divide-and-round) and drops a level;
    /// scale /= q_ℓ.
    public func rescale(_ ct: inout Ciphertext) throws {
        try check(ct)
        let level = ct.level
        guard level >= 1 else { throw CKKSError.levelTooLow(operation: "rescale", level: level) }
        let n = parameters.degree
        let ring = parameters.ring
        let table = parameters.rescaleTables[level]
        let lastTables = ring.qTables[level]
        let last = ring.qModuli[level]
        let temp = WordBuffer(count: (level + 1) * n, pool: switcher.pool)
        for k in ct.polynomials.indices {
            ct.polynomials[k].makeUnique()
            let p = ct.polynomials[k]
            let lastLimb = temp.words + level * n
            lastLimb.update(from: p.limb(level), count: n)
            lastTables.inverse(lastLimb)
            let half = table.halfLast
            for c in 0..<n { lastLimb[c] = last.add(lastLimb[c], half) }
            executor.forEach(level) { i in
                let q = ring.qModuli[i]
                let t = temp.words + i * n
                let h = table.halfLastModQi[i]
                let qv = q.value
                if last.value <= qv {
                    for c in 0..<n { let x = lastLimb[c]; t[c] = x &+ qv &- h }  // < 2q
                } else {
                    for c in 0..<n { t[c] = q.reduce(lastLimb[c]) &+ qv &- h }
                }
                ring.qTables[i].forwardLazy(t)  // [0, 4q)
                let x = p.limb(i)
                let w = table.inverseLast[i], ws = table.inverseLastShoup[i]
                let fourQ = 4 &* qv
                if NTTTables.vectorKernels {
                    tessera_scaled_difference(x, x, t, n, fourQ, w, ws, qv, 0)
                } else {
                    for c in 0..<n { x[c] = q.multiplyShoup(x[c] &+ fourQ &- t[c], w, ws) }
                }
            }
            ct.polynomials[k].dropLevel(to: level - 1)
        }
        ct.scale /= Double(last.value)
    }

    public func rescaled(_ ct: Ciphertext) throws -> Ciphertext {
        var out = ct
        try rescale(&out)
        return out
    }

    /// Drops to `level` without changing the message or the scale.
    public func dropLevel(_ ct: inout Ciphertext, to level: Int) throws {
        try check(ct)
        guard level >= 0 && level <= ct.level else {
            throw CKKSError.levelMismatch("cannot drop from level \(ct.level) to \(level)")
        }
        ct.dropLevel(to: level)
    }

    /// Drops to `level` (below ct's level) and moves the scale to `targetScale` on the way: the last dropped prime
    /// q pays for a product with the integer round(q·target/scale) (the constant 1 at scale q·target/scale) and a
    /// rescale, so no level is spent beyond the drop. The scale becomes `targetScale` (up to Double rounding); the
    /// message changes by the factor's rounding, a relative 2^-(log2 q − log2(scale/target) + 1) at most.
    public func dropLevel(_ ct: inout Ciphertext, to level: Int, scale targetScale: Double) throws {
        try check(ct)
        guard level >= 0 && level < ct.level else {
            throw CKKSError.levelMismatch("cannot drop from level \(ct.level) to \(level) and change the scale; the target must be lower")
        }
        let factor = Double(parameters.ring.qModuli[level + 1].value) * targetScale / ct.scale
        guard factor.isFinite && factor >= 1 && factor < 0x1p62 else {
            throw CKKSError.invalidInput("scale \(targetScale) not reachable from \(ct.scale) with one prime (factor \(factor))")
        }
        var dropped = ct
        dropped.dropLevel(to: level + 1)
        ct = try multiplying(dropped, constant: 1, constantScale: factor)
        try rescale(&ct)
        ct.scale = targetScale
    }

    /// Brings ct to scale ≈ `targetScale` by multiplying with the integer round(target·q_ℓ/scale) and
    /// rescaling: consumes one level; the tracked scale stays exact (relative distance to the
    /// target below 2^-(bits of the factor)).
    public func adjustScale(_ ct: inout Ciphertext, to targetScale: Double) throws {
        try check(ct)
        guard ct.level >= 1 else { throw CKKSError.levelTooLow(operation: "adjustScale", level: ct.level) }
        let q = Double(parameters.ring.qModuli[ct.level].value)
        let factor = (targetScale * q / ct.scale).rounded()
        guard factor >= 1 && factor < 0x1p62 else {
            throw CKKSError.invalidInput("scale \(targetScale) not reachable from \(ct.scale) in one rescale")
        }
        let residues = (0...ct.level).map { CKKSEncoder.reduce(factor, parameters.ring.qModuli[$0]) }
        for k in ct.polynomials.indices { ct.polynomials[k].multiply(byResidues: residues, executor: executor) }
        ct.scale *= factor
        try rescale(&ct)
    }

    /// Makes the scales and levels of a and b equal so they can be added: first drops the higher
    /// level, then if one scale is an integer multiple of the other multiplies the smaller (no level
    /// consumed); otherwise rescales the larger-scaled one toward the smaller with `adjustScale`.
    public func matchScales(_ a: inout Ciphertext, _ b: inout Ciphertext) throws {
        let level = min(a.level, b.level)
        try dropLevel(&a, to: level)
        try dropLevel(&b, to: level)
        if abs(a.scale - b.scale) <= Self.scaleTolerance * max(a.scale, b.scale) { return }
        let (small, large) = a.scale < b.scale ? (a.scale, b.scale) : (b.scale, a.scale)
        let ratio = large / small
        if abs(ratio - ratio.rounded()) <= Self.scaleTolerance * ratio && ratio < 0x1p40 {
            if a.scale < b.scale { try multiplyScale(&a, byInteger: Int64(ratio.rounded())) } else { try multiplyScale(&b, byInteger: Int64(ratio.rounded())) }
            return
        }
        if a.scale > b.scale {
            try adjustScale(&a, to: b.scale)
            try dropLevel(&b, to: a.level)
        } else {
            try adjustScale(&b, to: a.scale)
            try dropLevel(&a, to: b.level)
        }
    }

    // MARK: rotations

    /// out = ct with slots rotated left by `steps` (negative: right). Needs the Galois key of 5^steps.
    public func rotate(_ ct: Ciphertext, by steps: Int, into out: inout Ciphertext) throws {
        let g = parameters.galoisElement(forRotation: steps)
        if g == 1 { out = ct; return }
        try applyGalois(ct, galoisElement: g, into: &out)
    }

    public func rotated(_ ct: Ciphertext, by steps: Int) throws -> Ciphertext {
        var out = Ciphertext(parameters: parameters, level: ct.level)
        try rotate(ct, by: steps, into: &out)
        return out
    }

    /// out = complex conjugate of ct, slot-wise.
    public func conjugate(_ ct: Ciphertext, into out: inout Ciphertext) throws {
        try applyGalois(ct, galoisElement: parameters.conjugationGaloisElement, into: &out)
    }

    public func conjugated(_ ct: Ciphertext) throws -> Ciphertext {
        var out = Ciphertext(parameters: parameters, level: ct.level)
        try conjugate(ct, into: &out)
        return out
    }

    /// Applies X ↦ X^g and switches the key back to s: permute (c0, c1), then key-switch σ(c1).
    public func applyGalois(_ ct: Ciphertext, galoisElement g: Int, into out: inout Ciphertext) throws {
        try check(ct)
        guard ct.degree == 1 else { throw CKKSError.ciphertextDegree(expected: 1, actual: ct.degree) }
        guard let key = galoisKeys[g], let perm = permutations[g] else {
            throw CKKSError.missingKey("Galois key for element \(g)")
        }
        try checkKeyLevel(key, "Galois key for element \(g)", ciphertextLevel: ct.level)
        let level = ct.level
        var polys = out.polynomials
        out.polynomials = []
        while polys.count < 2 { polys.append(.uninitialized(ring: parameters.ring, level: level)) }
        if polys.count > 2 { polys.removeLast(polys.count - 2) }
        polys[0].prepareForOverwrite(level: level)
        polys[1].prepareForOverwrite(level: level)
        perm.indices.withUnsafeBufferPointer { p in
            ct.polynomials[0].applyingPermutation(p.baseAddress!, into: &polys[0], executor: executor)
            ct.polynomials[1].applyingPermutation(p.baseAddress!, into: &polys[1], executor: executor)
        }
        let decomposition = switcher.decompose(polys[1])
        switcher.apply(decomposition, key: key, permutation: nil,
                       out0: polys[0], accumulate0: true, out1: polys[1], accumulate1: false)
        out.polynomials = polys
        out.scale = ct.scale
    }

    /// The ModUp decomposition of ct's c_1, to share among many rotations (`rotateHoisted`).
    public func decompose(_ ct: Ciphertext) throws -> KeySwitchDecomposition {
        try check(ct)
        guard ct.degree == 1 else { throw CKKSError.ciphertextDegree(expected: 1, actual: ct.degree) }
        return switcher.decompose(ct.polynomials[1])
    }

    /// Rotations of one ciphertext by several steps sharing one decomposition of c_1 (hoisting):
    /// each rotation then costs one inner product and one ModDown. Returns one ciphertext per step.
    public func rotateHoisted(_ ct: Ciphertext, by steps: [Int]) throws -> [Ciphertext] {
        let decomposition = try decompose(ct)
        return try steps.map { try rotateHoisted(ct, decomposition: decomposition, by: $0) }
    }

    /// One rotation of a hoisted batch: σ(c0) + KS(σ(d)) where d is ct's shared decomposition.
    public func rotateHoisted(_ ct: Ciphertext, decomposition: KeySwitchDecomposition, by steps: Int) throws -> Ciphertext {
        let g = parameters.galoisElement(forRotation: steps)
        if g == 1 { return ct }
        guard let key = galoisKeys[g], let perm = permutations[g] else {
            throw CKKSError.missingKey("Galois key for element \(g) (rotation by \(steps))")
        }
        guard decomposition.level == ct.level else {
            throw CKKSError.levelMismatch("decomposition at level \(decomposition.level), ciphertext at \(ct.level)")
        }
        try checkKeyLevel(key, "Galois key for element \(g) (rotation by \(steps))", ciphertextLevel: ct.level)
        // Both are overwritten in full: c0 by the permutation, c1 by ModDown (accumulate: false).
        var c0 = RNSPolynomial<Evaluation>.uninitialized(ring: parameters.ring, level: ct.level)
        let c1 = RNSPolynomial<Evaluation>.uninitialized(ring: parameters.ring, level: ct.level)
        perm.indices.withUnsafeBufferPointer { p in
            ct.polynomials[0].applyingPermutation(p.baseAddress!, into: &c0, executor: executor)
            switcher.apply(decomposition, key: key, permutation: p.baseAddress!,
                           out0: c0, accumulate0: true, out1: c1, accumulate1: false)
        }
        return Ciphertext(polynomials: [c0, c1], scale: ct.scale)
    }
}
