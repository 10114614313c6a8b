import CipherIR
import CKKS
import Foundation

/// The CKKS noise model the simulator uses: per-slot error variances (real part, message units)
/// added by each operation, from the actual parameters (N, σ, the exact primes, dnum, the special
/// primes, the secret's Hamming weight).
///
/// A polynomial error with i.i.d. coefficients of variance V, decoded at scale Δ, gives each slot a
/// real-part error of variance N·V/(2Δ²). Per-coefficient variances:
/// - fresh encryption: σ² + 1/12 with the secret key; σ²·(1 + 2N/3 + h) + 1/12 with the public key
///   (h = E[‖s‖²]: the Hamming weight of a sparse secret, 2N/3 for a uniform ternary one);
/// - encoding: 1/12 (coefficient rounding);
/// - rescale (exact divide-and-round): (1 + h)/12;
/// - key switching at level ℓ (hybrid, dnum digits Q_j of α_j primes, K special primes P):
///   N·σ²·Σ_j Q_j²·(α_j/12 + α_j²/4) / P² (ModUp lifts digit j to [0, α_j·Q_j)) plus the ModDown
///   rounding (1 + h)·(K/12 + (K−1)²/4) (fast base conversion from K primes).
public struct NoiseModel: Sendable {
    public let degree: Int
    public let errorStandardDeviation: Double
    /// E[‖s‖²].
    public let secretWeight: Double
    public let log2Primes: [Double]
    public let log2P: Double
    public let specialPrimeCount: Int
    public let digitSize: Int
    public let primes: [Double]

    public init(parameters: CKKSParameters) {
        degree = parameters.degree
        errorStandardDeviation = parameters.literal.errorStdDev
        switch parameters.literal.secret {
        case .uniformTernary: secretWeight = 2.0 * Double(parameters.degree) / 3.0
        case .sparseTernary(let h): secretWeight = Double(h)
        }
        primes = parameters.qPrimes.map { Double($0) }
        log2Primes = parameters.qPrimes.map { Foundation.log2(Double($0)) }
        log2P = parameters.pPrimes.reduce(0.0) { $0 + Foundation.log2(Double($1)) }
        specialPrimeCount = parameters.pPrimes.count
        digitSize = parameters.digitSize
    }

    /// Slot (real part) variance of a polynomial error of coefficient variance `v` at scale `scale`.
    @inline(__always)
    public func slotVariance(coefficientVariance v: Double, scale: Double) -> Double {
        Double(degree) * v / (2 * scale * scale)
    }

    public func freshEncryption(scale: Double, publicKey: Bool) -> Double {
        let s2 = errorStandardDeviation * errorStandardDeviation
        let v = publicKey ? s2 * (1 + 2 * Double(degree) / 3 + secretWeight) + 1.0 / 12 : s2 + 1.0 / 12
        return slotVariance(coefficientVariance: v, scale: scale)
    }

    public func encoding(scale: Double) -> Double { slotVariance(coefficientVariance: 1.0 / 12, scale: scale) }

    /// Added by a rescale; `scale` is the scale after it.
    public func rescale(scale: Double) -> Double {
        slotVariance(coefficientVariance: (1 + secretWeight) / 12, scale: scale)
    }

    /// Added by one key switch (relinearize, rotate, conjugate, each hoisted rotation) at `level`.
    public func keySwitch(level: Int, scale: Double) -> Double {
        var digitTerm = 0.0
        var start = 0
        let n = Double(degree)
        let s2 = errorStandardDeviation * errorStandardDeviation
        while start <= level {
            let end = min(start + digitSize, level + 1)
            let alpha = Double(end - start)
            let log2Q = log2Primes[start..<end].reduce(0, +)
            digitTerm += n * s2 * (alpha / 12 + alpha * alpha / 4) * Foundation.exp2(2 * (log2Q - log2P))
            start = end
        }
        let k = Double(specialPrimeCount)
        let rounding = (1 + secretWeight) * (k / 12 + (k - 1) * (k - 1) / 4)
        return slotVariance(coefficientVariance: digitTerm + rounding, scale: scale)
    }
}

/// A simulated ciphertext: what CKKS would decrypt to without noise (`values`), the exact answer
/// (`ideal`), and the predicted noise variance of each slot.
public struct SimulatedCiphertext: Sendable {
    /// The noise-free CKKS result (includes deterministic effects: constant rounding, scale relabeling).
    public var values: [Double]
    /// The mathematically exact result.
    public var ideal: [Double]
    /// Predicted error variance of each slot (real part).
    public var variance: [Double]
    public var level: Int
    /// Exact scale (exact primes), as CKKS tracks it.
    public var scale: Double
    /// 1, or 2 after `mul` before `relinearize`.
    public var degree: Int

