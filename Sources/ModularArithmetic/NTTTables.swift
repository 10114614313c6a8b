import CModularKernels
import Foundation

/// Precomputed tables for the negacyclic number-theoretic transform over Z_q[X]/(X^N + 1).
///
/// Forward: Cooley–Tukey with Harvey's lazy butterflies (values kept in [0, 4q)) and Shoup
/// twiddles stored in bit-reversed order; the output is in bit-reversed order: output index j
/// holds the evaluation at ψ^(2·bitrev(j)+1). Inverse: Gentleman–Sande, values in [0, 2q), with the
/// final multiplication by N^(-1) folded into the last stage's scaling.
public final class NTTTables: @unchecked Sendable {
    public let modulus: Modulus
    public let degree: Int
    public let logDegree: Int
    /// Primitive 2N-th root of unity ψ.
    public let root: UInt64
    @usableFromInline let rootPowers: UnsafeMutablePointer<UInt64>
    @usableFromInline let rootPowersShoup: UnsafeMutablePointer<UInt64>
    @usableFromInline let inverseRootPowers: UnsafeMutablePointer<UInt64>
    @usableFromInline let inverseRootPowersShoup: UnsafeMutablePointer<UInt64>
    public let inverseDegree: UInt64
    public let inverseDegreeShoup: UInt64
    /// The last inverse stage's twiddle times N^(-1), and its Shoup companion.
    let lastInverseTwiddle: UInt64
    let lastInverseTwiddleShoup: UInt64

    /// - Parameters: degree N (power of two ≥ 2), a prime q ≡ 1 (mod 2N).
    public init(degree: Int, modulus: Modulus) throws(ModularArithmeticError) {
        precondition(degree >= 2 && degree & (degree - 1) == 0, "degree must be a power of two")
        self.degree = degree
        self.modulus = modulus
        logDegree = degree.trailingZeroBitCount
        root = try PrimeGenerator.primitiveRoot(order: 2 * degree, modulus: modulus)
        let q = modulus
        let inverseRoot = q.inverse(root)!
        rootPowers = .allocate(capacity: degree)
        rootPowersShoup = .allocate(capacity: degree)
        inverseRootPowers = .allocate(capacity: degree)
        inverseRootPowersShoup = .allocate(capacity: degree)
        var power: UInt64 = 1
        var inversePower: UInt64 = 1
        for i in 0..<degree {
            let j = NTTTables.bitReverse(i, bits: logDegree)
            rootPowers[j] = power
            inverseRootPowers[j] = inversePower
            power = q.multiply(power, root)
            inversePower = q.multiply(inversePower, inverseRoot)
        }
        for i in 0..<degree {
            rootPowersShoup[i] = q.shoupPrecompute(rootPowers[i])
            inverseRootPowersShoup[i] = q.shoupPrecompute(inverseRootPowers[i])
        }
        inverseDegree = q.inverse(UInt64(degree))!
        inverseDegreeShoup = q.shoupPrecompute(inverseDegree)
        lastInverseTwiddle = q.multiply(inverseRootPowers[1], inverseDegree)
        lastInverseTwiddleShoup = q.shoupPrecompute(lastInverseTwiddle)
    }

    deinit {
        rootPowers.deallocate()
        rootPowersShoup.deallocate()
        inverseRootPowers.deallocate()
        inverseRootPowersShoup.deallocate()
    }

    @inlinable
    public static func bitReverse(_ x: Int, bits: Int) -> Int {
        var r = 0
        var v = x
        for _ in 0..<bits {
            r = (r << 1) | (v & 1)
            v >>= 1
        }
        return r
    }

    /// ψ^(bitrev(i)) — the twiddle used by stage/group index i.
    public func rootPower(bitReversedIndex i: Int) -> UInt64 { rootPowers[i] }

    /// In-place forward negacyclic NTT. Input in [0, q) (any value < 2q is accepted); output in [0, q),
    /// bit-reversed order.
    @inlinable
    public func forward(_ a: UnsafeMutablePointer<UInt64>) {
        forwardLazy(a)
        let q = modulus.value
        let twoQ = q &<< 1
        for i in 0..<degree {
            var x = a[i]
            if x >= twoQ { x &-= twoQ }
            if x >= q { x &-= q }
            a[i] = x
        }
    }

    /// Whether this process runs the AVX-512 NTT kernels (CModularKernels) instead of the portable Swift loops.
    /// Both compute the same words; set `TESSERA_PORTABLE_KERNELS=1` to force the Swift loops.
    public static let vectorKernels: Bool =
        tessera_kernels_available() != 0 && ProcessInfo.processInfo.environment["TESSERA_PORTABLE_KERNELS"] == nil

