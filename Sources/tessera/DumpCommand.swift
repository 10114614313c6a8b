import ArgumentParser
import CipherIR
import Compiler
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
        /// The leveled CipherIR plan `tessera compile` would write (the only stage a .tsp plan has).
        case cipher
    }

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json, dot
    }

    @Argument(help: "The .onnx model, or a .tsp plan (printed as CipherIR).")
    var model: String

    @Option(help: "Which stage: \(Stage.allCases.map(\.rawValue).joined(separator: ", ")) (default: tensor for a model, cipher for a .tsp plan).")
    var stage: Stage?

    @Option(help: "Output format: text, json or dot (Graphviz).")
    var format: Format = .text

    @Option(name: .long, help: "Batch size bound to a symbolic first input dimension.")
    var batchSize = 1

    @OptionGroup(title: "Compiler options (used by --stage cipher on a model)")
    var compilation: CompilationOptions

    @Option(name: [.customShort("o"), .long], help: "Write to this file instead of standard output.")
    var output: String?

    @Flag(help: "Print the IR after every pass (tensor passes; with --stage cipher also the CipherIR passes) to standard error.")
    var printAfterAll = false

    func run() throws {
        if model.hasSuffix(".tsp") {
            if let stage, stage != .cipher {
                throw CommandError("\(model) is a plan: a plan only has the cipher stage (CipherIR); use --stage cipher, or dump the .onnx model for --stage \(stage.rawValue)")
            }
            try emit(try dumpPlan(path: model, format: format.rawValue))
            return
        }
        let stage = self.stage ?? .tensor
        let printer: ((String, TensorGraph) -> Void)? = printAfterAll
            ? { name, graph in printError("// ----- after \(name) -----\n" + TensorGraphPrinter.text(graph)) }
            : nil
        let loaded = try loadModel(ONNXModel(contentsOf: model), batchSize: batchSize, optimize: stage != .imported, printAfterEach: printer)
        switch stage {
        case .cipher:
            let cipherPrinter: ((String, Program) -> Void)? = printAfterAll
                ? { name, program in printError("// ----- after \(name) -----\n" + program.text) }
                : nil
            let compiled = try compilation.compile(loaded.graph, printAfterEach: cipherPrinter)
            for diagnostic in compiled.diagnostics { printError(diagnostic.description) }
            try emit(try formatPlan(compiled.program, format: format.rawValue))
        case .imported, .tensor:
            switch format {
            case .text: try emit(TensorGraphPrinter.text(loaded.graph))
            case .json: try emit(TensorGraphPrinter.json(loaded.graph))
            case .dot: try emit(TensorGraphPrinter.dot(loaded.graph))
            }
        }
    }

    /// Writes `text` to `--output`, or to standard output ending in one newline.
    private func emit(_ text: String) throws {
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
