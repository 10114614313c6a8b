import Testing
@testable import ModularArithmetic

private struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct ModulusTests {
    static let moduli: [UInt64] = [3, 5, 7, 65537, 1_152_921_504_606_830_593, (1 << 61) - 1, 1_099_511_480_321, 2_305_843_009_213_616_129, (1 << 40) + 15]

    @Test(arguments: moduli)
    func arithmeticMatchesWideIntegers(q: UInt64) {
        let m = Modulus(q)
        var rng = SplitMix(state: q)
        for _ in 0..<2000 {
            let a = UInt64.random(in: 0..<q, using: &rng), b = UInt64.random(in: 0..<q, using: &rng)
            #expect(m.add(a, b) == UInt64((UInt128(a) + UInt128(b)) % UInt128(q)))
            #expect(m.subtract(a, b) == UInt64((UInt128(a) + UInt128(q) - UInt128(b)) % UInt128(q)))
            #expect(m.multiply(a, b) == UInt64(UInt128(a) * UInt128(b) % UInt128(q)))
            let wide = UInt128(rng.next()) << 64 | UInt128(rng.next())
            let r = m.reduce(high: UInt64(wide >> 64), low: UInt64(truncatingIfNeeded: wide))
            #expect(r == UInt64(wide % UInt128(q)))
            let x = rng.next()
            #expect(m.reduce(x) == x % q)
            let ws = m.shoupPrecompute(b)
            #expect(m.multiplyShoup(x, b, ws) == UInt64(UInt128(x) * UInt128(b) % UInt128(q)))
            let lazy = m.multiplyShoupLazy(x, b, ws)
            #expect(lazy < 2 * q && lazy % q == m.multiplyShoup(x, b, ws))
            // One-word Barrett on products of values below 2q and on sums of two canonical products.
            let a2 = UInt64.random(in: 0..<(2 * q), using: &rng), b2 = UInt64.random(in: 0..<(2 * q), using: &rng)
            #expect(m.multiplyReduced(a2, b2) == UInt64(UInt128(a2) * UInt128(b2) % UInt128(q)))
            let sum = UInt128(a) * UInt128(b) + UInt128(b) * UInt128(b)
            #expect(m.reduceProduct(high: UInt64(sum >> 64), low: UInt64(truncatingIfNeeded: sum)) == UInt64(sum % UInt128(q)))
        }
        // Extremes: the largest admissible inputs.
        let top = 2 * q - 1
        #expect(m.multiplyReduced(top, top) == UInt64(UInt128(top) * UInt128(top) % UInt128(q)))
    }

    @Test func inverseAndPower() {
        let m = Modulus(1_152_921_504_606_830_593)
        for a: UInt64 in [1, 2, 12345, 1_152_921_504_606_830_592] {
            let inv = m.inverse(a)!
            #expect(m.multiply(a, inv) == 1)
        }
        #expect(m.power(3, m.value - 1) == 1)  // Fermat
        #expect(Modulus(15).inverse(5) == nil)
    }
}

@Suite struct PrimeTests {
    @Test func millerRabinKnownValues() {
        #expect(PrimeGenerator.isPrime(2))
        #expect(PrimeGenerator.isPrime((1 << 61) - 1))
        #expect(!PrimeGenerator.isPrime(3_215_031_751))  // strong pseudoprime to bases 2, 3, 5, 7
        #expect(!PrimeGenerator.isPrime(1))
        #expect(PrimeGenerator.isPrime(18_446_744_073_709_551_557))  // largest 64-bit prime
    }

    @Test(arguments: [(30, 4, 1024), (50, 5, 4096), (60, 3, 65536)])
    func nttPrimesAreDistinctAndFriendly(bits: Int, count: Int, degree: Int) throws {
        let primes = try PrimeGenerator.nttPrimes(bits: bits, count: count, degree: degree)
        #expect(primes.count == count)
        #expect(Set(primes).count == count)
        for p in primes {
            #expect(PrimeGenerator.isPrime(p))
            #expect(p % UInt64(2 * degree) == 1)
            #expect(p < (1 << bits) && p > (1 << (bits - 1)))
        }
        #expect(primes == primes.sorted(by: >))  // descending from 2^bits
    }

    @Test func unsupportedBitsThrow() {
        #expect(throws: ModularArithmeticError.self) { try PrimeGenerator.nttPrimes(bits: 64, count: 1, degree: 16) }
        #expect(throws: ModularArithmeticError.self) { try PrimeGenerator.nttPrimes(bits: 12, count: 50, degree: 1024) }
    }

    @Test func primitiveRootHasExactOrder() throws {
        let q = Modulus(try PrimeGenerator.nttPrimes(bits: 40, count: 1, degree: 1024)[0])
        let psi = try PrimeGenerator.primitiveRoot(order: 2048, modulus: q)
        #expect(q.power(psi, 2048) == 1)
        #expect(q.power(psi, 1024) == q.value - 1)
    }
}

