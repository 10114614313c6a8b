import CipherIR
import CKKS
import Compiler
import Foundation
import TensorIR
import Testing
@testable import Runtime

/// Evaluation keys trimmed to the highest level the plan uses them at: `Program.keyLevels` finds the levels,
/// `PlanSession.generateKeys` makes keys that small, `KeySizes` predicts their bytes, reading a key file refuses keys
/// trimmed too far, and plans still run to the plaintext answer.
@Suite struct KeyLevelTests {
    static let parameters = PlanParameters(logN: 12, qBits: [60, 40, 40, 40], pBits: [60, 60], dnum: 2, log2DefaultScale: 40,
                                           securityPreset: "insecure")

    /// A hand-built program: rotations at levels 3 and 2, an untyped operand, a declared but unused step, conjugation
    /// and relinearization at level 2.
    static func handBuilt(parameters: PlanParameters? = Self.parameters) -> Program {
        var program = Program(parameters: parameters, keys: KeyRequirements(relinearization: true, conjugation: true, rotationSteps: [1, 2, 4, 5]))
        program.inputs = [TensorBinding(name: "x", shape: [8], ciphertextCount: 1, slots: 8, level: 3, scale: 0x1p40)]
        let top = ValueType(slots: 8, level: 3, scale: 0x1p40)
        let below = ValueType(slots: 8, level: 2, scale: 0x1p40)
        let x = program.emitOne(.input, [], .binding(index: 0, ciphertext: 0), type: top)
        let r2 = program.emitOne(.rotate, [x], .rotationStep(2), type: top)
        let dropped = program.emitOne(.levelDown, [r2], .targetLevel(2), type: below)
        let r1 = program.emitOne(.rotate, [dropped], .rotationStep(1), type: below)
        let hoisted = program.emit(.rotateHoisted, [dropped], .rotationSteps([1, 2, -1]), types: [below, below, below])
        let conjugated = program.emitOne(.conjugate, [hoisted[0]], type: below)
        let product = program.emitOne(.mul, [conjugated, r1], type: ValueType(slots: 8, level: 2, scale: 0x1p80))
        _ = program.emitOne(.relinearize, [product], type: ValueType(slots: 8, level: 2, scale: 0x1p80))
        let untyped = program.emitOne(.negate, [dropped])
        _ = program.emitOne(.rotate, [untyped], .rotationStep(4), type: below)
        return program
    }

    @Test func levelsComeFromTheOperandsOfKeySwitchingInstructions() {
        let levels = Self.handBuilt().keyLevels()
        #expect(levels.topLevel == 3)
        // Step 2 is used at 3 and at 2: the higher counts. −1 is used though not declared; 5 is declared though unused,
        // and 4 rotates an operand of unknown level: both at the top.
        #expect(levels.rotations == [1: 2, 2: 3, -1: 2, 4: 3, 5: 3])
        #expect(levels.conjugation == 2 && levels.relinearization == 2)
        #expect(levels.level(ofRotation: 1) == 2 && levels.level(ofRotation: 7) == 3)
        #expect(levels.highestGaloisLevel == 3)
        // The keys `keys` declares: one per automorphism (steps modulo the slot count), conjugation keyed −1.
        let program = Self.handBuilt()
        #expect(levels.galoisKeyLevels(for: program.keys, slots: 2048) == [1: 2, 2: 3, 4: 3, 5: 3, -1: 2])
        #expect(levels.galoisKeyLevels(for: program.keys, slots: 4) == [1: 3, 2: 3, -1: 2])  // 5 ≡ 1, 4 ≡ 0 (no key)
        #expect(levels.relinearizationKeyLevel(for: program.keys) == 2)
        #expect(levels.relinearizationKeyLevel(for: KeyRequirements()) == nil)
        // Without parameters the top is the highest level any value has.
        #expect(Self.handBuilt(parameters: nil).keyLevels().topLevel == 3)
        // Declared keys that no instruction uses are kept at the top; keys never declared nor used are absent.
        let declaredOnly = Program(parameters: Self.parameters, keys: KeyRequirements(relinearization: true, conjugation: true))
        #expect(declaredOnly.keyLevels() == KeyLevels(topLevel: 3, relinearization: 3, rotations: [:], conjugation: 3))
        #expect(Program(parameters: Self.parameters).keyLevels() == KeyLevels(topLevel: 3))
    }