    /// Forward NTT leaving values in [0, 4q). Input < 4q. Runs the AVX-512 kernel where the CPU has it
    /// (N ≥ 32), otherwise `forwardLazyPortable`; the two give identical words.
    public func forwardLazy(_ a: UnsafeMutablePointer<UInt64>) {
        if NTTTables.vectorKernels && logDegree >= 5 {
            tessera_ntt_forward_lazy(a, rootPowers, rootPowersShoup, modulus.value, Int32(logDegree))
        } else {
            forwardLazyPortable(a)
        }
    }

    /// The forward NTT in Swift, values left in [0, 4q).
    ///
    /// Stages are fused in pairs (radix 4): each pass loads four values, applies the two
    /// butterflies of stage m and the two of stage 2m in registers and stores them, halving the
    /// memory traffic of the radix-2 loop. An odd stage count starts with one radix-2 stage.
    public func forwardLazyPortable(_ a: UnsafeMutablePointer<UInt64>) {
        let q = modulus.value
        let twoQ = q &<< 1
        let n = degree
        var t = n >> 1
        var m = 1
        if logDegree & 1 == 1 {
            let w = rootPowers[1]
            let wShoup = rootPowersShoup[1]
            let y = a + t
            for j in 0..<t { Self.butterfly(a + j, y + j, w, wShoup, q, twoQ) }
            m = 2
            t >>= 1
        }
        while m < n {
            // Stages m and 2m over blocks of 2t: groups i of stage m, sub-groups 2i, 2i + 1 of stage 2m.
            let half = t >> 1
            for i in 0..<m {
                let w1 = rootPowers[m + i], w1s = rootPowersShoup[m + i]
                let w2 = rootPowers[2 &* m + 2 &* i], w2s = rootPowersShoup[2 &* m + 2 &* i]
                let w3 = rootPowers[2 &* m + 2 &* i + 1], w3s = rootPowersShoup[2 &* m + 2 &* i + 1]
                let p0 = a + 2 &* i &* t
                let p1 = p0 + half, p2 = p0 + t, p3 = p2 + half
                for j in 0..<half {
                    var x0 = p0[j], x1 = p1[j], x2 = p2[j], x3 = p3[j]
                    (x0, x2) = Self.butterflyValues(x0, x2, w1, w1s, q, twoQ)
                    (x1, x3) = Self.butterflyValues(x1, x3, w1, w1s, q, twoQ)
                    (x0, x1) = Self.butterflyValues(x0, x1, w2, w2s, q, twoQ)
                    (x2, x3) = Self.butterflyValues(x2, x3, w3, w3s, q, twoQ)
                    p0[j] = x0; p1[j] = x1; p2[j] = x2; p3[j] = x3
                }
            }
            m &<<= 2
            t &>>= 2
        }
    }

    @inlinable @inline(__always)
    static func butterflyValues(
        _ x: UInt64, _ y: UInt64, _ w: UInt64, _ wShoup: UInt64, _ q: UInt64, _ twoQ: UInt64
    ) -> (UInt64, UInt64) {
        let u = x >= twoQ ? x &- twoQ : x
        let h = y.multipliedFullWidth(by: wShoup).high
        let tw = y &* w &- h &* q  // [0, 2q)
        return (u &+ tw, u &+ twoQ &- tw)
    }

    @inlinable @inline(__always)
    static func inverseButterflyValues(
        _ x: UInt64, _ y: UInt64, _ w: UInt64, _ wShoup: UInt64, _ q: UInt64, _ twoQ: UInt64
    ) -> (UInt64, UInt64) {
        let s = x &+ y
        let d = x &+ twoQ &- y
        let h = d.multipliedFullWidth(by: wShoup).high
        return (s >= twoQ ? s &- twoQ : s, d &* w &- h &* q)
    }

    @inlinable @inline(__always)
    static func butterfly(
        _ x: UnsafeMutablePointer<UInt64>, _ y: UnsafeMutablePointer<UInt64>,
        _ w: UInt64, _ wShoup: UInt64, _ q: UInt64, _ twoQ: UInt64
    ) {
        var u = x.pointee
        if u >= twoQ { u &-= twoQ }
        let v = y.pointee
        let h = v.multipliedFullWidth(by: wShoup).high
        let tw = v &* w &- h &* q  // [0, 2q)
        x.pointee = u &+ tw
        y.pointee = u &+ twoQ &- tw
    }

