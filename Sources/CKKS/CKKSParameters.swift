import Foundation
import ModularArithmetic

/// Distribution of the secret key's coefficients.
public enum SecretDistribution: Codable, Hashable, Sendable {
    /// Each coefficient uniform in {−1, 0, 1}.
    case uniformTernary
    /// Exactly `hammingWeight` nonzero coefficients, each ±1.
    case sparseTernary(hammingWeight: Int)
}

/// Security target checked against the HE-standard table (classical attacks, ternary secret).
public enum SecurityLevel: String, Codable, Hashable, Sendable {
    case classical128
    case classical192
    case classical256
    /// No bound at all: only for unit tests and benchmarks. Never use for real data.
    case insecureForTestingOnly
}

/// Plain, Codable description of a CKKS parameter set (as Lattigo's `ParametersLiteral`);
/// `CKKSParameters(_:)` validates it.
public struct CKKSParametersLiteral: Codable, Hashable, Sendable {
    /// log2 of the ring degree N (10...17).
    public var logN: Int
    /// Bit sizes of the ciphertext primes q_0 (first, largest usually) ... q_L.
    public var qBits: [Int]
    /// Bit sizes of the special key-switching primes p_0 ... p_{K-1}.
    public var pBits: [Int]
    /// Number of key-switching digits (1 ... L+1).
    public var dnum: Int
    public var secret: SecretDistribution
    /// Standard deviation of the discrete Gaussian error.
    public var errorStdDev: Double
    /// log2 of the default encoding scale.
    public var defaultScaleLog2: Double
    public var securityLevel: SecurityLevel

    public init(
        logN: Int, qBits: [Int], pBits: [Int], dnum: Int = 1,
        secret: SecretDistribution = .uniformTernary, errorStdDev: Double = 3.19,
        defaultScaleLog2: Double = 40, securityLevel: SecurityLevel = .classical128
    ) {
        self.logN = logN
        self.qBits = qBits
        self.pBits = pBits
        self.dnum = dnum
        self.secret = secret
        self.errorStdDev = errorStdDev
        self.defaultScaleLog2 = defaultScaleLog2
        self.securityLevel = securityLevel
    }

    /// A small, INSECURE ring for unit tests: N = 2^logN, q_0 of 60 bits, `levels` primes of
    /// `scaleBits` bits, two 61-bit special primes, scale 2^scaleBits. The default dnum keeps at
    /// most two primes per key-switching digit, so P (122 bits) exceeds every digit.
    public static func insecureTest(
        logN: Int = 12, levels: Int = 4, scaleBits: Int = 40, dnum: Int? = nil
    ) -> CKKSParametersLiteral {
        CKKSParametersLiteral(
            logN: logN, qBits: [60] + Array(repeating: scaleBits, count: levels), pBits: [61, 61],
            dnum: dnum ?? (levels + 2) / 2, defaultScaleLog2: Double(scaleBits), securityLevel: .insecureForTestingOnly)
    }

    /// N = 2^14 at 128-bit security: q_0 of 55 bits, 7 primes of 40 bits, dnum 4 (two primes per
    /// digit), two 50-bit special primes: log2 QP ≈ 435 ≤ 438. Scale 2^40.
    public static var n14Secure: CKKSParametersLiteral {
        CKKSParametersLiteral(
            logN: 14, qBits: [55] + Array(repeating: 40, count: 7), pBits: [50, 50], dnum: 4,
            defaultScaleLog2: 40)
    }
}

/// The HE-standard (homomorphicencryption.org, 2018) maximum log2(QP) for a ternary secret and
/// classical attacks. N = 2^16 is not in the standard; its row is extrapolated by doubling the
/// N = 2^15 row, as Lattigo and OpenFHE do.
public enum SecurityTable {
    public static func maximumLogQP(logN: Int, level: SecurityLevel) -> Int? {
        let rows: [Int: (Int, Int, Int)] = [
            10: (27, 19, 14), 11: (54, 37, 29), 12: (109, 75, 58), 13: (218, 152, 118),
            14: (438, 305, 237), 15: (881, 611, 476),
            16: (1761, 1221, 952),  // extrapolated (not in the 2018 standard)
        ]
        guard let row = rows[logN] else { return nil }
        switch level {
        case .classical128: return row.0
        case .classical192: return row.1
        case .classical256: return row.2
        case .insecureForTestingOnly: return nil
        }
    }
}

/// Moduli and NTT tables of the ring Z_Q[X]/(X^N+1) with Q = q_0…q_L and the special primes P.
public final class RNSRing: @unchecked Sendable {
    public let degree: Int
    public let logDegree: Int
    public let qModuli: [Modulus]
    public let pModuli: [Modulus]
    public let qTables: [NTTTables]
    public let pTables: [NTTTables]

