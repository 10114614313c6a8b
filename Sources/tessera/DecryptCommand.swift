import ArgumentParser
import CipherIR
import CKKS
import Foundation
import ModularArithmetic
import Runtime
import TensorIR

struct Decrypt: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decrypt a plan's encrypted output and unpack it into arrays (.npy, float64).",
        discussion: "Each output binding's tensor is read from its (ciphertext, slot) positions."
    )

    @Argument(help: "The plan file (.tsp).")
    var plan: String

    @Option(name: .customLong("secret-key"), help: "The secret key (.tsk).")
    var secretKey: String

    @Option(help: "The encrypted output (.tct) written by `tessera run`.")
    var input: String

    @Option(name: [.customShort("o"), .long], help: "Where to write each output: PATH, or NAME=PATH for a plan with several outputs (repeat).")
    var output: [String] = []

    @OptionGroup var threadOptions: ThreadOptions

    func run() throws {
        let program = try loadPlan(plan)
        let session = try PlanSession(program: program)
        let key = try session.readSecretKey(path: secretKey, threads: threadOptions.resolved)
        let ciphertexts = try session.readCiphertexts(path: input, kind: .outputs)
        let decryptor = CKKSDecryptor(parameters: session.parameters, secretKey: key, executor: ParallelExecutor(threads: threadOptions.resolved))
        let results = try session.decryptOutputs(ciphertexts, decryptor: decryptor)
        try writeOutputs(results.map { ($0.binding, $0.values) }, arguments: output, program: program)
    }
}

/// Writes each output binding's values to its `-o` path (PATH or NAME=PATH), or prints them.
func writeOutputs(_ results: [(binding: TensorBinding, values: [Double])], arguments: [String], program: Program) throws {
    let paths = try parseBindings(arguments, names: program.outputs.map(\.name), what: "output")
    for (binding, values) in results {
        if let path = paths[binding.name] {
            try NPY.write(float64: values, shape: binding.shape, to: path)
            print("wrote \(path): \(binding.name) \(binding.shape)")
        } else {
            let shown = values.prefix(10).map { String(format: "%.6g", $0) }.joined(separator: ", ")
            print("\(binding.name) \(binding.shape): [\(shown)\(values.count > 10 ? ", …" : "")]")
        }
    }
}
