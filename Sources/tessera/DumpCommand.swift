import ArgumentParser
import Foundation
import ONNXFrontend
import TensorIR

struct Dump: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a model's intermediate representation at a stage of the compiler, or a plan file's CipherIR."
    )

    enum Stage: String, ExpressibleByArgument, CaseIterable {
        /// As imported from ONNX, shapes inferred, before any pass.
        case imported
        /// After the tensor passes.
        case tensor
    }

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json, dot
    }

    @Argument(help: "The .onnx model, or a .tsp plan (printed as CipherIR).")
    var model: String

    @Option(help: "Which stage: \(Stage.allCases.map(\.rawValue).joined(separator: ", ")).")
    var stage: Stage = .tensor

    @Option(help: "Output format: text, json or dot (Graphviz).")
    var format: Format = .text

    @Option(name: .long, help: "Batch size bound to a symbolic first input dimension.")
    var batchSize = 1

    @Option(name: [.customShort("o"), .long], help: "Write to this file instead of standard output.")
    var output: String?

    @Flag(help: "Print the text IR after every tensor pass to standard error.")
    var printAfterAll = false

    func run() throws {
        if model.hasSuffix(".tsp") {
            let text = try dumpPlan(path: model, format: format.rawValue)
            if let output { try writeAtomically(text, to: output) } else { print(text, terminator: "") }
            return
        }
        let printer: ((String, TensorGraph) -> Void)? = printAfterAll
            ? { name, graph in printError("// ----- after \(name) -----\n" + TensorGraphPrinter.text(graph)) }
            : nil
        let loaded = try loadModel(ONNXModel(contentsOf: model), batchSize: batchSize, optimize: stage == .tensor, printAfterEach: printer)
        let text: String
        switch format {
        case .text: text = TensorGraphPrinter.text(loaded.graph)
        case .json: text = TensorGraphPrinter.json(loaded.graph)
        case .dot: text = TensorGraphPrinter.dot(loaded.graph)
        }
        if let output {
            try writeAtomically(text, to: output)
        } else {
            print(text, terminator: text.hasSuffix("\n") ? "" : "\n")
        }
    }
}

/// Writes to a temporary file beside `path`, then renames it into place.
func writeAtomically(_ text: String, to path: String) throws {
    do {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    } catch {
        throw CommandError("cannot write \(path): \(error.localizedDescription)")
    }
}
