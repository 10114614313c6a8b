// Modular arithmetic: moduli with precomputed Barrett and Shoup constants.

/// An odd modulus `q` with 2 ≤ q < 2^61 and the constants that make reduction division-free.
///
/// Barrett: `barrettHigh:barrettLow = floor(2^128 / q)` reduces any 128-bit value,
/// `barrett64 = floor(2^64 / q)` reduces any 64-bit value.
/// Shoup: for a fixed multiplicand `w < q`, `w' = floor(w · 2^64 / q)` turns `x · w mod q` into two
/// multiplications and one subtraction (`mulShoupLazy` returns a value in [0, 2q)).
@frozen
public struct Modulus: Sendable, Hashable, CustomStringConvertible {
    /// The modulus q (2 ≤ q < 2^61).
    public let value: UInt64
    /// High word of floor(2^128 / q).
    public let barrettHigh: UInt64
    /// Low word of floor(2^128 / q).
    public let barrettLow: UInt64
    /// floor(2^64 / q).
    public let barrett64: UInt64
    /// Number of significant bits of q.
    public let bitWidth: Int
    /// floor(2^(63 + bitWidth) / q) < 2^64 (0 for q < 4 or a power of two): the one-word Barrett
    /// constant of `reduceProduct`.
    public let productBarrett: UInt64

    /// Largest supported modulus (exclusive): lazy NTT butterflies keep values below 4q < 2^63.
    public static let maximumValue: UInt64 = 1 << 61

    public init(_ value: UInt64) {
        precondition(value >= 2 && value < Modulus.maximumValue, "modulus \(value) outside [2, 2^61)")
        self.value = value
        // Long division of 2^128 by q, one word at a time.
        let (h, r1) = value.dividingFullWidth((high: 1 % value, low: 0))
        let (l, _) = value.dividingFullWidth((high: r1, low: 0))
        barrettHigh = h
        barrettLow = l
        barrett64 = h  // floor(2^64 / q) since q ≥ 2
        bitWidth = UInt64.bitWidth - value.leadingZeroBitCount
        // 2^(63 + b) / q: the dividend's high word is 2^(b − 1); below 2^64 unless q is a power of two.
        if bitWidth >= 3 && value & (value &- 1) != 0 {
            productBarrett = value.dividingFullWidth((high: UInt64(1) << (bitWidth - 1), low: 0)).quotient
        } else {
            productBarrett = 0
        }
    }

    public var description: String { "Modulus(\(value))" }

    // MARK: reduction

    /// x mod q for any 64-bit x.
    @inlinable @inline(__always)
    public func reduce(_ x: UInt64) -> UInt64 {
        let estimate = x.multipliedFullWidth(by: barrett64).high
        let r = x &- estimate &* value
        return r >= value ? r &- value : r
    }

    /// (high · 2^64 + low) mod q for any 128-bit value.
    @inlinable @inline(__always)
    public func reduce(high: UInt64, low: UInt64) -> UInt64 {
        // floor(x · floor(2^128/q) / 2^128) computed without the lowest partial product; it
        // underestimates the quotient by at most 2, hence two conditional subtractions.
        let carry0 = low.multipliedFullWidth(by: barrettLow).high
        let p1 = low.multipliedFullWidth(by: barrettHigh)
        let (t1, c1) = p1.low.addingReportingOverflow(carry0)
        let t3 = p1.high &+ (c1 ? 1 : 0)
        let p2 = high.multipliedFullWidth(by: barrettLow)
        let (_, c2) = t1.addingReportingOverflow(p2.low)
        let carry = p2.high &+ (c2 ? 1 : 0)
        let quotient = high &* barrettHigh &+ t3 &+ carry
        var r = low &- quotient &* value
        if r >= value { r &-= value }
        if r >= value { r &-= value }
        return r
    }

