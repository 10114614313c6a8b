import Foundation
import ModularArithmetic

/// ChaCha20-based cryptographically secure generator. Seeded from the system generator by
/// default, or from an explicit 32-byte seed (deterministic: tests, reproducible keys).
public struct ChaChaRandom: RandomNumberGenerator, Sendable {
    private var key: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32)
    private var counter: UInt64 = 0
    private var buffer: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
    private var index = 8

    /// Seeds from the operating system's generator.
    public init() {
        var system = SystemRandomNumberGenerator()
        var words: [UInt64] = []
        for _ in 0..<4 { words.append(system.next()) }
        self.init(seedWords: words)
    }

    /// Deterministic generator from four 64-bit seed words.
    public init(seedWords: [UInt64]) {
        precondition(seedWords.count == 4)
        func lo(_ x: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: x) }
        func hi(_ x: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: x >> 32) }
        key = (lo(seedWords[0]), hi(seedWords[0]), lo(seedWords[1]), hi(seedWords[1]),
               lo(seedWords[2]), hi(seedWords[2]), lo(seedWords[3]), hi(seedWords[3]))
    }

    /// Deterministic generator from a 64-bit seed (tests).
    public init(seed: UInt64) {
        self.init(seedWords: [seed, 0x9E37_79B9_7F4A_7C15, ~seed, 0x5851_F42D_4C95_7F2D])
    }

    @inline(__always)
    private static func quarter(_ a: inout UInt32, _ b: inout UInt32, _ c: inout UInt32, _ d: inout UInt32) {
        a &+= b; d ^= a; d = (d << 16) | (d >> 16)
        c &+= d; b ^= c; b = (b << 12) | (b >> 20)
        a &+= b; d ^= a; d = (d << 8) | (d >> 24)
        c &+= d; b ^= c; b = (b << 7) | (b >> 25)
    }

    private mutating func refill() {
        let c0: UInt32 = 0x6170_7865, c1: UInt32 = 0x3320_646e, c2: UInt32 = 0x7962_2d32, c3: UInt32 = 0x6b20_6574
        var x0 = c0, x1 = c1, x2 = c2, x3 = c3
        var x4 = key.0, x5 = key.1, x6 = key.2, x7 = key.3
        var x8 = key.4, x9 = key.5, x10 = key.6, x11 = key.7
        var x12 = UInt32(truncatingIfNeeded: counter), x13 = UInt32(truncatingIfNeeded: counter >> 32)
        var x14: UInt32 = 0, x15: UInt32 = 0
        let s = (x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15)
        for _ in 0..<10 {
            Self.quarter(&x0, &x4, &x8, &x12)
            Self.quarter(&x1, &x5, &x9, &x13)
            Self.quarter(&x2, &x6, &x10, &x14)
            Self.quarter(&x3, &x7, &x11, &x15)
            Self.quarter(&x0, &x5, &x10, &x15)
            Self.quarter(&x1, &x6, &x11, &x12)
            Self.quarter(&x2, &x7, &x8, &x13)
            Self.quarter(&x3, &x4, &x9, &x14)
        }
        x0 &+= s.0; x1 &+= s.1; x2 &+= s.2; x3 &+= s.3; x4 &+= s.4; x5 &+= s.5; x6 &+= s.6; x7 &+= s.7
        x8 &+= s.8; x9 &+= s.9; x10 &+= s.10; x11 &+= s.11; x12 &+= s.12; x13 &+= s.13; x14 &+= s.14; x15 &+= s.15
        func w(_ a: UInt32, _ b: UInt32) -> UInt64 { UInt64(a) | (UInt64(b) << 32) }
        buffer = (w(x0, x1), w(x2, x3), w(x4, x5), w(x6, x7), w(x8, x9), w(x10, x11), w(x12, x13), w(x14, x15))
        counter &+= 1
        index = 0
    }

    public mutating func next() -> UInt64 {
        if index == 8 { refill() }
        defer { index += 1 }
        switch index {
        case 0: return buffer.0
        case 1: return buffer.1
        case 2: return buffer.2
        case 3: return buffer.3
        case 4: return buffer.4
        case 5: return buffer.5
        case 6: return buffer.6
        default: return buffer.7
        }
    }
}

/// Samplers for the distributions of the scheme.
enum Sampler {
    /// Uniform residues in every limb of `poly` (any form: the uniform distribution is NTT-invariant).
    static func uniform<F>(_ poly: inout RNSPolynomial<F>, rng: inout ChaChaRandom) {
        poly.makeUnique()
        for i in 0..<poly.limbCount {
            let m = poly.modulus(i).value
            let mask = (UInt64(1) << (64 - m.leadingZeroBitCount)) &- 1
            let p = poly.limb(i)
            var c = 0
            while c < poly.degree {
                let x = rng.next() & mask
                if x < m { p[c] = x; c += 1 }
            }
        }
    }

    /// Ternary coefficients: uniform in {−1, 0, 1}, or exactly h nonzero ±1.
    static func ternary(degree n: Int, distribution: SecretDistribution, rng: inout ChaChaRandom) -> [Int64] {
        var out = [Int64](repeating: 0, count: n)
        switch distribution {
        case .uniformTernary:
            var i = 0
            while i < n {
                var bits = rng.next()
                for _ in 0..<32 where i < n {
                    let v = bits & 3
                    bits >>= 2
                    if v == 3 { continue }
                    out[i] = Int64(v) - 1
                    i += 1
                }
            }
        case let .sparseTernary(h):
            var positions = Array(0..<n)
            for k in 0..<h {
                let j = k + Int(rng.next() % UInt64(n - k))
                positions.swapAt(k, j)
                out[positions[k]] = rng.next() & 1 == 0 ? 1 : -1
            }
        }
        return out
    }

    /// Rounded Gaussian of standard deviation sigma, truncated at 6 sigma.
    static func gaussian(degree n: Int, standardDeviation sigma: Double, rng: inout ChaChaRandom) -> [Int64] {
        var out = [Int64](repeating: 0, count: n)
        let bound = 6 * sigma
        var i = 0
        while i < n {
            let u1 = (Double(rng.next() >> 11) + 1) * 0x1p-53
            let u2 = Double(rng.next() >> 11) * 0x1p-53
            let r = sigma * (-2 * Foundation.log(u1)).squareRoot()
            let a = r * Foundation.cos(2 * Double.pi * u2)
            let b = r * Foundation.sin(2 * Double.pi * u2)
            if abs(a) <= bound { out[i] = Int64(a.rounded()); i += 1 }
            if i < n && abs(b) <= bound { out[i] = Int64(b.rounded()); i += 1 }
        }
        return out
    }

    /// A polynomial in Evaluation form with the given small signed coefficients.
    static func evaluationPolynomial(
        _ coefficients: [Int64], ring: RNSRing, level: Int, withSpecialPrimes: Bool, executor: ParallelExecutor
    ) -> RNSPolynomial<Evaluation> {
        var p = RNSPolynomial<Coefficient>(ring: ring, level: level, withSpecialPrimes: withSpecialPrimes)
        p.setSigned(coefficients)
        return p.forwardNTT(executor: executor)
    }
}
