import ArgumentParser
import CipherIR
import CKKS
import Foundation
import ModularArithmetic
import Runtime
import TensorIR

struct Encrypt: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Encrypt input arrays for a plan, packed as its input bindings say.",
        discussion: "Each tensor element goes to the (ciphertext, slot) of the plan's input binding; the array's shape must equal the binding's."
    )

    @Argument(help: "The plan file (.tsp).")
    var plan: String

    @Option(help: "The secret key (.tsk) or public key (.tpk) to encrypt with.")
    var key: String

    @Option(help: "Input array (.npy): PATH, or NAME=PATH for a plan with several inputs (repeat).")
    var input: [String]

    @Option(name: [.customShort("o"), .long], help: "The encrypted input file (.tct) to write.")
    var output: String

    @Option(help: "Seed the encryption randomness (reproducible ciphertexts; for tests only).")
    var seed: UInt64?

    @OptionGroup var threadOptions: ThreadOptions

    func run() throws {
        let start = monotonicSeconds()
        let program = try loadPlan(plan)
        let session = try PlanSession(program: program)
        let executor = ParallelExecutor(threads: threadOptions.resolved)
        let encryptor: CKKSEncryptor
        if try keyFileKind(key) == .publicKey {
            encryptor = CKKSEncryptor(parameters: session.parameters, publicKey: try session.readPublicKey(path: key), seed: seed, executor: executor)
        } else {
            encryptor = CKKSEncryptor(parameters: session.parameters, secretKey: try session.readSecretKey(path: key, threads: threadOptions.resolved),
                                      seed: seed, executor: executor)
        }
        let tensors = try readInputArrays(input, program: program)
        let ciphertexts = try session.encryptInputs(tensors, encryptor: encryptor)
        try session.writeCiphertexts(ciphertexts, kind: .inputs, to: output)
        let count = ciphertexts.reduce(0) { $0 + $1.count }
        print(String(format: "wrote %@: %d ciphertexts in %.3f s", output, count, monotonicSeconds() - start))
    }
}

/// Whether a key file holds a public key (else it is treated as a secret key; reading it reports a
/// wrong kind precisely).
func keyFileKind(_ path: String) throws -> TesseraFile.Kind? {
    guard let handle = FileHandle(forReadingAtPath: path) else { throw CommandError("cannot open key '\(path)'") }
    defer { try? handle.close() }
    let head = handle.readData(ofLength: 8)
    guard head.count == 8 else { return nil }
    return TesseraFile.Kind(rawValue: String(decoding: head.suffix(4), as: UTF8.self))
}

/// Reads `--input` arrays (PATH or NAME=PATH) for the plan's input bindings: name → (shape, values).
func readInputArrays(_ arguments: [String], program: Program) throws -> [String: (shape: [Int], values: [Double])] {
    let names = program.inputs.map(\.name)
    let paths = try parseBindings(arguments, names: names, what: "input")
    var tensors: [String: (shape: [Int], values: [Double])] = [:]
    for binding in program.inputs {
        guard let path = paths[binding.name] else {
            throw CommandError("no array given for plan input '\(binding.name)' (shape \(binding.shape)); pass --input \(names.count > 1 ? "\(binding.name)=" : "")X.npy")
        }
        let tensor: Tensor
        do { tensor = try NPY.read(path: path) } catch { throw CommandError("cannot read input '\(binding.name)' from \(path): \(error)") }
        guard tensor.shape == binding.shape else {
            throw RuntimeError.shapeMismatch(binding: binding.name, expected: binding.shape, found: tensor.shape)
        }
        tensors[binding.name] = (tensor.shape, tensor.floats.map { Double($0) })
    }
    return tensors
}
