import Foundation
import Testing
@testable import PolyApprox

@Suite struct EvaluationPlanTests {
    static func ceilLog2(_ n: Int) -> Int { Int(ceil(log2(Double(n)))) }

    /// Relative difference between the plan and Clenshaw on a grid of the interval.
    func planError(_ plan: EvaluationPlan, _ series: ChebyshevSeries) -> Double {
        let a = series.interval.lowerBound, b = series.interval.upperBound
        var worst = 0.0, scale = 0.0
        for i in 0...400 {
            let x = a + (b - a) * Double(i) / 400
            let expected = series.evaluate(x)
            worst = max(worst, abs(plan.evaluate(x) - expected))
            scale = max(scale, abs(expected))
        }
        return worst / max(scale, 1e-300)
    }

    @Test func depthIsOptimalAndEvaluationMatchesClenshawForEveryDegreeUpTo63() {
        var generator = SplitMix64(seed: 7)
        for degree in 1...63 {
            let coefficients = (0...degree).map { _ in generator.nextDouble() * 2 - 1 }
            let series = ChebyshevSeries(coefficients: coefficients)
            let plan = EvaluationPlan.polynomial(series)
            #expect(plan.depth == Self.ceilLog2(degree + 1), "degree \(degree)")
            #expect(planError(plan, series) <= 1e-9, "degree \(degree)")
            // Baby-step giant-step: far fewer ct×ct products than the degree for larger degrees.
            if degree >= 15 { #expect(plan.nonScalarMultiplications <= Int(2 * sqrt(Double(2 * degree))) + Self.ceilLog2(degree + 1)) }
            // Every step's depth respects its operands.
            for step in plan.steps {
                let operandDepth = step.operation.operands.map { plan.depth(of: $0) }.max() ?? 0
                #expect(step.depth == operandDepth + (step.consumesLevel ? 1 : 0))
            }
        }
    }

    @Test func oddPolynomialsUseOnlyOddBabiesAndKeepOptimalDepth() {
        var generator = SplitMix64(seed: 11)
        for degree in stride(from: 1, through: 63, by: 2) {
            var coefficients = (0...degree).map { _ in generator.nextDouble() * 2 - 1 }
            for i in stride(from: 0, through: degree, by: 2) { coefficients[i] = 0 }
            let series = ChebyshevSeries(coefficients: coefficients)
            let plan = EvaluationPlan.polynomial(series)
            #expect(plan.depth == Self.ceilLog2(degree + 1))
            #expect(planError(plan, series) <= 1e-9)
            for step in plan.steps {
                if case let .chebyshevPower(index, _, _, _) = step.operation {
                    #expect(index % 2 == 1 || index & (index - 1) == 0, "T_\(index) computed for an odd polynomial")
                }
            }
        }
    }

    @Test func everyBabyStepSplitIsCorrect() {
        var generator = SplitMix64(seed: 3)
        let series = ChebyshevSeries(coefficients: (0...40).map { _ in generator.nextDouble() - 0.5 })
        for l in 1...6 {
            let plan = EvaluationPlan.polynomial(series, babyStepLog2: l)
            #expect(plan.depth == 6)
            #expect(planError(plan, series) <= 1e-9)
        }
    }

    @Test func anIntervalOtherThanUnitCostsOneNormalizationLevel() {
        let series = ChebyshevSeries(coefficients: [0.5, -1, 0.25, 0.125, 2, -0.75, 0.3, 0.1], interval: -3...5)
        let plan = EvaluationPlan.polynomial(series)
        #expect(plan.depth == 3 + 1)
        #expect(planError(plan, series) <= 1e-9)
        // [−0.5, 0.5] normalizes by the integer 2: no level.
        let halfWidth = ChebyshevSeries(coefficients: series.coefficients, interval: -0.5...0.5)
        #expect(EvaluationPlan.polynomial(halfWidth).depth == 3)
    }

    @Test func smallPlansHaveTheExpectedShape() {
        // 0.5·T_1 + 0.25·T_3: the scalar 0.25 on T_3 (depth 2) would need depth 3, so the plan splits at T_2:
        // (0.5·x)·T_2 + 0.25·x with T_2 = 2·x·x − 1 — two products, depth 2.
        let series = ChebyshevSeries(coefficients: [0, 0.5, 0, 0.25])
        let plan = EvaluationPlan.polynomial(series)
        #expect(plan.nonScalarMultiplications == 2)
        #expect(plan.depth == 2)
        #expect(plan.steps.contains { $0.operation == .chebyshevPower(index: 2, lhs: 0, rhs: 0, subtract: nil) })
        #expect(plan.steps.contains { $0.operation == .linearCombination(coefficients: [0.5], terms: [0], constant: 0) })
        #expect(plan.description.contains("= 2·%0·%0 − 1   ; T_2, depth 1"))
        for x in [-1.0, -0.3, 0.2, 0.9] { #expect(abs(plan.evaluate(x) - series.evaluate(x)) < 1e-15) }
        // With an integer coefficient no scalar level is needed and T_3 itself is computed.
        let integer = EvaluationPlan.polynomial(ChebyshevSeries(coefficients: [0, 1, 0, 2]))
        #expect(integer.depth == 2)
        #expect(integer.steps.contains { $0.operation == .chebyshevPower(index: 3, lhs: 1, rhs: 0, subtract: 0) })
        // A constant polynomial is one constant step of depth 0.
        let constant = EvaluationPlan.polynomial(ChebyshevSeries(coefficients: [3]))
        #expect(constant.depth == 0 && constant.evaluate(0.3) == 3)
    }

    @Test func compositeChainsStagesAndRoundTripsThroughCodable() throws {
        let p1 = ChebyshevSeries(coefficients: [0, 1.2, 0, -0.3], interval: -4...4)
        let p2 = ChebyshevSeries(coefficients: [0, 0.9, 0, 0.1, 0, -0.05])
        let plan = EvaluationPlan.composite([p1, p2])
        #expect(plan.depth == 1 + 2 + 3)
        for x in stride(from: -4.0, through: 4.0, by: 0.25) {
            #expect(abs(plan.evaluate(x) - p2.evaluate(p1.evaluate(x))) < 1e-12)
        }
        let decoded = try JSONDecoder().decode(EvaluationPlan.self, from: JSONEncoder().encode(plan))
        #expect(decoded == plan)
    }
}

/// Cut points: where a plan narrows to one computed value, so one bootstrap there serves the rest of the plan.
@Suite struct EvaluationPlanCutPointTests {
    @Test func compositeReLUNarrowsBetweenItsStages() throws {
        let relu = try ActivationApproximation.relu(range: -8...8, alpha: 8)
        let plan = relu.plan
        let cuts = plan.cutPoints
        // The input, then one cut after each sign stage but the last (the stages' outputs feed only the next stage).
        #expect(cuts.first?.slot == 0)
        #expect(cuts.count >= 3, "\(cuts)")
        // Every cut's need stays within the plan, the deepest reaches the output's depth, and none needs all of it.
        for cut in cuts {
            #expect(cut.depthToNext > 0 && plan.depth(of: cut.slot) + cut.depthToNext <= plan.depth, "\(cut)")
        }
        #expect(cuts.map { plan.depth(of: $0.slot) + $0.depthToNext }.max() == plan.depth)
        #expect(cuts.allSatisfy { $0.depthToNext < plan.depth }, "a composite is refreshable between stages: \(cuts)")
        // No cut's slot is read before its definition or is dead: each is read by a later step.
        for cut in cuts.dropFirst() {
            let readers = plan.steps.indices.filter { plan.steps[$0].operation.operands.contains(cut.slot) }
            #expect(!readers.isEmpty && readers.allSatisfy { plan.inputCount + $0 > cut.slot })
        }
    }

    @Test func singlePolynomialInputNeedsTheWholeDepth() throws {
        let relu = try ActivationApproximation.relu(range: -5...5, degree: 31)
        // Without stages there is nowhere to refresh mid-way: the last cut (the input, or its copy scaled to [−1, 1] when the
        // range is not [−1, 1] already) needs everything from its own depth to the output.
        let cuts = relu.plan.cutPoints
        #expect(cuts.first?.slot == 0 && cuts.count <= 2, "\(cuts)")
        let last = try #require(cuts.last)
        #expect(relu.plan.depth(of: last.slot) + last.depthToNext == relu.plan.depth, "\(cuts)")
        if cuts.count == 2 { #expect(cuts[0].depthToNext == relu.plan.depth(of: cuts[1].slot), "\(cuts)") }
    }

    @Test func handBuiltPlanCutsWhereOneValueIsLive() {
        // %1 = x·x, %2 = %1·%1 (only %2 live: a cut), %3 = %2·x (the output).
        var plan = EvaluationPlan()
        let square = plan.append(.multiply(0, 0))
        let fourth = plan.append(.multiply(square, square))
        plan.append(.multiply(fourth, 0))
        #expect(plan.cutPoints == [
            EvaluationPlan.CutPoint(slot: 0, depthToNext: 1),
            EvaluationPlan.CutPoint(slot: square, depthToNext: 1),
            EvaluationPlan.CutPoint(slot: fourth, depthToNext: 1),
        ])
        // Two live values (%1 and %2 both read later): no cut after %2.
        var wide = EvaluationPlan()
        let a = wide.append(.multiply(0, 0))
        let b = wide.append(.multiply(a, a))
        wide.append(.add(a, b))
        #expect(wide.cutPoints == [EvaluationPlan.CutPoint(slot: 0, depthToNext: 1), EvaluationPlan.CutPoint(slot: a, depthToNext: 1)])
    }
}
