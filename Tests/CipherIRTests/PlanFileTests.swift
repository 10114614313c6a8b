import Foundation
import Testing

@testable import CipherIR

/// The sections of a plan as laid out in ir-spec/plan-format.md, found by walking the bytes
/// independently of the decoder.
struct SectionSpan {
    var tag: String
    var headerStart: Int
    var payloadStart: Int
    var payloadEnd: Int
    var paddedEnd: Int
}

func sectionSpans(_ bytes: [UInt8]) -> [SectionSpan] {
    func u64(_ at: Int) -> Int { (0..<8).reduce(0) { $0 | Int(bytes[at + $1]) << (8 * $1) } }
    var spans: [SectionSpan] = []
    var offset = 24
    while offset < bytes.count {
        let tag = String(decoding: bytes[offset..<offset + 4], as: UTF8.self)
        let length = u64(offset + 8)
        let start = offset + 16
        let end = start + length
        let padded = (end + 7) / 8 * 8
        spans.append(SectionSpan(tag: tag, headerStart: offset, payloadStart: start, payloadEnd: end, paddedEnd: padded))
        offset = padded
    }
    return spans
}

/// Replaces one section's payload and fixes its length and CRC, so only the content is wrong.
func rewritingSection(_ bytes: [UInt8], _ tag: String, _ edit: (inout [UInt8]) -> Void) -> [UInt8] {
    let span = sectionSpans(bytes).first { $0.tag == tag }!
    var payload = Array(bytes[span.payloadStart..<span.payloadEnd])
    edit(&payload)
    var header: [UInt8] = Array(tag.utf8)
    withUnsafeBytes(of: CRC32.checksum(payload).littleEndian) { header += $0 }
    withUnsafeBytes(of: UInt64(payload.count).littleEndian) { header += $0 }
    var padded = payload
    while padded.count % 8 != 0 { padded.append(0) }
    return Array(bytes[..<span.headerStart]) + header + padded + Array(bytes[span.paddedEnd...])
}

func decodeError(_ bytes: [UInt8], verify: Bool = true) -> PlanFileError? {
    do {
        _ = try PlanFile.decode(bytes, verify: verify)
        return nil
    } catch {
        return error
    }
}