    @Test func examplePlansUseTheirKeysAtTheLevelsTheirTextShows() throws {
        let dot = try Examples.program("dot_product").keyLevels()
        #expect(dot.rotations == [1: 2, 2: 2, 4: 2] && dot.relinearization == nil && dot.conjugation == nil)
        let polynomial = try Examples.program("polynomial").keyLevels()
        #expect(polynomial.relinearization == 3 && polynomial.rotations.isEmpty)
        let matrix = try Examples.program("matrix_vector").keyLevels()
        #expect(matrix.rotations == [1: 3, 2: 3, 3: 3])
    }

    /// Steps equal modulo N/2 share a Galois element and so one key, at the higher of their levels.
    @Test func stepsSharingAGaloisElementShareTheHigherLevel() throws {
        var program = Self.handBuilt()
        program.keys.insertRotationStep(1 + 2048)  // declared, unused: the top level for the key it shares with step 1
        let session = try PlanSession(program: program, checkSecurity: false)
        let levels = session.evaluationKeyLevels()
        let parameters = session.parameters
        #expect(parameters.galoisElement(forRotation: 1 + 2048) == parameters.galoisElement(forRotation: 1))
        #expect(levels.relinearization == 2)
        #expect(levels.galois[parameters.galoisElement(forRotation: 1)] == 3)
        #expect(levels.galois[parameters.galoisElement(forRotation: 2)] == 3)
        #expect(levels.galois[parameters.conjugationGaloisElement] == 2)
        #expect(levels.galois.count == 5)  // 1 (= 2049), 2, 4, 5, conjugation; −1 is not declared
        let keys = try session.generateKeys(seed: 1)
        let galois = try #require(keys.galoisKeys)
        #expect(galois.galoisElements.map { galois.keys[$0]?.level } == galois.galoisElements.map { levels.galois[$0] })
        #expect(keys.relinearizationKey?.key.level == 2)
        let sizes = KeySizes(program: program, parameters: Self.parameters)
        #expect(sizes.galoisKeyCount == 5 && sizes.galoisBytes == galois.byteCount && sizes.highestGaloisLevel == 3)
        #expect(sizes.relinearizationBytes == keys.relinearizationKey?.key.byteCount && sizes.relinearizationLevel == 2)
    }

    @Test func trimmedPlanKeysAreSmallerAndTheRunStillMatches() throws {
        let fixture = try CKKSFixture("dot_product")
        let galois = try #require(fixture.keys.galoisKeys)
        #expect(galois.keys.values.allSatisfy { $0.level == 2 })
        var keygen = KeyGenerator(parameters: fixture.session.parameters, seed: 9)
        let fullBytes = keygen.galoisKey(fixture.keys.secretKey, galoisElement: galois.galoisElements[0]).byteCount
        #expect(fullBytes == 2 * 2 * 6 * 4096 * 8)
        #expect(galois.byteCount == 3 * 2 * 2 * 5 * 4096 * 8 && galois.byteCount < 3 * fullBytes)
        let decrypted = try fixture.decrypt(try fixture.run().outputs)
        let error = maxAbsoluteError(decrypted, Examples.dotProduct(fixture.input))
        #expect(error < 0x1p-20, "max error 2^\(log2(error))")
    }