    public var slots: Int { values.count }

    /// Predicted mean square error against the exact answer, per slot.
    public var meanSquareError: [Double] {
        (0..<slots).map { (i: Int) -> Double in
            let bias: Double = values[i] - ideal[i]
            return variance[i] + bias * bias
        }
    }

    /// log2 of the predicted root-mean-square error over `slots` (or the first `count` slots).
    public func predictedErrorBits(count: Int? = nil) -> Double {
        let mse = meanSquareError.prefix(count ?? slots)
        return 0.5 * Foundation.log2(max(mse.reduce(0, +) / Double(max(mse.count, 1)), 1e-300))
    }
}

/// Runs a plan on plaintext vectors with the CKKS noise model (`NoiseModel`): fast, for checking
/// the accuracy of large plans without keys. Mirrors `CKKSBackend`'s exact-scale bookkeeping: the
/// same `ScaleSchedule` (multiplier encoding scales, level drops onto S_ℓ, refreshes at S_ℓ) and the
/// same relabeling where exact scales still differ.
public final class SimulatorBackend: Backend {
    public typealias Cipher = SimulatedCiphertext
    /// An encoded constant: its entry and the encoding variance at its first encoding's scale.
    public typealias Plain = (entry: ConstantEntry, encodingVariance: Double)

    public let model: NoiseModel
    public let parameters: CKKSParameters
    /// The exact scale of each level, as `CKKSBackend` keeps it.
    public let schedule: ScaleSchedule
    /// Whether fresh inputs are modeled as public-key (true) or secret-key encryptions.
    public let publicKeyEncryption: Bool
    /// Error standard deviation of a `bootstrap`, relative to a message of magnitude 1: `tessera bench bootstrap`
    /// measures 22.4 bits worst slot and 24.3 bits mean at N = 2^16 (2^-23 is between them).
    public var bootstrapErrorStandardDeviation = 0x1p-23

    /// - Parameter parameters: the plan's CKKS parameters (their exact primes; security not checked).
    public init(parameters: CKKSParameters, publicKeyEncryption: Bool = false) {
        self.parameters = parameters
        model = NoiseModel(parameters: parameters)
        schedule = ScaleSchedule(parameters: parameters)
        self.publicKeyEncryption = publicKeyEncryption
    }

    /// A freshly encrypted input vector at `level` and `scale`.
    public func encrypt(_ values: [Double], level: Int, scale: Double) -> SimulatedCiphertext {
        let fresh = model.freshEncryption(scale: scale, publicKey: publicKeyEncryption)
        return SimulatedCiphertext(values: values, ideal: values, variance: [Double](repeating: fresh, count: values.count),
                                   level: level, scale: scale, degree: 1)
    }

    public func constant(_ entry: ConstantEntry, index: Int) throws -> Plain {
        (entry, model.encoding(scale: schedule.encodingScale(requested: entry.scale, level: entry.level)))
    }

    private func map2(_ a: SimulatedCiphertext, _ b: SimulatedCiphertext, _ f: (Double, Double) -> Double) -> ([Double], [Double]) {
        precondition(a.slots == b.slots, "slot counts differ (the verifier guarantees equal slots)")
        return ((0..<a.slots).map { f(a.values[$0], b.values[$0]) }, (0..<a.slots).map { f(a.ideal[$0], b.ideal[$0]) })
    }

    /// b relabeled to a's scale as `CKKSBackend` does when the exact scales differ.
    private func aligned(_ b: SimulatedCiphertext, to a: SimulatedCiphertext) -> SimulatedCiphertext {
        if abs(a.scale - b.scale) <= CKKSEvaluator.scaleTolerance * max(a.scale, b.scale) { return b }
        var out = b
        let factor = b.scale / a.scale
        out.values = b.values.map { $0 * factor }
        out.variance = b.variance.map { $0 * factor * factor }
        out.scale = a.scale
        return out
    }

    private func combine(_ a: SimulatedCiphertext, _ b: SimulatedCiphertext, sign: Double) -> SimulatedCiphertext {
        let b = aligned(b, to: a)
        var out = a
        (out.values, out.ideal) = map2(a, b) { $0 + sign * $1 }
        out.variance = (0..<a.slots).map { a.variance[$0] + b.variance[$0] }
        out.degree = max(a.degree, b.degree)
        out.level = min(a.level, b.level)
        return out
    }

    public func add(_ a: SimulatedCiphertext, _ b: SimulatedCiphertext) throws -> SimulatedCiphertext { combine(a, b, sign: 1) }
    public func subtract(_ a: SimulatedCiphertext, _ b: SimulatedCiphertext) throws -> SimulatedCiphertext { combine(a, b, sign: -1) }

