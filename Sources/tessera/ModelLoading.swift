import Foundation
import ONNXFrontend
import TensorIR

/// A model imported and (optionally) run through the tensor passes, with the timings of each step.
struct LoadedModel {
    var graph: TensorGraph
    var parseSeconds: Double
    var passSeconds: Double
}

/// Imports `path` with the batch size taken from the first input array (when the model's batch dimension is
/// symbolic), then runs the standard tensor pipeline unless `optimize` is false.
func loadModel(_ path: String, batchSize: Int = 1, optimize: Bool = true,
               printAfterEach: ((String, TensorGraph) -> Void)? = nil) throws -> LoadedModel {
    let start = monotonicSeconds()
    let onnx = try ONNXModel(contentsOf: path)
    var graph = try onnx.makeGraph(batchSize: batchSize)
    let parsed = monotonicSeconds()
    if optimize {
        try TensorPipeline.run(&graph, printAfterEach: printAfterEach)
    } else {
        try ShapeInference.run(&graph)
    }
    return LoadedModel(graph: graph, parseSeconds: parsed - start, passSeconds: monotonicSeconds() - parsed)
}
