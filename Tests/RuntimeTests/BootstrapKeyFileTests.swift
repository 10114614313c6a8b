import CipherIR
import Compiler
import Foundation
import TensorIR
import Testing
@testable import CKKS
@testable import Runtime

/// Bootstrapping keys in the evaluation-key file: written record by record (the bytes `TesseraFile.encode` makes),
/// read back in place, run to the same answer as keys made in the process, and refused by name when they do not
/// serve the plan.
@Suite struct BootstrapKeyFileTests {
    /// BootstrapPlacementTests' chain (y ← 0.5·y² + 0.25, four rounds) on x of shape [rows, 1], compiled for the
    /// insecure N = 2^11 bootstrappable ring with 3 application levels: it bootstraps values of `rows` slots.
    static func compile(rows: Int = 8) throws -> (program: Program, graph: TensorGraph) {
        var graph = TensorGraph(name: "chain")
        var y = graph.append(name: "x", .input, type: TensorType(shape: [rows, 1]))
        let half = graph.append(name: "half", .constant(Tensor(shape: [1], floats: [0.5])))
        let quarter = graph.append(name: "quarter", .constant(Tensor(shape: [1], floats: [0.25])))
        for round in 0..<4 {
            let square = graph.append(name: "square\(round)", .mul, inputs: [y, y])
            let scaled = graph.append(name: "scaled\(round)", .mul, inputs: [square, half])
            y = graph.append(name: "y\(round)", .add, inputs: [scaled, quarter])
        }
        graph.outputs = [y]
        try ShapeInference.run(&graph)
        let program = try ModelCompiler.compile(graph, options: BootstrapPlacementTests.options(.naive)).program
        return (program, graph)
    }

    static func input(rows: Int) -> [Double] { (0..<rows).map { -0.9 + 1.8 * Double($0) / Double(rows - 1) } }

    /// The in-memory records `writeEvaluationKeys` streams.
    static func records(_ keys: PlanSession.Keys, parameters: CKKSParameters, bootstrap: Bool = true) -> [TesseraFile.Record] {
        var records: [TesseraFile.Record] = []
        if let key = keys.relinearizationKey { records.append(.init(tag: "RLK ", payload: key.serialized(parameters: parameters))) }
        if let galois = keys.galoisKeys { records.append(.init(tag: "GAL ", payload: galois.serialized(parameters: parameters))) }
        if bootstrap, let boot = keys.bootstrapKeys { records.append(.init(tag: "BOOT", payload: boot.serialized(parameters: parameters))) }
        return records
    }

    @Test func bootstrapKeysRoundTripThroughAKeyFileAndRunToTheSameAnswer() throws {
        let (program, graph) = try Self.compile()
        let session = try PlanSession(program: program, checkSecurity: false)
        #expect(try session.bootstrapSetup() != nil)
        let keys = try session.generateKeys(seed: 11)
        let bootstrapKeys = try #require(keys.bootstrapKeys)
        let path = temporaryPath("ek.tek")
        defer { unlink(path) }
        try session.writeEvaluationKeys(
            relinearizationKey: keys.relinearizationKey, galoisKeys: keys.galoisKeys, bootstrapKeys: bootstrapKeys, to: path)
        // Streamed key by key, the file is byte for byte what `encode` makes of the keys serialized in memory.
        let file = try PlanFile.readBytes(path: path)
        let records = Self.records(keys, parameters: session.parameters)
        #expect(records.map(\.tag).last == "BOOT")
        #expect(file == TesseraFile.encode(kind: .evaluationKeys, fingerprint: session.keySetFingerprint, records: records))

        let read = try session.readEvaluationKeys(path: path)
        let readBootstrap = try #require(read.bootstrap)
        #expect(readBootstrap.serialized(parameters: session.parameters) == bootstrapKeys.serialized(parameters: session.parameters))
        #expect(readBootstrap.galoisKeyCount == bootstrapKeys.galoisKeyCount)
        #expect(readBootstrap.encapsulation?.hammingWeight == (try session.bootstrapSetup())?.configuration.ephemeralHammingWeight)

        // The run from the file's keys against `tessera infer`'s path (keys made in the process).
        let rows = 8
        let input = Self.input(rows: rows)
        let encryptor = CKKSEncryptor(parameters: session.parameters, secretKey: keys.secretKey, seed: 12)
        let ciphertexts = try session.encryptInputs(["x": ([rows, 1], input)], encryptor: encryptor)
        let fromFile = try PlanRunner.runCKKS(
            session: session, inputs: ciphertexts, relinearizationKey: read.relinearization, galoisKeys: read.galois,
            bootstrapKeys: read.bootstrap)
        let inProcess = try PlanRunner.runCKKS(
            session: session, inputs: ciphertexts, relinearizationKey: keys.relinearizationKey, galoisKeys: keys.galoisKeys,
            bootstrapKeys: keys.bootstrapKeys)
        let decryptor = CKKSDecryptor(parameters: session.parameters, secretKey: keys.secretKey)
        let fileValues = try session.decryptOutputs(fromFile.outputs, decryptor: decryptor)[0].values
        let processValues = try session.decryptOutputs(inProcess.outputs, decryptor: decryptor)[0].values
        let reference = try ReferenceExecutor(graph: graph, threads: 1).run(inputs: ["x": Tensor(shape: [rows, 1], floats: input.map(Float.init))])
        let expected = try #require(reference[program.outputs[0].name]).floats.map(Double.init)
        #expect(program.opcodeHistogram()[.bootstrap, default: 0] >= 2)
        #expect(maxAbsoluteError(fileValues, processValues) < 1e-3, "\(fileValues) vs \(processValues)")
        #expect(maxAbsoluteError(fileValues, expected) < 1e-3, "\(fileValues) vs \(expected)")
    }

