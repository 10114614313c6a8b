import Foundation
import Testing
@testable import PolyApprox

@Suite struct ActivationApproximationTests {
    /// Independent error measurement on an offset uniform grid.
    func measuredError(_ approximation: Approximation, _ exact: (Double) -> Double) -> Double {
        let a = approximation.range.lowerBound, b = approximation.range.upperBound
        var worst = 0.0
        for i in 0...7919 {
            let x = a + (b - a) * (Double(i) + 0.5) / 7920
            worst = max(worst, abs(approximation.evaluate(x) - exact(x)))
        }
        return worst
    }

    @Test func compositeReluErrorIsAsReported() throws {
        let bound = 8.0
        let epsilon = exp2(-9.0)
        let relu = try ActivationApproximation.relu(range: -bound...bound, alpha: 13, epsilon: epsilon)
        guard case let .compositeSign(alpha, gap, degrees) = relu.method else { Issue.record("not composite"); return }
        #expect(alpha == 13 && gap == epsilon && degrees == [15, 15, 27])
        // x/B (1 level) + 4 + 4 + 5 + the final product.
        #expect(relu.depth == 15)
        #expect(relu.nonScalarMultiplications <= 28)
        let measured = measuredError(relu) { max(0, $0) }
        #expect(measured <= relu.maxAbsoluteError * (1 + 1e-9))
        #expect(measured >= 0.5 * relu.maxAbsoluteError)
        // Bounds from the sign error: |x| ≥ εB: B·2^-13/2; |x| < εB: about εB.
        #expect(relu.maxAbsoluteError <= 1.01 * epsilon * bound)
        for x in [-8.0, -1, -0.1, 0.1, 1, 8] {
            #expect(abs(relu.evaluate(x) - max(0, x)) <= bound * exp2(-13.0) / 2 + 1e-12)
        }
    }

    @Test func singleMinimaxReluAndItsDegreeChoice() throws {
        let relu = try ActivationApproximation.relu(range: -5...5, degree: 15)
        #expect(relu.method == .minimax(degree: 15))
        #expect(relu.depth == 4 + 1)
        let measured = measuredError(relu) { max(0, $0) }
        #expect(abs(measured - relu.maxAbsoluteError) <= 0.02 * relu.maxAbsoluteError)
        // ReLU = (x + |x|)/2, so its minimax error is half of |x|'s: ≈ 0.1401·B/d for even d (d = 15 ~ d = 14).
        #expect(abs(relu.maxAbsoluteError - 0.1401 * 5 / 14) < 0.1 * relu.maxAbsoluteError)

        let chosen = try ActivationApproximation.relu(range: -5...5, maxError: 0.1)
        guard case let .minimax(degree) = chosen.method else { Issue.record("not minimax"); return }
        #expect(chosen.maxAbsoluteError <= 0.1)
        let lower = try Remez.minimax({ max(0, $0) }, on: -5...5, degree: degree - 1)
        #expect(lower.maxError > 0.1)
    }

    @Test func sigmoidByPrecision() throws {
        let sigmoid = try ActivationApproximation.sigmoid(range: -8...8, maxError: 1e-3)
        #expect(sigmoid.maxAbsoluteError <= 1e-3)
        let measured = measuredError(sigmoid) { 1 / (1 + exp(-$0)) }
        #expect(measured <= 1e-3)
        let fixed = try ActivationApproximation.sigmoid(range: -4...4, degree: 7)
        #expect(fixed.depth == 3 + 1)
        #expect(abs(measuredError(fixed) { 1 / (1 + exp(-$0)) } - fixed.maxAbsoluteError) < 0.02 * fixed.maxAbsoluteError)
    }

    @Test func relu6BothWays() throws {
        let exact: (Double) -> Double = { min(max($0, 0), 6) }
        let single = try ActivationApproximation.relu6(range: -10...10, degree: 31)
        #expect(measuredError(single, exact) <= single.maxAbsoluteError * (1 + 1e-9))
        let composite = try ActivationApproximation.clip(min: 0, max: 6, range: -10...10, alpha: 13, epsilon: exp2(-9.0))
        let measured = measuredError(composite, exact)
        #expect(measured <= composite.maxAbsoluteError * (1 + 1e-9))
        // Two ReLUs with bounds 10 and 16, each with error ≤ ε·B.
        #expect(composite.maxAbsoluteError <= 1.01 * exp2(-9.0) * (10 + 16))
        #expect(composite.maxAbsoluteError < single.maxAbsoluteError)
    }

    @Test func maxOfTwoAndAbsoluteValue() throws {
        let maximum = try ActivationApproximation.maxOf2(range: -2...3, alpha: 13, epsilon: exp2(-9.0))
        #expect(maximum.plan.inputCount == 2)
        var generator = SplitMix64(seed: 5)
        for _ in 0..<500 {
            let a = -2 + 5 * generator.nextDouble(), b = -2 + 5 * generator.nextDouble()
            #expect(abs(maximum.evaluate(a, b) - max(a, b)) <= maximum.maxAbsoluteError * (1 + 1e-9))
        }
        // |a − b| ≤ 5 is scaled by 5: error ≤ about ε·5/2 near the diagonal.
        #expect(maximum.maxAbsoluteError <= 1.01 * exp2(-9.0) * 5 / 2 + 1e-9)
        let absolute = try ActivationApproximation.absoluteValue(range: -4...4, alpha: 13, epsilon: exp2(-9.0))
        #expect(measuredError(absolute) { abs($0) } <= absolute.maxAbsoluteError * (1 + 1e-9))
        #expect(absolute.depth == 1 + 13 + 1)
    }

    @Test func signReportsItsErrorOutsideTheGap() throws {
        let sign = try ActivationApproximation.sign(range: -1...1, alpha: 13, epsilon: exp2(-9.0))
        #expect(sign.maxAbsoluteError <= exp2(-13.0))
        #expect(sign.depth == 13)
    }

    @Test func badRequestsThrow() {
        #expect(throws: PolyApproxError.self) { try ActivationApproximation.relu(range: -1...1) }
        #expect(throws: PolyApproxError.invalidDegree(64, supported: 1...63)) {
            try ActivationApproximation.relu(range: -1...1, degree: 64)
        }
        #expect(throws: PolyApproxError.self) { try ActivationApproximation.clip(min: 6, max: 0, range: -1...1, degree: 3) }
        #expect(throws: PolyApproxError.self) { try ActivationApproximation.relu(range: -100...100, maxError: 1e-6) }
        #expect(throws: PolyApproxError.self) { try ActivationApproximation.relu(range: 0...0, alpha: 8) }
    }
}
