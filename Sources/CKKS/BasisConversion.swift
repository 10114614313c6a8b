import ModularArithmetic

/// Fast base conversion (Bajard et al. / HPS) from the RNS basis `source` to `targets`:
/// x ↦ Σ_i [x_i · (Q/q_i)^(-1)]_{q_i} · (Q/q_i) mod t, which equals x + u·Q with 0 ≤ u < |source|.
@usableFromInline
final class BasisConverter: @unchecked Sendable {
    let source: [Modulus]
    let targets: [Modulus]
    /// (Q/q_i)^(-1) mod q_i and its Shoup constant.
    let puncturedInverse: [UInt64]
    let puncturedInverseShoup: [UInt64]
    /// (Q/q_i) mod t_j, row-major [target][source].
    let puncturedProducts: UnsafeMutablePointer<UInt64>

    init(source: [Modulus], targets: [Modulus]) {
        self.source = source
        self.targets = targets
        var inv: [UInt64] = []
        var invShoup: [UInt64] = []
        for (i, qi) in source.enumerated() {
            var product: UInt64 = 1
            for (j, qj) in source.enumerated() where j != i { product = qi.multiply(product, qi.reduce(qj.value)) }
            let v = qi.inverse(product)!
            inv.append(v)
            invShoup.append(qi.shoupPrecompute(v))
        }
        puncturedInverse = inv
        puncturedInverseShoup = invShoup
        puncturedProducts = .allocate(capacity: max(1, source.count * targets.count))
        for (t, modulus) in targets.enumerated() {
            for i in 0..<source.count {
                var product: UInt64 = 1
                for (j, qj) in source.enumerated() where j != i {
                    product = modulus.multiply(product, modulus.reduce(qj.value))
                }
                puncturedProducts[t * source.count + i] = product
            }
        }
    }

    deinit { puncturedProducts.deallocate() }

    /// Converts N coefficients. `input[i]` points to the limb of source modulus i (coefficient form,
    /// values in [0, q_i)); `output[j]` receives the limb for target j in [0, t_j).
    /// `scratch` must hold source.count · N words.
    @usableFromInline
    func convert(
        input: [UnsafeMutablePointer<UInt64>], output: [UnsafeMutablePointer<UInt64>],
        degree n: Int, scratch: UnsafeMutablePointer<UInt64>, executor: ParallelExecutor,
        targetCount: Int? = nil
    ) {
        let k = source.count
        executor.forEach(k) { i in
            let q = self.source[i]
            let w = self.puncturedInverse[i]
            let ws = self.puncturedInverseShoup[i]
            let x = input[i]
            let y = scratch + i * n
            for c in 0..<n { y[c] = q.multiplyShoup(x[c], w, ws) }
        }
        executor.forEach(targetCount ?? targets.count) { t in
            let modulus = self.targets[t]
            let row = self.puncturedProducts + t * k
            let out = output[t]
            if k == 1 {
                let f = row[0]
                for c in 0..<n { out[c] = modulus.multiply(scratch[c], f) }
                return
            }
            // Lazy 128-bit accumulation: at most 2^122 per term, so up to 64 terms fit.
            for c in 0..<n {
                var high: UInt64 = 0
                var low: UInt64 = 0
                var y = scratch + c
                for i in 0..<k {
                    let p = y.pointee.multipliedFullWidth(by: row[i])
                    let (s, overflow) = low.addingReportingOverflow(p.low)
                    low = s
                    high &+= p.high &+ (overflow ? 1 : 0)
                    y += n
                }
                out[c] = modulus.reduce(high: high, low: low)
            }
        }
    }
}

/// Constants for dividing by the last prime q_level with rounding.
@usableFromInline
struct RescaleTable: Sendable {
    /// q_level^(-1) mod q_i for i < level, with Shoup constants.
    let inverseLast: [UInt64]
    let inverseLastShoup: [UInt64]
    /// floor(q_level / 2) mod q_i.
    let halfLastModQi: [UInt64]
    let halfLast: UInt64

    init(moduli: [Modulus], level: Int) {
        let last = moduli[level].value
        halfLast = last >> 1
        var inv: [UInt64] = []
        var invShoup: [UInt64] = []
        var half: [UInt64] = []
        for i in 0..<level {
            let q = moduli[i]
            let v = q.inverse(q.reduce(last))!
            inv.append(v)
            invShoup.append(q.shoupPrecompute(v))
            half.append(q.reduce(last >> 1))
        }
        inverseLast = inv
        inverseLastShoup = invShoup
        halfLastModQi = half
    }
}

/// Constants for ModDown: division by P with rounding, from Q_ℓ·P to Q_ℓ.
@usableFromInline
final class ModDownTable: @unchecked Sendable {
    /// P^(-1) mod q_i.
    let inverseP: [UInt64]
    let inversePShoup: [UInt64]
    /// floor(P/2) as residues: mod p_k and mod q_i (rounding instead of flooring).
    let halfPModP: [UInt64]
    let halfPModQ: [UInt64]
    /// Converter from P to all of Q (a prefix of targets is used at lower levels).
    let converter: BasisConverter

    init(qModuli: [Modulus], pModuli: [Modulus]) {
        var invP: [UInt64] = []
        var invPShoup: [UInt64] = []
        var halfQ: [UInt64] = []
        // P/2 = (P − 1)/2 since P is odd; its residue mod m computed as (P mod m − 1) · 2^(-1) mod m.
        func halfPMod(_ m: Modulus) -> UInt64 {
            var pm: UInt64 = 1
            for p in pModuli { pm = m.multiply(pm, m.reduce(p.value)) }
            return m.multiply(m.subtract(pm, 1 % m.value), m.inverse(2)!)
        }
        for q in qModuli {
            var pm: UInt64 = 1
            for p in pModuli { pm = q.multiply(pm, q.reduce(p.value)) }
            let v = q.inverse(pm)!
            invP.append(v)
            invPShoup.append(q.shoupPrecompute(v))
            halfQ.append(halfPMod(q))
        }
        inverseP = invP
        inversePShoup = invPShoup
        halfPModQ = halfQ
        halfPModP = pModuli.map { halfPMod($0) }
        converter = BasisConverter(source: pModuli, targets: qModuli)
    }
}
