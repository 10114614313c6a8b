import Foundation

extension EvaluationPlan {
    /// The plan evaluating one Chebyshev series on input slot 0.
    /// - Parameter babyStepLog2: force baby steps T_0 … T_{2^l − 1} (nil: try every l and keep the plan with the
    ///   fewest ct×ct multiplications, then the fewest steps).
    public static func polynomial(_ series: ChebyshevSeries, babyStepLog2: Int? = nil) -> EvaluationPlan {
        var plan = EvaluationPlan(inputCount: 1)
        let result = plan.appendPolynomial(series, input: 0, babyStepLog2: babyStepLog2)
        plan.setOutput(result)
        return plan
    }

    /// The plan evaluating p_k(…p_1(x)): each stage's input is the previous stage's output, and the first stage's
    /// interval normalization (e.g. x/B for [−B, B]) is its first step.
    public static func composite(_ stages: [ChebyshevSeries]) -> EvaluationPlan {
        var plan = EvaluationPlan(inputCount: 1)
        var slot: Slot = 0
        for (i, stage) in stages.enumerated() {
            slot = plan.appendPolynomial(stage, input: slot, label: "stage \(i + 1)")
        }
        plan.setOutput(slot)
        return plan
    }

    /// Appends the evaluation of `series` at the value in `input` and returns the slot holding the result.
    ///
    /// Baby-step giant-step in the Chebyshev basis at depth depth(input) + ⌈log2(d + 1)⌉ (+1 when the interval is
    /// not [−1, 1] and needs a non-integer scaling): p = q·T_{2^k} + r with 2^k ≤ deg p < 2^{k+1}, recursively,
    /// where q gets one level less than p and r the same; a part whose degree is below the baby-step span 2^l is a
    /// scalar linear combination of babies T_i when that fits its depth budget, and is split further otherwise.
    /// Powers T_i are computed on demand by T_{a+b} = 2·T_a·T_b − T_{a−b} with a the largest power of two below i,
    /// so an odd polynomial only ever computes odd babies and power-of-two giants.
    @discardableResult
    public mutating func appendPolynomial(
        _ series: ChebyshevSeries, input: Slot, label: String = "", babyStepLog2: Int? = nil
    ) -> Slot {
        let degree = series.degree
        let m = EvaluationPlan.ceilLog2(degree + 1)
        let choices = babyStepLog2.map { [Swift.max(1, $0)] } ?? Array(1...Swift.max(1, m))
        var best: EvaluationPlan?
        var bestSlot: Slot = input
        for l in choices {
            var trial = self
            var emitter = PolynomialEmitter(span: 1 << l, label: label)
            let slot = emitter.emit(series, input: input, into: &trial)
            if let current = best {
                let better = (trial.nonScalarMultiplications, trial.steps.count)
                    < (current.nonScalarMultiplications, current.steps.count)
                if !better { continue }
            }
            best = trial
            bestSlot = slot
        }
        self = best!
        return bestSlot
    }

    /// ⌈log2(n)⌉ for n ≥ 1.
    static func ceilLog2(_ n: Int) -> Int {
        var k = 0
        while (1 << k) < n { k += 1 }
        return k
    }
}

/// Emits the baby-step giant-step evaluation of one series into a plan.
struct PolynomialEmitter {
    enum Value { case constant(Double), slot(EvaluationPlan.Slot) }

    let span: Int
    let label: String
    var powers: [Int: EvaluationPlan.Slot] = [:]
    var baseDepth = 0

    init(span: Int, label: String) {
        self.span = span
        self.label = label
    }

    private func name(_ what: String) -> String { label.isEmpty ? what : "\(what) of \(label)" }

