import ComplexModule
import Foundation
import ModularArithmetic
import Testing
@testable import CKKS

@Suite struct EncoderTests {
    @Test func encodeDecodeReaches40BitsAtScale2to50() throws {
        let ctx = try TestContext(.insecureTest(logN: 12, levels: 2, scaleBits: 50))
        let values = ctx.randomValues(ctx.parameters.slotCount, seed: 1)
        let pt = try ctx.encoder.encode(values, scale: 0x1p50)
        let bits = precisionBits(ctx.encoder.decode(pt), values)
        #expect(bits >= 40, "encode/decode precision \(bits) bits < 40")
    }

    @Test func canonicalEmbeddingMatchesDirectEvaluation() throws {
        // Decoding must equal evaluating m(X)/Δ at ζ^(5^j), ζ = exp(iπ/N), computed directly.
        let ctx = TestContext.small
        let values = ctx.randomValues(8, seed: 2)
        let pt = try ctx.encoder.encode(values, scale: 0x1p30, level: 0)
        let coefficients = ctx.encoder.centeredCoefficients(pt.polynomial)
        let n = ctx.parameters.degree
        var exponent = 1
        for j in 0..<4 {
            var sum = Complex<Double>(0, 0)
            for (k, c) in coefficients.enumerated() where c != 0 {
                let angle = Double.pi * Double((exponent * k) % (2 * n)) / Double(n)
                sum = sum + Complex(c * Foundation.cos(angle), c * Foundation.sin(angle))
            }
            let decoded = sum.divided(by: 0x1p30)
            #expect((decoded - values[j]).length < 1e-6, "slot \(j)")
            exponent = exponent * 5 % (2 * n)
        }
    }

    @Test func largeScaleAndMultiLimbCRT() throws {
        // Scale 2^90 forces coefficients above 2^64 into the RNS path and a 3-prime CRT on decode.
        let ctx = TestContext.small
        let values = ctx.randomValues(ctx.parameters.slotCount, seed: 3)
        let pt = try ctx.encoder.encode(values, scale: 0x1p90, level: 2)
        let bits = precisionBits(ctx.encoder.decode(pt), values)
        #expect(bits >= 40, "precision \(bits) bits at scale 2^90")
    }

    @Test func nonPowerOfTwoScale() throws {
        let ctx = TestContext.small
        let values = ctx.randomValues(100, seed: 4)
        let pt = try ctx.encoder.encode(values, scale: 1_234_567_891_234.5)
        let bits = precisionBits(Array(ctx.encoder.decode(pt).prefix(100)), values)
        #expect(bits >= 30, "precision \(bits) bits")
    }

    @Test func realVectors() throws {
        let ctx = TestContext.small
        let values = (0..<50).map { Double($0) / 7 - 3 }
        let pt = try ctx.encoder.encode(values)
        let decoded = ctx.encoder.decodeReal(pt)
        let worst = zip(decoded, values).map { abs($0 - $1) }.max()!
        #expect(-Foundation.log2(worst) >= 25, "real precision \(-Foundation.log2(worst)) bits")
        #expect(decoded[50...].allSatisfy { abs($0) < 1e-6 })
    }

    @Test func tooManyValuesThrow() {
        let ctx = TestContext.small
        #expect(throws: CKKSError.self) { try ctx.encoder.encode([Double](repeating: 1, count: ctx.parameters.slotCount + 1)) }
        #expect(throws: CKKSError.self) { try ctx.encoder.encode([Double.nan]) }
    }
}