    /// (high · 2^64 + low) mod q for values below 2^(2·bitWidth + 2): a product of two values below
    /// 2q, or a sum of two products of residues below q. One-word Barrett: with b = bitWidth,
    /// x' = floor(x / 2^(b−1)) < 2^(b+3) ≤ 2^64 and the quotient estimate mulhi(x', floor(2^(63+b)/q))
    /// is at most 3 below floor(x / q), so three conditional subtractions finish (4q < 2^63). One
    /// wide and one low multiplication instead of the three wide ones of `reduce(high:low:)`.
    @inlinable @inline(__always)
    public func reduceProduct(high: UInt64, low: UInt64) -> UInt64 {
        if productBarrett == 0 { return reduce(high: high, low: low) }
        let shift = UInt64(bitWidth &- 1)
        let top = (high &<< (64 &- shift)) | (low &>> shift)
        let estimate = top.multipliedFullWidth(by: productBarrett).high
        var r = low &- estimate &* value  // < 4q
        let twoQ = value &<< 1
        r = r >= twoQ ? r &- twoQ : r
        return r >= value ? r &- value : r
    }

    /// a · b mod q for a, b < 2q (see `reduceProduct`).
    @inlinable @inline(__always)
    public func multiplyReduced(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let p = a.multipliedFullWidth(by: b)
        return reduceProduct(high: p.high, low: p.low)
    }

    // MARK: arithmetic on canonical residues (inputs in [0, q))

    @inlinable @inline(__always)
    public func add(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let s = a &+ b
        return s >= value ? s &- value : s
    }

    @inlinable @inline(__always)
    public func subtract(_ a: UInt64, _ b: UInt64) -> UInt64 {
        a >= b ? a &- b : a &+ value &- b
    }

    @inlinable @inline(__always)
    public func negate(_ a: UInt64) -> UInt64 {
        a == 0 ? 0 : value &- a
    }

    /// a · b mod q (Barrett on the 128-bit product); a, b < 2^64 with a · b < 2^128.
    @inlinable @inline(__always)
    public func multiply(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let p = a.multipliedFullWidth(by: b)
        return reduce(high: p.high, low: p.low)
    }

    /// Shoup constant floor(w · 2^64 / q) for a multiplicand w < q.
    @inlinable
    public func shoupPrecompute(_ w: UInt64) -> UInt64 {
        precondition(w < value)
        return value.dividingFullWidth((high: w, low: 0)).quotient
    }

    /// x · w mod q in [0, 2q), for any 64-bit x, with `wShoup = shoupPrecompute(w)`.
    @inlinable @inline(__always)
    public func multiplyShoupLazy(_ x: UInt64, _ w: UInt64, _ wShoup: UInt64) -> UInt64 {
        let estimate = x.multipliedFullWidth(by: wShoup).high
        return x &* w &- estimate &* value
    }

    /// x · w mod q in [0, q), for any 64-bit x, with `wShoup = shoupPrecompute(w)`.
    @inlinable @inline(__always)
    public func multiplyShoup(_ x: UInt64, _ w: UInt64, _ wShoup: UInt64) -> UInt64 {
        let r = multiplyShoupLazy(x, w, wShoup)
        return r >= value ? r &- value : r
    }

    /// base^exponent mod q.
    @inlinable
    public func power(_ base: UInt64, _ exponent: UInt64) -> UInt64 {
        var result: UInt64 = 1 % value
        var b = reduce(base)
        var e = exponent
        while e > 0 {
            if e & 1 == 1 { result = multiply(result, b) }
            b = multiply(b, b)
            e >>= 1
        }
        return result
    }

    /// Multiplicative inverse of a mod q, or nil if gcd(a, q) ≠ 1.
    public func inverse(_ a: UInt64) -> UInt64? {
        var t: Int128 = 0, newT: Int128 = 1
        var r = Int128(value), newR = Int128(reduce(a))
        while newR != 0 {
            let quotient = r / newR
            (t, newT) = (newT, t - quotient * newT)
            (r, newR) = (newR, r - quotient * newR)
        }
        if r != 1 { return nil }
        if t < 0 { t += Int128(value) }
        return UInt64(t)
    }

    /// The residue of a signed integer.
    @inlinable @inline(__always)
    public func reduce(signed x: Int64) -> UInt64 {
        if x >= 0 { return reduce(UInt64(x)) }
        let r = reduce(UInt64(bitPattern: 0 &- x))
        return negate(r)
    }

    /// Centered representative in (−q/2, q/2].
    @inlinable @inline(__always)
    public func centered(_ a: UInt64) -> Int64 {
        a > value >> 1 ? Int64(bitPattern: a &- value) : Int64(a)
    }
}