    /// A compiled conv → dense plan (spatial layout): some rotations run below the top, their keys are trimmed,
    /// `KeySizes` predicts the generated bytes exactly, the run decrypts to the reference, and a key one level
    /// lower than `keyLevels` says makes the run fail by name (the levels are tight, not just safe).
    @Test func compiledPlanRunsOnTrimmedKeys() throws {
        let graph = try ConstantEncodingTests.graph()
        var options = CompilerOptions()
        options.layout = .spatial
        options.security = .insecure(logN: 11)
        let program = try PlanFile.decode(PlanFile.encode(try ModelCompiler.compile(graph, options: options).program))
        let planParameters = try program.requireParameters()
        let levels = program.keyLevels()
        #expect(!levels.rotations.isEmpty)
        #expect(levels.rotations.values.contains { $0 < planParameters.maxLevel }, "\(levels.rotations)")

        let session = try PlanSession(program: program, checkSecurity: false)
        let keys = try session.generateKeys(seed: 5)
        let galois = try #require(keys.galoisKeys)
        let sizes = KeySizes(program: program, parameters: planParameters)
        #expect(sizes.galoisBytes == galois.byteCount && sizes.galoisKeyCount == galois.keys.count)
        #expect(sizes.relinearizationBytes == (keys.relinearizationKey?.key.byteCount ?? 0))
        var keygen = KeyGenerator(parameters: session.parameters, seed: 9)
        let fullBytes = keygen.galoisKey(keys.secretKey, galoisElement: galois.galoisElements[0]).byteCount
        #expect(galois.byteCount < galois.keys.count * fullBytes)

        var random = SeededValues(seed: 3)
        let input = random.floats(72).map(Double.init)
        let encryptor = CKKSEncryptor(parameters: session.parameters, secretKey: keys.secretKey, seed: 6)
        let ciphertexts = try session.encryptInputs(["x": ([1, 2, 6, 6], input)], encryptor: encryptor)
        func run(_ galoisKeys: GaloisKeys) throws -> [Double] {
            let result = try PlanRunner.runCKKS(session: session, inputs: ciphertexts, relinearizationKey: keys.relinearizationKey,
                                                galoisKeys: galoisKeys)
            return try session.decryptOutputs(result.outputs, decryptor: CKKSDecryptor(parameters: session.parameters, secretKey: keys.secretKey))[0].values
        }
        let reference = try ReferenceExecutor(graph: graph, threads: 1).run(inputs: ["x": Tensor(shape: [1, 2, 6, 6], floats: input.map(Float.init))])
        let expected = try #require(reference["y"]).floats.map(Double.init)
        let decrypted = try run(galois)
        #expect(maxAbsoluteError(decrypted, expected) < 1e-3, "\(decrypted) vs \(expected)")

        // The highest-level key, one level lower.
        var keyLevels = session.evaluationKeyLevels().galois
        let (element, level) = try #require(keyLevels.max { $0.value < $1.value })
        try #require(level > 0)
        keyLevels[element] = level - 1
        let lowered = keygen.galoisKeys(keys.secretKey, rotations: program.keys.rotationSteps, levels: keyLevels)
        do {
            _ = try run(lowered)
            Issue.record("a run with the key of element \(element) at level \(level - 1) succeeded")
        } catch {
            #expect("\(error)".contains("covers levels ≤ \(level - 1)"), "\(error)")
        }
    }

    @Test func keyFilesWithKeysTrimmedTooFarAreRefused() throws {
        let fixture = try CKKSFixture("dot_product")
        let session = fixture.session
        let path = temporaryPath("ek.tek")
        defer { unlink(path) }
        var keygen = KeyGenerator(parameters: session.parameters, seed: 3)
        // Full keys (what every earlier key file holds) cover every level.
        let full = keygen.galoisKeys(fixture.keys.secretKey, rotations: session.program.keys.rotationSteps)
        try session.writeEvaluationKeys(relinearizationKey: nil, galoisKeys: full, to: path)
        #expect(try session.readEvaluationKeys(path: path).galois?.keys.values.allSatisfy { $0.level == 3 } == true)
        // The plan's own trimmed keys read back.
        try session.writeEvaluationKeys(relinearizationKey: nil, galoisKeys: fixture.keys.galoisKeys, to: path)
        #expect(try session.readEvaluationKeys(path: path).galois?.keys.values.allSatisfy { $0.level == 2 } == true)
        // The key of step 2 trimmed to level 1; the plan rotates by 2 at level 2.
        let element = session.parameters.galoisElement(forRotation: 2)
        var levels = session.evaluationKeyLevels().galois
        levels[element] = 1
        let low = keygen.galoisKeys(fixture.keys.secretKey, rotations: session.program.keys.rotationSteps, levels: levels)
        try session.writeEvaluationKeys(relinearizationKey: nil, galoisKeys: low, to: path)
        #expect(FileFormatTests.problem { _ = try session.readEvaluationKeys(path: path) }
            == .malformed("Galois key for rotation by 2 covers levels ≤ 1; the plan uses it at level 2; run tessera keygen again"))

        // The relinearization key of the polynomial plan (used at level 3) trimmed to 2.
        let polynomial = try CKKSFixture("polynomial")
        var polynomialKeygen = KeyGenerator(parameters: polynomial.session.parameters, seed: 4)
        let relinearization = polynomialKeygen.relinearizationKey(polynomial.keys.secretKey, level: 2)
        try polynomial.session.writeEvaluationKeys(relinearizationKey: relinearization, galoisKeys: nil, to: path)
        #expect(FileFormatTests.problem { _ = try polynomial.session.readEvaluationKeys(path: path) }
            == .malformed("the relinearization key covers levels ≤ 2; the plan uses it at level 3; run tessera keygen again"))
    }
}
