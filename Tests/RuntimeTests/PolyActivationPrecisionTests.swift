import CipherIR
import CKKS
import Compiler
import Foundation
import TensorIR
import Testing
@testable import Runtime

/// Regression: a polynomial ReLU (composite minimax sign, α = 13, depth ≈ 20) must decrypt to what the plan computes.
/// Before the runtime kept exact scales on a `ScaleSchedule`, the scales of values reaching an add drifted apart
/// (each squaring doubles a deviation of the NTT primes from the nominal 2^40), and relabeling one operand to the
/// other's scale gave errors of 10–90% while the plain interpreter was exact.
@Suite struct PolyActivationPrecisionTests {
    /// −3.4 … 4.2, as the colleague's ReLU-only model.
    static let input: [Double] = (0..<8).map { -3.4 + 7.6 * Double($0) / 7 }

    /// y = ReLU(x) for x of shape [8, 1] in the batch layout (one ciphertext of 8 slots), compiled for an
    /// insecure 2^12 ring (21 levels; its 40-bit primes lie up to 2^-18 below 2^40) with the default α and a
    /// calibrated bound of 4.5.
    static func reluPlan() throws -> Program {
        var graph = TensorGraph(name: "relu")
        let x = graph.append(name: "x", .input, type: TensorType(shape: [8, 1]))
        let y = graph.append(name: "y", .relu, inputs: [x])
        graph.outputs = [y]
        try ShapeInference.run(&graph)
        var options = CompilerOptions()
        options.layout = .batch
        options.security = .insecure(logN: 12)
        options.activationBounds = ["y": 4.5]
        return try ModelCompiler.compile(graph, options: options).program
    }

    /// max |a − b| / max |b|.
    static func relativeError(_ a: [Double], _ b: [Double]) -> Double {
        maxAbsoluteError(a, b) / max(b.map(abs).max() ?? 0, 1e-300)
    }

    @Test func compositeReluDecryptsToThePlainInterpretersAnswer() throws {
        let program = try PlanFile.decode(PlanFile.encode(try Self.reluPlan()))
        let relu = Self.input.map { max($0, 0) }
        let plain = try PlainInterpreter(program: program).run(inputs: ["x": Tensor(shape: [8, 1], floats: Self.input.map(Float.init))])
        let planAnswer = try #require(plain[program.outputs[0].name]).floats.map(Double.init)
        // The approximation itself is far more accurate than the tolerance.
        #expect(Self.relativeError(planAnswer, relu) < 1e-3, "plain interpreter \(planAnswer)")

        let session = try PlanSession(program: program, checkSecurity: false)
        let keys = try session.generateKeys(seed: 3)
        let encryptor = CKKSEncryptor(parameters: session.parameters, secretKey: keys.secretKey, seed: 4)
        let ciphertexts = try session.encryptInputs(["x": ([8, 1], Self.input)], encryptor: encryptor)
        let backend = CKKSBackend(parameters: session.parameters, program: program, relinearizationKey: keys.relinearizationKey,
                                  galoisKeys: keys.galoisKeys)
        let result = try Interpreter(program: program, backend: backend).run { binding, ciphertext in ciphertexts[binding][ciphertext] }
        let decryptor = CKKSDecryptor(parameters: session.parameters, secretKey: keys.secretKey)
        let decrypted = try session.decryptOutputs(result.outputs, decryptor: decryptor)[0].values
        #expect(Self.relativeError(decrypted, relu) < 1e-2, "CKKS \(decrypted)")
        #expect(Self.relativeError(decrypted, planAnswer) < 1e-3, "CKKS \(decrypted), plan \(planAnswer)")
        // Every add met equal exact scales: nothing was relabeled.
        #expect(backend.relabeledScales == 0)

        // The simulator follows the same scales, so it predicts the same answer.
        let simulated = try PlanRunner.simulate(program: program, inputs: ["x": ([8, 1], Self.input)]).outputs[0]
        #expect(Self.relativeError(simulated.values, relu) < 1e-2, "simulated \(simulated.values)")
        #expect(maxAbsoluteError(simulated.values, decrypted) < 1e-3)
    }

    /// The schedule's invariants on real primes, and a level drop that lands on it keeps the message.
    @Test func levelDropMovesASettledValueOntoTheSchedule() throws {
        let parameters = try CKKSParameters(.insecureTest(logN: 12, levels: 21))
        let schedule = ScaleSchedule(parameters: parameters)
        let primes = parameters.qPrimes.map { Double($0) }
        let worstPrime = primes.dropFirst().map { abs($0 / parameters.defaultScale - 1) }.max() ?? 0
        #expect(schedule.scale(atLevel: 0) == parameters.defaultScale)
        for level in 1...parameters.maxLevel {
            let s = schedule.scale(atLevel: level)
            #expect(abs(s * s / primes[level] / schedule.scale(atLevel: level - 1) - 1) < 1e-14)
            #expect(abs(s / parameters.defaultScale - 1) <= worstPrime)
        }

        var generator = KeyGenerator(parameters: parameters, seed: 9)
        let secretKey = generator.secretKey()
        let evaluator = CKKSEvaluator(parameters: parameters)
        let encoder = CKKSEncoder(parameters: parameters)
        let encryptor = CKKSEncryptor(parameters: parameters, secretKey: secretKey, seed: 10)
        let decryptor = CKKSDecryptor(parameters: parameters, secretKey: secretKey)
        let values = Self.input.map { $0 / 4 }
        let top = parameters.maxLevel
        // A fresh value at the nominal Δ (off the schedule) dropped five levels.
        var ciphertext = try encryptor.encrypt(try encoder.encode(values, scale: parameters.defaultScale, level: top))
        try evaluator.dropLevel(&ciphertext, to: top - 5, scale: schedule.scale(atLevel: top - 5))
        #expect(ciphertext.level == top - 5)
        #expect(ciphertext.scale == schedule.scale(atLevel: top - 5))
        let decoded = Array(encoder.decodeReal(try decryptor.decrypt(ciphertext)).prefix(values.count))
        #expect(maxAbsoluteError(decoded, values) < 0x1p-25, "\(decoded)")
    }
}
