import Testing

@testable import CipherIR

@Suite struct SlotPatternTests {
    static let pattern = SlotPattern(length: 16, rotation: 3, grids: [
        SlotGrid(rows: 2, rowStride: 4, columns: 3, columnStride: 1, starts: [0, 8], values: [0.25, -1.5]),
        SlotGrid(rows: 1, rowStride: 0, columns: 2, columnStride: 2, starts: [1, 12], values: [2, 0.5]),
    ])

    @Test func materializesTheSumOfItsGridsRotated() {
        var sum = [Double](repeating: 0, count: 16)
        for r in 0..<2 { for c in 0..<3 { sum[0 + 4 * r + c] += 0.25; sum[8 + 4 * r + c] += -1.5 } }
        for c in 0..<2 { sum[1 + 2 * c] += 2; sum[12 + 2 * c] += 0.5 }
        let expected = (0..<16).map { sum[($0 + 3) % 16] }
        #expect(Self.pattern.materialized() == expected)
        #expect(Self.pattern.rotated(by: -3).materialized() == sum)
        #expect(Self.pattern.rotated(by: 13).rotation == 0)
        #expect(Self.pattern.placementCount == 4 && Self.pattern.validationError == nil)
    }

    @Test func placementsOutsideTheVectorAreRejected() {
        var outside = Self.pattern
        outside.grids[0].starts[1] = 11  // 11 + 4 + 2 = 17 ≥ 16
        #expect(outside.validationError?.contains("reaches past the 16 slots") == true)
        var negative = Self.pattern
        negative.grids[1].columnStride = -1
        #expect(negative.validationError?.contains("non-negative strides") == true)
        var counts = Self.pattern
        counts.grids[0].values.removeLast()
        #expect(counts.validationError?.contains("2 starts but 1 values") == true)
        var infinite = Self.pattern
        infinite.grids[1].values[0] = .infinity
        #expect(infinite.validationError?.contains("non-finite") == true)
        var rotation = Self.pattern
        rotation.rotation = 16
        #expect(rotation.validationError?.contains("rotation 16") == true)
    }

    /// A pattern constant survives the plan file; a pattern reaching past its length is refused when read.
    @Test func patternConstantsRoundTripThroughThePlanFile() throws {
        var program = try Program(parsing: Golden.dotProduct)
        program.constants[0] = ConstantEntry(pattern: SlotPattern(length: 8, grids: [
            SlotGrid(rows: 1, rowStride: 0, columns: 3, columnStride: 2, starts: [1], values: [0.75]),
        ]), level: program.constants[0].level, scale: program.constants[0].scale)
        let bytes = PlanFile.encode(program)
        let decoded = try PlanFile.decode(bytes)
        #expect(decoded == program)
        #expect(decoded.constants[0].values == [0, 0.75, 0, 0.75, 0, 0.75, 0, 0])
        program.constants[0] = ConstantEntry(pattern: SlotPattern(length: 8, grids: [
            SlotGrid(rows: 1, rowStride: 0, columns: 3, columnStride: 4, starts: [1], values: [0.75]),
        ]), level: program.constants[0].level, scale: program.constants[0].scale)
        #expect(throws: PlanFileError.self) { try PlanFile.decode(PlanFile.encode(program), verify: false) }
    }

    /// mulPlainSum needs its ciphertexts at one level and its products at one scale.
    @Test func mulPlainSumAgreementIsVerified() throws {
        let text = """
            cipher_ir version=1
            params {
              logN=13
              qBits=[60, 40, 40]
              pBits=[61]
              log2DefaultScale=40
            }
            input "x" shape=[8] ciphertexts=1 slots=8 level=2 scale=2^40 layout=contiguous
            constant @0 level=2 scale=2^40 values=[1, 1, 1, 1, 1, 1, 1, 1]
            constant @1 level=2 scale=2^30 values=[1, 1, 1, 1, 1, 1, 1, 1]
            %0 = input "x"[0]
            %1 = constant @0
            %2 = constant @1
            %3 = rescale %0
            %4 = mulPlainSum %0, %1, %3, %1
            %5 = mulPlainSum %0, %1, %0, %2
            %6 = mulPlainSum %0, %1, %0

            """
        let diagnostics = try Program(parsing: text).verificationDiagnostics().map(\.description)
        #expect(diagnostics.contains { $0.contains("ciphertext operands are at levels 1…2") })
        #expect(diagnostics.contains { $0.contains("products have different scales") })
        #expect(diagnostics.contains { $0.contains("takes a positive multiple of 2 operand(s) but has 3") })
    }
}
