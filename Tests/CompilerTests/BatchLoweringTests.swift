import CipherIR
import Testing
import PolyApprox
import TensorIR
@testable import Compiler

@Suite struct BatchLoweringTests {
    /// conv (stride 2, padding, bias) → affine → x² → avgpool → flatten → linear, batch of 3.
    static func convNet() throws -> TensorGraph {
        var random = TestRandom(seed: 7)
        return try typedGraph { g in
            let x = g.append(name: "x", .input, type: TensorType(shape: [3, 2, 6, 5]))
            let w = g.append(name: "w", .constant(random.tensor([4, 2, 3, 3])))
            let b = g.append(name: "b", .constant(random.tensor([4])))
            let conv = g.append(name: "conv", .conv(ConvAttributes(kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 0])), inputs: [x, w, b])
            let s = g.append(name: "s", .constant(random.tensor([4])))
            let t = g.append(name: "t", .constant(random.tensor([4])))
            let affine = g.append(name: "affine", .affine, inputs: [conv, s, t])
            let square = g.append(name: "square", .mul, inputs: [affine, affine])
            let pool = g.append(name: "pool", .averagePool(PoolAttributes(kernel: [2, 2], strides: [1, 1])), inputs: [square])
            let flat = g.append(name: "flat", .flatten(axis: 1), inputs: [pool])
            let lw = g.append(name: "lw", .constant(random.tensor([5, 8])))
            let lb = g.append(name: "lb", .constant(random.tensor([5])))
            let logits = g.append(name: "logits", .linear, inputs: [flat, lw, lb])
            g.outputs = [logits]
        }
    }

    @Test func convNetMatchesReference() throws {
        let graph = try Self.convNet()
        var random = TestRandom(seed: 11)
        let input = random.tensor([3, 2, 6, 5])
        let program = try lowerBatch(graph)
        try program.verify()
        #expect(program.inputs.count == 1 && program.inputs[0].ciphertextCount == 60 && program.inputs[0].slots == 4)
        #expect(program.outputs[0].shape == [3, 5])
        #expect(!program.instructions.contains { $0.opcode == .rotate || $0.opcode == .rotateHoisted })
        let error = try compare(graph, program, inputs: ["x": input])
        #expect(error < 1e-5)
    }

    @Test func residualAddGlobalPoolAndConstantBroadcast() throws {
        var random = TestRandom(seed: 3)
        let graph = try typedGraph { g in
            let x = g.append(name: "x", .input, type: TensorType(shape: [2, 3, 4, 4]))
            let w = g.append(name: "w", .constant(random.tensor([3, 1, 3, 3])))
            let conv = g.append(name: "dw", .conv(ConvAttributes(kernel: [3, 3], pads: [1, 1, 1, 1], group: 3)), inputs: [x, w])
            let sum = g.append(name: "res", .add, inputs: [conv, x])
            let c = g.append(name: "c", .constant(random.tensor([3, 1, 1])))
            let shifted = g.append(name: "shift", .sub, inputs: [c, sum])
            let scaled = g.append(name: "scaled", .mul, inputs: [shifted, c])
            let gap = g.append(name: "gap", .globalAveragePool, inputs: [scaled])
            let shape = g.append(name: "shape", .constant(Tensor(shape: [2], int64s: [2, 3])))
            let out = g.append(name: "out", .reshape(allowZero: false), inputs: [gap, shape])
            g.outputs = [out]
        }
        let program = try lowerBatch(graph)
        try program.verify()
        let error = try compare(graph, program, inputs: ["x": random.tensor([2, 3, 4, 4])])
        #expect(error < 1e-5)
    }

    @Test func padConcatAndNonSquareInputs() throws {
        var random = TestRandom(seed: 5)
        let graph = try typedGraph { g in
            let x = g.append(name: "x", .input, type: TensorType(shape: [1, 1, 3, 5]))
            let padded = g.append(name: "pad", .pad(pads: [0, 0, 1, 0, 0, 0, 0, 2], value: 0.5), inputs: [x])
            let w = g.append(name: "w", .constant(random.tensor([2, 1, 2, 2])))
            let conv = g.append(name: "conv", .conv(ConvAttributes(kernel: [2, 2])), inputs: [padded, w])
            let both = g.append(name: "cat", .concat(axis: 1), inputs: [conv, conv])
            g.outputs = [both]
        }
        let program = try lowerBatch(graph)
        try program.verify()
        let error = try compare(graph, program, inputs: ["x": random.tensor([1, 1, 3, 5])])
        #expect(error < 1e-5)
    }

    @Test func clientReluAndMaxPoolUseRefresh() throws {
        var random = TestRandom(seed: 9)
        let graph = try typedGraph { g in
            let x = g.append(name: "x", .input, type: TensorType(shape: [4, 1, 4, 4]))
            let r = g.append(name: "relu", .relu, inputs: [x])
            let m = g.append(name: "pool", .maxPool(PoolAttributes(kernel: [2, 2], strides: [2, 2])), inputs: [r])
            let c = g.append(name: "clip", .clip(min: -0.25, max: 0.5), inputs: [m])
            g.outputs = [c]
        }
        var options = CompilerOptions()
        options.activations = .client
        let program = try lowerBatch(graph, options: options)
        try program.verify()
        #expect(program.instructions.contains { $0.opcode == .refresh })
        #expect(program.instructions.allSatisfy { $0.opcode != .refresh || $0.functionName == "relu" })
        let error = try compare(graph, program, inputs: ["x": random.tensor([4, 1, 4, 4])])
        #expect(error < 1e-6)
    }

    @Test func polynomialReluWithinApproximationError() throws {
        var random = TestRandom(seed: 13)
        let graph = try typedGraph { g in
            let x = g.append(name: "x", .input, type: TensorType(shape: [8, 6]))
            let r = g.append(name: "relu", .relu, inputs: [x])
            let s = g.append(name: "sig", .sigmoid, inputs: [r])
            g.outputs = [s]
        }
        let input = random.tensor([8, 6])
        var options = CompilerOptions()
        options.activationBounds = try Calibration.activationBounds(graph: graph, samples: input)
        #expect(abs(options.activationBounds["relu"]! - 1.1 * Double(input.floats.map(abs).max()!)) < 1e-6)
        let composite = try lowerBatch(graph, options: options)
        try composite.verify()
        #expect(!composite.instructions.contains { $0.opcode == .refresh })
        let compositeError = try compare(graph, composite, inputs: ["x": input])
        #expect(compositeError < 2e-3, "composite error \(compositeError)")
        options.reluDegree = 16
        let single = try lowerBatch(graph, options: options)
        let singleError = try compare(graph, single, inputs: ["x": input])
        #expect(singleError < 5e-2, "single error \(singleError)")
    }

    @Test func batchDimensionMayNotMix() throws {
        let graph = try typedGraph { g in
            let x = g.append(name: "x", .input, type: TensorType(shape: [2, 3]))
            let f = g.append(name: "flat", .flatten(axis: 0), inputs: [x])
            g.outputs = [f]
        }
        #expect(throws: CompilerError.self) { try lowerBatch(graph) }
    }
}