    public func negate(_ a: SimulatedCiphertext) throws -> SimulatedCiphertext {
        var out = a
        out.values = a.values.map { -$0 }
        out.ideal = a.ideal.map { -$0 }
        return out
    }

    public func addPlain(_ a: SimulatedCiphertext, _ p: Plain) throws -> SimulatedCiphertext {
        // CKKSBackend encodes the entry at the ciphertext's exact scale.
        let values = Packing.replicateOrTruncate(p.entry.values, slots: a.slots)
        var out = a
        out.values = (0..<a.slots).map { a.values[$0] + values[$0] }
        out.ideal = (0..<a.slots).map { a.ideal[$0] + values[$0] }
        let encoding = model.encoding(scale: a.scale)
        out.variance = a.variance.map { $0 + encoding }
        return out
    }

    public func addConstant(_ a: SimulatedCiphertext, _ value: Double) throws -> SimulatedCiphertext {
        let rounded = (value * a.scale).rounded() / a.scale
        var out = a
        out.values = a.values.map { $0 + rounded }
        out.ideal = a.ideal.map { $0 + value }
        return out
    }

    public func multiplyPlain(_ a: SimulatedCiphertext, _ p: Plain) throws -> SimulatedCiphertext {
        let values = Packing.replicateOrTruncate(p.entry.values, slots: a.slots)
        // CKKSBackend encodes the entry so the product rescales onto the schedule.
        let scale = schedule.multiplierScale(operandScale: a.scale, level: a.level, requested: p.entry.scale)
        let encoding = model.encoding(scale: scale)
        var out = a
        out.values = (0..<a.slots).map { a.values[$0] * values[$0] }
        out.ideal = (0..<a.slots).map { a.ideal[$0] * values[$0] }
        out.variance = (0..<a.slots).map { (i: Int) -> Double in
            let z: Double = a.values[i], w: Double = values[i]
            return a.variance[i] * w * w + z * z * encoding
        }
        out.scale = a.scale * scale
        out.level = min(a.level, p.entry.level)
        return out
    }

    public func multiplyConstant(_ a: SimulatedCiphertext, _ value: Double, scale requested: Double) throws -> SimulatedCiphertext {
        let scale = schedule.multiplierScale(operandScale: a.scale, level: a.level, requested: requested)
        let rounded = (value * scale).rounded() / scale
        var out = a
        out.values = a.values.map { $0 * rounded }
        out.ideal = a.ideal.map { $0 * value }
        out.variance = a.variance.map { $0 * rounded * rounded }
        out.scale = a.scale * scale
        return out
    }

    public func multiply(_ a: SimulatedCiphertext, _ b: SimulatedCiphertext) throws -> SimulatedCiphertext {
        var out = a
        (out.values, out.ideal) = map2(a, b) { $0 * $1 }
        out.variance = (0..<a.slots).map { (i: Int) -> Double in
            let za: Double = a.values[i], zb: Double = b.values[i], va: Double = a.variance[i], vb: Double = b.variance[i]
            return zb * zb * va + za * za * vb + 2 * va * vb
        }
        out.scale = a.scale * b.scale
        out.level = min(a.level, b.level)
        out.degree = 2
        return out
    }

    private func keySwitched(_ a: SimulatedCiphertext) -> SimulatedCiphertext {
        var out = a
        let added = model.keySwitch(level: a.level, scale: a.scale)
        out.variance = a.variance.map { $0 + added }
        return out
    }

    public func relinearize(_ a: SimulatedCiphertext) throws -> SimulatedCiphertext {
        var out = keySwitched(a)
        out.degree = 1
        return out
    }

    public func rescale(_ a: SimulatedCiphertext) throws -> SimulatedCiphertext {
        guard a.level >= 1 else { throw CKKSError.levelTooLow(operation: "rescale", level: a.level) }
        var out = a
        out.scale = a.scale / model.primes[a.level]
        out.level = a.level - 1
        let added = model.rescale(scale: out.scale)
        out.variance = a.variance.map { $0 + added }
        return out
    }

    /// As `CKKSBackend`: a settled value moves onto S_level with a product by the integer
    /// round(q·S_level/scale) (q the last dropped prime) and a rescale.
    public func levelDown(_ a: SimulatedCiphertext, to level: Int) throws -> SimulatedCiphertext {
        var out = a
        out.level = level
        if level < a.level, let scale = schedule.droppedScale(a.scale, to: level),
           abs(scale - a.scale) > CKKSEvaluator.scaleTolerance * scale {
            let factor = model.primes[level + 1] * scale / a.scale
            let ratio = factor.rounded() / factor
            let added = model.rescale(scale: scale)
            out.values = a.values.map { $0 * ratio }
            out.variance = a.variance.map { $0 * ratio * ratio + added }
            out.scale = scale
        }
        return out
    }

