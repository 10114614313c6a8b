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

    /// Forward NTT leaving values in [0, 4q). Input < 2q.
    @inlinable
    public func forwardLazy(_ a: UnsafeMutablePointer<UInt64>) {
        let q = modulus.value
        let twoQ = q &<< 1
        let n = degree
        var t = n >> 1
        var m = 1
        while m < n {
            if t >= 4 {
                for i in 0..<m {
                    let w = rootPowers[m + i]
                    let wShoup = rootPowersShoup[m + i]
                    var x = a + 2 * i * t
                    var y = x + t
                    for _ in 0..<(t >> 2) {
                        Self.butterfly(x, y, w, wShoup, q, twoQ)
                        Self.butterfly(x + 1, y + 1, w, wShoup, q, twoQ)
                        Self.butterfly(x + 2, y + 2, w, wShoup, q, twoQ)
                        Self.butterfly(x + 3, y + 3, w, wShoup, q, twoQ)
                        x += 4
                        y += 4
                    }
                }
            } else {
                for i in 0..<m {
                    let w = rootPowers[m + i]
                    let wShoup = rootPowersShoup[m + i]
                    let x = a + 2 * i * t
                    let y = x + t
                    for j in 0..<t {
                        Self.butterfly(x + j, y + j, w, wShoup, q, twoQ)
                    }
                }
            }
            m &<<= 1
            t &>>= 1
        }
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

    /// Inverse NTT leaving values in [0, 2q).
    @inlinable
    public func inverseLazy(_ a: UnsafeMutablePointer<UInt64>) {
        let q = modulus.value
        let twoQ = q &<< 1
        let n = degree
        var t = 1
        var m = n >> 1
        while m > 1 {
            if t >= 4 {
                for i in 0..<m {
                    let w = inverseRootPowers[m + i]
                    let wShoup = inverseRootPowersShoup[m + i]
                    var x = a + 2 * i * t
                    var y = x + t
                    for _ in 0..<(t >> 2) {
                        Self.inverseButterfly(x, y, w, wShoup, q, twoQ)
                        Self.inverseButterfly(x + 1, y + 1, w, wShoup, q, twoQ)
                        Self.inverseButterfly(x + 2, y + 2, w, wShoup, q, twoQ)
                        Self.inverseButterfly(x + 3, y + 3, w, wShoup, q, twoQ)
                        x += 4
                        y += 4
                    }
                }
            } else {
                for i in 0..<m {
                    let w = inverseRootPowers[m + i]
                    let wShoup = inverseRootPowersShoup[m + i]
                    let x = a + 2 * i * t
                    let y = x + t
                    for j in 0..<t {
                        Self.inverseButterfly(x + j, y + j, w, wShoup, q, twoQ)
                    }
                }
            }
            m &>>= 1
            t &<<= 1
        }
        // Last stage (m = 1) fused with the scaling by N^(-1).
        let w = inverseRootPowers[1]
        let nInv = inverseDegree
        let nInvShoup = inverseDegreeShoup
        let wn = modulus.multiply(w, nInv)
        let wnShoup = modulus.shoupPrecompute(wn)
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
