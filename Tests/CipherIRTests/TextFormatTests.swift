import Foundation
import Testing

@testable import CipherIR

@Suite struct TextFormatTests {
    @Test(arguments: Golden.all)
    func goldenTextRoundTrips(name: String, text: String) throws {
        let program = try Program(parsing: text)
        #expect(program.text == text, "print(parse(t)) must give t back for \(name)")
        #expect(try Program(parsing: program.text) == program)
        try program.verify()
    }

    @Test func dotProductComputesTheDotProduct() throws {
        let x = [1.0, 2.0, -3.0, 0.5, 4.0, -1.0, 2.5, 1.0]
        let w = [0.5, -1.0, 2.0, 0.25, 1.5, -0.75, 3.0, 1.0]
        let expected = zip(x, w).map(*).reduce(0, +)
        let outputs = try PlainEvaluator.run(Golden.dotProduct, inputs: ["x": x])
        #expect(abs(outputs["y"]![0] - expected) < 1e-12)
    }

    @Test func polynomialComputesCubePlusHalf() throws {
        let x = [-1.5, -1.0, -0.5, 0.0, 0.25, 0.5, 1.0, 2.0]
        let outputs = try PlainEvaluator.run(Golden.polynomial, inputs: ["x": x])
        for (input, output) in zip(x, outputs["y"]!) {
            #expect(abs(output - (input * input * input + 0.5 * input)) < 1e-12)
        }
    }

    @Test func matrixVectorComputesTheProduct() throws {
        let x = [1.0, -2.0, 0.5, 3.0]
        let outputs = try PlainEvaluator.run(Golden.matrixVector, inputs: ["x": x])
        for row in 0..<4 {
            let expected = (0..<4).map { Double(4 * row + $0 + 1) * x[$0] }.reduce(0, +)
            #expect(abs(outputs["y"]![row] - expected) < 1e-12, "row \(row)")
        }
    }

    @Test func verifierInfersUnannotatedFacts() throws {
        let program = try Program(parsing: Golden.matrixVector)
        let inferred = program.inferredTypes()
        // %2 was annotated `ct`, %3 only `level=2`; the rest follows from the rules.
        #expect(inferred[ValueID(2)] == ValueType(slots: 4, level: 2, scale: 0x1p40))
        #expect(inferred[ValueID(4)] == ValueType(slots: 4, level: 2, scale: 0x1p40))
        #expect(inferred[ValueID(13)] == ValueType(slots: 4, level: 2, scale: 0x1p80))
        #expect(inferred[ValueID(15)] == ValueType(slots: 4, level: 1, scale: 0x1p40))
        var annotated = program
        try annotated.annotateTypes()
        #expect(annotated.types[ValueID(15)] == ValueType(slots: 4, level: 1, scale: 0x1p40))
        #expect(try Program(parsing: annotated.text) == annotated)
        #expect(annotated.text.contains("%15 = rescale %14 : ct<slots=4, level=1, scale=2^40>\n"))
    }

