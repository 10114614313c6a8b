import Foundation

/// The nonlinear functions Tessera approximates by polynomials.
public enum ActivationFunction: Hashable, Sendable, Codable, CustomStringConvertible {
    case relu
    case sigmoid
    /// min(max(x, lower), upper); ReLU6 is clip(0, 6).
    case clip(lower: Double, upper: Double)
    case sign
    case absoluteValue
    /// max(a, b) of two inputs.
    case maxOf2

    /// Number of inputs.
    public var arity: Int { self == .maxOf2 ? 2 : 1 }

    /// The exact function.
    public func exact(_ inputs: [Double]) -> Double {
        switch self {
        case .relu: return Swift.max(0, inputs[0])
        case .sigmoid: return 1 / (1 + exp(-inputs[0]))
        case let .clip(lower, upper): return Swift.min(Swift.max(inputs[0], lower), upper)
        case .sign: return inputs[0] > 0 ? 1 : (inputs[0] < 0 ? -1 : 0)
        case .absoluteValue: return abs(inputs[0])
        case .maxOf2: return Swift.max(inputs[0], inputs[1])
        }
    }

    public var description: String {
        switch self {
        case .relu: return "relu"
        case .sigmoid: return "sigmoid"
        case let .clip(lower, upper): return "clip(\(lower), \(upper))"
        case .sign: return "sign"
        case .absoluteValue: return "abs"
        case .maxOf2: return "max"
        }
    }
}

/// A polynomial approximation of an activation, ready to lower: its evaluation plan, depth, cost and measured error.
public struct Approximation: Sendable, CustomStringConvertible {
    public enum Method: Hashable, Sendable {
        /// One minimax polynomial of this degree on the range.
        case minimax(degree: Int)
        /// A composite minimax sign p_k∘…∘p_1 (precision α on the gap ε, relative to the input bound).
        case compositeSign(alpha: Int, epsilon: Double, degrees: [Int])
    }

    public let function: ActivationFunction
    /// The input range the error is measured on (for max(a, b), each input's range).
    public let range: ClosedRange<Double>
    public let method: Method
    /// The plan a compiler lowers: `function.arity` inputs (raw values in `range`), output the approximation.
    public let plan: EvaluationPlan
    /// max |approximation − function| over a dense grid of the range (a 2-D grid for max(a, b)), evaluated through
    /// `plan`.
    public let maxAbsoluteError: Double

    /// Levels consumed (see ``EvaluationPlan`` for the depth model).
    public var depth: Int { plan.depth }
    /// Ciphertext×ciphertext multiplications.
    public var nonScalarMultiplications: Int { plan.nonScalarMultiplications }
    /// −log2(maxAbsoluteError).
    public var precisionBits: Double { -log2(maxAbsoluteError) }

    /// The approximation at x (runs the plan in Double).
    public func evaluate(_ x: Double) -> Double { plan.evaluate([x]) }
    /// The approximation of max(a, b).
    public func evaluate(_ a: Double, _ b: Double) -> Double { plan.evaluate([a, b]) }

    public var description: String {
        let how: String
        switch method {
        case let .minimax(degree): how = "minimax degree \(degree)"
        case let .compositeSign(alpha, epsilon, degrees):
            how = "composite sign α=\(alpha) ε=2^\(log2(epsilon)) degrees \(degrees)"
        }
        return "\(function) on [\(range.lowerBound), \(range.upperBound)]: \(how), depth \(depth), "
            + "\(nonScalarMultiplications) ct×ct mults, max error \(maxAbsoluteError)"
    }
}

/// Builders of activation approximations for the compiler (`--relu-alpha`, `--relu-degree`, calibrated ranges).
public enum ActivationApproximation {
    /// Degrees a single minimax polynomial may have.
    public static let singleDegrees = 1...63

