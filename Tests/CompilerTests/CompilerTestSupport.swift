import CipherIR
import Foundation
import TensorIR
@testable import Compiler

/// Deterministic pseudo-random values in [-1, 1) (a tiny LCG, so tests are reproducible).
struct TestRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed &* 6364136223846793005 &+ 1442695040888963407 }
    mutating func next() -> Float {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Float(Double(state >> 11) / Double(1 << 53) * 2 - 1)
    }
    mutating func tensor(_ shape: [Int], scale: Float = 1) -> Tensor {
        Tensor(shape: shape, floats: (0..<shape.reduce(1, *)).map { _ in next() * scale })
    }
}

/// Builds a small graph with shape inference done.
func typedGraph(_ build: (inout TensorGraph) -> Void) throws -> TensorGraph {
    var graph = TensorGraph(name: "test")
    build(&graph)
    try ShapeInference.run(&graph)
    return graph
}

/// Max |a − b| over two tensors of equal size.
func maxDifference(_ a: Tensor, _ b: Tensor) -> Double {
    zip(a.floats, b.floats).reduce(0) { max($0, abs(Double($1.0) - Double($1.1))) }
}

/// Lowers (unleveled) in the batch layout.
func lowerBatch(_ graph: TensorGraph, options: CompilerOptions = CompilerOptions()) throws -> Program {
    var options = options
    options.layout = .batch
    return try GraphLowering.lower(graph, options: options, state: CompilationState(options: options))
}

/// The reference outputs and the plaintext-interpreted outputs of `program` on `inputs`.
func compare(_ graph: TensorGraph, _ program: Program, inputs: [String: Tensor]) throws -> Double {
    let expected = try ReferenceExecutor(graph: graph, threads: 1).run(inputs: inputs)
    let actual = try PlainInterpreter(program: program).run(inputs: inputs)
    var worst = 0.0
    for (name, tensor) in expected {
        guard let got = actual[name] else { return .infinity }
        guard got.shape == tensor.shape else { return .infinity }
        worst = max(worst, maxDifference(tensor, got))
    }
    return worst
}
