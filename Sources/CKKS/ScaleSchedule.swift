import Foundation

/// The exact scale S_ℓ a ciphertext carries at each level ℓ, chosen so that every value at one level has one scale
/// and products, rescales and level drops keep it so: adds never meet two scales a plan calls equal but the primes
/// made different.
///
/// Why a schedule: a compiler plans with nominal primes 2^bits, while the NTT primes q_ℓ lie below 2^bits (by up to
/// ~2^-14 relative for 40-bit primes and N = 2^16). A ct×ct product of two scale-S values rescales to S²/q_ℓ, so a
/// scale deviation doubles at every squaring: followed forward from Δ, the scales of a depth-20 polynomial drift by
/// ~20 bits, and an add of two values that took different paths must relabel one message by the ratio of their
/// scales (e.g. 47% error for a composite-sign ReLU of depth 20).
///
/// The schedule is anchored at the bottom instead: S_0 = Δ and S_ℓ = √(q_ℓ·S_{ℓ−1}), so S_ℓ²/q_ℓ = S_{ℓ−1} exactly
/// and every S_ℓ stays within max_ℓ |q_ℓ/Δ − 1| of Δ (the backward recursion halves deviations). The runtime lands
/// on it with the freedom it has:
/// - ct×ct products of two schedule values rescale onto the schedule by themselves;
/// - a constant multiplied into a ciphertext of scale s at level ℓ is encoded at S_ℓ²/s (`multiplierScale`), so
///   the product's rescale gives S_{ℓ−1} whatever s was;
/// - a level drop spends the last dropped prime on a scalar product that moves the scale to S_target
///   (`CKKSEvaluator.dropLevel(_:to:scale:)`);
/// - fresh encryptions and refreshes use S_ℓ (`scale(atLevel:)`).
///
/// Requested (nominal) scales within `snapTolerance` of a schedule scale are taken to mean it; others (hand-written
/// plans with unusual scales) are used as given.
public struct ScaleSchedule: Sendable, Equatable {
    /// S_ℓ for ℓ = 0 … L.
    public let scales: [Double]
    /// q_ℓ as Double.
    public let primes: [Double]

    /// Largest relative distance between a requested scale and a schedule scale that still means the schedule
    /// scale (nominal scales differ by powers of two; real primes differ from 2^bits by far less).
    public static let snapTolerance = 1.0 / 16

    /// The schedule of `parameters` anchored at its default scale.
    public init(parameters: CKKSParameters) {
        self.init(primes: parameters.qPrimes, bottomScale: parameters.defaultScale)
    }

    /// S_0 = `bottomScale`, S_ℓ = √(q_ℓ·S_{ℓ−1}).
    public init(primes: [UInt64], bottomScale: Double) {
        precondition(!primes.isEmpty && bottomScale > 0, "a schedule needs at least one prime and a positive scale")
        self.primes = primes.map { Double($0) }
        var scales = [bottomScale]
        for level in primes.indices.dropFirst() { scales.append((self.primes[level] * scales[level - 1]).squareRoot()) }
        self.scales = scales
    }

    /// S_ℓ: the scale of a settled (rescaled) ciphertext at `level`.
    public func scale(atLevel level: Int) -> Double { scales[level] }

    /// The scale of a product of two schedule values at `level` (S_ℓ² = q_ℓ·S_{ℓ−1} for ℓ ≥ 1).
    public func productScale(atLevel level: Int) -> Double { level >= 1 ? primes[level] * scales[level - 1] : scales[0] * scales[0] }

    /// Whether `a` is within `snapTolerance` of `b` (relative).
    public static func isNear(_ a: Double, _ b: Double) -> Bool { abs(a / b - 1) <= snapTolerance }

    /// The exact scale to encode a multiplier (plaintext or scalar) requested at `requested` for a ciphertext of
    /// scale `operandScale` at `level`: S_ℓ²/operandScale when the requested product lands near the schedule's
    /// product scale, so the product's rescale gives exactly S_{ℓ−1}; otherwise `requested`.
    public func multiplierScale(operandScale: Double, level: Int, requested: Double) -> Double {
        let target = productScale(atLevel: level)
        return Self.isNear(operandScale * requested, target) ? target / operandScale : requested
    }

    /// The scale to encode a plaintext requested at (`level`, `requested`) when it is first encoded: S_ℓ when the
    /// request means it, else `requested`.
    public func encodingScale(requested: Double, level: Int) -> Double {
        Self.isNear(requested, scales[level]) ? scales[level] : requested
    }

    /// The scale a ciphertext of `scale` should have after dropping to `target`: S_target when it is a settled value
    /// (near S_target), nil to keep its scale (pending products and unusual scales).
    public func droppedScale(_ scale: Double, to target: Int) -> Double? {
        Self.isNear(scale, scales[target]) ? scales[target] : nil
    }
}