    private static func rotated(_ v: [Double], by step: Int) -> [Double] {
        let n = v.count
        let k = ((step % n) + n) % n
        return (0..<n).map { v[($0 + k) % n] }
    }

    public func rotate(_ a: SimulatedCiphertext, by step: Int) throws -> SimulatedCiphertext {
        var out = keySwitched(a)
        out.values = Self.rotated(a.values, by: step)
        out.ideal = Self.rotated(a.ideal, by: step)
        out.variance = Self.rotated(out.variance, by: step)
        return out
    }

    public func rotateHoisted(_ a: SimulatedCiphertext, by steps: [Int]) throws -> [SimulatedCiphertext] {
        try steps.map { step in
            // A rotation by a multiple of N/2 is the identity in CKKS (no key switch).
            step % parameters.slotCount == 0 ? a : try rotate(a, by: step)
        }
    }

    public func conjugate(_ a: SimulatedCiphertext) throws -> SimulatedCiphertext { keySwitched(a) }

    public func bootstrap(_ a: SimulatedCiphertext, to level: Int) throws -> SimulatedCiphertext {
        var out = a
        out.level = level
        out.scale = schedule.scale(atLevel: level)
        let added = bootstrapErrorStandardDeviation * bootstrapErrorStandardDeviation
        out.variance = a.variance.map { $0 + added }
        return out
    }

    public func refresh(_ a: SimulatedCiphertext, function: RefreshFunction, level: Int, instruction: Int) throws -> SimulatedCiphertext {
        let scale = schedule.scale(atLevel: level)
        let fresh = model.freshEncryption(scale: scale, publicKey: false) + model.encoding(scale: scale)
        var out = a
        out.values = a.values.map(function.apply)
        out.ideal = a.ideal.map(function.apply)
        out.variance = (0..<a.slots).map { i in
            // Input noise through the function (its slope), then a fresh encryption.
            let x = a.values[i], h = max(1e-6, abs(x) * 1e-6)
            let slope = (function.apply(x + h) - function.apply(x - h)) / (2 * h)
            return slope * slope * a.variance[i] + fresh
        }
        out.level = level
        out.scale = scale
        out.degree = 1
        return out
    }

    // MARK: storage

    static let headerBytes = 32

    public func storedByteCount(of a: SimulatedCiphertext) -> Int { Self.headerBytes + 3 * a.slots * 8 }

    public func store(_ a: SimulatedCiphertext, into buffer: UnsafeMutableRawBufferPointer) {
        let base = buffer.baseAddress!
        base.storeBytes(of: UInt64(a.slots), toByteOffset: 0, as: UInt64.self)
        base.storeBytes(of: UInt32(a.level), toByteOffset: 8, as: UInt32.self)
        base.storeBytes(of: UInt32(a.degree), toByteOffset: 12, as: UInt32.self)
        base.storeBytes(of: a.scale, toByteOffset: 16, as: Double.self)
        base.storeBytes(of: UInt64(0), toByteOffset: 24, as: UInt64.self)
        let doubles = (base + Self.headerBytes).assumingMemoryBound(to: Double.self)
        for (k, vector) in [a.values, a.ideal, a.variance].enumerated() {
            vector.withUnsafeBufferPointer { (doubles + k * a.slots).update(from: $0.baseAddress!, count: a.slots) }
        }
    }

    public func load(_ buffer: UnsafeRawBufferPointer) throws -> SimulatedCiphertext {
        let base = buffer.baseAddress!
        let slots = Int(base.load(fromByteOffset: 0, as: UInt64.self))
        guard buffer.count == Self.headerBytes + 3 * slots * 8 else { throw RuntimeError.unsupported("stored simulated value has a bad size") }
        let doubles = (base + Self.headerBytes).assumingMemoryBound(to: Double.self)
        func vector(_ k: Int) -> [Double] { Array(UnsafeBufferPointer(start: doubles + k * slots, count: slots)) }
        return SimulatedCiphertext(
            values: vector(0), ideal: vector(1), variance: vector(2), level: Int(base.load(fromByteOffset: 8, as: UInt32.self)),
            scale: base.load(fromByteOffset: 16, as: Double.self), degree: Int(base.load(fromByteOffset: 12, as: UInt32.self)))
    }

    public func memoryBytes(of a: SimulatedCiphertext) -> Int { (a.degree + 1) * (a.level + 1) * parameters.degree * 8 }
}

extension Packing {
    /// `values` cut or cyclically repeated to `slots` entries (a constant's slot count equals its
    /// user's in a verified plan).
    static func replicateOrTruncate(_ values: [Double], slots: Int) -> [Double] {
        if values.count == slots { return values }
        return (0..<slots).map { values[$0 % values.count] }
    }
}
