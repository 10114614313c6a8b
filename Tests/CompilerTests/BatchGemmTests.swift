import CipherIR
import Testing
import TensorIR
@testable import Compiler

/// Gemm/MatMul in the batch layout when a reshape or a transposed operand moves the batch out of dimension 0 without
/// mixing images (the `gemm` and `matmul` fixtures of examples/models/make_models.py), and the clear error when a
/// reshape, a linear or a broadcast really would mix images.
@Suite struct BatchGemmTests {
    /// The `gemm` fixture: flatten → Gemm(α 0.5, β 2, transB) → Reshape [-1, 1] → Gemm(transA, α 1.5, C [1, 4])
    /// → ReLU → Gemm without C, on one [1, 3, 4, 4] image. The tensor passes turn the transposed A into a reshape
    /// [10, 1] → [1, 10], so the batch of one sits in dimension 1 in between.
    static func gemmFixtureGraph() throws -> TensorGraph {
        var random = TestRandom(seed: 6)
        var graph = try typedGraph { g in
            let x = g.append(name: "x", .input, type: TensorType(shape: [1, 3, 4, 4]))
            let flat = g.append(name: "flat", .flatten(axis: 1), inputs: [x])
            let w0 = g.append(name: "w0", .constant(random.tensor([10, 48])))
            let c0 = g.append(name: "c0", .constant(random.tensor([10])))
            let gemm0 = g.append(name: "gemm0", .gemm(alpha: 0.5, beta: 2, transA: false, transB: true), inputs: [flat, w0, c0])
            let shape = g.append(name: "shape", .constant(Tensor(shape: [2], int64s: [-1, 1])))
            let column = g.append(name: "column", .reshape(allowZero: false), inputs: [gemm0, shape])
            let w1 = g.append(name: "w1", .constant(random.tensor([10, 4])))
            let c1 = g.append(name: "c1", .constant(random.tensor([1, 4])))
            let gemm1 = g.append(name: "gemm1", .gemm(alpha: 1.5, beta: 1, transA: true, transB: false), inputs: [column, w1, c1])
            let relu = g.append(name: "relu", .relu, inputs: [gemm1])
            let w2 = g.append(name: "w2", .constant(random.tensor([4, 3])))
            let y = g.append(name: "y", .gemm(alpha: 1, beta: 1, transA: false, transB: false), inputs: [relu, w2])
            g.outputs = [y]
        }
        try TensorPipeline.run(&graph)
        return graph
    }

    /// The `matmul` fixture: Reshape [0, 3, -1] → MatMul + Add → ReLU → Flatten(axis −1) → Identity → Dropout →
    /// MatMul, on one [1, 3, 4, 4] image; after flatten the tensor is [3, 8] (the batch of one merged into rows).
    static func matMulFixtureGraph() throws -> TensorGraph {
        var random = TestRandom(seed: 7)
        var graph = try typedGraph { g in
            let x = g.append(name: "x", .input, type: TensorType(shape: [1, 3, 4, 4]))
            let shape = g.append(name: "shape", .constant(Tensor(shape: [3], int64s: [0, 3, -1])))
            let rows = g.append(name: "rows", .reshape(allowZero: false), inputs: [x, shape])
            let w0 = g.append(name: "w0", .constant(random.tensor([16, 8])))
            let product = g.append(name: "product", .matMul, inputs: [rows, w0])
            let bias = g.append(name: "bias", .constant(random.tensor([8])))
            let sum = g.append(name: "sum", .add, inputs: [product, bias])
            let relu = g.append(name: "relu", .relu, inputs: [sum])
            let flat = g.append(name: "flat", .flatten(axis: -1), inputs: [relu])
            let same = g.append(name: "same", .identity, inputs: [flat])
            let dropped = g.append(name: "dropped", .dropout, inputs: [same])
            let w1 = g.append(name: "w1", .constant(random.tensor([8, 2])))
            let y = g.append(name: "y", .matMul, inputs: [dropped, w1])
            g.outputs = [y]
        }
        try TensorPipeline.run(&graph)
        return graph
    }

    static func options(_ activations: ActivationMode) -> CompilerOptions {
        var options = CompilerOptions()
        options.layout = .batch
        options.activations = activations
        options.security = .insecure(logN: 12)
        return options
    }

    @Test func gemmFixtureCompilesInBatchLayout() throws {
        let graph = try Self.gemmFixtureGraph()
        // The pattern this test is about: the transposed A became a reshape of the [10, 1] column back to a row.
        let shapes = graph.nodes.filter { if case .reshape = $0.operation { return true } else { return false } }.compactMap { $0.type?.shape }
        #expect(shapes == [[10, 1], [1, 10]])
        #expect(!graph.nodes.contains { if case .gemm = $0.operation { return true } else { return false } })
        var random = TestRandom(seed: 60)
        let input = random.tensor([1, 3, 4, 4], scale: 2)
        let program = try ModelCompiler.compile(graph, options: Self.options(.client)).program
        try program.verify()
        #expect(program.outputs[0].shape == [1, 3] && program.inputs[0].ciphertextCount == 48)
        #expect(try compare(graph, program, inputs: ["x": input]) < 1e-6)
        var options = Self.options(.poly)
        options.activationBounds = try Calibration.activationBounds(graph: graph, samples: input)
        let poly = try ModelCompiler.compile(graph, options: options).program
        #expect(!poly.instructions.contains { $0.opcode == .refresh })
        let expected = try ReferenceExecutor(graph: graph, threads: 1).run(inputs: ["x": input])["y"]!
        let largest = expected.floats.reduce(0) { max($0, abs(Double($1))) }
        let error = try compare(graph, poly, inputs: ["x": input])
        #expect(error < 1e-2 * largest, "poly error \(error) vs largest logit \(largest)")
    }

