import ArgumentParser
import CipherIR
import CKKS
import Compiler
import Foundation
import ModularArithmetic
import ONNXFrontend
import Runtime
import TensorIR

struct Infer: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compile (or load) a plan, then keygen, encrypt, run and decrypt in one go; compare with the plaintext answer.",
        discussion: "With the spatial layout each image of the input batch runs as its own encrypted inference (keys generated once); with the batch layout the whole batch is one inference."
    )

    enum InferBackend: String, ExpressibleByArgument, CaseIterable {
        /// Real CKKS encryption.
        case ckks
        /// The CKKS noise simulator (no keys, fast).
        case simulate
    }

    @Argument(help: "The .onnx model (compiled here) or a plan (.tsp).")
    var model: String

    @Option(help: "Input array (.npy, float32/float64, batch first).")
    var input: String

    @Option(name: [.customShort("o"), .long], help: "Where to write the decrypted output (.npy float32).")
    var output: String?

    @Option(help: "Integer class labels (.npy, one per image) to report accuracy.")
    var labels: String?

    @Option(help: "ckks (real encryption) or simulate (noise model).")
    var backend: InferBackend = .ckks

    @Option(name: .customLong("reference"), help: "With a .tsp plan: the .onnx model it was compiled from, to compare with its plaintext answer.")
    var referenceModel: String?

    @OptionGroup var compilation: CompilationOptions

    @Option(help: "Seed keys and encryption randomness (reproducible runs; for tests only).")
    var seed: UInt64?

    @Flag(help: "No progress bar.")
    var quiet = false

    @OptionGroup var threadOptions: ThreadOptions

    func run() throws {
        var phases: [(String, Double)] = []
        func timed<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
            let start = monotonicSeconds()
            let value = try body()
            if let index = phases.firstIndex(where: { $0.0 == name }) {
                phases[index].1 += monotonicSeconds() - start
            } else {
                phases.append((name, monotonicSeconds() - start))
            }
            return value
        }
        let x: Tensor
        do { x = try NPY.read(path: input) } catch { throw CommandError("cannot read input \(input): \(error)") }
        guard let images = x.shape.first, images > 0 else { throw CommandError("input \(input) has shape \(x.shape); it needs a batch dimension first") }

        // Plan: compile the model, or read a plan.
        var program: Program
        var referenceGraph: TensorGraph? = nil
        if model.hasSuffix(".tsp") {
            program = try loadPlan(model)
            if let referenceModel {
                referenceGraph = try loadModel(try ONNXModel(contentsOf: referenceModel), batchSize: images).graph
            }
        } else {
            if referenceModel != nil { throw CommandError("--reference is for a .tsp plan; with an .onnx model the plaintext answer comes from the model itself") }
            let onnx = try ONNXModel(contentsOf: model)
            let full = try loadModel(onnx, batchSize: images)
            referenceGraph = full.graph
            let compileGraph = compilation.layout == .batch ? full.graph : try loadModel(onnx, batchSize: 1).graph
            let compiled = try timed("compile") {
                try ModelCompiler.compile(compileGraph, options: try compilation.compilerOptions(graph: compileGraph))
            }
            for diagnostic in compiled.diagnostics { printError(diagnostic.description) }
            program = compiled.program
        }
        guard program.inputs.count == 1, program.outputs.count >= 1, let parameters = program.parameters else {
            throw CommandError("infer supports plans with one input and parameters; this plan has \(program.inputs.count) inputs")
        }
        let binding = program.inputs[0]
        let chunk = binding.shape.first ?? 1
        guard Array(binding.shape.dropFirst()) == Array(x.shape.dropFirst()), images % chunk == 0 else {
            throw CommandError("input shape \(x.shape) does not match the plan's input \(binding.shape) (batches of \(chunk))")
        }
        let perImage = x.count / images
        let floats = x.floats.map(Double.init)
        let runs = images / chunk
        print("plan: N = 2^\(parameters.logN), \(parameters.maxLevel) levels, \(program.instructions.count) instructions, \(program.keys.rotationSteps.count) rotation keys, \(runs) encrypted run(s) of \(chunk) image(s)")

        // Encrypted (or simulated) outputs, concatenated over runs.
        var outputs = [[Double]](repeating: [], count: program.outputs.count)
        let progress = quiet ? nil : ProgressBar(total: runs * program.instructions.count)
        switch backend {
        case .ckks:
            let session = try PlanSession(program: program)
            let threads = threadOptions.resolved
            let keys = try timed("keygen") { try session.generateKeys(seed: seed, threads: threads) }
            let executor = ParallelExecutor(threads: threads)
            let encryptor = CKKSEncryptor(parameters: session.parameters, secretKey: keys.secretKey, seed: seed, executor: executor)
            let decryptor = CKKSDecryptor(parameters: session.parameters, secretKey: keys.secretKey, executor: executor)
            let needsKeyHolder = program.instructions.contains { $0.opcode.traits.needsKeyHolder }
            for run in 0..<runs {
                let slice = Array(floats[(run * chunk * perImage)..<((run + 1) * chunk * perImage)])
                let ciphertexts = try timed("encrypt") { try session.encryptInputs([binding.name: (binding.shape, slice)], encryptor: encryptor) }
                let base = run * program.instructions.count
                let result = try timed("run") {
                    try PlanRunner.runCKKS(session: session, inputs: ciphertexts, relinearizationKey: keys.relinearizationKey,
                                           galoisKeys: keys.galoisKeys, threads: threads,
                                           refreshSecretKey: needsKeyHolder ? keys.secretKey : nil,
                                           bootstrapKeys: keys.bootstrapKeys,
                                           observer: { progress?.update(base + $0.index + 1) })
                }
                let decrypted = try timed("decrypt") { try session.decryptOutputs(result.outputs, decryptor: decryptor) }
                for (index, entry) in decrypted.enumerated() { outputs[index].append(contentsOf: entry.values) }
            }
        case .simulate:
            for run in 0..<runs {
                let slice = Array(floats[(run * chunk * perImage)..<((run + 1) * chunk * perImage)])
                let base = run * program.instructions.count
                let (simulated, _) = try timed("simulate") {
                    try PlanRunner.simulate(program: program, inputs: [binding.name: (binding.shape, slice)],
                                            observer: { progress?.update(base + $0.index + 1) })
                }
                for (index, entry) in simulated.enumerated() { outputs[index].append(contentsOf: entry.values) }
            }
        }
        progress?.finish()

        let first = program.outputs[0]
        // One run: the plan's own output shape. Several runs of `chunk` images: the runs stacked along the batch
        // dimension when the output keeps it in dimension 0, else along a new leading dimension.
        let outputShape: [Int]
        if runs == 1 {
            outputShape = first.shape
        } else if first.shape.first == chunk {
            outputShape = [images] + Array(first.shape.dropFirst())
        } else {
            outputShape = [runs] + first.shape
        }
        let encrypted = outputs[0]
        guard outputShape.reduce(1, *) == encrypted.count else {
            throw CommandError("the plan's output '\(first.name)' \(first.shape) gave \(encrypted.count) values over \(runs) run(s), which do not form \(outputShape)")
        }
        if let output {
            try NPY.write(Tensor(shape: outputShape, floats: encrypted.map(Float.init)), to: output)
            print("wrote \(output): \(first.name) \(outputShape)")
        }
        let classes = outputShape.count >= 2 ? outputShape.last! : 1
        let rows = encrypted.count / max(classes, 1)
        print("encrypted \(first.name) \(outputShape): \(preview(encrypted))")

        // Plaintext reference.
        var reference: [Double]? = nil
        if let referenceGraph {
            let inputName = binding.name
            let result = try timed("reference") { try ReferenceExecutor(graph: referenceGraph, threads: threadOptions.resolved).run(inputs: [inputName: x]) }
            reference = result[first.name]?.floats.map(Double.init)
        }
        let predictedEncrypted = argmaxRows(encrypted, rows: rows, classes: classes)
        if let reference, reference.count == encrypted.count {
            print("plaintext \(first.name) \(outputShape): \(preview(reference))")
            // A NaN or infinity (an activation input far outside its approximation's range diverges) is an infinite
            // error, never a silently ignored one.
            let maxError = zip(reference, encrypted).reduce(0) { $1.1.isFinite ? max($0, abs($1.0 - $1.1)) : .infinity }
            let nonFinite = encrypted.filter { !$0.isFinite }.count
            if nonFinite > 0 {
                print("warning: \(nonFinite) of \(encrypted.count) encrypted outputs are not finite: an activation's input left the range "
                      + "its polynomial was fitted on; compile with --calibration SAMPLES.npy (or a larger --activation-bound)")
            }
            let largest = reference.reduce(0) { max($0, abs($1)) }
            let predictedPlain = argmaxRows(reference, rows: rows, classes: classes)
            // Ties (equal reference logits, e.g. several ReLU zeros) agree when the encrypted choice is one of them.
            let tolerance = maxError.isFinite ? 2 * maxError : 0
            let agree = (0..<rows).filter { row in
                reference[row * classes + predictedEncrypted[row]] >= reference[row * classes + predictedPlain[row]] - tolerance
            }.count
            print(String(format: "max error %.3e (relative %.3e, %.1f bits), top-1 agreement %d/%d (%.2f%%)",
                         maxError, maxError / max(largest, 1e-300), -log2(max(maxError, 1e-300) / max(largest, 1e-300)),
                         agree, rows, 100 * Double(agree) / Double(max(rows, 1))))
            if let labels { try printAccuracy(labels: labels, encrypted: predictedEncrypted, plain: predictedPlain) }
        } else if let labels {
            try printAccuracy(labels: labels, encrypted: predictedEncrypted, plain: nil)
        }
        let total = phases.reduce(0) { $0 + $1.1 }
        print("time: " + phases.map { String(format: "%@ %.3f s", $0.0, $0.1) }.joined(separator: ", ")
              + String(format: " (total %.3f s, %.3f s per image)", total, total / Double(images)))
        print("peak memory: \(formatBytes(peakResidentBytes())) RSS")
    }

    private func printAccuracy(labels path: String, encrypted: [Int], plain: [Int]?) throws {
        let tensor: Tensor
        do { tensor = try NPY.read(path: path) } catch { throw CommandError("cannot read labels \(path): \(error)") }
        let truth = tensor.int64s.map(Int.init)
        guard truth.count == encrypted.count else { throw CommandError("\(truth.count) labels for \(encrypted.count) images") }
        let correct = zip(encrypted, truth).filter { $0 == $1 }.count
        var line = String(format: "accuracy: encrypted %.2f%% (%d/%d)", 100 * Double(correct) / Double(truth.count), correct, truth.count)
        if let plain {
            let plainCorrect = zip(plain, truth).filter { $0 == $1 }.count
            line += String(format: ", plaintext %.2f%% (%d/%d)", 100 * Double(plainCorrect) / Double(truth.count), plainCorrect, truth.count)
        }
        print(line)
    }

    private func argmaxRows(_ values: [Double], rows: Int, classes: Int) -> [Int] {
        (0..<rows).map { row in
            var best = 0
            for c in 1..<max(classes, 1) where values[row * classes + c] > values[row * classes + best] { best = c }
            return best
        }
    }

    private func preview(_ values: [Double]) -> String {
        let shown = values.prefix(10).map { String(format: "%.5g", $0) }.joined(separator: ", ")
        return "[\(shown)\(values.count > 10 ? ", …" : "")]"
    }
}

