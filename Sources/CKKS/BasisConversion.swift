import CModularKernels
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
    /// (Q/q_i) · 2^64 mod t_j (Montgomery form), row-major [target][source]; used when
    /// `montgomery` holds.
    let puncturedProductsMontgomery: UnsafeMutablePointer<UInt64>
    /// t_j^(-1) mod 2^64.
    let targetInverses: [UInt64]
    /// t_j as words, for the C kernel.
    let targetValues: [UInt64]
    /// Σ_i q_i < 2^64: every accumulated sum Σ_i y_i · c_i (y_i < q_i, c_i < t) is below t · 2^64,
    /// so one Montgomery reduction (two multiplications) replaces the 128-bit Barrett reduction.
    let montgomery: Bool

    /// t^(-1) mod 2^64 for odd t (Newton iteration, each step doubles the correct low bits).
    static func inverseModWord(_ t: UInt64) -> UInt64 {
        var x = t  // correct to 3 bits
        for _ in 0..<5 { x = x &* (2 &- t &* x) }
        return x
    }

    /// (high · 2^64 + low) · 2^(-64) mod t for high < t (Montgomery reduction), in [0, t).
    @inline(__always)
    static func montgomeryReduce(high: UInt64, low: UInt64, _ t: UInt64, _ tInverse: UInt64) -> UInt64 {
        let m = low &* tInverse
        let r = high &- m.multipliedFullWidth(by: t).high  // in (−t, t): low words cancel exactly
        return Int64(bitPattern: r) < 0 ? r &+ t : r
    }

    /// - Parameter scaleOutputByWord: multiply every output by 2^64 mod t (ModUp for the
    ///   Montgomery inner product of key switching), at no cost: folded into the constants.
    /// out[c] = Σ_i y[i·n + c] · row[i] · 2^(-64) mod t for c < n (Montgomery; see `montgomery`).
    @inline(__always)
    static func montgomeryRow(
        _ k: Int, _ y: UnsafeMutablePointer<UInt64>, _ n: Int, _ row: UnsafeMutablePointer<UInt64>,
        _ out: UnsafeMutablePointer<UInt64>, _ t: UInt64, _ tInverse: UInt64
    ) {
        for c in 0..<n {
            var high: UInt64 = 0
            var low: UInt64 = 0
            for i in 0..<k {
                let p = y[i &* n &+ c].multipliedFullWidth(by: row[i])
                let (s, overflow) = low.addingReportingOverflow(p.low)
                low = s
                high &+= p.high &+ (overflow ? 1 : 0)
            }
            out[c] = montgomeryReduce(high: high, low: low, t, tInverse)
        }
    }

    init(source: [Modulus], targets: [Modulus], scaleOutputByWord: Bool = false) {
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
                puncturedProducts[t * source.count + i] =
                    scaleOutputByWord ? modulus.multiply(product, modulus.reduce(high: 1, low: 0)) : product
            }
        }
        var sum: UInt64 = 0
        var fits = true
        for q in source {
            let (s, o) = sum.addingReportingOverflow(q.value)
            sum = s
            if o { fits = false }
        }
        montgomery = fits && source.count > 1
        targetInverses = targets.map { BasisConverter.inverseModWord($0.value) }
        targetValues = targets.map(\.value)
        puncturedProductsMontgomery = .allocate(capacity: max(1, source.count * targets.count))
        for (t, modulus) in targets.enumerated() {
            let r = modulus.reduce(high: 1, low: 0)  // 2^64 mod t
            for i in 0..<source.count {
                puncturedProductsMontgomery[t * source.count + i] = modulus.multiply(puncturedProducts[t * source.count + i], r)
            }
        }
    }

    deinit {
        puncturedProducts.deallocate()
        puncturedProductsMontgomery.deallocate()
    }

    /// Converts N coefficients. `input[i]` points to the limb of source modulus i (coefficient form,
    /// values in [0, 2q_i)); `output[j]` receives the limb for target j in [0, t_j).
    /// `scratch` must hold source.count · N words. `portable` skips the AVX-512 kernel (tests compare the two).
    @usableFromInline
    func convert(
        input: [UnsafeMutablePointer<UInt64>], output: [UnsafeMutablePointer<UInt64>],
        degree n: Int, scratch: UnsafeMutablePointer<UInt64>, executor: ParallelExecutor,
        targetCount: Int? = nil, portable: Bool = false
    ) {
        let k = source.count
        if k == 1 && puncturedInverse[0] == 1 {
            // One source prime and unscaled output (one-prime digits, e.g. dnum = L + 1, or a single
            // special prime): the conversion is exact, [x]_q mod t. When q ≤ t that is [x]_q itself,
            // else one 64-bit Barrett reduction per coefficient.
            let q = source[0].value
            let x = input[0]
            executor.forEach(targetCount ?? targets.count) { t in
                let modulus = self.targets[t]
                let out = output[t]
                if self.puncturedProducts[t] != 1 {
                    let f = self.puncturedProducts[t]
                    for c in 0..<n { let v = x[c]; out[c] = modulus.multiply(v >= q ? v &- q : v, f) }
                } else if q <= modulus.value {
                    for c in 0..<n { let v = x[c]; out[c] = v >= q ? v &- q : v }
                } else {
                    for c in 0..<n { let v = x[c]; out[c] = modulus.reduce(v >= q ? v &- q : v) }
                }
            }
            return
        }
        executor.forEach(k) { i in
            let q = self.source[i]
            let w = self.puncturedInverse[i]
            let ws = self.puncturedInverseShoup[i]
            let x = input[i]
            let y = scratch + i * n
            for c in 0..<n { y[c] = q.multiplyShoup(x[c], w, ws) }
        }
        let targetTotal = targetCount ?? targets.count
        if montgomery && k > 1 && NTTTables.vectorKernels && !portable {
            // The AVX-512 IFMA kernel computes every target row of `montgomeryRow` in one pass over the
            // scratch (same words); with several workers each takes a contiguous block of targets.
            let chunks = min(executor.threads, targetTotal)
            let chunkSize = (targetTotal + chunks - 1) / chunks
            output.withUnsafeBufferPointer { outputs in
                targetValues.withUnsafeBufferPointer { values in
                    targetInverses.withUnsafeBufferPointer { inverses in
                        executor.forEach(chunks) { chunk in
                            let first = chunk * chunkSize
                            let count = min(chunkSize, targetTotal - first)
                            guard count > 0 else { return }
                            outputs.baseAddress!.advanced(by: first).withMemoryRebound(
                                to: Optional<UnsafeMutablePointer<UInt64>>.self, capacity: count
                            ) { outs in
                                tessera_convert_montgomery(
                                    scratch, Int32(k), n, Int32(count), self.puncturedProductsMontgomery + first * k, outs,
                                    values.baseAddress! + first, inverses.baseAddress! + first)
                            }
                        }
                    }
                }
            }
            return
        }
        executor.forEach(targetTotal) { t in
            let modulus = self.targets[t]
            let row = self.puncturedProducts + t * k
            let out = output[t]
            if k == 1 {
                let f = row[0]
                for c in 0..<n { out[c] = modulus.multiply(scratch[c], f) }
                return
            }
            if self.montgomery {
                let mrow = self.puncturedProductsMontgomery + t * k
                let tv = modulus.value
                let tInverse = self.targetInverses[t]
                // Constant source counts get a fully unrolled accumulation (no inner loop overhead).
                switch k {
                case 2: BasisConverter.montgomeryRow(2, scratch, n, mrow, out, tv, tInverse)
                case 3: BasisConverter.montgomeryRow(3, scratch, n, mrow, out, tv, tInverse)
                case 4: BasisConverter.montgomeryRow(4, scratch, n, mrow, out, tv, tInverse)
                case 5: BasisConverter.montgomeryRow(5, scratch, n, mrow, out, tv, tInverse)
                case 6: BasisConverter.montgomeryRow(6, scratch, n, mrow, out, tv, tInverse)
                case 7: BasisConverter.montgomeryRow(7, scratch, n, mrow, out, tv, tInverse)
                case 8: BasisConverter.montgomeryRow(8, scratch, n, mrow, out, tv, tInverse)
                default: BasisConverter.montgomeryRow(k, scratch, n, mrow, out, tv, tInverse)
                }
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