    mutating func emit(_ series: ChebyshevSeries, input: EvaluationPlan.Slot, into plan: inout EvaluationPlan) -> EvaluationPlan.Slot {
        let a = series.interval.lowerBound, b = series.interval.upperBound
        let scale = 2 / (b - a), offset = -(a + b) / (b - a)
        let t: EvaluationPlan.Slot
        if scale == 1 && offset == 0 {
            t = input
        } else {
            t = plan.append(.linearCombination(coefficients: [scale], terms: [input], constant: offset), comment: name("T_1 = normalized input"))
        }
        powers = [1: t]
        baseDepth = plan.depth(of: t)
        let coefficients = Array(series.coefficients.prefix(series.degree + 1))
        let budget = baseDepth + EvaluationPlan.ceilLog2(series.degree + 1)
        switch evaluate(coefficients, budget: budget, plan: &plan) {
        case let .constant(c):
            return plan.append(.linearCombination(coefficients: [], terms: [], constant: c), comment: name("constant"))
        case let .slot(s):
            return s
        }
    }

    private static func degree(_ c: [Double]) -> Int {
        var n = c.count - 1
        while n > 0 && c[n] == 0 { n -= 1 }
        return Swift.max(n, 0)
    }

    private func predictedDepth(_ i: Int, plan: EvaluationPlan) -> Int {
        if let s = powers[i] { return plan.depth(of: s) }
        return baseDepth + EvaluationPlan.ceilLog2(i)
    }

    /// T_i, computed on demand at depth baseDepth + ⌈log2 i⌉.
    mutating func power(_ i: Int, plan: inout EvaluationPlan) -> EvaluationPlan.Slot {
        if let s = powers[i] { return s }
        let a = 1 << (EvaluationPlan.ceilLog2(i) - 1)
        let b = i - a
        let slot: EvaluationPlan.Slot
        if a == b {
            let h = power(a, plan: &plan)
            slot = plan.append(.chebyshevPower(index: i, lhs: h, rhs: h, subtract: nil), comment: name("T_\(i)"))
        } else {
            let ta = power(a, plan: &plan)
            let tb = power(b, plan: &plan)
            let tc = power(a - b, plan: &plan)
            slot = plan.append(.chebyshevPower(index: i, lhs: ta, rhs: tb, subtract: tc), comment: name("T_\(i)"))
        }
        powers[i] = slot
        return slot
    }

    mutating func evaluate(_ c: [Double], budget: Int, plan: inout EvaluationPlan) -> Value {
        let n = PolynomialEmitter.degree(c)
        if n == 0 { return .constant(c.first ?? 0) }
        if n < span {
            var depth = 0
            var scalar = false
            for i in 1...n where c[i] != 0 {
                depth = Swift.max(depth, predictedDepth(i, plan: plan))
                if c[i].rounded() != c[i] { scalar = true }
            }
            if depth + (scalar ? 1 : 0) <= budget {
                var weights: [Double] = []
                var terms: [EvaluationPlan.Slot] = []
                for i in 1...n where c[i] != 0 {
                    weights.append(c[i])
                    terms.append(power(i, plan: &plan))
                }
                return .slot(plan.append(
                    .linearCombination(coefficients: weights, terms: terms, constant: c[0]), comment: name("leaf of degree \(n)")))
            }
        }
        // p = q·T_g + r with g = 2^k ≤ n < 2g, using T_g·T_j = (T_{g+j} + T_{g−j})/2.
        let g = 1 << (EvaluationPlan.ceilLog2(n + 1) - 1)
        var q = [Double](repeating: 0, count: n - g + 1)
        var r = Array(c[0..<g])
        q[0] = c[g]
        if n > g {
            for j in 1...(n - g) {
                q[j] = 2 * c[g + j]
                r[g - j] -= c[g + j]
            }
        }
        let quotient = evaluate(q, budget: budget - 1, plan: &plan)
        let giant = power(g, plan: &plan)
        let product: EvaluationPlan.Slot
        switch quotient {
        case let .constant(k):
            product = plan.append(.linearCombination(coefficients: [k], terms: [giant], constant: 0), comment: name("scaled T_\(g)"))
        case let .slot(s):
            product = plan.append(.multiply(s, giant), comment: name("quotient·T_\(g)"))
        }
        switch evaluate(r, budget: budget, plan: &plan) {
        case let .constant(k):
            if k == 0 { return .slot(product) }
            return .slot(plan.append(.linearCombination(coefficients: [1], terms: [product], constant: k), comment: name("+ constant")))
        case let .slot(s):
            return .slot(plan.append(.add(product, s), comment: name("quotient·T_\(g) + remainder")))
        }
    }
}