    /// ReLU on `range`.
    /// - With `alpha`: ReLU(x) = x·(1 + sign(x/B))/2, B = max(|lower|, |upper|), with the composite sign of
    ///   precision α on the gap `epsilon` (default 2^−α; the ReLU error is then about B·2^−α near 0 and
    ///   B·2^−α/2 elsewhere). The factor 1/2 and the +1 are folded into the last stage's coefficients and x/B
    ///   into the first stage's normalization.
    /// - With `degree` (1…63, no alpha): one minimax polynomial of that degree on the range.
    public static func relu(
        range: ClosedRange<Double>, alpha: Int? = nil, degree: Int? = nil, epsilon: Double? = nil
    ) throws(PolyApproxError) -> Approximation {
        try validate(range)
        if let alpha {
            let bound = try signBound(range)
            let sign = try CompositeSign.forPrecision(alpha: alpha, epsilon: epsilon)
            var plan = EvaluationPlan(inputCount: 1)
            let half = appendHalfSignPlusHalf(sign, bound: bound, input: 0, plan: &plan)
            plan.append(.multiply(0, half), comment: "x·(1 + sign)/2")
            return finish(.relu, range, .compositeSign(alpha: alpha, epsilon: sign.epsilon, degrees: sign.degrees), plan)
        }
        guard let degree else { throw .invalidParameter("relu needs alpha (composite sign) or degree (single minimax)") }
        return try single(.relu, range: range, degree: degree)
    }

    /// ReLU by the lowest-degree single minimax polynomial whose error on `range` is ≤ `maxError`.
    public static func relu(range: ClosedRange<Double>, maxError: Double) throws(PolyApproxError) -> Approximation {
        try single(.relu, range: range, maxError: maxError)
    }

    /// The logistic sigmoid by one minimax polynomial of `degree` (1…63) on `range`.
    public static func sigmoid(range: ClosedRange<Double>, degree: Int) throws(PolyApproxError) -> Approximation {
        try single(.sigmoid, range: range, degree: degree)
    }

    /// The sigmoid by the lowest-degree minimax polynomial with error ≤ `maxError` on `range`.
    public static func sigmoid(range: ClosedRange<Double>, maxError: Double) throws(PolyApproxError) -> Approximation {
        try single(.sigmoid, range: range, maxError: maxError)
    }

    /// min(max(x, lower), upper) on `range` (ReLU6: lower 0, upper 6).
    /// - With `alpha`: lower + ReLU(x − lower) − ReLU(x − upper), two composite-sign ReLUs evaluated side by side.
    /// - With `degree`: one minimax polynomial.
    public static func clip(
        min lower: Double, max upper: Double, range: ClosedRange<Double>, alpha: Int? = nil, degree: Int? = nil,
        epsilon: Double? = nil
    ) throws(PolyApproxError) -> Approximation {
        try validate(range)
        guard lower < upper, lower.isFinite, upper.isFinite else {
            throw .invalidParameter("clip needs finite min < max, got [\(lower), \(upper)]")
        }
        let function = ActivationFunction.clip(lower: lower, upper: upper)
        if let alpha {
            let sign = try CompositeSign.forPrecision(alpha: alpha, epsilon: epsilon)
            var plan = EvaluationPlan(inputCount: 1)
            var products: [EvaluationPlan.Slot] = []
            for shift in [lower, upper] {
                let shifted = plan.append(.linearCombination(coefficients: [1], terms: [0], constant: -shift), comment: "x − \(shift)")
                let bound = Swift.max(abs(range.lowerBound - shift), abs(range.upperBound - shift))
                guard bound > 0 else { throw .invalidParameter("the range must not be a single point") }
                let half = appendHalfSignPlusHalf(sign, bound: bound, input: shifted, plan: &plan)
                products.append(plan.append(.multiply(shifted, half), comment: "relu(x − \(shift))"))
            }
            plan.append(.linearCombination(coefficients: [1, -1], terms: products, constant: lower), comment: "clip")
            return finish(function, range, .compositeSign(alpha: alpha, epsilon: sign.epsilon, degrees: sign.degrees), plan)
        }
        guard let degree else { throw .invalidParameter("clip needs alpha (composite sign) or degree (single minimax)") }
        return try single(function, range: range, degree: degree)
    }

    /// ReLU6 = clip(0, 6).
    public static func relu6(range: ClosedRange<Double>, alpha: Int? = nil, degree: Int? = nil) throws(PolyApproxError) -> Approximation {
        try clip(min: 0, max: 6, range: range, alpha: alpha, degree: degree)
    }

