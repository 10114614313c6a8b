import CModularKernels
import Foundation
import ModularArithmetic

/// Reuses large scratch buffers across operations: fresh multi-megabyte allocations cost page
/// faults (the kernel zeroes every new page) on every key switch. Thread-safe. Idle buffers are
/// kept by size up to `idleByteLimit` bytes in all; past it the least recently returned are freed.
/// A double-hoisted transform at the top of a bootstrapping chain holds about twenty buffers of one
/// size at once, so a small per-size cap would free and refault most of them on every transform.
final class ScratchPool: @unchecked Sendable {
    private let lock = NSLock()
    private var idle: [Int: [UnsafeMutablePointer<UInt64>]] = [:]
    /// Sizes in the order their buffers were returned (oldest first), one entry per idle buffer.
    private var returnOrder: [Int] = []
    private var idleWords = 0
    let idleByteLimit: Int

    init(idleByteLimit: Int = 2048 << 20) {
        self.idleByteLimit = idleByteLimit
    }

    /// The capacity a request of `count` words is served with: above 2^16 words, `count` rounded up to a multiple
    /// of 2^(b−3) for a b-bit count (at most 25% more), so the buffers of neighbouring levels, which differ by a
    /// limb or a digit, share a size and a bootstrap's whole working set stays in the pool.
    static func sizeClass(_ count: Int) -> Int {
        guard count > 1 << 16 else { return count }
        let granule = 1 << (Int.bitWidth - count.leadingZeroBitCount - 3)
        return (count + granule - 1) & ~(granule - 1)
    }

    func take(_ count: Int) -> UnsafeMutablePointer<UInt64> {
        lock.lock()
        defer { lock.unlock() }
        if let p = idle[count]?.popLast() {
            idleWords -= count
            if let i = returnOrder.lastIndex(of: count) { returnOrder.remove(at: i) }
            return p
        }
        return .allocate(capacity: count)
    }

    func give(_ p: UnsafeMutablePointer<UInt64>, count: Int) {
        lock.lock()
        defer { lock.unlock() }
        let limit = idleByteLimit / 8
        guard count <= limit else {
            p.deallocate()
            return
        }
        // Free the oldest idle buffers until this one fits (every `returnOrder` entry has an idle buffer of its size).
        while idleWords + count > limit, let size = returnOrder.first {
            returnOrder.removeFirst()
            idle[size]!.removeFirst().deallocate()
            idleWords -= size
        }
        idle[count, default: []].append(p)
        returnOrder.append(count)
        idleWords += count
    }

    deinit {
        for list in idle.values { for p in list { p.deallocate() } }
    }
}

/// Scratch memory owned by one operation (returned to its pool, if any, when released).
final class WordBuffer {
    let words: UnsafeMutablePointer<UInt64>
    let count: Int
    let pool: ScratchPool?

    init(count: Int, pool: ScratchPool? = nil) {
        self.count = pool == nil ? max(count, 1) : ScratchPool.sizeClass(max(count, 1))
        self.pool = pool
        words = pool?.take(self.count) ?? .allocate(capacity: self.count)
    }

    deinit {
        if let pool { pool.give(words, count: count) } else { words.deallocate() }
    }
}

/// The ModUp decomposition of one polynomial at level ℓ: for each digit j, [c]_{Q_j} extended to
/// Q_ℓ·P, in Evaluation form. Shared by all rotations of a hoisted batch.
public final class KeySwitchDecomposition: @unchecked Sendable {
    public let level: Int
    public let digitCount: Int
    let limbsPerDigit: Int
    let degree: Int
    let buffer: WordBuffer
    /// Limbs hold (value · 2^64 mod q) in [0, 4q): the inner product then reduces with Montgomery.
    let scaledByWord: Bool

    init(level: Int, digitCount: Int, specialCount: Int, degree: Int, scaledByWord: Bool, pool: ScratchPool? = nil) {
        self.scaledByWord = scaledByWord
        self.level = level
        self.digitCount = digitCount
        limbsPerDigit = level + 1 + specialCount
        self.degree = degree
        buffer = WordBuffer(count: digitCount * limbsPerDigit * degree, pool: pool)
    }

    @inline(__always)
    func limb(_ digit: Int, _ index: Int) -> UnsafeMutablePointer<UInt64> {
        buffer.words + (digit * limbsPerDigit + index) * degree
    }
}

/// Hybrid key switching: ModUp (decompose), inner product with the key, ModDown.
struct KeySwitcher {
    let parameters: CKKSParameters
    let executor: ParallelExecutor
    let pool: ScratchPool

    var ring: RNSRing { parameters.ring }

