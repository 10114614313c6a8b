import CipherIR
import TensorIR

/// What `ModelCompiler.compile` returns.
public struct CompilationResult {
    /// The leveled, verified plan (parameters, keys, bindings, constants, instructions, types).
    public var program: Program
    public var diagnostics: [CompilerDiagnostic]
    /// Lines for `--report`: layout, approximations, parameters, keys, op counts.
    public var report: [String]
}

/// TensorGraph → leveled CipherIR: lowering, then `CipherPipeline.standard`.
public enum ModelCompiler {
    /// Compiles `graph` (already through `TensorPipeline.run`). `printAfterEach` receives ("lower", unleveled program)
    /// and then each pass's name and result (for `--print-after-all` / `--dump-ir`).
    public static func compile(_ graph: TensorGraph, options: CompilerOptions,
                               printAfterEach: ((String, Program) -> Void)? = nil) throws -> CompilationResult {
        let state = CompilationState(options: options)
        var program = try GraphLowering.lower(graph, options: options, state: state)
        #if DEBUG
        try CipherPipeline.verify(program, after: "lower")
        #endif
        printAfterEach?("lower", program)
        try CipherPipeline.run(&program, state: state, printAfterEach: printAfterEach)
        let histogram = program.opcodeHistogram().sorted { $0.key.rawValue < $1.key.rawValue }
        state.report.append("instructions: \(program.instructions.count) (" + histogram.map { "\($0.key.mnemonic) \($0.value)" }.joined(separator: ", ") + ")")
        state.report.append("constants: \(program.constants.count) pool entries")
        return CompilationResult(program: program, diagnostics: state.diagnostics, report: state.report)
    }
}

/// Activation input ranges measured on sample inputs with the reference executor.
public enum Calibration {
    /// Default relative margin added to each measured bound.
    public static let defaultMargin = 0.1

    /// For each activation node (relu, clip, sigmoid, max_pool), max |input| over `samples` times (1 + margin).
    /// `samples` is one tensor whose dimension 0 is split into graph-sized batches (the graph's input batch);
    /// the graph must have exactly one input.
    public static func activationBounds(graph: TensorGraph, samples: Tensor, margin: Double = defaultMargin) throws -> [String: Double] {
        let inputs = graph.inputs
        guard inputs.count == 1 else { throw CompilerError.calibration("the graph has \(inputs.count) inputs; calibration supports exactly one") }
        let inputNode = graph.node(inputs[0])
        guard let shape = inputNode.type?.shape, let batch = shape.first, batch > 0 else { throw CompilerError.missingType(node: inputNode.name) }
        let perImage = shape.dropFirst().reduce(1, *)
        guard samples.count % perImage == 0, samples.count > 0 else {
            throw CompilerError.calibration("samples of shape \(samples.shape) do not split into images of shape \(Array(shape.dropFirst()))")
        }
        let images = samples.count / perImage
        let floats = samples.floats
        var watched: [NodeID: String] = [:]
        for node in graph.nodes {
            switch node.operation {
            case .relu, .clip, .sigmoid, .maxPool: watched[node.inputs[0]] = node.name
            default: break
            }
        }
        // Which activations read each watched value (a value may feed several activations).
        var readers: [NodeID: [String]] = [:]
        for node in graph.nodes {
            switch node.operation {
            case .relu, .clip, .sigmoid, .maxPool: readers[node.inputs[0], default: []].append(node.name)
            default: break
            }
        }
        var bounds: [String: Double] = [:]
        let executor = ReferenceExecutor(graph: graph)
        var start = 0
        while start < images {
            var chunk = [Float](repeating: 0, count: batch * perImage)
            for n in 0..<batch {
                let image = min(start + n, images - 1)
                chunk.replaceSubrange((n * perImage)..<((n + 1) * perImage), with: floats[(image * perImage)..<((image + 1) * perImage)])
            }
            _ = try executor.run(inputs: [inputNode.name: Tensor(shape: shape, floats: chunk)]) { node, value in
                guard let names = readers[node.id] else { return }
                let largest = value.floats.reduce(0) { max($0, abs(Double($1))) }
                for name in names { bounds[name] = max(bounds[name] ?? 0, largest) }
            }
            start += batch
        }
        _ = watched
        return bounds.mapValues { max($0, 1e-3) * (1 + margin) }
    }
}