    init(logN: Int, q: [UInt64], p: [UInt64]) throws {
        degree = 1 << logN
        logDegree = logN
        qModuli = q.map(Modulus.init)
        pModuli = p.map(Modulus.init)
        do {
            qTables = try qModuli.map { try NTTTables(degree: 1 << logN, modulus: $0) }
            pTables = try pModuli.map { try NTTTables(degree: 1 << logN, modulus: $0) }
        } catch {
            throw CKKSError.invalidParameter("\(error)")
        }
    }
}

/// Validated, immutable CKKS parameters with every precomputed table the scheme needs.
public final class CKKSParameters: @unchecked Sendable, Equatable, CustomStringConvertible {
    public let literal: CKKSParametersLiteral
    public let ring: RNSRing
    /// Ring degree N.
    public var degree: Int { ring.degree }
    public var logN: Int { literal.logN }
    /// Number of complex slots, N/2.
    public var slotCount: Int { ring.degree / 2 }
    /// Highest level L (a fresh ciphertext has L+1 primes).
    public var maxLevel: Int { ring.qModuli.count - 1 }
    public var qPrimes: [UInt64] { ring.qModuli.map(\.value) }
    public var pPrimes: [UInt64] { ring.pModuli.map(\.value) }
    public var dnum: Int { literal.dnum }
    /// Primes per key-switching digit.
    public let digitSize: Int
    public var defaultScale: Double { Foundation.exp2(literal.defaultScaleLog2) }
    /// log2 of Q·P.
    public let logQP: Double
    /// A 64-bit fingerprint of the parameters, stored in serialized objects.
    public let fingerprint: UInt64

    @usableFromInline let rescaleTables: [RescaleTable]
    @usableFromInline let modDownTable: ModDownTable
    /// modUpConverters[level][digit]
    @usableFromInline let modUpConverters: [[BasisConverter]]
    /// Key switching keeps the ModUp output multiplied by 2^64 so that the inner product ends in a
    /// Montgomery reduction: holds when dnum · 2 · max(q, p) < 2^64 (each sum of dnum products of a
    /// lazy value below 4q and a key residue below q stays under 2q · 2^64) and dnum ≤ 8.
    let montgomeryKeySwitch: Bool
    /// Largest prime of Q ∪ P.
    let largestPrime: UInt64

    /// Whether ModUp may leave its NTT outputs in [0, 4q): `digits` lazy products (below 4q · q)
    /// must sum below 2^128 in the inner product's accumulator.
    func lazyDecomposition(digits: Int) -> Bool {
        let square = UInt128(largestPrime) * UInt128(largestPrime)
        let (bound, overflow) = square.multipliedReportingOverflow(by: UInt128(4 * digits))
        return !overflow && bound < UInt128.max
    }

