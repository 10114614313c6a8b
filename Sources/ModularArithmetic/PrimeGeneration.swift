/// Errors of the arithmetic layer.
public enum ModularArithmeticError: Error, Equatable, CustomStringConvertible {
    /// Not enough primes q ≡ 1 (mod 2N) below 2^bits (ask for fewer primes or more bits).
    case notEnoughPrimes(bits: Int, degree: Int, requested: Int, found: Int)
    /// A prime's bit size is outside the supported range.
    case unsupportedBitSize(bits: Int, supported: ClosedRange<Int>)
    /// q has no primitive 2N-th root of unity (q ≢ 1 mod 2N).
    case noPrimitiveRoot(modulus: UInt64, order: Int)

    public var description: String {
        switch self {
        case let .notEnoughPrimes(bits, degree, requested, found):
            return "only \(found) of \(requested) primes of \(bits) bits with q ≡ 1 (mod \(2 * degree)) exist; use more bits or fewer primes"
        case let .unsupportedBitSize(bits, supported):
            return "prime bit size \(bits) is outside \(supported.lowerBound)...\(supported.upperBound)"
        case let .noPrimitiveRoot(modulus, order):
            return "modulus \(modulus) has no primitive \(order)-th root of unity; use a prime q ≡ 1 (mod \(order))"
        }
    }
}

public enum PrimeGenerator {
    /// Supported prime sizes in bits.
    public static let supportedBits: ClosedRange<Int> = 10...61

    /// Deterministic Miller–Rabin primality test, exact for all 64-bit integers.
    public static func isPrime(_ n: UInt64) -> Bool {
        if n < 2 { return false }
        let small: [UInt64] = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37]
        for p in small {
            if n % p == 0 { return n == p }
        }
        var d = n - 1
        var s = 0
        while d & 1 == 0 { d >>= 1; s += 1 }
        func mulmod(_ a: UInt64, _ b: UInt64) -> UInt64 {
            let p = a.multipliedFullWidth(by: b)
            return n.dividingFullWidth((high: p.high, low: p.low)).remainder
        }
        func powmod(_ b: UInt64, _ e: UInt64) -> UInt64 {
            var r: UInt64 = 1, base = b % n, e = e
            while e > 0 {
                if e & 1 == 1 { r = mulmod(r, base) }
                base = mulmod(base, base)
                e >>= 1
            }
            return r
        }
        witness: for a in small {
            var x = powmod(a, d)
            if x == 1 || x == n - 1 { continue }
            for _ in 1..<max(s, 1) {
                x = mulmod(x, x)
                if x == n - 1 { continue witness }
            }
            return false
        }
        return true
    }

    /// `count` distinct primes q < 2^bits with q ≡ 1 (mod 2·degree), descending from 2^bits,
    /// skipping any prime in `excluding`.
    public static func nttPrimes(
        bits: Int, count: Int, degree: Int, excluding: Set<UInt64> = []
    ) throws(ModularArithmeticError) -> [UInt64] {
        guard supportedBits.contains(bits) else {
            throw .unsupportedBitSize(bits: bits, supported: supportedBits)
        }
        let step = UInt64(2 * degree)
        let lowerBound: UInt64 = 1 << (bits - 1)
        var candidate = (UInt64(1) << bits) - step + 1  // largest value ≡ 1 mod 2N below 2^bits
        var primes: [UInt64] = []
        while primes.count < count && candidate > lowerBound {
            if !excluding.contains(candidate) && isPrime(candidate) { primes.append(candidate) }
            if candidate < step { break }
            candidate -= step
        }
        guard primes.count == count else {
            throw .notEnoughPrimes(bits: bits, degree: degree, requested: count, found: primes.count)
        }
        return primes
    }

    /// The smallest primitive `order`-th root of unity modulo the prime q (order a power of two).
    public static func primitiveRoot(order: Int, modulus q: Modulus) throws(ModularArithmeticError) -> UInt64 {
        let n = UInt64(order)
        guard (q.value - 1) % n == 0 else { throw .noPrimitiveRoot(modulus: q.value, order: order) }
        let cofactor = (q.value - 1) / n
        var best: UInt64? = nil
        // Find one primitive root g; all others are g^k for odd k. Pick the smallest for determinism.
        var x: UInt64 = 2
        while x < q.value {
            let g = q.power(x, cofactor)
            if q.power(g, n / 2) == q.value - 1 {
                best = g
                break
            }
            x += 1
        }
        guard let g = best else { throw .noPrimitiveRoot(modulus: q.value, order: order) }
        let g2 = q.multiply(g, g)
        var smallest = g
        var current = g
        for _ in 0..<(order / 2) {
            if current < smallest { smallest = current }
            current = q.multiply(current, g2)
        }
        return smallest
    }
}