    /// ModUp: c in Evaluation form at level ℓ → per digit, c mod Q_j extended to Q_ℓ·P.
    func decompose(_ c: RNSPolynomial<Evaluation>) -> KeySwitchDecomposition {
        let level = c.level
        let n = ring.degree
        let specialCount = ring.pModuli.count
        let digitCount = parameters.digitCount(atLevel: level)
        let scaled = parameters.montgomeryKeySwitch
        let result = KeySwitchDecomposition(
            level: level, digitCount: digitCount, specialCount: specialCount, degree: n, scaledByWord: scaled, pool: pool)
        let coefficients = WordBuffer(count: (level + 1) * n, pool: pool)
        let coeff = coefficients.words
        let qTables = ring.qTables
        executor.forEach(level + 1) { i in
            (coeff + i * n).update(from: c.limb(i), count: n)
            qTables[i].inverseLazy(coeff + i * n)  // [0, 2q): the conversion starts with a Shoup product, which accepts any word
        }
        let scratch = WordBuffer(count: parameters.digitSize * n, pool: pool)
        for digit in 0..<digitCount {
            let range = parameters.digitRange(digit, level: level)
            let converter = parameters.modUpConverters[level][digit]
            if scaled {
                executor.forEach(range.count) { r in
                    let i = range.lowerBound + r
                    let q = ring.qModuli[i]
                    let w = q.reduce(high: 1, low: 0)  // 2^64 mod q
                    let ws = q.shoupPrecompute(w)
                    let src = c.limb(i), dst = result.limb(digit, i)
                    for k in 0..<n { dst[k] = q.multiplyShoupLazy(src[k], w, ws) }  // [0, 2q)
                }
            } else {
                for i in range { result.limb(digit, i).update(from: c.limb(i), count: n) }
            }
            var outputs: [UnsafeMutablePointer<UInt64>] = []
            var tables: [NTTTables] = []
            for i in 0...level where !range.contains(i) {
                outputs.append(result.limb(digit, i))
                tables.append(qTables[i])
            }
            for k in 0..<specialCount {
                outputs.append(result.limb(digit, level + 1 + k))
                tables.append(ring.pTables[k])
            }
            let inputs = range.map { coeff + $0 * n }
            converter.convert(input: inputs, output: outputs, degree: n, scratch: scratch.words, executor: executor)
            // Lazy output in [0, 4q) is fine for the inner product's 128-bit accumulation while
            // digits · 4q · q < 2^128 (at least 8 digits for q < 2^61, 16 for q < 2^60).
            let lazy = parameters.lazyDecomposition(digits: digitCount)
            executor.forEach(outputs.count) { t in
                if lazy { tables[t].forwardLazy(outputs[t]) } else { tables[t].forward(outputs[t]) }
            }
        }
        return result
    }

    /// acc0 = Σ_j d_j·b_j, acc1 = Σ_j d_j·a_j over Q_ℓ·P (Evaluation form), with d_j optionally read
    /// through a Galois permutation (hoisted rotation). Lazy 128-bit accumulation, one reduction. `portable` skips
    /// the AVX-512 kernel (tests compare the two).
    func innerProduct(
        _ d: KeySwitchDecomposition, key: KeySwitchingKey, permutation: UnsafePointer<Int32>?,
        acc0: UnsafeMutablePointer<UInt64>, acc1: UnsafeMutablePointer<UInt64>, portable: Bool = false
    ) {
        let level = d.level
        let n = d.degree
        let digits = d.digitCount
        let keyQCount = key.b[0].qCount
        executor.forEach(d.limbsPerDigit) { t in
            let modulus = t <= level ? ring.qModuli[t] : ring.pModuli[t - level - 1]
            let keyLimb = t <= level ? t : keyQCount + (t - level - 1)
            let out0 = acc0 + t * n, out1 = acc1 + t * n
            withUnsafeTemporaryAllocation(of: UnsafeMutablePointer<UInt64>.self, capacity: 3 * digits) { ptrs in
                for j in 0..<digits {
                    ptrs[3 * j] = d.limb(j, t)
                    ptrs[3 * j + 1] = key.b[j].limb(keyLimb)
                    ptrs[3 * j + 2] = key.a[j].limb(keyLimb)
                }
                if d.scaledByWord {
                    // Σ_j d_j · k_j < 2q · 2^64 (see CKKSParameters.montgomeryKeySwitch); d_j carries a
                    // factor 2^64 that the Montgomery reduction removes.
                    Self.montgomeryProducts(
                        ptrs.baseAddress!, terms: digits, permutation: permutation, n: n, out0: out0, out1: out1,
                        q: modulus.value, portable: portable)
                } else if let perm = permutation {
                    for c in 0..<n {
                        let src = Int(perm[c])
                        var h0: UInt64 = 0, l0: UInt64 = 0, h1: UInt64 = 0, l1: UInt64 = 0
                        for j in 0..<digits {
                            let x = ptrs[3 * j][src]
                            let p0 = x.multipliedFullWidth(by: ptrs[3 * j + 1][c])
                            let p1 = x.multipliedFullWidth(by: ptrs[3 * j + 2][c])
                            let (s0, o0) = l0.addingReportingOverflow(p0.low)
                            l0 = s0; h0 &+= p0.high &+ (o0 ? 1 : 0)
                            let (s1, o1) = l1.addingReportingOverflow(p1.low)
                            l1 = s1; h1 &+= p1.high &+ (o1 ? 1 : 0)
                        }
                        out0[c] = modulus.reduce(high: h0, low: l0)
                        out1[c] = modulus.reduce(high: h1, low: l1)
                    }
                } else {
                    for c in 0..<n {
                        var h0: UInt64 = 0, l0: UInt64 = 0, h1: UInt64 = 0, l1: UInt64 = 0
                        for j in 0..<digits {
                            let x = ptrs[3 * j][c]
                            let p0 = x.multipliedFullWidth(by: ptrs[3 * j + 1][c])
                            let p1 = x.multipliedFullWidth(by: ptrs[3 * j + 2][c])
                            let (s0, o0) = l0.addingReportingOverflow(p0.low)
                            l0 = s0; h0 &+= p0.high &+ (o0 ? 1 : 0)
                            let (s1, o1) = l1.addingReportingOverflow(p1.low)
                            l1 = s1; h1 &+= p1.high &+ (o1 ? 1 : 0)
                        }
                        out0[c] = modulus.reduce(high: h0, low: l0)
                        out1[c] = modulus.reduce(high: h1, low: l1)
                    }
                }
            }
        }
    }