    public init(_ literal: CKKSParametersLiteral) throws {
        guard (10...17).contains(literal.logN) else {
            throw CKKSError.invalidParameter("logN = \(literal.logN) outside 10...17")
        }
        guard !literal.qBits.isEmpty else { throw CKKSError.invalidParameter("qBits is empty; give at least one prime size") }
        guard !literal.pBits.isEmpty else {
            throw CKKSError.invalidParameter("pBits is empty; key switching needs at least one special prime")
        }
        for b in literal.qBits + literal.pBits where !(20...61).contains(b) {
            throw CKKSError.invalidParameter("prime size \(b) bits outside 20...61")
        }
        guard literal.dnum >= 1 && literal.dnum <= literal.qBits.count else {
            throw CKKSError.invalidParameter("dnum = \(literal.dnum) must be in 1...\(literal.qBits.count) (number of q primes)")
        }
        guard literal.errorStdDev > 0 && literal.errorStdDev < 100 else {
            throw CKKSError.invalidParameter("errorStdDev = \(literal.errorStdDev) outside (0, 100)")
        }
        guard literal.defaultScaleLog2 >= 1 && literal.defaultScaleLog2 <= 60 else {
            throw CKKSError.invalidParameter("defaultScaleLog2 = \(literal.defaultScaleLog2) outside 1...60")
        }
        if case let .sparseTernary(h) = literal.secret, h < 1 || h > (1 << literal.logN) {
            throw CKKSError.invalidParameter("sparse secret Hamming weight \(h) outside 1...N")
        }
        let n = 1 << literal.logN
        // Primes: grouped by bit size, descending from 2^bits, all distinct.
        var used = Set<UInt64>()
        func generate(_ bits: [Int]) throws -> [UInt64] {
            var result: [UInt64] = []
            for b in bits {
                do {
                    let p = try PrimeGenerator.nttPrimes(bits: b, count: 1, degree: n, excluding: used)[0]
                    used.insert(p)
                    result.append(p)
                } catch {
                    throw CKKSError.invalidParameter("\(error)")
                }
            }
            return result
        }
        let q = try generate(literal.qBits)
        let p = try generate(literal.pBits)
        let logQP = (q + p).reduce(0.0) { $0 + Foundation.log2(Double($1)) }
        if let bound = SecurityTable.maximumLogQP(logN: literal.logN, level: literal.securityLevel) {
            if logQP > Double(bound) {
                throw CKKSError.insecureParameters(
                    logN: literal.logN, logQP: logQP, bound: bound, securityLevel: literal.securityLevel.rawValue)
            }
        } else if literal.securityLevel != .insecureForTestingOnly {
            throw CKKSError.invalidParameter("no HE-standard bound for N = 2^\(literal.logN); use logN 10...16")
        }
        // Key-switching noise is (digit modulus / P) · small: P must exceed every digit's product.
        let alpha = (q.count + literal.dnum - 1) / literal.dnum
        let logP = p.reduce(0.0) { $0 + Foundation.log2(Double($1)) }
        var maxDigitBits = 0.0
        for start in stride(from: 0, to: q.count, by: alpha) {
            maxDigitBits = max(maxDigitBits, q[start..<min(start + alpha, q.count)].reduce(0.0) { $0 + Foundation.log2(Double($1)) })
        }
        guard logP + 1 >= maxDigitBits else {
            throw CKKSError.invalidParameter(
                "special primes P (\(Int(logP)) bits) are smaller than a key-switching digit (\(Int(maxDigitBits.rounded(.up))) bits, \(alpha) primes); add special primes or raise dnum")
        }
        self.literal = literal
        self.logQP = logQP
        ring = try RNSRing(logN: literal.logN, q: q, p: p)
        digitSize = (q.count + literal.dnum - 1) / literal.dnum
        var fp = FNV1a()
        fp.combine(UInt64(literal.logN))
        for x in q { fp.combine(x) }
        fp.combine(0xFFFF)
        for x in p { fp.combine(x) }
        fp.combine(UInt64(literal.dnum))
        fp.combine(literal.errorStdDev.bitPattern)
        fp.combine(literal.defaultScaleLog2.bitPattern)
        switch literal.secret {
        case .uniformTernary: fp.combine(0)
        case let .sparseTernary(h): fp.combine(UInt64(h) + 1)
        }
        fingerprint = fp.value

        let qModuli = ring.qModuli
        let pModuli = ring.pModuli
        rescaleTables = (0..<qModuli.count).map { RescaleTable(moduli: qModuli, level: $0) }
        modDownTable = ModDownTable(qModuli: qModuli, pModuli: pModuli)
        let largest = (qModuli + pModuli).map(\.value).max() ?? 0
        largestPrime = largest
        let bound = UInt64(2 * literal.dnum).multipliedReportingOverflow(by: largest)
        montgomeryKeySwitch = literal.dnum <= 8 && !bound.overflow
        var converters: [[BasisConverter]] = []
        let digitPrimes = digitSize
        for level in 0..<qModuli.count {
            var perDigit: [BasisConverter] = []
            var start = 0
            while start <= level {
                let end = min(start + digitPrimes, level + 1)
                let source = Array(qModuli[start..<end])
                let targets = Array(qModuli[0..<start]) + Array(qModuli[end..<(level + 1)]) + pModuli
                perDigit.append(BasisConverter(source: source, targets: targets, scaleOutputByWord: montgomeryKeySwitch))
                start = end
            }
            converters.append(perDigit)
        }
        modUpConverters = converters
    }

    public static func == (lhs: CKKSParameters, rhs: CKKSParameters) -> Bool {
        lhs === rhs || lhs.fingerprint == rhs.fingerprint
    }

    public var description: String {
        "CKKSParameters(N = 2^\(logN), L = \(maxLevel), log2 QP = \(String(format: "%.1f", logQP)), dnum = \(dnum), q = \(qPrimes), p = \(pPrimes))"
    }

    /// Number of key-switching digits used at `level`.
    public func digitCount(atLevel level: Int) -> Int { (level + digitSize) / digitSize }

    /// Range of Q-limb indices of digit `digit` at `level`.
    func digitRange(_ digit: Int, level: Int) -> Range<Int> {
        let start = digit * digitSize
        return start..<min(start + digitSize, level + 1)
    }

    /// The Galois element 5^k mod 2N of a left rotation by k slots (k may be negative).
    public func galoisElement(forRotation steps: Int) -> Int {
        let twoN = 2 * degree
        let slots = degree / 2
        var k = steps % slots
        if k < 0 { k += slots }
        var g = 1
        var base = 5
        while k > 0 {
            if k & 1 == 1 { g = g * base % twoN }
            base = base * base % twoN
            k >>= 1
        }
        return g
    }

    /// The Galois element of complex conjugation, 2N − 1.
    public var conjugationGaloisElement: Int { 2 * degree - 1 }
}

/// 64-bit FNV-1a over 64-bit words.
struct FNV1a {
    var value: UInt64 = 0xcbf2_9ce4_8422_2325
    mutating func combine(_ x: UInt64) {
        var v = x
        for _ in 0..<8 {
            value ^= v & 0xFF
            value &*= 0x100_0000_01b3
            v >>= 8
        }
    }
}
