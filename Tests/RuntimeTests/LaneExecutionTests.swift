import CipherIR
import CKKS
import Compiler
import Foundation
import TensorIR
import Testing
@testable import Runtime

/// The batch layout's lane values run on the real CKKS backend, the simulator and the cost model: a convolution
/// (padding, stride 2), max pooling (gathers), a residual concatenation and a dense layer, each one instruction over
/// lanes, decrypt to the reference executor's answer.
@Suite struct LaneExecutionTests {
    /// x [3, 1, 6, 5] → conv 3×3 pad 1 stride (2, 1), 2 channels → client ReLU → max pool 2×2 pad (0,0,1,0)
    /// → concat with a 1×1 conv of the pooled map → flatten → linear 12 → 3.
    static func graph() throws -> TensorGraph {
        var random = SeededValues(seed: 5)
        var graph = TensorGraph(name: "lanes")
        let x = graph.append(name: "x", .input, type: TensorType(shape: [3, 1, 6, 5]))
        let w = graph.append(name: "w", .constant(Tensor(shape: [2, 1, 3, 3], floats: random.floats(18))))
        let b = graph.append(name: "b", .constant(Tensor(shape: [2], floats: random.floats(2))))
        let conv = graph.append(name: "conv", .conv(ConvAttributes(kernel: [3, 3], strides: [2, 1], pads: [1, 1, 1, 1])), inputs: [x, w, b])
        let relu = graph.append(name: "relu", .relu, inputs: [conv])
        let pool = graph.append(name: "pool", .maxPool(PoolAttributes(kernel: [2, 2], strides: [2, 2], pads: [0, 0, 1, 0])), inputs: [relu])
        let w1 = graph.append(name: "w1", .constant(Tensor(shape: [1, 2, 1, 1], floats: random.floats(2))))
        let side = graph.append(name: "side", .conv(ConvAttributes(kernel: [1, 1])), inputs: [pool, w1])
        let joined = graph.append(name: "joined", .concat(axis: 1), inputs: [pool, side])
        let flat = graph.append(name: "flat", .flatten(axis: 1), inputs: [joined])
        let fw = graph.append(name: "fw", .constant(Tensor(shape: [3, 12], floats: random.floats(36))))
        let fb = graph.append(name: "fb", .constant(Tensor(shape: [3], floats: random.floats(3))))
        let y = graph.append(name: "y", .linear, inputs: [flat, fw, fb])
        graph.outputs = [y]
        try ShapeInference.run(&graph)
        return graph
    }

    static func input() -> [Double] {
        var random = SeededValues(seed: 9)
        return random.floats(90).map(Double.init)
    }

    @Test func laneProgramsRunOnEveryBackend() throws {
        let graph = try Self.graph()
        var options = CompilerOptions()
        options.layout = .batch
        options.activations = .client
        options.security = .insecure(logN: 11)
        let program = try PlanFile.decode(PlanFile.encode(try ModelCompiler.compile(graph, options: options).program))
        let histogram = program.opcodeHistogram()
        #expect(histogram[.linearMap] == 3 && (histogram[.gather] ?? 0) >= 2)
        #expect(program.inputs[0].ciphertextCount == 30 && program.outputs[0].ciphertextCount == 3)

        let reference = try ReferenceExecutor(graph: graph, threads: 1).run(inputs: ["x": Tensor(shape: [3, 1, 6, 5], floats: Self.input().map(Float.init))])
        let expected = try #require(reference["y"]).floats.map(Double.init)

        let session = try PlanSession(program: program, checkSecurity: false)
        let keys = try session.generateKeys(seed: 3)
        let encryptor = CKKSEncryptor(parameters: session.parameters, secretKey: keys.secretKey, seed: 4)
        let ciphertexts = try session.encryptInputs(["x": ([3, 1, 6, 5], Self.input())], encryptor: encryptor)
        #expect(ciphertexts[0].count == 30)
        let backend = CKKSBackend(parameters: session.parameters, program: program, relinearizationKey: keys.relinearizationKey,
                                  galoisKeys: keys.galoisKeys)
        backend.refreshHandler = backend.keyHolder(secretKey: keys.secretKey, seed: 7)
        let run = try Interpreter(program: program, backend: backend).run { binding, ciphertext in ciphertexts[binding][ciphertext] }
        let decrypted = try session.decryptOutputs(run.outputs, decryptor: CKKSDecryptor(parameters: session.parameters, secretKey: keys.secretKey))[0].values
        #expect(maxAbsoluteError(decrypted, expected) < 1e-4, "CKKS \(decrypted) vs \(expected)")
        // Lane values are one store entry each: 30 input ciphertexts, one value.
        #expect(run.statistics.peakLiveValues < 10)

        let simulated = try PlanRunner.simulate(program: program, inputs: ["x": ([3, 1, 6, 5], Self.input())]).outputs[0].values
        #expect(maxAbsoluteError(simulated, expected) < 1e-4)

        // The cost model counts a convolution's terms from its structure.
        let estimate = try PlanRunner.estimate(program: program)
        #expect(estimate.millisecondsByOp[.linearMap, default: 0] > 0)
        #expect(estimate.peakCiphertextBytes > 0)
    }
}

/// Deterministic values in [−1, 1).
struct SeededValues {
    var state: UInt64
    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }
    mutating func floats(_ count: Int) -> [Float] {
        (0..<count).map { _ in
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return Float(Double(state >> 11) / Double(1 << 53) * 2 - 1)
        }
    }
}
