import Foundation
import Testing

@testable import CipherIR

@Suite struct VerifierTests {
    /// The diagnostics of `text` (which must parse).
    func diagnostics(_ text: String) throws -> [Diagnostic] {
        try Program(parsing: text).verificationDiagnostics().filter { $0.severity == .error }
    }

    func replacing(_ text: String, _ old: String, _ new: String) -> String {
        precondition(text.contains(old), "test edit target missing: \(old)")
        return text.replacingOccurrences(of: old, with: new)
    }

    @Test func goldenProgramsHaveNoDiagnostics() throws {
        for (name, text) in Golden.all {
            #expect(try Program(parsing: text).verificationDiagnostics().isEmpty, "\(name)")
        }
    }

    @Test func rejectsLevelMismatch() throws {
        // x³ (level 1) plus 0.5·x still at level 2: the levelDown was skipped.
        let text = replacing(
            replacing(Golden.polynomial, "%10 = levelDown %9 level=1 : ct<slots=8, level=1, scale=2^40>\n", ""),
            "%11 = add %7, %10 : ct<slots=8, level=1, scale=2^40>", "%11 = add %7, %9")
        let found = try diagnostics(text)
        #expect(found.count == 1)
        #expect(found.first?.code == .levelMismatch)
        #expect(found.first?.instruction == 10)
        #expect(found.first?.message.contains("%7 at level 1, %9 at level 2") == true)
    }

    @Test func rejectsScaleMismatch() throws {
        // Adding x (2^40) to the un-rescaled product (2^80) at the same level.
        let text = replacing(Golden.dotProduct, "%5 = add %3, %4 : ct<slots=8, level=2, scale=2^40>", "%5 = add %3, %4 : ct<slots=8, level=2, scale=2^40>\n%20 = add %0, %2")
        let found = try diagnostics(text)
        #expect(found.count == 1)
        #expect(found.first?.code == .scaleMismatch)
        #expect(found.first?.message.contains("%0 at scale 2^40, %2 at scale 2^80") == true)
    }

    @Test func rejectsMissingKeys() throws {
        let text = replacing(Golden.dotProduct, "rotations=[1, 2, 4]", "rotations=[1, 2]")
        let found = try diagnostics(text)
        #expect(found.map(\.code) == [.missingKey])
        #expect(found.first?.instruction == 4)
        #expect(found.first?.message.contains("Galois key for step 4") == true)

        let noRelinearization = try diagnostics(replacing(Golden.polynomial, "relinearization=true", "relinearization=false"))
        #expect(noRelinearization.map(\.code) == [.missingKey, .missingKey])
        #expect(noRelinearization.map(\.instruction) == [2, 6])
        #expect(noRelinearization.first?.message.contains("relinearization key") == true)
    }

    @Test func rejectsUseBeforeDefinitionAndUndefinedValues() throws {
        let swapped = replacing(
            Golden.dotProduct, "%3 = rescale %2 : ct<slots=8, level=2, scale=2^40>\n%4 = rotate %3 step=4 : ct<slots=8, level=2, scale=2^40>",
            "%4 = rotate %3 step=4 : ct<slots=8, level=2, scale=2^40>\n%3 = rescale %2 : ct<slots=8, level=2, scale=2^40>")
        let found = try diagnostics(swapped)
        #expect(found.first?.code == .useBeforeDefinition)
        #expect(found.first?.instruction == 3)
        #expect(found.first?.message.contains("uses %3 before its definition at instruction 4") == true)

        let undefined = try diagnostics(replacing(Golden.dotProduct, "%9 = add %7, %8", "%9 = add %7, %42"))
        #expect(undefined.map(\.code) == [.undefinedValue])
        #expect(undefined.first?.message.contains("%42") == true)
    }

    @Test func rejectsOtherBrokenRules() throws {
        // Rescale at level 0.
        var program = Program(parameters: PlanParameters(logN: 4, qBits: [40, 40], pBits: [50], log2DefaultScale: 30))
        program.inputs = [TensorBinding(name: "x", shape: [8], ciphertextCount: 1, slots: 8, level: 0, scale: 0x1p30)]
        program.outputs = [TensorBinding(name: "y", shape: [8], ciphertextCount: 2, slots: 8)]
        let x = program.emitOne(.input, [], .binding(index: 0, ciphertext: 0))
        let low = program.emitOne(.rescale, [x])
        let square = program.emitOne(.mul, [x, x])
        let rotated = program.emitOne(.rotate, [square], .rotationStep(9))  // degree 2, step ≥ slots, no key
        let badKind = program.emitOne(.mulPlain, [x, x])
        _ = (low, badKind)
        program.emit(.output, [rotated], .binding(index: 0, ciphertext: 0))
        program.instructions.append(Instruction(.add, operands: [x, x], results: [x]))
        let codes = program.verificationDiagnostics().map(\.code)
        #expect(codes.contains(.levelOutOfRange))  // rescale at level 0
        #expect(codes.contains(.degree))  // rotate of an unrelinearized product
        #expect(codes.contains(.missingKey))  // no key for step 9
        #expect(codes.contains(.immediate))  // |9| ≥ 8 slots
        #expect(codes.contains(.operandKind))  // mulPlain's second operand is a ciphertext
        #expect(codes.contains(.redefinition))  // %0 defined twice
        #expect(codes.contains(.output))  // y[1] never written
        #expect(throws: CipherIRError.self) { try program.verify() }
    }