    /// In-place inverse negacyclic NTT. Input in [0, 2q), bit-reversed order; output in [0, q).
    @inlinable
    public func inverse(_ a: UnsafeMutablePointer<UInt64>) {
        inverseLazy(a)
        let q = modulus.value
        for i in 0..<degree {
            let x = a[i]
            a[i] = x >= q ? x &- q : x
        }
    }

    /// Inverse NTT leaving values in [0, 2q). Input < 2q. Runs the AVX-512 kernel where the CPU has it
    /// (N ≥ 32), otherwise `inverseLazyPortable`; the two give identical words.
    public func inverseLazy(_ a: UnsafeMutablePointer<UInt64>) {
        if NTTTables.vectorKernels && logDegree >= 5 {
            tessera_ntt_inverse_lazy(
                a, inverseRootPowers, inverseRootPowersShoup, modulus.value, Int32(logDegree),
                inverseDegree, inverseDegreeShoup, lastInverseTwiddle, lastInverseTwiddleShoup)
        } else {
            inverseLazyPortable(a)
        }
    }

    /// The inverse NTT in Swift, values left in [0, 2q).
    ///
    /// Stages n/2 … 2 are fused in pairs (radix 4) like the forward transform; the last stage is
    /// fused with the scaling by N^(-1).
    public func inverseLazyPortable(_ a: UnsafeMutablePointer<UInt64>) {
        let q = modulus.value
        let twoQ = q &<< 1
        let n = degree
        var t = 1
        var m = n >> 1
        while m > 2 {
            // Stages m (pairs at distance t) and m/2 (distance 2t) over blocks of 4t.
            let groups = m >> 1
            for i in 0..<groups {
                let wa = inverseRootPowers[m + 2 &* i], was = inverseRootPowersShoup[m + 2 &* i]
                let wb = inverseRootPowers[m + 2 &* i + 1], wbs = inverseRootPowersShoup[m + 2 &* i + 1]
                let wc = inverseRootPowers[groups + i], wcs = inverseRootPowersShoup[groups + i]
                let p0 = a + 4 &* i &* t
                let p1 = p0 + t, p2 = p1 + t, p3 = p2 + t
                for j in 0..<t {
                    var x0 = p0[j], x1 = p1[j], x2 = p2[j], x3 = p3[j]
                    (x0, x1) = Self.inverseButterflyValues(x0, x1, wa, was, q, twoQ)
                    (x2, x3) = Self.inverseButterflyValues(x2, x3, wb, wbs, q, twoQ)
                    (x0, x2) = Self.inverseButterflyValues(x0, x2, wc, wcs, q, twoQ)
                    (x1, x3) = Self.inverseButterflyValues(x1, x3, wc, wcs, q, twoQ)
                    p0[j] = x0; p1[j] = x1; p2[j] = x2; p3[j] = x3
                }
            }
            m &>>= 2
            t &<<= 2
        }
        if m == 2 {
            for i in 0..<2 {
                let w = inverseRootPowers[2 + i]
                let wShoup = inverseRootPowersShoup[2 + i]
                let x = a + 2 &* i &* t
                let y = x + t
                for j in 0..<t { Self.inverseButterfly(x + j, y + j, w, wShoup, q, twoQ) }
            }
        }
        // Last stage (m = 1) fused with the scaling by N^(-1).
        let nInv = inverseDegree
        let nInvShoup = inverseDegreeShoup
        let wn = lastInverseTwiddle
        let wnShoup = lastInverseTwiddleShoup
        let half = n >> 1
        for j in 0..<half {
            let u = a[j]
            let v = a[j + half]
            var s = u &+ v
            if s >= twoQ { s &-= twoQ }
            a[j] = modulus.multiplyShoupLazy(s, nInv, nInvShoup)
            a[j + half] = modulus.multiplyShoupLazy(u &+ twoQ &- v, wn, wnShoup)
        }
    }

    @inlinable @inline(__always)
    static func inverseButterfly(
        _ x: UnsafeMutablePointer<UInt64>, _ y: UnsafeMutablePointer<UInt64>,
        _ w: UInt64, _ wShoup: UInt64, _ q: UInt64, _ twoQ: UInt64
    ) {
        let u = x.pointee
        let v = y.pointee
        var s = u &+ v
        if s >= twoQ { s &-= twoQ }
        x.pointee = s
        let d = u &+ twoQ &- v
        let h = d.multipliedFullWidth(by: wShoup).high
        y.pointee = d &* w &- h &* q
    }
}
