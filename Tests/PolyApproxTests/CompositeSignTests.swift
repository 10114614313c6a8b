import Foundation
import Testing
@testable import PolyApprox

@Suite struct CompositeSignTests {
    /// max |p(x) − sign(x)| for |x| ∈ [ε, 1], both signs, on a grid unlike the one the library uses.
    func signError(_ evaluate: (Double) -> Double, epsilon: Double) -> Double {
        var worst = 0.0
        let n = 6000
        for j in 0...n {
            let geometric = epsilon * pow(1 / epsilon, (Double(j) + 0.37) / Double(n + 1))
            let uniform = epsilon + (1 - epsilon) * Double(j) / Double(n)
            for x in [geometric, uniform, epsilon] {
                worst = max(worst, abs(evaluate(x) - 1), abs(evaluate(-x) + 1))
            }
        }
        return worst
    }

    @Test func alpha13ReachesTwoToMinus13OutsideTheGapTwoToMinus13() throws {
        let epsilon = exp2(-13.0)
        let sign = try CompositeSign.forPrecision(alpha: 13)
        #expect(sign.epsilon == epsilon)
        #expect(sign.meetsPrecision)
        #expect(signError(sign.evaluate, epsilon: epsilon) <= epsilon)
        // The same through the evaluation plan a compiler lowers.
        let plan = EvaluationPlan.composite(sign.stages)
        #expect(signError(plan.evaluate, epsilon: epsilon) <= epsilon)
        #expect(plan.depth == sign.degrees.map(CompositeSign.depthOf).reduce(0, +))
    }

    @Test func standardDegrees15_15_27ReachTwoToMinus13WithAGapOfTwoToMinus9() throws {
        let sign = try CompositeSign.standard()
        #expect(sign.degrees == [15, 15, 27])
        #expect(sign.meetsPrecision)
        #expect(signError(sign.evaluate, epsilon: exp2(-9.0)) <= exp2(-13.0))
        let plan = EvaluationPlan.composite(sign.stages)
        #expect(plan.depth == 4 + 4 + 5)
        #expect(plan.nonScalarMultiplications <= 27)
        // With the gap 2^-13 the same degrees cannot separate the signs to 2^-13 (slope bound 15·15·27 < 2^13).
        let narrow = try CompositeSign.make(alpha: 13, degrees: [15, 15, 27], epsilon: exp2(-13.0))
        #expect(!narrow.meetsPrecision)
    }

    @Test(arguments: [8, 10])
    func searchMeetsThePrecisionWithOddStages(alpha: Int) throws {
        let sign = try CompositeSign.search(alpha: alpha)
        let target = pow(2.0, -Double(alpha))
        #expect(signError(sign.evaluate, epsilon: target) <= target)
        #expect(sign.meetsPrecision)
        let depth = sign.degrees.map(CompositeSign.depthOf).reduce(0, +)
        #expect(depth >= 2)
        for stage in sign.stages { #expect(stage.isOdd) }
    }

    @Test func stagesMapTheirDomainIntoTheNext() throws {
        let sign = try CompositeSign.make(alpha: 10, degrees: [7, 15, 15, 15])
        for i in 0..<(sign.stages.count - 1) {
            let lower = sign.stages[i].evaluate(sign.stageEpsilons[i])
            #expect(lower >= sign.stageEpsilons[i + 1] - 1e-12)
            #expect(sign.stages[i].evaluate(1) <= 1 + 1e-12)
        }
    }

    @Test func tooLowADegreeIsReported() {
        #expect(throws: PolyApproxError.invalidDegree(4, supported: 3...63)) {
            try CompositeSign.make(alpha: 8, degrees: [4])
        }
        #expect(throws: PolyApproxError.self) { try CompositeSign.search(alpha: 20, maxStages: 1) }
    }
}