    @Test func everyOpRoundTripsThroughText() throws {
        var program = Program(
            parameters: {
                var parameters = PlanParameters(logN: 5, qBits: [60, 40, 40, 40, 40, 56, 60, 56], pBits: [61, 61], dnum: 2, log2DefaultScale: 40)
                parameters.bootstrapping = PlanBootstrapping(coeffsToSlotsLevels: 1, slotsToCoeffsLevels: 1, evalModLevels: 1, sineRange: 12,
                                                             cosineDegree: 30, doubleAngles: 2, messageRatioLog2: 12.5, outputLevel: 4)
                return parameters
            }(),
            keys: KeyRequirements(relinearization: true, conjugation: true, bootstrapping: true, rotationSteps: [-1, 3, 2]),
            inputs: [
                TensorBinding(name: "in \"quoted\"\n\u{1}é", shape: [2, 2], ciphertextCount: 1, slots: 16,
                              layout: .strided(ciphertextStrides: [0, 0], slotStrides: [4, 1], slotOffset: 2), level: 4, scale: 0x1p40)
            ],
            outputs: [TensorBinding(name: "out", shape: [4], ciphertextCount: 1, slots: 16, layout: .explicit([3, 2, 1, 0]))],
            constants: [
                ConstantEntry(values: (0..<16).map { Double($0) * 0.1 - 1e-7 }, level: 4, scale: 1099511627689.0),
                ConstantEntry(pattern: SlotPattern(length: 16, rotation: 3, grids: [
                    SlotGrid(rows: 2, rowStride: 4, columns: 3, columnStride: 1, starts: [0, 8], values: [0.25, -1.5e-3]),
                    SlotGrid(rows: 1, rowStride: 0, columns: 1, columnStride: 0, starts: [15], values: [2]),
                ]), level: 4, scale: 0x1p40),
            ],
            memoryPlan: MemoryPlan(bytes: [0x00, 0xAB, 0x7F]))
        let x = program.emitOne(.input, [], .binding(index: 0, ciphertext: 0))
        let c = program.emitOne(.constant, [], .constantIndex(0))
        let a = program.emitOne(.add, [x, x])
        let s = program.emitOne(.sub, [a, x])
        let n = program.emitOne(.negate, [s])
        let ap = program.emitOne(.addPlain, [n, c], type: ValueType(slots: 16))
        let ac = program.emitOne(.addConst, [ap], .scalar(-0.125))
        let mp = program.emitOne(.mulPlain, [ac, c])
        let p = program.emitOne(.constant, [], .constantIndex(1))
        let sum = program.emitOne(.mulPlainSum, [ac, c, x, p])
        let mc = program.emitOne(.mulConst, [x], .scaledScalar(value: 3.5e-3, scale: 0x1p40))
        let m = program.emitOne(.mul, [x, x])
        let r = program.emitOne(.relinearize, [m])
        let rs = program.emitOne(.rescale, [r])
        let ld = program.emitOne(.levelDown, [rs], .targetLevel(1))
        let rot = program.emitOne(.rotate, [ld], .rotationStep(-1))
        let hoisted = program.emit(.rotateHoisted, [rot], .rotationSteps([2, 3]), types: [ValueType(level: 1), .unknown])
        let conj = program.emitOne(.conjugate, [hoisted[1]])
        let boot = program.emitOne(.bootstrap, [conj], .targetLevel(4))
        let refreshed = program.emitOne(.refresh, [boot], .refresh(function: "relu", level: 4))
        // Lane values and the three kinds of lane map.
        program.inputs.append(TensorBinding(name: "lanes", shape: [4, 16], ciphertextCount: 4, slots: 16))
        program.laneMaps = [
            LaneMap(inputLanes: 4, kind: .gather(indices: [3, 0])),
            LaneMap(inputLanes: 2, kind: .sparse(rowStarts: [0, 1, 3], columns: [1, 0, 1], weights: [0.5, -2, 1e-3], bias: [0.25, 0])),
            LaneMap(inputLanes: 4, kind: .convolution(LaneConvolution(
                channels: 1, height: 2, width: 2, outputChannels: 2, outputHeight: 1, outputWidth: 1, groups: 1, kernelHeight: 2,
                kernelWidth: 2, strideY: 1, strideX: 1, padTop: 0, padLeft: 0, dilationY: 1, dilationX: 1,
                weights: [1, 2, 3, 4, -1, -2, -3, -4], bias: [0.5, 0]))),
        ]
        let lanes = program.emitOne(.input, [], .binding(index: 1, ciphertext: 0), type: ValueType(slots: 16, lanes: 4))
        let gathered = program.emitOne(.gather, [lanes], .laneMap(0))
        let mixed = program.emitOne(.linearMap, [gathered], .scaledLaneMap(index: 1, scale: 0x1p40))
        let convolved = program.emitOne(.linearMap, [lanes], .scaledLaneMap(index: 2, scale: 0x1p40))
        #expect(program.lanes(of: gathered) == 2 && program.lanes(of: mixed) == 2 && program.lanes(of: convolved) == 2)
        let encoded = program.emitOne(.mulEncodeSum, [ac, x], .constantIndices([0, 1]))
        _ = (mp, mc, refreshed, sum, encoded)
        program.emit(.output, [refreshed], .binding(index: 0, ciphertext: 0))
        #expect(Set(program.instructions.map(\.opcode)) == Set(Opcode.allCases))
        let text = program.text
        let parsed = try Program(parsing: text)
        #expect(parsed == program)
        #expect(parsed.text == text)
        #expect(text.contains("%16, %17 = rotateHoisted %15 steps=[2, 3] : ct<level=1>, ct\n"))
        #expect(text.contains("%9 = mulPlainSum %6, %1, %0, %8\n"))
        #expect(text.contains(" = mulEncodeSum %6, %0 constants=[@0, @1]\n"))
        #expect(text.contains("constant @1 level=4 scale=2^40 length=16 rotate=3 grids=[grid(2, 4, 3, 1, starts=[0, 8], values=[0.25, -0.0015]), grid(1, 0, 1, 0, starts=[15], values=[2.0])]"))
        #expect(text.contains("input \"in \\\"quoted\\\"\\n\\u{1}é\""))
        #expect(text.contains("scale=1099511627689.0"))
        #expect(text.contains("memory_plan bytes=\"00ab7f\""))
        // Well-formed apart from the refresh result at level 4 feeding an output: the verifier accepts it.
        #expect(program.usedKeys() == program.keys)
        try program.verify()
    }