    /// out0[c] = Σ_j d_j[π(c)] · b_j[c] · 2^(-64), out1[c] = Σ_j d_j[π(c)] · a_j[c] · 2^(-64) mod q, in [0, q)
    /// (π = `permutation` or the identity) for `terms` triples (d_j, b_j, a_j) of limb pointers at `triples`:
    /// d_j < 4q, b_j and a_j < q, every sum below 2q · 2^64. Runs the AVX-512 IFMA kernel where the CPU has it
    /// (unless `portable`), else `montgomeryInnerRow`; both give the same words.
    static func montgomeryProducts(
        _ triples: UnsafeMutablePointer<UnsafeMutablePointer<UInt64>>, terms: Int, permutation: UnsafePointer<Int32>?,
        n: Int, out0: UnsafeMutablePointer<UInt64>, out1: UnsafeMutablePointer<UInt64>, q: UInt64, portable: Bool = false
    ) {
        let qInverse = BasisConverter.inverseModWord(q)
        if NTTTables.vectorKernels && !portable {
            withUnsafeTemporaryAllocation(of: Optional<UnsafePointer<UInt64>>.self, capacity: 3 * terms) { rows in
                for j in 0..<terms {
                    rows[j] = UnsafePointer(triples[3 * j])
                    rows[terms + j] = UnsafePointer(triples[3 * j + 1])
                    rows[2 * terms + j] = UnsafePointer(triples[3 * j + 2])
                }
                let base = rows.baseAddress!
                tessera_inner_product_montgomery(
                    Int32(terms), base, base + terms, base + 2 * terms, permutation, n, out0, out1, q, qInverse)
            }
            return
        }
        // Constant term counts get a fully unrolled loop.
        switch terms {
        case 1: montgomeryInnerRow(1, triples, permutation, n, out0, out1, q, qInverse)
        case 2: montgomeryInnerRow(2, triples, permutation, n, out0, out1, q, qInverse)
        case 3: montgomeryInnerRow(3, triples, permutation, n, out0, out1, q, qInverse)
        case 4: montgomeryInnerRow(4, triples, permutation, n, out0, out1, q, qInverse)
        default: montgomeryInnerRow(terms, triples, permutation, n, out0, out1, q, qInverse)
        }
    }