    @Test func rejectsDeclaredFactsThatContradictTheRules() throws {
        let text = replacing(Golden.dotProduct, "%3 = rescale %2 : ct<slots=8, level=2, scale=2^40>", "%3 = rescale %2 : ct<slots=8, level=3, scale=2^41>")
        let found = try diagnostics(text)
        #expect(found.map(\.code) == [.typeMismatch, .typeMismatch])
        #expect(found.first?.message.contains("declared with level 3 but the rules give 2") == true)
    }

    @Test func rejectsBadBindingsAndConstants() throws {
        let overlapping = replacing(Golden.matrixVector, "input \"x\" shape=[4] ciphertexts=1 slots=4 level=2 scale=2^40 layout=contiguous",
                                    "input \"x\" shape=[4] ciphertexts=1 slots=4 level=2 scale=2^40 layout=explicit[0, 1, 1, 3]")
        #expect(try diagnostics(overlapping).map(\.code) == [.binding])
        let outOfRange = replacing(Golden.matrixVector, "layout=explicit[0, 1, 2, 3]", "layout=explicit[0, 1, 2, 4]")
        #expect(try diagnostics(outOfRange).map(\.code) == [.binding])
        let notPowerOfTwo = replacing(Golden.matrixVector, "values=[4.0, 5.0, 10.0, 15.0]", "values=[4.0, 5.0, 10.0]")
        #expect(try diagnostics(notPowerOfTwo).contains { $0.code == .slotMismatch })
        let tooHigh = replacing(Golden.dotProduct, "constant @0 level=3", "constant @0 level=4")
        #expect(try diagnostics(tooHigh).contains { $0.code == .levelOutOfRange })
    }

    @Test func opTraitsAreConsistentData() {
        for opcode in Opcode.allCases {
            let traits = opcode.traits
            #expect(Opcode(rawValue: opcode.rawValue) == opcode)
            #expect(Opcode.allCases[opcode.denseIndex] == opcode)
            #expect(Opcode(mnemonic: traits.mnemonic) == opcode)
            #expect((traits.resultKind == nil) == (traits.resultArity == .zero))
        }
        #expect(Opcode.rescale.traits.consumesLevel && !Opcode.rescale.traits.resetsLevel)
        #expect(Opcode.bootstrap.traits.resetsLevel && Opcode.bootstrap.traits.key == .bootstrapping)
        #expect(Opcode.refresh.traits.needsKeyHolder && !Opcode.refresh.traits.needsKey)
        #expect(Opcode.rotateHoisted.traits.resultArity == .onePerStep)
        #expect(Opcode.allCases.filter { $0.traits.key == .galoisPerStep } == [.rotate, .rotateHoisted])
        // Codes are part of the file format: pin them.
        #expect(Opcode.allCases.map(\.rawValue) == [
            0x0001, 0x0002, 0x0003, 0x0100, 0x0101, 0x0102, 0x0103, 0x0104, 0x0200, 0x0201, 0x0202, 0x0203,
            0x0300, 0x0301, 0x0400, 0x0401, 0x0402, 0x0500, 0x0501, 0x0204, 0x0205, 0x0206, 0x0207,
        ])
        #expect(Opcode.mulPlainSum.traits.repeatsOperands && Opcode.mulPlainSum.traits.acceptsOperandCount(6))
        #expect(!Opcode.mulPlainSum.traits.acceptsOperandCount(3) && !Opcode.mulPlainSum.traits.acceptsOperandCount(0))
        #expect(Opcode.allCases.filter { $0.traits.repeatsOperands } == [.mulPlainSum, .linearMap, .gather, .mulEncodeSum])
        #expect(Opcode.linearMap.traits.acceptsOperandCount(1) && Opcode.gather.traits.acceptsOperandCount(3))
    }
}
