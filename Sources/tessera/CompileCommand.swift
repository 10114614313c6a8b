import ArgumentParser
import CipherIR
import Compiler
import Foundation
import ONNXFrontend
import Runtime
import TensorIR

extension PackingLayout: ExpressibleByArgument {}
extension ActivationMode: ExpressibleByArgument {}
extension BootstrapPlacement: ExpressibleByArgument {}

/// The compiler's options, shared by `compile` and `infer`.
struct CompilationOptions: ParsableArguments {
    @Option(help: "Packing: spatial (one image across the slots; linear layers as rotations) or batch (slot i = image i).")
    var layout: PackingLayout = .spatial

    @Option(help: "Nonlinear layers: poly (polynomial approximations) or client (the key holder applies them; resets levels).")
    var activations: ActivationMode = .poly

    @Option(help: "Sample inputs (.npy, batch first) to measure each activation's input range (with a 10% margin).")
    var calibration: String?

    @Option(name: .customLong("relu-alpha"), help: "ReLU precision: composite sign with error 2^-ALPHA (default 13).")
    var reluAlpha: Int?

    @Option(name: .customLong("relu-degree"), help: "Approximate ReLU by one minimax polynomial of this degree instead of a composite sign.")
    var reluDegree: Int?

    @Option(name: .customLong("activation-bound"), help: "Assumed max |input| of activations without calibration data.")
    var activationBound: Double?

    @Option(name: .customLong("insecure-preset"), help: "INSECURE tiny ring for tests: \(SecurityChoice.insecurePresetNames.keys.sorted().joined(separator: ", ")).")
    var insecurePreset: String?

    @Option(name: .customLong("bootstrap-placement"),
            help: "When the model is deeper than a modulus chain: optimized (a dynamic program picks the fewest bootstraps at activation cut points, residual branches together), greedy (at each cut point, bootstrap when the next cannot be reached), naive (bootstrap whenever a value has no level left) or none (refuse).")
    var bootstrapPlacement: BootstrapPlacement = .optimized

    @Option(name: .customLong("insecure-bootstrap-levels"), help: "Application levels of the insecure bootstrappable test ring (with --insecure-preset).")
    var insecureBootstrapLevels: Int?

    @Option(name: .customLong("dram-budget"), help: "Plan memory for at most this much DRAM (e.g. 4G): values read furthest in the future are evicted to the PMem pool and prefetched back (Belady). Without it the plan only frees dead values.")
    var dramBudget: String?

    /// The compiler options for `graph` (runs calibration when samples are given).
    func compilerOptions(graph: TensorGraph) throws -> CompilerOptions {
        var options = CompilerOptions()
        options.layout = layout
        options.activations = activations
        options.reluAlpha = reluAlpha
        options.reluDegree = reluDegree
        if let activationBound {
            guard activationBound > 0 else { throw CommandError("--activation-bound must be positive") }
            options.defaultActivationBound = activationBound
        }
        if let insecurePreset { options.security = try SecurityChoice.insecurePreset(named: insecurePreset) }
        options.bootstrapPlacement = bootstrapPlacement
        if let insecureBootstrapLevels {
            guard (1...30).contains(insecureBootstrapLevels) else { throw CommandError("--insecure-bootstrap-levels must be in 1…30") }
            options.insecureBootstrapLevels = insecureBootstrapLevels
        }
        if let dramBudget { options.dramBudget = try ValueStoreSetup.parseSize(dramBudget) }
        if let calibration, activations == .poly {
            let samples: Tensor
            do { samples = try NPY.read(path: calibration) } catch { throw CommandError("cannot read calibration samples \(calibration): \(error)") }
            options.activationBounds = try Calibration.activationBounds(graph: graph, samples: samples)
        }
        return options
    }

    /// Compiles `graph` (already through the tensor passes) with these options into a leveled plan;
    /// `printAfterEach` receives each CipherIR stage's name and program.
    func compile(_ graph: TensorGraph, printAfterEach: ((String, Program) -> Void)? = nil) throws -> CompilationResult {
        try ModelCompiler.compile(graph, options: try compilerOptions(graph: graph), printAfterEach: printAfterEach)
    }
}

struct Compile: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compile an ONNX model into a leveled CKKS plan (.tsp): packing, linear layers, activations, rescales, parameters, keys."
    )

    @Argument(help: "The .onnx file.")
    var model: String

    @Option(name: [.customShort("o"), .long], help: "The plan file to write (.tsp).")
    var output: String

    @OptionGroup var compilation: CompilationOptions

    @Option(name: .long, help: "Batch size bound to a symbolic first input dimension (the batch layout packs that many images).")
    var batchSize = 1

    @Flag(help: "Print the compilation report: approximations, parameters, keys, op counts.")
    var report = false

    @Option(name: .customLong("dump-ir"), help: "Write the text IR of every stage into this directory.")
    var dumpIR: String?

    @Flag(help: "Print the CipherIR text after every pass to standard error.")
    var printAfterAll = false

    func run() throws {
        let start = monotonicSeconds()
        let loaded = try loadModel(ONNXModel(contentsOf: model), batchSize: batchSize)
        var stageIndex = 0
        if let dumpIR {
            try FileManager.default.createDirectory(atPath: dumpIR, withIntermediateDirectories: true)
            try writeAtomically(TensorGraphPrinter.text(loaded.graph), to: "\(dumpIR)/00-tensor.tir")
        }
        let printer: ((String, Program) -> Void)? = (dumpIR != nil || printAfterAll) ? { name, program in
            stageIndex += 1
            let text = program.text
            if printAfterAll { printError("// ----- after \(name) -----\n" + text) }
            if let dumpIR { try? writeAtomically(text, to: String(format: "%@/%02d-%@.cir", dumpIR, stageIndex, name)) }
        } : nil
        let compiled = try compilation.compile(loaded.graph, printAfterEach: printer)
        for diagnostic in compiled.diagnostics { printError(diagnostic.description) }
        try PlanFile.write(compiled.program, to: output)
        let seconds = monotonicSeconds() - start
        if report {
            for line in compiled.report { print(line) }
        }
        let parameters = compiled.program.parameters
        print(String(format: "wrote %@: %d instructions, N = 2^%d, %d levels, %d rotation keys (%.2f s, peak RSS %@)",
                     output, compiled.program.instructions.count, parameters?.logN ?? 0, parameters?.maxLevel ?? 0,
                     compiled.program.keys.rotationSteps.count, seconds, formatBytes(peakResidentBytes())))
    }
}
