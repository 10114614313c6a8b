import Foundation

/// A composite minimax approximation of sign(x) (Lee, Lee, Kim, No: "Minimax approximation of sign function by
/// composite polynomial for homomorphic comparison"): p_k ∘ … ∘ p_1 of odd polynomials with
/// |p(x) − sign(x)| ≤ 2^−α for |x| ∈ [ε, 1] (precision α, gap ε; ε = 2^−α unless given).
///
/// Note on the standard set: degrees {15, 15, 27} reach 2^−13 only for a gap ε ≥ ≈2^−9 (a composite's slope at 0
/// is at most Π d_i = 6075 < 2^13, so no composite of these degrees can reach 2^−13 at ε = 2^−13); for
/// ε = 2^−13 the search finds a deeper sequence.
///
/// Stage i is the odd minimax polynomial of sign on [−1, −ε_i] ∪ [ε_i, 1] (ε_1 = ε) with error τ_i; every
/// stage but the last is divided by 1 + τ_i, so it maps [ε_i, 1] into [ε_{i+1}, 1] with
/// ε_{i+1} = (1 − τ_i)/(1 + τ_i). The last stage's error is the composite's error.
public struct CompositeSign: Sendable {
    /// The precision target: error ≤ 2^−alpha outside (−epsilon, epsilon).
    public let alpha: Int
    /// The gap: the error is guaranteed for |x| ∈ [epsilon, 1].
    public let epsilon: Double
    /// The odd degree of each stage, first applied first.
    public let degrees: [Int]
    /// The stages p_1 … p_k, each an odd series on [−1, 1] (normalized as described above).
    public let stages: [ChebyshevSeries]
    /// ε_1 … ε_k: the inner end of the domain of each stage.
    public let stageEpsilons: [Double]
    /// τ_1 … τ_k: the minimax error of each stage before normalization.
    public let stageErrors: [Double]
    /// max |p(x) − sign(x)| for |x| ∈ [ε, 1], measured on a dense grid (geometric near ε, uniform above).
    public let achievedError: Double

    /// True when `achievedError` ≤ 2^−alpha.
    public var meetsPrecision: Bool { achievedError <= pow(2, -Double(alpha)) }

    /// The achieved precision in bits, −log2(achievedError).
    public var achievedBits: Double { -log2(achievedError) }

    /// The standard set of Lee et al.: α = 13 with degrees {15, 15, 27}, valid for a gap ε ≥ 2^−9.
    public static let standardAlpha13Degrees = [15, 15, 27]
    /// The gap for which ``standardAlpha13Degrees`` reaches 2^−13.
    public static let standardAlpha13Epsilon: Double = 1.0 / 512

    /// Lee et al.'s standard composite: α = 13, degrees {15, 15, 27}, ε = 2^−9.
    public static func standard() throws(PolyApproxError) -> CompositeSign {
        try make(alpha: 13, degrees: standardAlpha13Degrees, epsilon: standardAlpha13Epsilon)
    }

    /// p_k(…p_1(x)) for x in [−1, 1].
    @inlinable
    public func evaluate(_ x: Double) -> Double {
        var y = x
        for stage in stages { y = stage.evaluate(y) }
        return y
    }

    /// Builds the composite from the given odd degrees (3…63) for the gap `epsilon` (default 2^−alpha), and
    /// measures its error; `alpha` is the precision it is meant for (see ``meetsPrecision``).
    public static func make(alpha: Int, degrees: [Int], epsilon: Double? = nil) throws(PolyApproxError) -> CompositeSign {
        guard (1...40).contains(alpha) else { throw .invalidParameter("alpha \(alpha) must lie in 1...40") }
        let gap = epsilon ?? pow(2, -Double(alpha))
        guard gap > 0, gap < 1 else { throw .invalidParameter("epsilon \(gap) must lie in (0, 1)") }
        guard !degrees.isEmpty else { throw .invalidParameter("a composite sign needs at least one degree") }
        for d in degrees where d % 2 == 0 || !(3...63).contains(d) {
            throw .invalidDegree(d, supported: 3...63)
        }
        var epsilon = gap
        var stages: [ChebyshevSeries] = []
        var epsilons: [Double] = []
        var errors: [Double] = []
        for (i, d) in degrees.enumerated() {
            let approximation = try stage(epsilon: epsilon, degree: d)
            let tau = approximation.maxError
            guard tau < 1 else { throw .compositeStageFailed(stage: i + 1, degree: d, error: tau) }
            epsilons.append(epsilon)
            errors.append(tau)
            if i < degrees.count - 1 {
                stages.append(approximation.series.scaled(by: 1 / (1 + tau)))
                // A smaller ε than the exact image bound is safe (the next stage then covers a larger domain);
                // the clamp keeps the domain non-degenerate when a stage is already exact to rounding.
                epsilon = Swift.min((1 - tau) / (1 + tau), 1 - 1e-6)
            } else {
                stages.append(approximation.series)
            }
        }
        let partial = CompositeSign(
            alpha: alpha, epsilon: gap, degrees: degrees, stages: stages, stageEpsilons: epsilons, stageErrors: errors,
            achievedError: 0)
        let achieved = measureError(partial, epsilon: gap)
        return CompositeSign(
            alpha: alpha, epsilon: gap, degrees: degrees, stages: stages, stageEpsilons: epsilons, stageErrors: errors,
            achievedError: achieved)
    }