    @Test func matMulFixtureCompilesInBatchLayout() throws {
        let graph = try Self.matMulFixtureGraph()
        #expect(graph.nodes.filter { $0.operation == .linear }.count == 2)
        var random = TestRandom(seed: 70)
        let input = random.tensor([1, 3, 4, 4])
        let program = try ModelCompiler.compile(graph, options: Self.options(.client)).program
        try program.verify()
        // [3, 2] for the one image: six ciphertexts, each holding its element in slot 0.
        #expect(program.outputs[0].shape == [3, 2] && program.outputs[0].ciphertextCount == 6)
        #expect(program.outputs[0].flatPositions() == (0..<6).map { $0 * program.outputs[0].slots })
        #expect(try compare(graph, program, inputs: ["x": input]) < 1e-6)
    }

    /// A batch of 4 that leaves dimension 0 without mixing images: [4, 6] → [1, 4, 6] (a leading unit axis) →
    /// linear → + a per-image constant [1, 4, 1] → + an encrypted [4, 3] of lower rank → reshape [4, 3, 1] → x².
    @Test func batchAxesBehindUnitAxesStayPerImage() throws {
        var random = TestRandom(seed: 4)
        let graph = try typedGraph { g in
            let x = g.append(name: "x", .input, type: TensorType(shape: [4, 6]))
            let lifted = g.append(name: "lifted", .reshape(allowZero: false),
                                  inputs: [x, g.append(name: "s1", .constant(Tensor(shape: [3], int64s: [1, 4, 6])))])
            let w = g.append(name: "w", .constant(random.tensor([3, 6])))
            let b = g.append(name: "b", .constant(random.tensor([3])))
            let linear = g.append(name: "linear", .linear, inputs: [lifted, w, b])
            let perImage = g.append(name: "perImage", .constant(random.tensor([1, 4, 1])))
            let shifted = g.append(name: "shifted", .add, inputs: [linear, perImage])
            let direct = g.append(name: "direct", .linear, inputs: [x, w])
            let both = g.append(name: "both", .add, inputs: [shifted, direct])
            let column = g.append(name: "column", .reshape(allowZero: false),
                                  inputs: [both, g.append(name: "s2", .constant(Tensor(shape: [3], int64s: [4, 3, 1])))])
            let square = g.append(name: "square", .mul, inputs: [column, column])
            g.outputs = [square]
        }
        let program = try lowerBatch(graph)
        try program.verify()
        #expect(program.inputs[0].slots == 4 && program.outputs[0].ciphertextCount == 3)
        // The per-image constant differs between slots: an addPlain, not an addConst.
        #expect(program.instructions.filter { $0.opcode == .addPlain }.count == 3)
        #expect(try compare(graph, program, inputs: ["x": random.tensor([4, 6])]) < 1e-5)
    }

    /// Reshapes that merge the batch with another axis, a linear over the batch axis, and an encrypted operand
    /// broadcast across images are refused with the batch-dimension error.
    @Test func mixingImagesIsRefused() throws {
        let merged = try typedGraph { g in
            let x = g.append(name: "x", .input, type: TensorType(shape: [4, 6]))
            let r = g.append(name: "pairs", .reshape(allowZero: false),
                             inputs: [x, g.append(name: "s", .constant(Tensor(shape: [2], int64s: [2, 12])))])
            g.outputs = [r]
        }
        let acrossImages = try typedGraph { g in
            let x = g.append(name: "x", .input, type: TensorType(shape: [4, 1]))
            let row = g.append(name: "row", .reshape(allowZero: false),
                               inputs: [x, g.append(name: "s", .constant(Tensor(shape: [2], int64s: [1, 4])))])
            let w = g.append(name: "w", .constant(Tensor(shape: [2, 4], floats: [1, 2, 3, 4, 5, 6, 7, 8])))
            let y = g.append(name: "sumImages", .linear, inputs: [row, w])
            g.outputs = [y]
        }
        let broadcast = try typedGraph { g in
            let x = g.append(name: "x", .input, type: TensorType(shape: [4, 3]))
            let lifted = g.append(name: "lifted", .reshape(allowZero: false),
                                  inputs: [x, g.append(name: "s", .constant(Tensor(shape: [3], int64s: [1, 4, 3])))])
            let column = g.append(name: "column", .reshape(allowZero: false),
                                  inputs: [x, g.append(name: "t", .constant(Tensor(shape: [3], int64s: [4, 1, 3])))])
            let outer = g.append(name: "outer", .add, inputs: [lifted, column])
            g.outputs = [outer]
        }
        for (graph, node) in [(merged, "pairs"), (acrossImages, "sumImages"), (broadcast, "outer")] {
            let error = #expect(throws: CompilerError.self) { try lowerBatch(graph) }
            guard case .batchDimension(let name, _)? = error else {
                Issue.record("expected a batch-dimension error for '\(node)', got \(String(describing: error))")
                continue
            }
            #expect(name == node)
            #expect(error?.description.contains("may not mix images") == true)
        }
    }
}