    @Test func parserAcceptsNonCanonicalSpacingAndComments() throws {
        let messy = Golden.dotProduct
            .replacingOccurrences(of: "%5 = add %3, %4", with: "%5=add   %3 ,%4  # sum of halves\n")
            .replacingOccurrences(of: "cipher_ir version=1", with: "# a comment first\ncipher_ir  version = 1")
        let program = try Program(parsing: messy)
        #expect(program.text == Golden.dotProduct)
    }

    @Test func parseErrorsCarryLineAndColumn() throws {
        func failure(_ text: String) -> (Int, Int, String)? {
            do {
                _ = try Program(parsing: text)
                return nil
            } catch let CipherIRError.parse(line, column, message) {
                return (line, column, message)
            } catch {
                return nil
            }
        }
        let header = "cipher_ir version=1\n"
        let unknownOp = failure(header + "input \"x\" shape=[8] ciphertexts=1 slots=8\n%0 = input \"x\"[0]\n%1 = frobnicate %0\n")
        #expect(unknownOp?.0 == 4 && unknownOp?.1 == 6)
        #expect(unknownOp?.2.contains("unknown op 'frobnicate'") == true)

        let missingEquals = failure(header + "%0 input \"x\"[0]\n")
        #expect(missingEquals?.0 == 2 && missingEquals?.1 == 4)
        #expect(missingEquals?.2.contains("expected '='") == true)

        let unterminated = failure(header + "input \"x shape=[8]\n")
        #expect(unterminated?.0 == 2 && unterminated?.1 == 7)
        #expect(unterminated?.2.contains("unterminated string") == true)

        let unknownBinding = failure(header + "  %0 = input \"z\"[0]\n")
        #expect(unknownBinding?.0 == 2 && unknownBinding?.1 == 14)
        #expect(unknownBinding?.2.contains("no input binding named \"z\"") == true)

        let wrongKind = failure(header + "input \"x\" shape=[8] ciphertexts=1 slots=8\n%0 = input \"x\"[0] : pt<slots=8>\n")
        #expect(wrongKind?.0 == 3 && wrongKind?.1 == 21)
        #expect(wrongKind?.2.contains("defines a ct but the annotation says 'pt'") == true)

        let version = failure("cipher_ir version=7\n")
        #expect(version?.0 == 1 && version?.1 == 19)
        #expect(version?.2.contains("version 7 is not supported") == true)

        let badParam = failure(header + "params {\n  logN=13\n  qbits=[1]\n}\n")
        #expect(badParam?.0 == 4 && badParam?.1 == 3)
        #expect(badParam?.2.contains("unknown params field 'qbits'") == true)

        let badCharacter = failure(header + "%0 = input ! \n")
        #expect(badCharacter?.0 == 2 && badCharacter?.1 == 12)
    }
}