    /// sign(x/B) on `range` by the composite of precision α (error ≤ 2^−α for |x| ≥ εB; the reported error is
    /// measured there, since no polynomial approximates sign across 0).
    public static func sign(range: ClosedRange<Double>, alpha: Int, epsilon: Double? = nil) throws(PolyApproxError) -> Approximation {
        try validate(range)
        let bound = try signBound(range)
        let sign = try CompositeSign.forPrecision(alpha: alpha, epsilon: epsilon)
        var stages = sign.stages
        stages[0].interval = -bound...bound
        let plan = EvaluationPlan.composite(stages)
        return finish(
            .sign, range, .compositeSign(alpha: alpha, epsilon: sign.epsilon, degrees: sign.degrees), plan,
            excludingBelow: sign.epsilon * bound)
    }

    /// |x| = x·sign(x/B).
    public static func absoluteValue(range: ClosedRange<Double>, alpha: Int, epsilon: Double? = nil) throws(PolyApproxError) -> Approximation {
        try validate(range)
        let bound = try signBound(range)
        let sign = try CompositeSign.forPrecision(alpha: alpha, epsilon: epsilon)
        var stages = sign.stages
        stages[0].interval = -bound...bound
        var plan = EvaluationPlan(inputCount: 1)
        var slot: EvaluationPlan.Slot = 0
        for (i, stage) in stages.enumerated() { slot = plan.appendPolynomial(stage, input: slot, label: "sign stage \(i + 1)") }
        plan.append(.multiply(0, slot), comment: "x·sign(x)")
        return finish(.absoluteValue, range, .compositeSign(alpha: alpha, epsilon: sign.epsilon, degrees: sign.degrees), plan)
    }

    /// max(a, b) = (a + b)/2 + (a − b)·sign((a − b)/D)/2 for a, b ∈ `range`, D = upper − lower (two inputs).
    /// A 2×2 MaxPool is two rounds of it.
    public static func maxOf2(range: ClosedRange<Double>, alpha: Int, epsilon: Double? = nil) throws(PolyApproxError) -> Approximation {
        try validate(range)
        let spread = range.upperBound - range.lowerBound
        guard spread > 0 else { throw .invalidParameter("the range must not be a single point") }
        let sign = try CompositeSign.forPrecision(alpha: alpha, epsilon: epsilon)
        var stages = sign.stages
        stages[0].interval = -spread...spread
        stages[stages.count - 1] = stages[stages.count - 1].scaled(by: 0.5)
        var plan = EvaluationPlan(inputCount: 2)
        let difference = plan.append(.linearCombination(coefficients: [1, -1], terms: [0, 1], constant: 0), comment: "a − b")
        var slot = difference
        for (i, stage) in stages.enumerated() { slot = plan.appendPolynomial(stage, input: slot, label: "sign stage \(i + 1)") }
        let mean = plan.append(.linearCombination(coefficients: [0.5, 0.5], terms: [0, 1], constant: 0), comment: "(a + b)/2")
        let correction = plan.append(.multiply(difference, slot), comment: "|a − b|/2")
        plan.append(.add(mean, correction), comment: "max(a, b)")
        return finish(.maxOf2, range, .compositeSign(alpha: alpha, epsilon: sign.epsilon, degrees: sign.degrees), plan)
    }

    /// The lowest single-minimax degree (1…63) whose error for `function` on `range` is ≤ `maxError`, found by
    /// bisection (the minimax error does not increase with the degree).
    public static func lowestDegree(
        for function: ActivationFunction, range: ClosedRange<Double>, maxError: Double
    ) throws(PolyApproxError) -> Int {
        guard function.arity == 1 else { throw .invalidParameter("\(function) has two inputs; use maxOf2(range:alpha:)") }
        guard maxError > 0, maxError.isFinite else { throw .invalidParameter("maxError must be positive, got \(maxError)") }
        try validate(range)
        func error(_ d: Int) throws(PolyApproxError) -> Double {
            try Remez.minimax({ function.exact([$0]) }, on: range, degree: d).maxError
        }
        if try error(singleDegrees.upperBound) > maxError {
            throw .precisionUnreachable(
                "no polynomial of degree ≤ \(singleDegrees.upperBound) approximates \(function) on [\(range.lowerBound), \(range.upperBound)] within \(maxError); use a composite (alpha) or a narrower range")
        }
        var low = singleDegrees.lowerBound, high = singleDegrees.upperBound
        while low < high {
            let mid = (low + high) / 2
            if try error(mid) <= maxError { high = mid } else { low = mid + 1 }
        }
        return low
    }

