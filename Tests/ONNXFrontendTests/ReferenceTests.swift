import Foundation
import Testing
@testable import ONNXFrontend
import TensorIR

/// Imported graphs, run by the plaintext reference executor, reproduce onnxruntime's outputs
/// (NAME.expected.npy, written by make_models.py --fixtures) on the same seeded inputs.
@Suite("ONNX import vs onnxruntime")
struct ReferenceTests {
    @Test(arguments: Fixtures.referenceModels)
    func matchesOnnxruntime(name: String) throws {
        let input = try NPY.read(path: Fixtures.path("\(name).input.npy"))
        let expected = try NPY.read(path: Fixtures.path("\(name).expected.npy"))
        var graph = try Fixtures.graph(name, batchSize: input.shape[0])
        try ShapeInference.run(&graph)
        let inputName = graph[graph.inputs[0]].name
        let outputs = try ReferenceExecutor(graph: graph, threads: 1).run(inputs: [inputName: input])
        let output = try #require(outputs[graph[graph.outputs[0]].name])
        #expect(output.shape == expected.shape)
        let got = output.floats
        let want = expected.floats
        try #require(got.count == want.count)
        var maxError: Double = 0
        var maxMagnitude: Double = 0
        for (a, b) in zip(got, want) {
            maxError = max(maxError, abs(Double(a) - Double(b)))
            maxMagnitude = max(maxMagnitude, abs(Double(b)))
        }
        #expect(maxMagnitude > 0, "the expected output must not be all zeros")
        let relative = maxError / max(maxMagnitude, 1e-30)
        #expect(relative < 1e-4, "\(name): relative error \(relative)")
    }
}