@Suite struct ActivationLoweringTests {
    /// A PolyApprox plan lowered to CipherIR computes what the plan computes in Double.
    @Test func evaluationPlanLoweringMatchesThePlan() throws {
        let approximation = try ActivationApproximation.relu(range: -3...3, alpha: 10)
        let context = LoweringContext(slots: 8)
        let x = context.input(name: "x", shape: [8], positions: Array(0..<8), ciphertextCount: 1)
        let y = EvaluationPlanLowering(context: context).lower(approximation.plan, inputs: [x.values[0]])
        context.output(name: "y", PackedTensor(shape: [8], values: [y], layout: .explicit((0..<8).map { Int32($0) }), slots: 8))
        let program = context.finish()
        try program.verify()
        let inputs: [Float] = [-3, -1.5, -0.25, 0, 0.1, 0.75, 2, 3]
        let result = try PlainInterpreter(program: program).run(inputs: ["x": Tensor(shape: [8], floats: inputs)])
        for (value, got) in zip(inputs, result["y"]!.floats) {
            #expect(abs(Double(got) - approximation.evaluate(Double(value))) < 1e-5)
        }
        // ct×ct products: exactly the plan's non-scalar multiplications
        #expect(program.opcodeHistogram()[.mul] == approximation.nonScalarMultiplications)
    }

    @Test func batchLayoutConvolutionIsOneLinearMap() throws {
        var random = TestRandom(seed: 1)
        let graph = try typedGraph { g in
            let x = g.append(name: "x", .input, type: TensorType(shape: [1, 16, 32, 32]))
            let w = g.append(name: "w", .constant(random.tensor([16, 16, 3, 3])))
            let conv = g.append(name: "conv", .conv(ConvAttributes(kernel: [3, 3], pads: [1, 1, 1, 1])), inputs: [x, w])
            g.outputs = [conv]
        }
        var options = CompilerOptions()
        options.layout = .batch
        let program = try ModelCompiler.compile(graph, options: options).program
        // 16·32·32 ciphertexts in, as many out, 2.3 M multiply-accumulate terms: one linearMap over lane values.
        #expect(program.opcodeHistogram()[.linearMap] == 1)
        #expect(program.instructions.count < 10)
        #expect(program.laneMaps.count == 1)
        #expect(program.laneMaps[0].inputLanes == 16 * 32 * 32)
        #expect(program.laneMaps[0].outputLanes == 16 * 32 * 32)
        #expect(program.laneMaps[0].termCount == 16 * 16 * 94 * 94)  // per tap, 32 or 31 valid rows and columns
        #expect(program.inputs[0].ciphertextCount == 16 * 32 * 32)
    }
}
