import ComplexModule
import RealModule
import Foundation
import ModularArithmetic

/// An encoded message: a polynomial in Evaluation form at some level and its scale Δ
/// (the message m satisfies m(ζ^(5^j)) ≈ Δ · z_j).
public struct Plaintext: Sendable {
    public internal(set) var polynomial: RNSPolynomial<Evaluation>
    /// Scale Δ (any positive Double, not necessarily a power of two).
    public internal(set) var scale: Double
    public var level: Int { polynomial.level }

    public init(polynomial: RNSPolynomial<Evaluation>, scale: Double) {
        self.polynomial = polynomial
        self.scale = scale
    }
}

/// CKKS encoder: canonical embedding through the special FFT over the roots ζ^(5^j) (as in the
/// CKKS paper and Lattigo). N/2 complex slots; real vectors fill the real parts.
public final class CKKSEncoder: @unchecked Sendable {
    public let parameters: CKKSParameters
    public let executor: ParallelExecutor
    let slots: Int
    let m: Int
    /// cos/sin(2πk/M), k in 0..<M, M = 2N.
    let rootsReal: [Double]
    let rootsImaginary: [Double]
    /// 5^j mod M.
    let rotationGroup: [Int]
    /// garnerInverse[i][j] = q_j^(-1) mod q_i, j < i.
    let garnerInverse: [[UInt64]]

    public init(parameters: CKKSParameters, executor: ParallelExecutor = ParallelExecutor()) {
        self.parameters = parameters
        self.executor = executor
        slots = parameters.slotCount
        m = 2 * parameters.degree
        var re = [Double](repeating: 0, count: m)
        var im = [Double](repeating: 0, count: m)
        for k in 0..<m {
            let angle = 2 * Double.pi * Double(k) / Double(m)
            re[k] = Foundation.cos(angle)
            im[k] = Foundation.sin(angle)
        }
        rootsReal = re
        rootsImaginary = im
        var group = [Int](repeating: 1, count: slots)
        for j in 1..<max(slots, 1) { group[j] = group[j - 1] * 5 % m }
        rotationGroup = group
        let q = parameters.ring.qModuli
        garnerInverse = (0..<q.count).map { i in (0..<i).map { j in q[i].inverse(q[i].reduce(q[j].value))! } }
    }

    // MARK: special FFT

    private func bitReverse(_ re: inout [Double], _ im: inout [Double]) {
        let n = re.count
        var j = 0
        for i in 1..<n {
            var bit = n >> 1
            while j & bit != 0 { j ^= bit; bit >>= 1 }
            j ^= bit
            if i < j { re.swapAt(i, j); im.swapAt(i, j) }
        }
    }

    /// Slots → coefficient pairs (inverse of `specialFFT`).
    func specialInverseFFT(_ re: inout [Double], _ im: inout [Double]) {
        let n = re.count
        var len = n
        while len >= 2 {
            let half = len >> 1
            let lenq = len << 2
            let gap = m / lenq
            var i = 0
            while i < n {
                for j in 0..<half {
                    let idx = (lenq - (rotationGroup[j] % lenq)) * gap
                    let wr = rootsReal[idx], wi = rootsImaginary[idx]
                    let ar = re[i + j], ai = im[i + j]
                    let br = re[i + j + half], bi = im[i + j + half]
                    re[i + j] = ar + br
                    im[i + j] = ai + bi
                    let dr = ar - br, di = ai - bi
                    re[i + j + half] = dr * wr - di * wi
                    im[i + j + half] = dr * wi + di * wr
                }
                i += len
            }
            len >>= 1
        }
        let inv = 1 / Double(n)
        for k in 0..<n { re[k] *= inv; im[k] *= inv }
        bitReverse(&re, &im)
    }

    /// Coefficient pairs → slots: z_j = m(ζ^(5^j)).
    func specialFFT(_ re: inout [Double], _ im: inout [Double]) {
        let n = re.count
        bitReverse(&re, &im)
        var len = 2
        while len <= n {
            let half = len >> 1
            let lenq = len << 2
            let gap = m / lenq
            var i = 0
            while i < n {
                for j in 0..<half {
                    let idx = (rotationGroup[j] % lenq) * gap
                    let wr = rootsReal[idx], wi = rootsImaginary[idx]
                    let ar = re[i + j], ai = im[i + j]
                    let br = re[i + j + half], bi = im[i + j + half]
                    let tr = br * wr - bi * wi, ti = br * wi + bi * wr
                    re[i + j] = ar + tr
                    im[i + j] = ai + ti
                    re[i + j + half] = ar - tr
                    im[i + j + half] = ai - ti
                }
                i += len
            }
            len <<= 1
        }
    }

    // MARK: encode

    /// Encodes up to N/2 complex values at `level` (default: top) and `scale` (default: the
    /// parameters' default scale). Missing slots are zero.
    public func encode(_ values: [Complex<Double>], scale: Double? = nil, level: Int? = nil) throws -> Plaintext {
        var re = [Double](repeating: 0, count: slots)
        var im = [Double](repeating: 0, count: slots)
        guard values.count <= slots else {
            throw CKKSError.invalidInput("\(values.count) values exceed the \(slots) slots of N = \(parameters.degree)")
        }
        for (i, v) in values.enumerated() { re[i] = v.real; im[i] = v.imaginary }
        return try encode(real: re, imaginary: im, scale: scale, level: level)
    }