    static func problem(_ body: () throws -> Void) -> RuntimeError.FileProblem? { FileFormatTests.problem(body) }

    @Test func keyFilesThatDoNotServeThePlanAreRefusedByName() throws {
        let (program, _) = try Self.compile()
        let session = try PlanSession(program: program, checkSecurity: false)
        let keys = try session.generateKeys(seed: 3)
        let bootstrapKeys = try #require(keys.bootstrapKeys)
        let path = temporaryPath("ek.tek"), damagedPath = temporaryPath("damaged.tek")
        defer { for path in [path, damagedPath] { unlink(path) } }
        func refusal(_ bootstrap: BootstrapKeys?, session reader: PlanSession? = nil) throws -> String {
            try session.writeEvaluationKeys(relinearizationKey: keys.relinearizationKey, galoisKeys: keys.galoisKeys, bootstrapKeys: bootstrap, to: path)
            return Self.problem { _ = try (reader ?? session).readEvaluationKeys(path: path) }.map { "\($0)" } ?? "accepted"
        }

        // No bootstrapping keys at all.
        let none = try refusal(nil)
        #expect(none.contains("the plan bootstraps and the file has no bootstrapping keys; run tessera keygen again"), "\(none)")

        // A needed Galois element missing: conjugation, then a rotation.
        var galois = bootstrapKeys.galoisKeys.keys
        galois[session.parameters.conjugationGaloisElement] = nil
        let noConjugation = try refusal(BootstrapKeys(
            relinearizationKey: bootstrapKeys.relinearizationKey, galoisKeys: GaloisKeys(keys: galois), encapsulation: bootstrapKeys.encapsulation))
        #expect(noConjugation.contains("Galois key for conjugation") && noConjugation.contains("run tessera keygen again"), "\(noConjugation)")
        let setup = try #require(try session.bootstrapSetup())
        let rotation = try #require(try Bootstrapper.requiredRotations(
            parameters: session.parameters, configuration: setup.configuration, slots: setup.slots).first)
        galois = bootstrapKeys.galoisKeys.keys
        galois[session.parameters.galoisElement(forRotation: rotation)] = nil
        let noRotation = try refusal(BootstrapKeys(
            relinearizationKey: bootstrapKeys.relinearizationKey, galoisKeys: GaloisKeys(keys: galois), encapsulation: bootstrapKeys.encapsulation))
        #expect(noRotation.contains("Galois key for rotation by \(rotation) ") && noRotation.contains("is missing"), "\(noRotation)")

        // A flipped byte inside the bootstrapping keys.
        _ = try refusal(bootstrapKeys)
        var bytes = try PlanFile.readBytes(path: path)
        bytes[bytes.count - 1000] ^= 0x20
        try PlanFile.writeAtomically(bytes, to: damagedPath)
        #expect(Self.problem { _ = try session.readEvaluationKeys(path: damagedPath) } == .checksumMismatch)

        // From another plan: the same parameters and key requirements but values of 32 slots to bootstrap, whose
        // circuit needs other rotations. The key-set fingerprint covers the bootstrap slot count, so the file is refused
        // as another key set; relabeled with the other plan's fingerprint, validation names the missing rotation.
        let wide = try PlanSession(program: try Self.compile(rows: 32).program, checkSecurity: false)
        #expect(try wide.bootstrapSetup()?.slots != setup.slots)
        #expect(wide.keySetFingerprint != session.keySetFingerprint)
        _ = try refusal(bootstrapKeys)
        #expect(Self.problem { _ = try wide.readEvaluationKeys(path: path) }
            == .wrongPlan(expected: wide.keySetFingerprint, found: session.keySetFingerprint))
        try wide.writeEvaluationKeys(relinearizationKey: keys.relinearizationKey, galoisKeys: keys.galoisKeys, bootstrapKeys: bootstrapKeys, to: path)
        let otherSlots = Self.problem { _ = try wide.readEvaluationKeys(path: path) }.map { "\($0)" } ?? "accepted"
        #expect(otherSlots.contains("bootstrapping Galois key for rotation by") && otherSlots.contains("run tessera keygen again"), "\(otherSlots)")
        _ = try refusal(bootstrapKeys)  // this plan's own file again
        // From a plan with other key requirements: the fingerprint differs.
        var other = program
        other.keys.insertRotationStep(1)
        let otherSession = PlanSession(program: other, parameters: session.parameters)
        #expect(Self.problem { _ = try otherSession.readEvaluationKeys(path: path) }
            == .wrongPlan(expected: otherSession.keySetFingerprint, found: session.keySetFingerprint))

        // Two bootstrapping records.
        let doubled = Self.records(keys, parameters: session.parameters) + [.init(tag: "BOOT", payload: bootstrapKeys.serialized(parameters: session.parameters))]
        try TesseraFile.write(kind: .evaluationKeys, fingerprint: session.keySetFingerprint, records: doubled, to: damagedPath)
        #expect(Self.problem { _ = try session.readEvaluationKeys(path: damagedPath) } == .malformed("record 'BOOT' appears twice"))
    }

    @Test func streamedFilesAreTheEncodedBytesAndAFailedWriteLeavesNothing() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-stream-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/ek.tek"
        // Payloads below, at and above the writer's 1 MiB buffer, with and without padding.
        var generator = SystemRandomNumberGenerator()
        let records = [3, 0, (1 << 20) + 5, 1 << 20, 3 << 20, 17].enumerated().map { index, count in
            TesseraFile.Record(tag: "R\(index)  ", payload: (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) })
        }
        try TesseraFile.write(kind: .evaluationKeys, fingerprint: 42, records: records, to: path)
        #expect(try PlanFile.readBytes(path: path) == TesseraFile.encode(kind: .evaluationKeys, fingerprint: 42, records: records))
        #expect(try TesseraFile.read(path: path, kind: .evaluationKeys, fingerprint: 42) == records)
        let mapped = try TesseraFile.map(path: path, kind: .evaluationKeys, fingerprint: 42)
        withExtendedLifetime(mapped.file) { #expect(mapped.records.map { Array($0.payload) } == records.map(\.payload)) }

        // A record whose writer fails half way: the error surfaces, the old file stays, no temporary file is left.
        struct Interrupted: Error {}
        let failing = TesseraFile.StreamedRecord(tag: "FAIL", byteCount: 1 << 22) { sink in
            try [UInt8](repeating: 7, count: 1 << 21).withUnsafeBytes { try sink($0) }
            throw Interrupted()
        }
        #expect(throws: RuntimeError.self) {
            try TesseraFile.write(kind: .evaluationKeys, fingerprint: 42, streaming: [.init(records[0]), failing], to: path)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["ek.tek"])
        #expect(try TesseraFile.read(path: path, kind: .evaluationKeys, fingerprint: 42) == records)
    }
}