    /// out0[c] = Σ_j d_j[π(c)] · b_j[c], out1[c] = Σ_j d_j[π(c)] · a_j[c] (π = permutation or identity)
    /// with d_j scaled by 2^64 and a Montgomery reduction: each sum stays below 2q · 2^64
    /// (CKKSParameters.montgomeryKeySwitch). `ptrs` holds (d_j, b_j, a_j) limb pointers.
    @inline(__always)
    static func montgomeryInnerRow(
        _ digits: Int, _ ptrs: UnsafeMutablePointer<UnsafeMutablePointer<UInt64>>, _ permutation: UnsafePointer<Int32>?,
        _ n: Int, _ out0: UnsafeMutablePointer<UInt64>, _ out1: UnsafeMutablePointer<UInt64>, _ q: UInt64, _ qInverse: UInt64
    ) {
        @inline(__always) func reduce(_ h: UInt64, _ l: UInt64) -> UInt64 {
            let m = l &* qInverse
            var r = h &- m.multipliedFullWidth(by: q).high  // (−q, 2q)
            r &+= UInt64(bitPattern: Int64(bitPattern: r) >> 63) & q  // [0, 2q)
            return r >= q ? r &- q : r
        }
        @inline(__always) func body(_ c: Int, _ src: Int) {
            var h0: UInt64 = 0, l0: UInt64 = 0, h1: UInt64 = 0, l1: UInt64 = 0
            for j in 0..<digits {
                let x = ptrs[3 &* j][src]
                let p0 = x.multipliedFullWidth(by: ptrs[3 &* j &+ 1][c])
                let p1 = x.multipliedFullWidth(by: ptrs[3 &* j &+ 2][c])
                let (s0, o0) = l0.addingReportingOverflow(p0.low)
                l0 = s0; h0 &+= p0.high &+ (o0 ? 1 : 0)
                let (s1, o1) = l1.addingReportingOverflow(p1.low)
                l1 = s1; h1 &+= p1.high &+ (o1 ? 1 : 0)
            }
            out0[c] = reduce(h0, l0)
            out1[c] = reduce(h1, l1)
        }
        if let perm = permutation {
            for c in 0..<n { body(c, Int(perm[c])) }
        } else {
            for c in 0..<n { body(c, c) }
        }
    }

    /// ModDown: x over Q_ℓ·P (Evaluation form, `level + 1 + K` limbs at `x`) ↦ round(x / P) over Q_ℓ,
    /// computed in the NTT domain (only the K special limbs leave it). Writes (or adds, if
    /// `accumulate`) into `out`'s limbs 0...level.
    func modDown(_ x: UnsafeMutablePointer<UInt64>, level: Int, into out: RNSPolynomial<Evaluation>, accumulate: Bool) {
        let n = ring.degree
        let k = ring.pModuli.count
        let table = parameters.modDownTable
        let special = WordBuffer(count: k * n, pool: pool)
        let converted = WordBuffer(count: (level + 1) * n, pool: pool)
        let scratch = WordBuffer(count: k * n, pool: pool)
        executor.forEach(k) { j in
            let p = special.words + j * n
            p.update(from: x + (level + 1 + j) * n, count: n)
            ring.pTables[j].inverse(p)
            // + floor(P/2) (a constant polynomial: coefficient 0 only) turns the floor into rounding.
            p[0] = ring.pModuli[j].add(p[0], table.halfPModP[j])
        }
        table.converter.convert(
            input: (0..<k).map { special.words + $0 * n },
            output: (0...level).map { converted.words + $0 * n },
            degree: n, scratch: scratch.words, executor: executor, targetCount: level + 1)
        executor.forEach(level + 1) { i in
            let q = ring.qModuli[i]
            let conv = converted.words + i * n
            ring.qTables[i].forwardLazy(conv)  // [0, 4q)
            let src = x + i * n
            let dst = out.limb(i)
            let w = table.inverseP[i], ws = table.inversePShoup[i]
            let qv = q.value
            let fourQPlusHalf = 4 &* qv &+ table.halfPModQ[i]
            if NTTTables.vectorKernels {
                tessera_scaled_difference(dst, src, conv, n, fourQPlusHalf, w, ws, qv, accumulate ? 1 : 0)
            } else if accumulate {
                for c in 0..<n {
                    let v = q.multiplyShoup(src[c] &+ fourQPlusHalf &- conv[c], w, ws)
                    let s = dst[c] &+ v
                    dst[c] = s >= qv ? s &- qv : s
                }
            } else {
                for c in 0..<n {
                    dst[c] = q.multiplyShoup(src[c] &+ fourQPlusHalf &- conv[c], w, ws)
                }
            }
        }
    }

    /// (out0, out1) (+)= KeySwitch(d) with `key`, optionally through a Galois permutation.
    func apply(
        _ d: KeySwitchDecomposition, key: KeySwitchingKey, permutation: UnsafePointer<Int32>?,
        out0: RNSPolynomial<Evaluation>, accumulate0: Bool, out1: RNSPolynomial<Evaluation>, accumulate1: Bool
    ) {
        let limbs = d.limbsPerDigit * d.degree
        let acc = WordBuffer(count: 2 * limbs, pool: pool)
        innerProduct(d, key: key, permutation: permutation, acc0: acc.words, acc1: acc.words + limbs)
        modDown(acc.words, level: d.level, into: out0, accumulate: accumulate0)
        modDown(acc.words + limbs, level: d.level, into: out1, accumulate: accumulate1)
    }
}
