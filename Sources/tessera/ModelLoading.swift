import Foundation
import ONNXFrontend
import TensorIR

/// A model imported and (optionally) run through the tensor passes, with the timings of each step.
struct LoadedModel {
    var graph: TensorGraph
    var importSeconds: Double
    var passSeconds: Double
}

/// Converts `onnx` to a tensor graph with `batchSize` bound to a symbolic batch dimension, then runs the standard
/// tensor pipeline (or, with `optimize` false, only shape inference).
func loadModel(_ onnx: ONNXModel, batchSize: Int = 1, optimize: Bool = true,
               printAfterEach: ((String, TensorGraph) -> Void)? = nil) throws -> LoadedModel {
    let start = monotonicSeconds()
    var graph = try onnx.makeGraph(batchSize: batchSize)
    let imported = monotonicSeconds()
    if optimize {
        try TensorPipeline.run(&graph, printAfterEach: printAfterEach)
    } else {
        try ShapeInference.run(&graph)
    }
    return LoadedModel(graph: graph, importSeconds: imported - start, passSeconds: monotonicSeconds() - imported)
}