    /// Encodes up to N/2 real values (imaginary parts zero).
    public func encode(_ values: [Double], scale: Double? = nil, level: Int? = nil) throws -> Plaintext {
        guard values.count <= slots else {
            throw CKKSError.invalidInput("\(values.count) values exceed the \(slots) slots of N = \(parameters.degree)")
        }
        var re = values
        re.append(contentsOf: repeatElement(0, count: slots - values.count))
        return try encode(real: re, imaginary: [Double](repeating: 0, count: slots), scale: scale, level: level)
    }

    func encode(real: [Double], imaginary: [Double], scale: Double?, level: Int?) throws -> Plaintext {
        let scale = scale ?? parameters.defaultScale
        let level = level ?? parameters.maxLevel
        guard level >= 0 && level <= parameters.maxLevel else {
            throw CKKSError.invalidInput("level \(level) outside 0...\(parameters.maxLevel)")
        }
        guard scale.isFinite && scale > 0 && scale < 0x1p120 else {
            throw CKKSError.invalidInput("scale \(scale) must be finite, positive and below 2^120")
        }
        var re = real, im = imaginary
        for v in re + im where !v.isFinite { throw CKKSError.invalidInput("non-finite value \(v) in encoder input") }
        specialInverseFFT(&re, &im)
        var coefficients = [Double](repeating: 0, count: parameters.degree)
        for i in 0..<slots {
            coefficients[i] = (re[i] * scale).rounded()
            coefficients[i + slots] = (im[i] * scale).rounded()
        }
        let poly = encodeCoefficients(coefficients, level: level)
        return Plaintext(polynomial: poly, scale: scale)
    }

    /// Integer-valued doubles (any magnitude) as an Evaluation-form polynomial at `level`.
    public func encodeCoefficients(_ coefficients: [Double], level: Int) -> RNSPolynomial<Evaluation> {
        var poly = RNSPolynomial<Coefficient>(ring: parameters.ring, level: level)
        let p = poly
        executor.forEach(level + 1) { i in
            let q = p.modulus(i)
            let out = p.limb(i)
            for c in 0..<p.degree { out[c] = Self.reduce(coefficients[c], q) }
        }
        poly = p
        return poly.forwardNTT(executor: executor)
    }

    /// x mod q for an integer-valued double of any magnitude (exact: uses x = mantissa · 2^exponent).
    @inline(__always)
    static func reduce(_ x: Double, _ q: Modulus) -> UInt64 {
        if abs(x) < 0x1p63 { return q.reduce(signed: Int64(x)) }
        let mantissa = UInt64(x.significandBitPattern | (1 << 52))
        let shift = UInt64(Int(x.exponent) - 52)
        let r = q.multiply(q.reduce(mantissa), q.power(2, shift))
        return x < 0 ? q.negate(r) : r
    }

    // MARK: decode

    /// Decodes all N/2 slots.
    public func decode(_ plaintext: Plaintext) -> [Complex<Double>] {
        let (re, im) = decodeParts(plaintext)
        return (0..<slots).map { Complex(re[$0], im[$0]) }
    }

    /// Decodes the real parts of all N/2 slots.
    public func decodeReal(_ plaintext: Plaintext) -> [Double] {
        decodeParts(plaintext).real
    }

    func decodeParts(_ plaintext: Plaintext) -> (real: [Double], imaginary: [Double]) {
        let coefficients = centeredCoefficients(plaintext.polynomial)
        var re = [Double](repeating: 0, count: slots)
        var im = [Double](repeating: 0, count: slots)
        let inv = 1 / plaintext.scale
        for i in 0..<slots {
            re[i] = coefficients[i] * inv
            im[i] = coefficients[i + slots] * inv
        }
        specialFFT(&re, &im)
        return (re, im)
    }

    /// The centered integer coefficients (as doubles) of an Evaluation-form polynomial, by CRT
    /// (Garner's mixed radix with a centered top digit, so small negative values are exact).
    public func centeredCoefficients(_ polynomial: RNSPolynomial<Evaluation>) -> [Double] {
        let coefficientForm = polynomial.droppingSpecialPrimes().compacted().inverseNTT(executor: executor)
        let level = coefficientForm.level
        let n = parameters.degree
        let q = parameters.ring.qModuli
        var out = [Double](repeating: 0, count: n)
        let chunks = max(1, executor.threads)
        out.withUnsafeMutableBufferPointer { buffer in
            let outBase = UncheckedSendableBox(buffer.baseAddress!)
            executor.forEach(chunks) { chunk in
                var digits = [UInt64](repeating: 0, count: level + 1)
                for c in (chunk * n / chunks)..<((chunk + 1) * n / chunks) {
                    for i in 0...level {
                        var t = coefficientForm.limb(i)[c]
                        let qi = q[i]
                        for j in 0..<i {
                            t = qi.multiply(qi.subtract(t, qi.reduce(digits[j])), self.garnerInverse[i][j])
                        }
                        digits[i] = t
                    }
                    // Exact Int128 Horner while the partial value is small (that is where the
                    // top digits cancel), Double once it is large (relative error 2^-53 per step).
                    var exact = Int128(q[level].centered(digits[level]))
                    var approximate = 0.0
                    var inexact = false
                    var i = level - 1
                    while i >= 0 {
                        if !inexact && exact.magnitude < (UInt128(1) << 64) {
                            exact = exact * Int128(q[i].value) + Int128(digits[i])
                        } else {
                            if !inexact { approximate = Double(exact); inexact = true }
                            approximate = approximate * Double(q[i].value) + Double(digits[i])
                        }
                        i -= 1
                    }
                    let v = inexact ? approximate : Double(exact)
                    outBase.value[c] = v
                }
            }
        }
        return out
    }
}