    // MARK: helpers

    static func single(_ function: ActivationFunction, range: ClosedRange<Double>, degree: Int) throws(PolyApproxError) -> Approximation {
        try validate(range)
        guard singleDegrees.contains(degree) else { throw .invalidDegree(degree, supported: singleDegrees) }
        let minimax = try Remez.minimax({ function.exact([$0]) }, on: range, degree: degree)
        return finish(function, range, .minimax(degree: degree), EvaluationPlan.polynomial(minimax.series))
    }

    static func single(_ function: ActivationFunction, range: ClosedRange<Double>, maxError: Double) throws(PolyApproxError) -> Approximation {
        let degree = try lowestDegree(for: function, range: range, maxError: maxError)
        return try single(function, range: range, degree: degree)
    }

    /// Appends (1 + sign(x/B))/2 at `input`: the stages with the first normalized by B and the last scaled.
    static func appendHalfSignPlusHalf(
        _ sign: CompositeSign, bound: Double, input: EvaluationPlan.Slot, plan: inout EvaluationPlan
    ) -> EvaluationPlan.Slot {
        var stages = sign.stages
        stages[0].interval = -bound...bound
        stages[stages.count - 1] = stages[stages.count - 1].scaled(by: 0.5, plus: 0.5)
        var slot = input
        for (i, stage) in stages.enumerated() { slot = plan.appendPolynomial(stage, input: slot, label: "sign stage \(i + 1)") }
        return slot
    }

    static func signBound(_ range: ClosedRange<Double>) throws(PolyApproxError) -> Double {
        let bound = Swift.max(abs(range.lowerBound), abs(range.upperBound))
        guard bound > 0 else { throw .invalidParameter("the range must not be the single point 0") }
        return bound
    }

    static func validate(_ range: ClosedRange<Double>) throws(PolyApproxError) {
        try ChebyshevSeries.validate(range)
    }

    static func finish(
        _ function: ActivationFunction, _ range: ClosedRange<Double>, _ method: Approximation.Method, _ plan: EvaluationPlan,
        excludingBelow gap: Double = 0
    ) -> Approximation {
        let error = measure(function, range: range, plan: plan, excludingBelow: gap)
        return Approximation(function: function, range: range, method: method, plan: plan, maxAbsoluteError: error)
    }

    /// max |plan − function| on a dense grid (2-D for two inputs), including 0 and the range ends; points with
    /// |x| < `gap` are skipped (one input only).
    static func measure(
        _ function: ActivationFunction, range: ClosedRange<Double>, plan: EvaluationPlan, excludingBelow gap: Double = 0
    ) -> Double {
        let a = range.lowerBound, b = range.upperBound
        var worst = 0.0
        if function.arity == 1 {
            var points = ChebyshevSeries.denseGrid(range, points: 10_001)
            if range.contains(0) { points.append(0) }
            for g in [gap, -gap] where gap > 0 && range.contains(g) { points.append(g) }
            for x in points where abs(x) >= gap { worst = Swift.max(worst, abs(plan.evaluate([x]) - function.exact([x]))) }
        } else {
            let n = 241
            for i in 0..<n {
                let x = a + (b - a) * Double(i) / Double(n - 1)
                for j in 0..<n {
                    let y = a + (b - a) * Double(j) / Double(n - 1)
                    worst = Swift.max(worst, abs(plan.evaluate([x, y]) - function.exact([x, y])))
                }
                // Near the diagonal, where |a − b| is small and the sign is least accurate.
                for offset in [-1e-3, -1e-4, 1e-4, 1e-3].map({ $0 * (b - a) }) where range.contains(x + offset) {
                    worst = Swift.max(worst, abs(plan.evaluate([x, x + offset]) - function.exact([x, x + offset])))
                }
            }
        }
        return worst
    }
}