@Suite struct NTTTests {
    func naiveNegacyclic(_ a: [UInt64], _ b: [UInt64], _ q: Modulus) -> [UInt64] {
        let n = a.count
        var r = [UInt64](repeating: 0, count: n)
        for i in 0..<n {
            for j in 0..<n {
                let p = q.multiply(a[i], b[j])
                if i + j < n { r[i + j] = q.add(r[i + j], p) } else { r[i + j - n] = q.subtract(r[i + j - n], p) }
            }
        }
        return r
    }

    @Test(arguments: [(4, 30), (8, 40), (16, 30), (32, 61), (64, 50), (128, 40), (256, 61), (512, 61)])
    func productMatchesNaiveConvolution(degree: Int, bits: Int) throws {
        let q = Modulus(try PrimeGenerator.nttPrimes(bits: bits, count: 1, degree: degree)[0])
        let tables = try NTTTables(degree: degree, modulus: q)
        var rng = SplitMix(state: UInt64(degree))
        var a = (0..<degree).map { _ in UInt64.random(in: 0..<q.value, using: &rng) }
        var b = (0..<degree).map { _ in UInt64.random(in: 0..<q.value, using: &rng) }
        let expected = naiveNegacyclic(a, b, q)
        let original = a
        a.withUnsafeMutableBufferPointer { tables.forward($0.baseAddress!) }
        b.withUnsafeMutableBufferPointer { tables.forward($0.baseAddress!) }
        var c = (0..<degree).map { q.multiply(a[$0], b[$0]) }
        c.withUnsafeMutableBufferPointer { tables.inverse($0.baseAddress!) }
        #expect(c == expected)
        a.withUnsafeMutableBufferPointer { tables.inverse($0.baseAddress!) }
        #expect(a == original)  // round trip
    }

    /// The AVX-512 kernels (where this CPU has them) must give the portable loops' words exactly, lazy ranges
    /// included, for every size they take (N ≥ 32) and for inputs at the top of the accepted ranges.
    @Test(arguments: [(5, 61), (6, 40), (7, 60), (10, 56), (11, 30), (13, 61), (16, 60), (16, 40)])
    func vectorKernelsMatchPortableLoops(logDegree: Int, bits: Int) throws {
        let degree = 1 << logDegree
        let q = Modulus(try PrimeGenerator.nttPrimes(bits: bits, count: 1, degree: degree)[0])
        let tables = try NTTTables(degree: degree, modulus: q)
        var rng = SplitMix(state: UInt64(degree * bits))
        let fourQ = 4 * q.value, twoQ = 2 * q.value
        var input = (0..<degree).map { _ in UInt64.random(in: 0..<fourQ, using: &rng) }
        input[0] = fourQ - 1
        input[degree - 1] = fourQ - 1
        var portable = input, chosen = input
        portable.withUnsafeMutableBufferPointer { tables.forwardLazyPortable($0.baseAddress!) }
        chosen.withUnsafeMutableBufferPointer { tables.forwardLazy($0.baseAddress!) }
        #expect(chosen == portable)
        #expect(portable.allSatisfy { $0 < fourQ })
        var inverseInput = input.map { $0 % twoQ }
        inverseInput[1] = twoQ - 1
        portable = inverseInput
        chosen = inverseInput
        portable.withUnsafeMutableBufferPointer { tables.inverseLazyPortable($0.baseAddress!) }
        chosen.withUnsafeMutableBufferPointer { tables.inverseLazy($0.baseAddress!) }
        #expect(chosen == portable)
        #expect(portable.allSatisfy { $0 < twoQ })
    }

    @Test func knownAnswerMonomialEvaluatesToOddRootPowers() throws {
        // NTT(X) at output index j is ψ^(2·bitrev(j)+1); NTT(1) is all ones.
        let n = 32
        let q = Modulus(try PrimeGenerator.nttPrimes(bits: 30, count: 1, degree: n)[0])
        let tables = try NTTTables(degree: n, modulus: q)
        var x = [UInt64](repeating: 0, count: n)
        x[1] = 1
        x.withUnsafeMutableBufferPointer { tables.forward($0.baseAddress!) }
        for j in 0..<n {
            #expect(x[j] == q.power(tables.root, UInt64(2 * NTTTables.bitReverse(j, bits: 5) + 1)))
        }
        var one = [UInt64](repeating: 0, count: n)
        one[0] = 1
        one.withUnsafeMutableBufferPointer { tables.forward($0.baseAddress!) }
        #expect(one == [UInt64](repeating: 1, count: n))
    }

    @Test func parallelExecutorVisitsEveryIndexOnce() {
        let executor = ParallelExecutor(threads: 3)
        var hits = [Int](repeating: 0, count: 100)
        hits.withUnsafeMutableBufferPointer { buffer in
            let box = UncheckedSendableBox(buffer.baseAddress!)
            executor.forEach(100) { i in box.value[i] += 1 }
        }
        #expect(hits == [Int](repeating: 1, count: 100))
    }
}