    /// The composite for precision α on the gap ε (default 2^−α): the standard {15, 15, 27} when α = 13 and
    /// ε ≥ 2^−9, else ``search(alpha:epsilon:maxStages:)``.
    public static func forPrecision(alpha: Int, epsilon: Double? = nil) throws(PolyApproxError) -> CompositeSign {
        let gap = epsilon ?? pow(2, -Double(alpha))
        if alpha == 13 && gap >= standardAlpha13Epsilon {
            return try make(alpha: alpha, degrees: standardAlpha13Degrees, epsilon: gap)
        }
        return try search(alpha: alpha, epsilon: gap)
    }

    /// Searches degree sequences for precision α: first the least total depth Σ⌈log2(d_i+1)⌉ using degrees
    /// 2^j − 1 (the largest per depth), then, stage by stage from the last, lowers each degree to the smallest odd
    /// degree of the same depth that still meets 2^−α (fewer multiplications at the same depth).
    /// - Parameters:
    ///   - epsilon: the gap, default 2^−α.
    ///   - maxStages: at most this many stages (1…8).
    public static func search(alpha: Int, epsilon: Double? = nil, maxStages: Int = 6) throws(PolyApproxError) -> CompositeSign {
        guard (1...30).contains(alpha) else { throw .invalidParameter("alpha \(alpha) must lie in 1...30 for the search") }
        let target = pow(2, -Double(alpha))
        let gap = epsilon ?? target
        guard gap > 0, gap < 1 else { throw .invalidParameter("epsilon \(gap) must lie in (0, 1)") }
        let depthDegrees = [(2, 3), (3, 7), (4, 15), (5, 31)]
        // best[(stages, depth)] = largest ε reached (or achieved error when final) — a small DP over depth.
        struct Path { var degrees: [Int]; var epsilon: Double; var error: Double }
        var frontier: [Path] = [Path(degrees: [], epsilon: gap, error: 1)]
        var bestByDepth: [Int: Path] = [:]
        var found: Path?
        for _ in 0..<Swift.max(1, Swift.min(maxStages, 8)) {
            var next: [Int: Path] = [:]
            for path in frontier {
                for (stageDepth, d) in depthDegrees {
                    guard let approximation = try? stage(epsilon: path.epsilon, degree: d),
                        approximation.maxError < 1
                    else { continue }
                    let tau = approximation.maxError
                    let depth = path.degrees.reduce(0) { $0 + depthOf($1) } + stageDepth
                    let candidate = Path(degrees: path.degrees + [d], epsilon: Swift.min((1 - tau) / (1 + tau), 1 - 1e-6), error: tau)
                    if tau <= target {
                        if found == nil || depth < found!.degrees.reduce(0, { $0 + depthOf($1) }) {
                            found = candidate
                        }
                        continue
                    }
                    if let existing = next[depth], existing.epsilon >= candidate.epsilon { continue }
                    if let existing = bestByDepth[depth], existing.epsilon >= candidate.epsilon { continue }
                    next[depth] = candidate
                }
            }
            for (depth, path) in next { bestByDepth[depth] = path }
            // Paths already deeper than a found solution cannot win.
            let bound = found.map { $0.degrees.reduce(0) { $0 + depthOf($1) } } ?? Int.max
            frontier = next.filter { $0.key < bound }.sorted { $0.key < $1.key }.map(\.value)  // deterministic order
            if frontier.isEmpty { break }
        }
        guard var degrees = found?.degrees else {
            throw .precisionUnreachable("no composite of at most \(maxStages) stages of degree ≤ 31 reaches 2^-\(alpha)")
        }
        // Lower degrees at equal depth while the precision holds.
        for i in stride(from: degrees.count - 1, through: 0, by: -1) {
            let depth = depthOf(degrees[i])
            var d = degrees[i] - 2
            while d >= 3 && depthOf(d) == depth {
                var trial = degrees
                trial[i] = d
                guard let composite = try? make(alpha: alpha, degrees: trial, epsilon: gap),
                    composite.achievedError <= target
                else { break }
                degrees = trial
                d -= 2
            }
        }
        return try make(alpha: alpha, degrees: degrees, epsilon: gap)
    }

    /// ⌈log2(d + 1)⌉, the depth of one stage.
    public static func depthOf(_ degree: Int) -> Int {
        var depth = 0
        while (1 << depth) < degree + 1 { depth += 1 }
        return depth
    }

    /// One stage: the odd minimax polynomial of sign on [−1, −ε] ∪ [ε, 1].
    static func stage(epsilon: Double, degree: Int) throws(PolyApproxError) -> MinimaxApproximation {
        try Remez.minimax(
            { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }, on: [-1 ... -epsilon, epsilon...1], degree: degree, parity: .odd,
            tolerance: 1e-10, maxIterations: 120)
    }

    static func measureError(_ composite: CompositeSign, epsilon: Double) -> Double {
        var worst = 0.0
        // Geometric points from ε to 1 (the error varies fastest near ε) and uniform points.
        let geometric = 4000
        for j in 0...geometric {
            let x = epsilon * pow(1 / epsilon, Double(j) / Double(geometric))
            worst = Swift.max(worst, abs(composite.evaluate(x) - 1))
        }
        let uniform = 4000
        for j in 0...uniform {
            let x = epsilon + (1 - epsilon) * Double(j) / Double(uniform)
            worst = Swift.max(worst, abs(composite.evaluate(x) - 1))
        }
        return worst
    }
}
