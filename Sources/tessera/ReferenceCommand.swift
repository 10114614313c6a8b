import ArgumentParser
import Foundation
import ONNXFrontend
import TensorIR

struct Reference: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a model in plaintext floating point (the reference answer every encrypted run is checked against)."
    )

    @Argument(help: "The .onnx file.")
    var model: String

    @Option(name: .long, help: "Input array (.npy, float32/float64, C order): PATH, or NAME=PATH for a model with several inputs.")
    var input: [String] = []

    @Option(name: .long, help: "Where to write the output (.npy float32): PATH, or NAME=PATH for a model with several outputs.")
    var output: [String] = []

    @Flag(help: "Run the graph as imported, without the tensor passes (BatchNorm folding, linear unification, ...).")
    var noOptimize = false

    @Flag(help: "Print parse, pass and execution times and peak memory to standard error.")
    var stats = false

    @OptionGroup var threadOptions: ThreadOptions

    func run() throws {
        let onnx = try ONNXModel(contentsOf: model)
        let inputNames = onnx.info.inputs.map(\.name)
        let outputNames = onnx.info.outputs.map(\.name)
        let inputPaths = try parseBindings(input, names: inputNames, what: "input")
        for name in inputNames where inputPaths[name] == nil {
            throw CommandError("no array given for model input '\(name)'; pass --input \(inputNames.count > 1 ? "\(name)=" : "")X.npy")
        }
        var inputs: [String: Tensor] = [:]
        for (name, path) in inputPaths {
            do {
                inputs[name] = try NPY.read(path: path)
            } catch {
                throw CommandError("cannot read input '\(name)' from \(path): \(error)")
            }
        }
        // A symbolic batch dimension takes the batch size of the given array.
        let batchSize = inputNames.first.flatMap { name -> Int? in
            guard let first = onnx.info.inputs.first?.dims.first, Int(first) == nil else { return nil }
            return inputs[name]?.shape.first
        } ?? 1

        let loaded = try loadModel(onnx, batchSize: batchSize, optimize: !noOptimize)
        let graph = loaded.graph
        let optimized = monotonicSeconds()
        let executor = ReferenceExecutor(graph: graph, threads: threadOptions.resolved)
        let results = try executor.run(inputs: inputs)
        let executed = monotonicSeconds()

        let outputPaths = try parseBindings(output, names: outputNames, what: "output")
        for name in outputNames {
            guard let tensor = results[name] else { continue }
            if let path = outputPaths[name] {
                try NPY.write(tensor, to: path)
            } else {
                print("\(name): \(tensor.type) " + summarize(tensor))
            }
        }
        if stats {
            printError(String(format: "import %.3f s, passes %.3f s, execute %.3f s (%d threads), peak RSS %@",
                              loaded.importSeconds, loaded.passSeconds, executed - optimized,
                              threadOptions.resolved, formatBytes(peakResidentBytes())))
        }
    }

    private func summarize(_ tensor: Tensor) -> String {
        let values = tensor.floats
        let shown = values.prefix(10).map { String(format: "%.6g", $0) }.joined(separator: ", ")
        return "[\(shown)\(values.count > 10 ? ", …" : "")]"
    }
}