@Suite struct PlanFileTests {
    @Test func crc32MatchesTheStandardCheckValue() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([]) == 0)
        // Slicing-by-8 agrees with the bitwise definition on every length 0…40.
        let data = (0..<40).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        for length in 0...data.count {
            var crc: UInt32 = 0xFFFF_FFFF
            for byte in data[..<length] {
                crc ^= UInt32(byte)
                for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
            }
            #expect(CRC32.checksum(Array(data[..<length])) == ~crc)
        }
    }

    @Test(arguments: Golden.all)
    func planRoundTripsThroughAFile(name: String, text: String) throws {
        let program = try Program(parsing: text)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cipherir-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = directory.appendingPathComponent("a.tsp").path
        let second = directory.appendingPathComponent("b.tsp").path
        try PlanFile.write(program, to: first)
        let read = try PlanFile.read(path: first)
        #expect(read == program)
        #expect(read.text == text)
        try PlanFile.write(read, to: second)
        let firstBytes = try PlanFile.readBytes(path: first)
        #expect(firstBytes == (try PlanFile.readBytes(path: second)))
        #expect(firstBytes == PlanFile.encode(program))
        // Overwriting replaces the file and leaves no temporary files behind.
        try PlanFile.write(program, to: first)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == ["a.tsp", "b.tsp"])
    }

    @Test func layoutMatchesTheSpec() throws {
        let bytes = PlanFile.encode(try Program(parsing: Golden.dotProduct))
        #expect(Array(bytes[0..<8]) == [0x54, 0x53, 0x50, 0x4C, 0x41, 0x4E, 0x00, 0x01])
        #expect(Array(bytes[8..<12]) == [3, 0, 0, 0])  // version 3
        #expect(Array(bytes[12..<16]) == [0, 0, 0, 0])  // flags
        #expect(Array(bytes[16..<20]) == [8, 0, 0, 0])  // sections
        #expect(CRC32.checksum(Array(bytes[0..<20])).littleEndianBytes == Array(bytes[20..<24]))
        let spans = sectionSpans(bytes)
        #expect(spans.map(\.tag) == ["PARM", "KEYS", "BIND", "CPOL", "LMAP", "INST", "VTYP", "MEMP"])
        #expect(spans.last?.paddedEnd == bytes.count)
        for span in spans {
            #expect(span.payloadStart % 8 == 0)
            let payload = Array(bytes[span.payloadStart..<span.payloadEnd])
            #expect(CRC32.checksum(payload).littleEndianBytes == Array(bytes[span.headerStart + 4..<span.headerStart + 8]))
        }
        // The constant pool: count 1, padding, level 3, scale 2^40, storage kind 0 (dense), 8 values, then the raw Float64s.
        let pool = spans[3]
        func f64(_ at: Int) -> Double { Double(bitPattern: (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[at + $1]) << (8 * UInt64($1)) }) }
        #expect(Array(bytes[pool.payloadStart..<pool.payloadStart + 8]) == [1, 0, 0, 0, 0, 0, 0, 0])
        #expect(f64(pool.payloadStart + 16) == 0x1p40)
        #expect(Array(bytes[pool.payloadStart + 24..<pool.payloadStart + 32]) == [0, 0, 0, 0, 0, 0, 0, 0])
        #expect(Array(bytes[pool.payloadStart + 32..<pool.payloadStart + 40]) == [8, 0, 0, 0, 0, 0, 0, 0])
        #expect(f64(pool.payloadStart + 40) == 0.5)
        #expect(f64(pool.payloadStart + 48) == -1.0)
        // No lane maps: a count of 0 and padding.
        #expect(Array(bytes[spans[4].payloadStart..<spans[4].payloadEnd]) == [0, 0, 0, 0, 0, 0, 0, 0])
        #expect(spans[7].payloadStart == spans[7].payloadEnd)  // empty memory plan
    }

    @Test func everyFlippedByteIsRejected() throws {
        let bytes = PlanFile.encode(try Program(parsing: Golden.dotProduct))
        let spans = sectionSpans(bytes)
        for index in bytes.indices {
            var corrupt = bytes
            corrupt[index] ^= 0x5A
            let error = decodeError(corrupt)
            #expect(error != nil, "flipping byte \(index) went unnoticed")
            if let span = spans.first(where: { (0..<$0.payloadEnd).contains(index) && index >= $0.payloadStart }) {
                #expect(error == .checksumMismatch(section: span.tag, stored: CRC32.checksum(Array(bytes[span.payloadStart..<span.payloadEnd])),
                                                   computed: CRC32.checksum(Array(corrupt[span.payloadStart..<span.payloadEnd]))),
                        "byte \(index) in \(span.tag)")
                #expect(error?.description.contains(span.tag) == true)
            }
        }
    }

    @Test func everyTruncationIsRejected() throws {
        let bytes = PlanFile.encode(try Program(parsing: Golden.matrixVector))
        for length in 0..<bytes.count {
            #expect(decodeError(Array(bytes[..<length])) != nil, "a plan cut to \(length) bytes was accepted")
        }
        #expect(decodeError(Array(bytes[..<10])) == .truncatedHeader(size: 10))
        let instructions = sectionSpans(bytes).first { $0.tag == "INST" }!
        let cut = Array(bytes[..<(instructions.payloadStart + 5)])
        #expect(decodeError(cut) == .truncatedSection(section: "INST", needed: UInt64(instructions.payloadEnd - instructions.payloadStart), available: 5))
        let headerCut = Array(bytes[..<(instructions.headerStart + 3)])
        #expect(decodeError(headerCut) == .truncatedSection(section: "INST", needed: 16, available: 3))
        #expect(decodeError(bytes + [0]) == .trailingBytes(count: 1))
    }

    @Test func wrongMagicAndOtherVersionsAreNamed() throws {
        let program = try Program(parsing: Golden.dotProduct)
        let bytes = PlanFile.encode(program)
        let text = decodeError(Array(program.text.utf8))
        #expect(text == .notAPlan(found: Array("cipher_i".utf8)))
        #expect(text?.description.contains("not a Tessera plan") == true)

        var newer = bytes
        newer[8] = 4
        let crc = CRC32.checksum(Array(newer[0..<20])).littleEndianBytes
        newer.replaceSubrange(20..<24, with: crc)
        let version = decodeError(newer)
        #expect(version == .unsupportedVersion(found: 4, supported: 3))
        #expect(version?.description.contains("version 4 is not supported; this build reads version 3") == true)

        var flagged = bytes
        flagged[12] = 1
        flagged.replaceSubrange(20..<24, with: CRC32.checksum(Array(flagged[0..<20])).littleEndianBytes)
        #expect(decodeError(flagged) == .unsupportedFlags(1))
    }

    @Test func unknownOpcodesAndMissingOperandsAreTyped() throws {
        let program = try Program(parsing: Golden.dotProduct)
        let bytes = PlanFile.encode(program)
        // INST payload: u64 count, then instruction 0 starts with its u16 op code.
        let unknown = rewritingSection(bytes, "INST") { $0[8] = 0x77; $0[9] = 0x77 }
        #expect(decodeError(unknown) == .unknownOpcode(code: 0x7777, instruction: 0))

        var undefined = program
        undefined.instructions[5].operands[1] = ValueID(99)
        #expect(decodeError(PlanFile.encode(undefined)) == .undefinedOperand(value: 99, instruction: 5, definedAt: nil))

        var reordered = program
        reordered.instructions.swapAt(3, 4)
        let early = decodeError(PlanFile.encode(reordered))
        #expect(early == .undefinedOperand(value: 3, instruction: 3, definedAt: 4))
        #expect(early?.description.contains("before its definition at instruction 4") == true)

        // Structurally fine but semantically wrong: the verifier runs on read.
        var missingKey = program
        missingKey.keys = KeyRequirements(rotationSteps: [1, 2])
        guard case .invalidProgram(let diagnostics)? = decodeError(PlanFile.encode(missingKey)) else {
            Issue.record("a plan missing a Galois key was accepted")
            return
        }
        #expect(diagnostics.map(\.code) == [.missingKey])
        #expect(decodeError(PlanFile.encode(missingKey), verify: false) == nil)
    }

    @Test func sectionOrderAndReservedSectionsAreChecked() throws {
        let bytes = PlanFile.encode(try Program(parsing: Golden.dotProduct))
        let spans = sectionSpans(bytes)
        var renamed = bytes
        renamed.replaceSubrange(spans[3].headerStart..<spans[3].headerStart + 4, with: Array("PENC".utf8))
        #expect(decodeError(renamed) == .unsupportedSection("PENC"))
        renamed.replaceSubrange(spans[3].headerStart..<spans[3].headerStart + 4, with: Array("INST".utf8))
        #expect(decodeError(renamed) == .unexpectedSection(found: "INST", expected: "CPOL"))
        // A content error inside a section with a valid CRC names that section.
        let badLayout = rewritingSection(bytes, "KEYS") { $0[0] = 0xF0 }
        guard case .malformedSection(let section, _)? = decodeError(badLayout) else {
            Issue.record("unknown key flags were accepted")
            return
        }
        #expect(section == "KEYS")
    }

    @Test func everyOpAndFieldRoundTripsThroughBytes() throws {
        // A program touching every op, layout kind, optional field and a non-empty memory plan.
        var program = Program(
            parameters: PlanParameters(logN: 5, qBits: [60, 40, 40], pBits: [61], dnum: 1, secret: .sparseTernary(hammingWeight: 12),
                                       errorStandardDeviation: 3.19, log2DefaultScale: 40, securityPreset: "custom"),
            keys: KeyRequirements(relinearization: true, conjugation: true, bootstrapping: true, rotationSteps: [-3, 1, 2]),
            inputs: [TensorBinding(name: "x", shape: [2, 2], ciphertextCount: 2, slots: 2,
                                   layout: .strided(ciphertextStrides: [1, 0], slotStrides: [0, 1], slotOffset: 0), level: 2, scale: 0x1p40)],
            outputs: [TensorBinding(name: "y", shape: [2], ciphertextCount: 1, slots: 2, layout: .explicit([1, 0]), level: 2, scale: 3.0e12)],
            constants: [ConstantEntry(values: [1.5, -2.25], level: 2, scale: 0x1p40), ConstantEntry(values: [], level: 0, scale: 2)],
            memoryPlan: MemoryPlan(bytes: [1, 2, 3]))
        let x = program.emitOne(.input, [], .binding(index: 0, ciphertext: 1), type: ValueType(slots: 2, level: 2, scale: 0x1p40))
        let c = program.emitOne(.constant, [], .constantIndex(0))
        let m = program.emitOne(.mulConst, [program.emitOne(.addConst, [x], .scalar(0.1))], .scaledScalar(value: -1, scale: 7))
        let hoisted = program.emit(.rotateHoisted, [m], .rotationSteps([-3, 1]))
        let r = program.emitOne(.refresh, [program.emitOne(.bootstrap, [hoisted[1]], .targetLevel(1))], .refresh(function: "sign", level: 2))
        program.emit(.output, [program.emitOne(.addPlain, [r, c], type: ValueType(scale: 0x1p40))], .binding(index: 0, ciphertext: 0))
        let bytes = PlanFile.encode(program)
        let decoded = try PlanFile.decode(bytes, verify: false)
        #expect(decoded == program)
        #expect(PlanFile.encode(decoded) == bytes)
    }
}

extension UInt32 {
    var littleEndianBytes: [UInt8] { withUnsafeBytes(of: littleEndian) { Array($0) } }
}
