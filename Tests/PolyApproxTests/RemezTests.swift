import Foundation
import Testing
@testable import PolyApprox

@Suite struct RemezTests {
    /// Checks the equioscillation: d+2 points (for parity .any), alternating signs, magnitudes within 1%.
    func expectEquioscillation(_ result: MinimaxApproximation, points: Int) {
        #expect(result.converged)
        #expect(result.referencePoints.count == points)
        let magnitudes = result.referenceErrors.map(abs)
        let largest = magnitudes.max()!, smallest = magnitudes.min()!
        #expect(smallest >= 0.99 * largest)
        for i in 1..<result.referenceErrors.count {
            #expect(result.referenceErrors[i] * result.referenceErrors[i - 1] < 0)
        }
        #expect(abs(result.levelledError - result.maxError) <= 0.01 * result.maxError)
    }

    @Test(arguments: [4, 10, 16, 31])
    func absoluteValueEquioscillatesAndBeatsInterpolation(degree: Int) throws {
        let result = try Remez.minimax({ abs($0) }, on: -1...1, degree: degree)
        expectEquioscillation(result, points: degree + 2)
        // The reference errors are the true errors of the returned polynomial.
        for (x, e) in zip(result.referencePoints, result.referenceErrors) {
            #expect(abs((abs(x) - result.evaluate(x)) - e) < 1e-12)
        }
        let interpolant = try ChebyshevSeries.interpolating({ abs($0) }, on: -1...1, degree: degree)
        let interpolationError = interpolant.maxError(against: { abs($0) })
        let minimaxError = result.series.maxError(against: { abs($0) })
        #expect(minimaxError < interpolationError)
        // Bernstein's constant: E_{2n}(|x|) ≈ 0.2802/(2n) for large n.
        if degree % 2 == 0 && degree >= 10 {
            #expect(abs(minimaxError * Double(degree) / 0.2802 - 1) < 0.05)
        }
    }

    @Test func reluOnAWideRangeEquioscillates() throws {
        let relu: (Double) -> Double = { max(0, $0) }
        let result = try Remez.minimax(relu, on: -6...6, degree: 15)
        expectEquioscillation(result, points: 17)
        let interpolant = try ChebyshevSeries.interpolating(relu, on: -6...6, degree: 15)
        #expect(result.series.maxError(against: relu) < interpolant.maxError(against: relu))
    }

    @Test func aPolynomialIsItsOwnMinimax() throws {
        let cubic: (Double) -> Double = { 0.3 - $0 + 2 * $0 * $0 * $0 }
        let result = try Remez.minimax(cubic, on: -2...3, degree: 5)
        #expect(result.maxError < 1e-12)
        #expect(abs(result.evaluate(1.5) - cubic(1.5)) < 1e-12)
    }

    @Test func oddSignOnTwoIntervalsMatchesTheGeneralBasis() throws {
        let sign: (Double) -> Double = { $0 > 0 ? 1 : -1 }
        let domain = [-1 ... -0.1, 0.1...1]
        let odd = try Remez.minimax(sign, on: domain, degree: 9, parity: .odd)
        // Odd basis T_1, T_3, …, T_9: 5 unknowns, 6 alternation points on [0.1, 1].
        expectEquioscillation(odd, points: 6)
        #expect(odd.series.isOdd)
        #expect(odd.referencePoints.contains { abs($0 - 0.1) < 1e-9 })
        // The general basis finds the same best approximation (it is unique, hence odd) on the union.
        let general = try Remez.minimax(sign, on: domain, degree: 9)
        #expect(general.converged)
        #expect(abs(general.maxError - odd.maxError) < 1e-6)
        for x in [-0.7, -0.2, 0.15, 0.5, 0.99] {
            #expect(abs(general.evaluate(x) - odd.evaluate(x)) < 1e-5)
        }
    }

    @Test func degree63Converges() throws {
        let result = try Remez.minimax({ max(0, $0) }, on: -1...1, degree: 63)
        expectEquioscillation(result, points: 65)
    }

    @Test func invalidInputsThrow() {
        #expect(throws: PolyApproxError.domainNotSymmetric) {
            try Remez.minimax({ $0 }, on: [-1 ... -0.2, 0.1...1], degree: 5, parity: .odd)
        }
        #expect(throws: PolyApproxError.invalidDegree(200, supported: Remez.supportedDegrees)) {
            try Remez.minimax({ $0 }, on: -1...1, degree: 200)
        }
        #expect(throws: PolyApproxError.self) {
            try Remez.minimax({ $0 }, on: [-1...0.5, 0...1], degree: 3)
        }
    }
}
