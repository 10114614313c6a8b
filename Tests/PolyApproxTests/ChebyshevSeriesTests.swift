import Foundation
import Testing
@testable import PolyApprox

@Suite struct ChebyshevSeriesTests {
    @Test func interpolatingExpAtDegree15IsAccurateTo1e12() throws {
        let series = try ChebyshevSeries.interpolating(exp, on: -1...1, degree: 15)
        var worst = 0.0
        for i in 0...20_000 {
            let x = -1 + 2 * Double(i) / 20_000
            worst = max(worst, abs(series.evaluate(x) - exp(x)))
        }
        #expect(worst < 1e-12)
        #expect(series.maxError(against: exp) < 1e-12)
    }

    @Test func interpolationOnAShiftedIntervalMapsTheVariable() throws {
        let series = try ChebyshevSeries.interpolating({ sin($0) }, on: 2...7, degree: 30)
        #expect(series.maxError(against: sin) < 1e-12)
        // A degree-3 polynomial is reproduced exactly.
        let cubic = try ChebyshevSeries.interpolating({ 1 - 2 * $0 + 0.5 * $0 * $0 * $0 }, on: -3...1, degree: 3)
        #expect(abs(cubic.evaluate(0.7) - (1 - 1.4 + 0.5 * 0.343)) < 1e-12)
    }

    @Test(arguments: [0, 1, 2, 5, 17, 40])
    func clenshawMatchesTheTrigonometricDefinition(degree: Int) {
        var generator = SplitMix64(seed: UInt64(degree) + 1)
        let c = (0...degree).map { _ in generator.nextDouble() * 2 - 1 }
        let series = ChebyshevSeries(coefficients: c)
        for x in stride(from: -1.0, through: 1.0, by: 0.125) {
            let direct = c.enumerated().reduce(0.0) { $0 + $1.element * cos(Double($1.offset) * acos(x)) }
            #expect(abs(series.evaluate(x) - direct) < 1e-12)
        }
    }

    @Test func badIntervalsAndDegreesThrow() {
        #expect(throws: PolyApproxError.invalidInterval(lower: 1, upper: 1)) {
            try ChebyshevSeries.interpolating(exp, on: 1...1, degree: 3)
        }
        #expect(throws: PolyApproxError.invalidDegree(-1, supported: 0...1024)) {
            try ChebyshevSeries.interpolating(exp, on: 0...1, degree: -1)
        }
        #expect(throws: PolyApproxError.nonFiniteFunctionValue(at: 0.5)) {
            try ChebyshevSeries.interpolating({ _ in .nan }, on: 0...1, degree: 0)
        }
    }
}

/// A small deterministic generator so tests do not depend on the system's randomness.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func nextDouble() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
