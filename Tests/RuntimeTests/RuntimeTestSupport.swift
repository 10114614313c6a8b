import CipherIR
import CKKS
import Foundation
import PersistentMemory
import Testing
@testable import Runtime

/// The hand-written example programs (examples/programs/*.tcir) and helpers shared by the tests.
enum Examples {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("examples/programs")

    static func text(_ name: String) throws -> String {
        try String(contentsOf: directory.appendingPathComponent(name + ".tcir"), encoding: .utf8)
    }

    /// Parsed, verified, and round-tripped through the plan format.
    static func program(_ name: String) throws -> Program {
        let program = try Program(parsing: try text(name))
        try program.verify()
        return try PlanFile.decode(PlanFile.encode(program))
    }

    /// The plaintext answers, computed independently of CipherIR and the runtime.
    static func dotProduct(_ x: [Double]) -> [Double] {
        let w = [0.5, -1.0, 2.0, 0.25, 1.5, -0.75, 3.0, 1.0]
        return [zip(x, w).map(*).reduce(0, +)]
    }

    static func polynomial(_ x: [Double]) -> [Double] { x.map { $0 * $0 * $0 + 0.5 * $0 } }

    static func matrixVector(_ x: [Double]) -> [Double] {
        (0..<4).map { (j: Int) -> Double in
            var sum = 0.0
            for k in 0..<4 { sum += Double(4 * j + k + 1) * x[k] }
            return sum
        }
    }

    static func reluRefresh(_ x: [Double]) -> [Double] { x.map { max(2 * $0, 0) - 0.25 } }

    /// A deterministic input in [-1, 1).
    static func input(count: Int, seed: UInt64) -> [Double] {
        var generator = ChaChaRandom(seed: seed)
        return (0..<count).map { _ in Double(generator.next() >> 11) * 0x1p-52 - 1 }
    }
}

/// Keys, an encrypted input and a CKKS run of one example.
struct CKKSFixture {
    let session: PlanSession
    let keys: PlanSession.Keys
    let input: [Double]
    let ciphertexts: [[Ciphertext]]

    init(_ name: String, seed: UInt64 = 7) throws {
        let program = try Examples.program(name)
        session = try PlanSession(program: program)
        keys = try session.generateKeys(seed: seed)
        let binding = program.inputs[0]
        input = Examples.input(count: binding.elementCount, seed: seed &+ 1)
        let encryptor = CKKSEncryptor(parameters: session.parameters, secretKey: keys.secretKey, seed: seed &+ 2)
        ciphertexts = try session.encryptInputs([binding.name: (binding.shape, input)], encryptor: encryptor)
    }

    func run(store: TieredStore = TieredStore(), refresh: Bool = false) throws -> RunResult<Ciphertext> {
        try PlanRunner.runCKKS(session: session, inputs: ciphertexts, relinearizationKey: keys.relinearizationKey,
                               galoisKeys: keys.galoisKeys, store: store, refreshSecretKey: refresh ? keys.secretKey : nil)
    }

    func decrypt(_ outputs: [[Ciphertext]]) throws -> [Double] {
        let decryptor = CKKSDecryptor(parameters: session.parameters, secretKey: keys.secretKey)
        return try session.decryptOutputs(outputs, decryptor: decryptor)[0].values
    }

    /// Every slot of every output ciphertext, decrypted (N/2 per ciphertext).
    func decryptAllSlots(_ outputs: [[Ciphertext]]) throws -> [[Double]] {
        let decryptor = CKKSDecryptor(parameters: session.parameters, secretKey: keys.secretKey)
        let encoder = CKKSEncoder(parameters: session.parameters)
        return try outputs[0].map { encoder.decodeReal(try decryptor.decrypt($0)) }
    }

    /// Serialized output ciphertexts (to compare runs byte for byte).
    func bytes(_ outputs: [[Ciphertext]]) -> [UInt8] {
        outputs.flatMap { $0.flatMap { $0.serialized(parameters: session.parameters) } }
    }
}

func maxAbsoluteError(_ a: [Double], _ b: [Double]) -> Double {
    zip(a, b).map { abs($0 - $1) }.max() ?? 0
}

func temporaryPath(_ name: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("tessera-runtime-\(UUID().uuidString)-\(name)").path
}
