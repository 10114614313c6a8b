#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

#if canImport(Darwin)
    private let systemWrite = Darwin.write
    private let systemRead = Darwin.read
#elseif canImport(Musl)
    private let systemWrite = Musl.write
    private let systemRead = Musl.read
#else
    private let systemWrite = Glibc.write
    private let systemRead = Glibc.read
#endif

/// Why a plan file was rejected. Every message names the file part and what to do.
public enum PlanFileError: Error, Equatable, CustomStringConvertible {
    /// The file does not start with the plan magic.
    case notAPlan(found: [UInt8])
    /// The plan was written by another format version.
    case unsupportedVersion(found: UInt32, supported: UInt32)
    /// Header flags this reader does not know.
    case unsupportedFlags(UInt32)
    /// The file ends inside the 24-byte header.
    case truncatedHeader(size: Int)
    /// The header's own checksum does not match.
    case headerChecksumMismatch(stored: UInt32, computed: UInt32)
    /// The file ends inside a section header or payload.
    case truncatedSection(section: String, needed: UInt64, available: Int)
    /// A section's payload does not match its CRC-32.
    case checksumMismatch(section: String, stored: UInt32, computed: UInt32)
    /// A section other than the one the format requires at this position.
    case unexpectedSection(found: String, expected: String)
    /// A section kind reserved for a later version (e.g. pre-encoded plaintexts).
    case unsupportedSection(String)
    /// A section's content is inconsistent (a field past its end, a bad enum value, nonzero padding).
    case malformedSection(section: String, detail: String)
    /// Bytes after the last section.
    case trailingBytes(count: Int)
    /// An instruction with an op code this build does not know.
    case unknownOpcode(code: UInt16, instruction: Int)
    /// An instruction reads a value that no earlier instruction defines.
    case undefinedOperand(value: UInt32, instruction: Int, definedAt: Int?)
    /// The program decoded but fails the verifier.
    case invalidProgram([Diagnostic])
    /// The operating system refused a read or write.
    case io(path: String, operation: String, reason: String)

    public var description: String {
        switch self {
        case .notAPlan(let found):
            return "not a Tessera plan: the file starts with \(hex(found)) instead of the magic \(hex(PlanFile.magic)) (\"TSPLAN\\0\\1\"); pass a .tsp written by `tessera compile`"
        case .unsupportedVersion(let found, let supported):
            return "plan format version \(found) is not supported; this build reads version \(supported); recompile the model with this build"
        case .unsupportedFlags(let flags):
            return "plan header flags 0x\(String(flags, radix: 16)) are not known to this build; recompile the model with this build"
        case .truncatedHeader(let size):
            return "the plan is truncated: \(size) bytes, shorter than the \(PlanFile.headerSize)-byte header; the file was cut off, copy it again"
        case .headerChecksumMismatch(let stored, let computed):
            return "the plan header is corrupt (checksum 0x\(String(stored, radix: 16)) stored, 0x\(String(computed, radix: 16)) computed); copy the file again or recompile"
        case .truncatedSection(let section, let needed, let available):
            return "section \(PlanFile.describe(section)) is truncated: it needs \(needed) bytes but only \(available) remain; the file was cut off, copy it again"
        case .checksumMismatch(let section, let stored, let computed):
            return "section \(PlanFile.describe(section)) is corrupt (CRC-32 0x\(String(stored, radix: 16)) stored, 0x\(String(computed, radix: 16)) computed); copy the file again or recompile"
        case .unexpectedSection(let found, let expected):
            return "found section \(PlanFile.describe(found)) where \(PlanFile.describe(expected)) must be; the file is corrupt or from another tool"
        case .unsupportedSection(let section):
            return "section \(PlanFile.describe(section)) is reserved for a later format version; recompile the model with this build"
        case .malformedSection(let section, let detail):
            return "section \(PlanFile.describe(section)) is malformed: \(detail)"
        case .trailingBytes(let count):
            return "\(count) unexpected bytes after the last section; the file is corrupt"
        case .unknownOpcode(let code, let instruction):
            return "instruction \(instruction) has unknown op code 0x\(String(code, radix: 16)); the plan needs a newer build"
        case .undefinedOperand(let value, let instruction, let definedAt):
            if let definedAt {
                return "instruction \(instruction) uses %\(value) before its definition at instruction \(definedAt); the plan is corrupt"
            }
            return "instruction \(instruction) uses %\(value), which no instruction defines; the plan is corrupt"
        case .invalidProgram(let diagnostics):
            return "the plan's program does not verify:\n" + diagnostics.map { "  " + $0.description }.joined(separator: "\n")
        case .io(let path, let operation, let reason):
            return "cannot \(operation) '\(path)': \(reason)"
        }
    }
}

/// The binary plan file (`.tsp`): byte layout in ir-spec/plan-format.md. All integers little-endian.
///
///     header   magic "TSPLAN\0\1" · version u32 · flags u32 · section count u32 · header CRC-32 u32
///     sections PARM KEYS BIND CPOL LMAP INST VTYP MEMP, each: tag[4] · CRC-32 u32 · length u64 · payload · zero pad to 8
public enum PlanFile {
    /// The 8 magic bytes every plan starts with.
    public static let magic: [UInt8] = Array("TSPLAN".utf8) + [0, 1]
    /// The format version this build writes and reads.
    public static let formatVersion: UInt32 = 3
    static let headerSize = 24
    static let sectionHeaderSize = 16

    /// Section tags in their required order.
    public static let sectionOrder = ["PARM", "KEYS", "BIND", "CPOL", "LMAP", "INST", "VTYP", "MEMP"]
    /// Reserved tags: recognized, rejected by this version.
    public static let reservedSections = ["PENC"]

    static func describe(_ tag: String) -> String {
        let names = [
            "PARM": "parameters", "KEYS": "key requirements", "BIND": "bindings", "CPOL": "constant pool", "LMAP": "lane maps",
            "INST": "instruction stream", "VTYP": "value types", "MEMP": "memory plan", "PENC": "pre-encoded plaintexts",
        ]
        return names[tag].map { "\(tag) (\($0))" } ?? "'\(tag)'"
    }

    // MARK: encode

    /// The plan file bytes of `program` (deterministic: equal programs give equal bytes).
    public static func encode(_ program: Program) -> [UInt8] {
        let payloads: [(String, [UInt8])] = [
            ("PARM", encodeParameters(program.parameters)),
            ("KEYS", encodeKeys(program.keys)),
            ("BIND", encodeBindings(program)),
            ("CPOL", encodeConstants(program.constants)),
            ("LMAP", encodeLaneMaps(program.laneMaps)),
            ("INST", encodeInstructions(program.instructions)),
            ("VTYP", encodeTypes(program.types)),
            ("MEMP", program.memoryPlan.bytes),
        ]
        var writer = ByteWriter()
        writer.bytes.reserveCapacity(headerSize + payloads.reduce(0) { $0 + sectionHeaderSize + $1.1.count + 8 })
        writer.bytes.append(contentsOf: magic)
        writer.u32(formatVersion)
        writer.u32(0)  // flags
        writer.count32(payloads.count)
        writer.u32(CRC32.checksum(writer.bytes))
        for (tag, payload) in payloads {
            writer.bytes.append(contentsOf: Array(tag.utf8))
            writer.u32(CRC32.checksum(payload))
            writer.u64(UInt64(payload.count))
            writer.bytes.append(contentsOf: payload)
            writer.padTo8()
        }
        return writer.bytes
    }

    static func encodeParameters(_ parameters: PlanParameters?) -> [UInt8] {
        var writer = ByteWriter()
        guard let parameters else {
            writer.u8(0)
            return writer.bytes
        }
        writer.u8(1)
        writer.i64(parameters.logN)
        writer.i64Array(parameters.qBits)
        writer.i64Array(parameters.pBits)
        writer.i64(parameters.dnum)
        switch parameters.secret {
        case .uniformTernary:
            writer.u8(0)
            writer.i64(0)
        case .sparseTernary(let weight):
            writer.u8(1)
            writer.i64(weight)
        }
        writer.f64(parameters.errorStandardDeviation)
        writer.i64(parameters.log2DefaultScale)
        writer.string(parameters.securityPreset)
        if let b = parameters.bootstrapping {
            writer.u8(1)
            for field in [b.coeffsToSlotsLevels, b.slotsToCoeffsLevels, b.evalModLevels, b.sineRange, b.cosineDegree, b.doubleAngles, b.outputLevel] {
                writer.i64(field)
            }
            writer.f64(b.messageRatioLog2)
        } else {
            writer.u8(0)
        }
        return writer.bytes
    }

    static func encodeKeys(_ keys: KeyRequirements) -> [UInt8] {
        var writer = ByteWriter()
        var flags: UInt32 = 0
        if keys.relinearization { flags |= 1 }
        if keys.conjugation { flags |= 2 }
        if keys.bootstrapping { flags |= 4 }
        writer.u32(flags)
        writer.i64Array(keys.rotationSteps)
        return writer.bytes
    }

    static func encodeBindings(_ program: Program) -> [UInt8] {
        var writer = ByteWriter()
        for bindings in [program.inputs, program.outputs] {
            writer.count32(bindings.count)
            for binding in bindings {
                writer.string(binding.name)
                writer.i64Array(binding.shape)
                writer.i64(binding.ciphertextCount)
                writer.i64(binding.slots)
                writer.u8((binding.level != nil ? 1 : 0) | (binding.scale != nil ? 2 : 0))
                if let level = binding.level { writer.i64(level) }
                if let scale = binding.scale { writer.f64(scale) }
                switch binding.layout {
                case .contiguous:
                    writer.u8(0)
                case .strided(let ciphertextStrides, let slotStrides, let slotOffset):
                    writer.u8(1)
                    writer.i64Array(ciphertextStrides)
                    writer.i64Array(slotStrides)
                    writer.i64(slotOffset)
                case .explicit(let positions):
                    writer.u8(2)
                    writer.count32(positions.count)
                    writer.i32Raw(positions)
                }
            }
        }
        return writer.bytes
    }

    static func encodeConstants(_ constants: [ConstantEntry]) -> [UInt8] {
        var writer = ByteWriter()
        writer.bytes.reserveCapacity(8 + constants.reduce(0) { $0 + 64 + $1.storedBytes })
        writer.count32(constants.count)
        writer.u32(0)  // keeps the Float64 vectors 8-byte aligned in the file
        for entry in constants {
            writer.i64(entry.level)
            writer.f64(entry.scale)
            switch entry.content {
            case .dense(let values):
                writer.u64(0)
                writer.u64(UInt64(values.count))
                writer.f64Raw(values)
            case .pattern(let pattern):
                writer.u64(1)
                writer.u64(UInt64(pattern.length))
                writer.u64(UInt64(pattern.rotation))
                writer.u64(UInt64(pattern.grids.count))
                for grid in pattern.grids {
                    writer.i64(grid.rows)
                    writer.i64(grid.rowStride)
                    writer.i64(grid.columns)
                    writer.i64(grid.columnStride)
                    writer.u64(UInt64(grid.starts.count))
                    writer.f64Raw(grid.values)
                    writer.i32Raw(grid.starts)
                    writer.padTo8()
                }
            }
        }
        return writer.bytes
    }

    static func encodeLaneMaps(_ maps: [LaneMap]) -> [UInt8] {
        var writer = ByteWriter()
        writer.bytes.reserveCapacity(8 + maps.reduce(0) { $0 + 32 + $1.storedBytes })
        writer.count32(maps.count)
        writer.u32(0)
        for map in maps {
            writer.u64(UInt64(map.inputLanes))
            switch map.kind {
            case .gather(let indices):
                writer.u64(0)
                writer.u64(UInt64(indices.count))
                writer.i32Raw(indices)
                writer.padTo8()
            case .sparse(let rowStarts, let columns, let weights, let bias):
                writer.u64(1)
                writer.u64(UInt64(rowStarts.count))
                writer.u64(UInt64(columns.count))
                writer.u64(UInt64(bias.count))
                writer.f64Raw(weights)
                writer.f64Raw(bias)
                writer.i32Raw(rowStarts)
                writer.i32Raw(columns)
                writer.padTo8()
            case .convolution(let c):
                writer.u64(2)
                for field in c.geometry { writer.i64(field) }
                writer.u64(UInt64(c.weights.count))
                writer.u64(UInt64(c.bias.count))
                writer.f64Raw(c.weights)
                writer.f64Raw(c.bias)
            }
        }
        return writer.bytes
    }

    static func encodeImmediateKind(_ kind: ImmediateKind) -> UInt8 { kind.rawValue }

    static func encodeInstructions(_ instructions: [Instruction]) -> [UInt8] {
        var writer = ByteWriter()
        writer.bytes.reserveCapacity(8 + instructions.count * 24)
        writer.u64(UInt64(instructions.count))
        for instruction in instructions {
            writer.u16(instruction.opcode.rawValue)
            writer.u8(instruction.immediate.kind.rawValue)
            writer.u8(0)
            writer.count32(instruction.operands.count)
            writer.count32(instruction.results.count)
            for operand in instruction.operands { writer.u32(operand.raw) }
            for result in instruction.results { writer.u32(result.raw) }
            switch instruction.immediate {
            case .none: break
            case .binding(let index, let ciphertext):
                writer.i64(index)
                writer.i64(ciphertext)
            case .constantIndex(let index): writer.i64(index)
            case .scalar(let value): writer.f64(value)
            case .scaledScalar(let value, let scale):
                writer.f64(value)
                writer.f64(scale)
            case .rotationStep(let step): writer.i64(step)
            case .rotationSteps(let steps): writer.i64Array(steps)
            case .targetLevel(let level): writer.i64(level)
            case .refresh(let function, let level):
                writer.string(function)
                writer.i64(level)
            case .laneMap(let index): writer.i64(index)
            case .scaledLaneMap(let index, let scale):
                writer.i64(index)
                writer.f64(scale)
            case .constantIndices(let indices): writer.i64Array(indices)
            }
        }
        return writer.bytes
    }

    static func encodeTypes(_ types: ValueTypeTable) -> [UInt8] {
        var writer = ByteWriter()
        let entries = types.sortedEntries
        writer.count32(entries.count)
        for (id, type) in entries {
            writer.u32(id.raw)
            writer.u8((type.slots != nil ? 1 : 0) | (type.level != nil ? 2 : 0) | (type.scale != nil ? 4 : 0) | (type.lanes != nil ? 8 : 0))
            if let slots = type.slots { writer.i64(slots) }
            if let level = type.level { writer.i64(level) }
            if let scale = type.scale { writer.f64(scale) }
            if let lanes = type.lanes { writer.i64(lanes) }
        }
        return writer.bytes
    }

    // MARK: decode

    /// Decodes plan bytes. Always checks the header, every section's length and checksum, op codes
    /// and SSA order; with `verify` (the default) also runs the verifier, so a returned program is
    /// safe to interpret.
    public static func decode(_ bytes: [UInt8], verify: Bool = true) throws(PlanFileError) -> Program {
        let outcome: Result<Program, PlanFileError> = bytes.withUnsafeBytes { raw in
            do throws(PlanFileError) { return .success(try decode(raw)) } catch { return .failure(error) }
        }
        let program = try outcome.get()
        if verify {
            let diagnostics = program.verificationDiagnostics()
            if diagnostics.contains(where: { $0.severity == .error }) { throw .invalidProgram(diagnostics) }
        }
        return program
    }

    static func decode(_ raw: UnsafeRawBufferPointer) throws(PlanFileError) -> Program {
        guard raw.count >= magic.count, Array(raw[0..<magic.count]) == magic else {
            throw .notAPlan(found: Array(raw[0..<min(raw.count, magic.count)]))
        }
        guard raw.count >= headerSize else { throw .truncatedHeader(size: raw.count) }
        func u32(_ offset: Int) -> UInt32 { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
        let version = u32(8)
        let flags = u32(12)
        let sectionCount = u32(16)
        let storedHeaderChecksum = u32(20)
        let headerChecksum = CRC32.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<20]))
        // The version is checked before the checksum so a plan from another version says so.
        guard version == formatVersion else {
            guard storedHeaderChecksum == headerChecksum else { throw .headerChecksumMismatch(stored: storedHeaderChecksum, computed: headerChecksum) }
            throw .unsupportedVersion(found: version, supported: formatVersion)
        }
        guard storedHeaderChecksum == headerChecksum else { throw .headerChecksumMismatch(stored: storedHeaderChecksum, computed: headerChecksum) }
        guard flags == 0 else { throw .unsupportedFlags(flags) }
        guard sectionCount == UInt32(sectionOrder.count) else {
            throw .malformedSection(section: "header", detail: "the header lists \(sectionCount) sections; version \(formatVersion) has \(sectionOrder.count)")
        }

        var offset = headerSize
        var payloads: [String: (start: Int, end: Int)] = [:]
        for expected in sectionOrder {
            guard raw.count - offset >= sectionHeaderSize else {
                throw .truncatedSection(section: expected, needed: UInt64(sectionHeaderSize), available: raw.count - offset)
            }
            let tagBytes = Array(raw[offset..<offset + 4])
            let tag = String(decoding: tagBytes, as: UTF8.self)
            guard tagBytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
                throw .unexpectedSection(found: "0x" + hex(tagBytes), expected: expected)
            }
            if tag != expected {
                if reservedSections.contains(tag) { throw .unsupportedSection(tag) }
                throw .unexpectedSection(found: tag, expected: expected)
            }
            let storedChecksum = u32(offset + 4)
            let length = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))
            offset += sectionHeaderSize
            let available = raw.count - offset
            guard length <= UInt64(available) else {
                throw .truncatedSection(section: tag, needed: length, available: available)
            }
            let end = offset + Int(length)
            let computed = CRC32.checksum(UnsafeRawBufferPointer(rebasing: raw[offset..<end]))
            guard computed == storedChecksum else { throw .checksumMismatch(section: tag, stored: storedChecksum, computed: computed) }
            payloads[tag] = (offset, end)
            let padded = (end + 7) & ~7
            guard padded <= raw.count else {
                throw .truncatedSection(section: tag, needed: UInt64(padded - end), available: raw.count - end)
            }
            if raw[end..<padded].contains(where: { $0 != 0 }) {
                throw .malformedSection(section: tag, detail: "the padding after the payload is not zero")
            }
            offset = padded
        }
        guard offset == raw.count else { throw .trailingBytes(count: raw.count - offset) }

        func reader(_ tag: String) -> ByteReader {
            let range = payloads[tag]!
            return ByteReader(raw, from: range.start, to: range.end, section: tag)
        }
        do {
            var program = Program()
            var parameterReader = reader("PARM")
            program.parameters = try decodeParameters(&parameterReader)
            var keyReader = reader("KEYS")
            program.keys = try decodeKeys(&keyReader)
            var bindingReader = reader("BIND")
            program.inputs = try decodeBindings(&bindingReader, role: "input")
            program.outputs = try decodeBindings(&bindingReader, role: "output")
            try finish(bindingReader)
            var constantReader = reader("CPOL")
            program.constants = try decodeConstants(&constantReader)
            var laneMapReader = reader("LMAP")
            program.laneMaps = try decodeLaneMaps(&laneMapReader)
            var instructionReader = reader("INST")
            program.instructions = try decodeInstructions(&instructionReader)
            var typeReader = reader("VTYP")
            program.types = try decodeTypes(&typeReader)
            let memory = payloads["MEMP"]!
            program.memoryPlan = MemoryPlan(bytes: Array(raw[memory.start..<memory.end]))
            try checkSSA(program.instructions)
            return program
        } catch let error as PlanFileError {
            throw error
        } catch {
            throw .malformedSection(section: "?", detail: "\(error)")
        }
    }

    static func finish(_ reader: ByteReader) throws {
        guard reader.isAtEnd else { throw reader.malformed("\(reader.remaining) bytes left over after the last field") }
    }

    static func decodeParameters(_ reader: inout ByteReader) throws -> PlanParameters? {
        let present = try reader.u8("presence flag")
        switch present {
        case 0:
            try finish(reader)
            return nil
        case 1:
            break
        default:
            throw reader.malformed("presence flag is \(present); expected 0 or 1")
        }
        let logN = try reader.i64("logN")
        let qBits = try reader.i64Array("qBits")
        let pBits = try reader.i64Array("pBits")
        let dnum = try reader.i64("dnum")
        let secretKind = try reader.u8("secret distribution")
        let weight = try reader.i64("Hamming weight")
        let secret: PlanParameters.SecretDistribution
        switch secretKind {
        case 0: secret = .uniformTernary
        case 1: secret = .sparseTernary(hammingWeight: weight)
        default: throw reader.malformed("secret distribution \(secretKind) is unknown; expected 0 (uniform ternary) or 1 (sparse ternary)")
        }
        let errorStandardDeviation = try reader.f64("error standard deviation")
        let log2DefaultScale = try reader.i64("log2 default scale")
        let securityPreset = try reader.string("security preset")
        var parameters = PlanParameters(
            logN: logN, qBits: qBits, pBits: pBits, dnum: dnum, secret: secret, errorStandardDeviation: errorStandardDeviation,
            log2DefaultScale: log2DefaultScale, securityPreset: securityPreset)
        switch try reader.u8("bootstrapping flag") {
        case 0: break
        case 1:
            var fields: [Int] = []
            for name in ["CoeffToSlot levels", "SlotToCoeff levels", "EvalMod levels", "sine range", "cosine degree", "double angles", "output level"] {
                fields.append(try reader.i64(name))
            }
            parameters.bootstrapping = PlanBootstrapping(
                coeffsToSlotsLevels: fields[0], slotsToCoeffsLevels: fields[1], evalModLevels: fields[2], sineRange: fields[3],
                cosineDegree: fields[4], doubleAngles: fields[5], messageRatioLog2: try reader.f64("message ratio"), outputLevel: fields[6])
        case let flag:
            throw reader.malformed("bootstrapping flag is \(flag); expected 0 or 1")
        }
        try finish(reader)
        return parameters
    }

    static func decodeKeys(_ reader: inout ByteReader) throws -> KeyRequirements {
        let flags = try reader.u32("key flags")
        guard flags & ~7 == 0 else { throw reader.malformed("key flags 0x\(String(flags, radix: 16)) have unknown bits") }
        let steps = try reader.i64Array("rotation steps")
        try finish(reader)
        guard steps == Array(Set(steps)).sorted() else { throw reader.malformed("rotation steps are not sorted and unique") }
        return KeyRequirements(relinearization: flags & 1 != 0, conjugation: flags & 2 != 0, bootstrapping: flags & 4 != 0, rotationSteps: steps)
    }

    static func decodeBindings(_ reader: inout ByteReader, role: String) throws -> [TensorBinding] {
        let count = try reader.count32("\(role) count", itemSize: 1)
        var bindings: [TensorBinding] = []
        for _ in 0..<count {
            let name = try reader.string("\(role) name")
            let shape = try reader.i64Array("shape of \(role) \(name)")
            let ciphertextCount = try reader.i64("ciphertext count")
            let slots = try reader.i64("slots")
            let presence = try reader.u8("presence flags")
            guard presence & ~3 == 0 else { throw reader.malformed("binding presence flags \(presence) have unknown bits") }
            let level = presence & 1 != 0 ? try reader.i64("level") : nil
            let scale = presence & 2 != 0 ? try reader.f64("scale") : nil
            let layoutKind = try reader.u8("layout kind")
            let layout: SlotLayout
            switch layoutKind {
            case 0:
                layout = .contiguous
            case 1:
                let ciphertextStrides = try reader.i64Array("ciphertext strides")
                let slotStrides = try reader.i64Array("slot strides")
                layout = .strided(ciphertextStrides: ciphertextStrides, slotStrides: slotStrides, slotOffset: try reader.i64("slot offset"))
            case 2:
                let positionCount = try reader.count32("position count", itemSize: 4)
                layout = .explicit(try reader.i32Raw(count: positionCount, "positions"))
            default:
                throw reader.malformed("layout kind \(layoutKind) of \(role) \(name) is unknown; expected 0, 1 or 2")
            }
            bindings.append(TensorBinding(name: name, shape: shape, ciphertextCount: ciphertextCount, slots: slots, layout: layout, level: level, scale: scale))
        }
        return bindings
    }

    static func decodeConstants(_ reader: inout ByteReader) throws -> [ConstantEntry] {
        let count = try reader.count32("constant count", itemSize: 32)
        let padding = try reader.u32("alignment padding")
        guard padding == 0 else { throw reader.malformed("alignment padding is not zero") }
        var constants: [ConstantEntry] = []
        constants.reserveCapacity(count)
        for index in 0..<count {
            let level = try reader.i64("level of constant @\(index)")
            let scale = try reader.f64("scale of constant @\(index)")
            let kind = try reader.u64("storage kind of constant @\(index)")
            switch kind {
            case 0:
                let length = try reader.u64("length of constant @\(index)")
                guard length <= UInt64(reader.remaining / 8) else {
                    throw reader.malformed("constant @\(index) claims \(length) values but only \(reader.remaining) bytes remain")
                }
                constants.append(ConstantEntry(values: try reader.f64Raw(count: Int(length), "values of constant @\(index)"), level: level, scale: scale))
            case 1:
                let length = try reader.u64("length of constant @\(index)")
                let rotation = try reader.u64("rotation of constant @\(index)")
                let gridCount = try reader.u64("grid count of constant @\(index)")
                guard length <= UInt64(Int32.max), rotation < max(length, 1), gridCount <= UInt64(reader.remaining / 40) else {
                    throw reader.malformed("constant @\(index) has length \(length), rotation \(rotation) and \(gridCount) grids, which do not fit the section")
                }
                var grids: [SlotGrid] = []
                grids.reserveCapacity(Int(gridCount))
                for gridIndex in 0..<Int(gridCount) {
                    let what = "grid \(gridIndex) of constant @\(index)"
                    let rows = try reader.i64("rows of \(what)"), rowStride = try reader.i64("row stride of \(what)")
                    let columns = try reader.i64("columns of \(what)"), columnStride = try reader.i64("column stride of \(what)")
                    let placements = try reader.u64("placement count of \(what)")
                    guard placements <= UInt64(reader.remaining / 12) else {
                        throw reader.malformed("\(what) claims \(placements) placements but only \(reader.remaining) bytes remain")
                    }
                    let values = try reader.f64Raw(count: Int(placements), "values of \(what)")
                    let starts = try reader.i32Raw(count: Int(placements), "starts of \(what)")
                    if placements % 2 == 1 {
                        guard try reader.u32("padding of \(what)") == 0 else { throw reader.malformed("padding of \(what) is not zero") }
                    }
                    grids.append(SlotGrid(rows: rows, rowStride: rowStride, columns: columns, columnStride: columnStride, starts: starts, values: values))
                }
                let pattern = SlotPattern(length: Int(length), rotation: Int(rotation), grids: grids)
                if let problem = pattern.validationError { throw reader.malformed("constant @\(index): \(problem)") }
                constants.append(ConstantEntry(pattern: pattern, level: level, scale: scale))
            default:
                throw reader.malformed("constant @\(index) has storage kind \(kind); this build knows 0 (values) and 1 (pattern)")
            }
        }
        try finish(reader)
        return constants
    }

    static func decodeLaneMaps(_ reader: inout ByteReader) throws -> [LaneMap] {
        let count = try reader.count32("lane map count", itemSize: 24)
        guard try reader.u32("alignment padding") == 0 else { throw reader.malformed("alignment padding is not zero") }
        var maps: [LaneMap] = []
        maps.reserveCapacity(count)
        func length(_ what: String, itemSize: Int) throws -> Int {
            let value = try reader.u64(what)
            guard value <= UInt64(reader.remaining / itemSize) else {
                throw reader.malformed("\(what) is \(value), more than the \(reader.remaining) remaining bytes hold")
            }
            return Int(value)
        }
        for index in 0..<count {
            let what = "lane map #\(index)"
            let inputLanes = try length("operand lanes of \(what)", itemSize: 1)
            let kind = try reader.u64("kind of \(what)")
            let map: LaneMap
            switch kind {
            case 0:
                let n = try length("index count of \(what)", itemSize: 4)
                let indices = try reader.i32Raw(count: n, "indices of \(what)")
                if n % 2 == 1 { guard try reader.u32("padding of \(what)") == 0 else { throw reader.malformed("padding of \(what) is not zero") } }
                map = LaneMap(inputLanes: inputLanes, kind: .gather(indices: indices))
            case 1:
                let rows = try length("row start count of \(what)", itemSize: 4)
                let terms = try length("term count of \(what)", itemSize: 12)
                let biases = try length("bias count of \(what)", itemSize: 8)
                let weights = try reader.f64Raw(count: terms, "weights of \(what)")
                let bias = try reader.f64Raw(count: biases, "biases of \(what)")
                let rowStarts = try reader.i32Raw(count: rows, "row starts of \(what)")
                let columns = try reader.i32Raw(count: terms, "columns of \(what)")
                if (rows + terms) % 2 == 1 { guard try reader.u32("padding of \(what)") == 0 else { throw reader.malformed("padding of \(what) is not zero") } }
                map = LaneMap(inputLanes: inputLanes, kind: .sparse(rowStarts: rowStarts, columns: columns, weights: weights, bias: bias))
            case 2:
                var geometry: [Int] = []
                for _ in 0..<LaneConvolution.geometryFieldCount { geometry.append(try reader.i64("geometry of \(what)")) }
                let weightCount = try length("weight count of \(what)", itemSize: 8)
                let biasCount = try length("bias count of \(what)", itemSize: 8)
                let weights = try reader.f64Raw(count: weightCount, "weights of \(what)")
                let bias = try reader.f64Raw(count: biasCount, "biases of \(what)")
                map = LaneMap(inputLanes: inputLanes, kind: .convolution(LaneConvolution(geometry: geometry, weights: weights, bias: bias)))
            default:
                throw reader.malformed("\(what) has kind \(kind); this build knows 0 (gather), 1 (sparse) and 2 (convolution)")
            }
            if let problem = map.validationError { throw reader.malformed("\(what): \(problem)") }
            maps.append(map)
        }
        try finish(reader)
        return maps
    }

    static func decodeInstructions(_ reader: inout ByteReader) throws -> [Instruction] {
        let count = try reader.u64("instruction count")
        guard count <= UInt64(reader.remaining / 12) else {
            throw reader.malformed("instruction count \(count) is more than the section can hold")
        }
        var instructions: [Instruction] = []
        instructions.reserveCapacity(Int(count))
        for index in 0..<Int(count) {
            let code = try reader.u16("op code")
            guard let opcode = Opcode(rawValue: code) else { throw PlanFileError.unknownOpcode(code: code, instruction: index) }
            let immediateCode = try reader.u8("immediate kind")
            guard let immediateKind = ImmediateKind(rawValue: immediateCode) else {
                throw reader.malformed("instruction \(index) has unknown immediate kind \(immediateCode)")
            }
            guard immediateKind == opcode.traits.immediate else {
                throw reader.malformed("instruction \(index) (\(opcode)) carries an immediate of kind \(immediateKind); \(opcode) takes \(opcode.traits.immediate)")
            }
            guard try reader.u8("reserved byte") == 0 else { throw reader.malformed("instruction \(index) has a nonzero reserved byte") }
            let operandCount = try reader.count32("operand count", itemSize: 4)
            let resultCount = try reader.count32("result count", itemSize: 4)
            guard opcode.traits.acceptsOperandCount(operandCount) else {
                throw reader.malformed("instruction \(index) (\(opcode)) has \(operandCount) operands; \(opcode) takes \(opcode.traits.operandCountDescription)")
            }
            var operands: [ValueID] = []
            operands.reserveCapacity(operandCount)
            for _ in 0..<operandCount { operands.append(ValueID(try reader.u32("operand"))) }
            try reader.need(4 * resultCount, "results")
            var results: [ValueID] = []
            results.reserveCapacity(resultCount)
            for _ in 0..<resultCount { results.append(ValueID(try reader.u32("result"))) }
            let immediate: Immediate
            switch immediateKind {
            case .none: immediate = .none
            case .binding: immediate = .binding(index: try reader.i64("binding index"), ciphertext: try reader.i64("ciphertext index"))
            case .constantIndex: immediate = .constantIndex(try reader.i64("constant index"))
            case .scalar: immediate = .scalar(try reader.f64("scalar"))
            case .scaledScalar: immediate = .scaledScalar(value: try reader.f64("scalar"), scale: try reader.f64("scalar scale"))
            case .rotationStep: immediate = .rotationStep(try reader.i64("rotation step"))
            case .rotationSteps: immediate = .rotationSteps(try reader.i64Array("rotation steps"))
            case .targetLevel: immediate = .targetLevel(try reader.i64("target level"))
            case .refresh: immediate = .refresh(function: try reader.string("function name"), level: try reader.i64("target level"))
            case .laneMap: immediate = .laneMap(try reader.i64("lane map index"))
            case .scaledLaneMap: immediate = .scaledLaneMap(index: try reader.i64("lane map index"), scale: try reader.f64("weight scale"))
            case .constantIndices: immediate = .constantIndices(try reader.i64Array("constant indices"))
            }
            let instruction = Instruction(opcode, operands: operands, immediate: immediate, results: results)
            guard results.count == instruction.expectedResultCount else {
                throw reader.malformed("instruction \(index) (\(opcode)) lists \(results.count) results; it defines \(instruction.expectedResultCount)")
            }
            instructions.append(instruction)
        }
        try finish(reader)
        return instructions
    }

    static func decodeTypes(_ reader: inout ByteReader) throws -> ValueTypeTable {
        let count = try reader.count32("type count", itemSize: 5)
        var table = ValueTypeTable()
        var previous: UInt32?
        for _ in 0..<count {
            let id = try reader.u32("value id")
            if let previous, id <= previous { throw reader.malformed("value types are not sorted by id (%\(id) after %\(previous))") }
            previous = id
            let presence = try reader.u8("presence flags")
            guard presence != 0, presence & ~15 == 0 else { throw reader.malformed("presence flags \(presence) of %\(id) are invalid") }
            var type = ValueType()
            if presence & 1 != 0 { type.slots = try reader.i64("slots") }
            if presence & 2 != 0 { type.level = try reader.i64("level") }
            if presence & 4 != 0 { type.scale = try reader.f64("scale") }
            if presence & 8 != 0 {
                let lanes = try reader.i64("lanes")
                guard lanes >= 2 else { throw reader.malformed("%\(id) has \(lanes) lanes; a lane count is stored only when it is at least 2") }
                type.lanes = lanes
            }
            table[ValueID(id)] = type
        }
        try finish(reader)
        return table
    }

    /// Every operand defined by an earlier instruction, every id defined once.
    static func checkSSA(_ instructions: [Instruction]) throws(PlanFileError) {
        var definedAt: [ValueID: Int] = [:]
        for (index, instruction) in instructions.enumerated() {
            for result in instruction.results {
                if let first = definedAt[result] {
                    throw .malformedSection(section: "INST", detail: "instruction \(index) redefines \(result), first defined at instruction \(first)")
                }
                definedAt[result] = index
            }
        }
        var defined = Set<ValueID>()
        for (index, instruction) in instructions.enumerated() {
            for operand in instruction.operands where !defined.contains(operand) {
                throw .undefinedOperand(value: operand.raw, instruction: index, definedAt: definedAt[operand])
            }
            defined.formUnion(instruction.results)
        }
    }

    // MARK: files

    /// Writes `program` to `path` atomically: into a temporary file beside it, flushed to disk, then
    /// renamed over `path` (a reader never sees a half-written plan). Does not verify the program.
    public static func write(_ program: Program, to path: String) throws(PlanFileError) {
        try writeAtomically(encode(program), to: path)
    }

    /// Reads and decodes the plan at `path` (see `decode`).
    public static func read(path: String, verify: Bool = true) throws(PlanFileError) -> Program {
        try decode(readBytes(path: path), verify: verify)
    }

    static func systemError() -> String {
        String(cString: strerror(errno))
    }

    /// Writes `bytes` to a temporary file next to `path`, fsyncs it and renames it over `path`.
    public static func writeAtomically(_ bytes: [UInt8], to path: String) throws(PlanFileError) {
        var random = SystemRandomNumberGenerator()
        let temporary = "\(path).tmp-\(getpid())-\(String(random.next() as UInt64, radix: 36))"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .io(path: temporary, operation: "create", reason: systemError()) }
        var failure: PlanFileError?
        bytes.withUnsafeBytes { buffer in
            guard buffer.count > 0 else { return }
            var written = 0
            while written < buffer.count {
                let result = systemWrite(descriptor, buffer.baseAddress! + written, buffer.count - written)
                if result < 0 {
                    if errno == EINTR { continue }
                    failure = .io(path: temporary, operation: "write", reason: systemError())
                    return
                }
                written += result
            }
        }
        if failure == nil, fsync(descriptor) != 0 { failure = .io(path: temporary, operation: "flush", reason: systemError()) }
        if close(descriptor) != 0, failure == nil { failure = .io(path: temporary, operation: "close", reason: systemError()) }
        if failure == nil, rename(temporary, path) != 0 { failure = .io(path: path, operation: "replace", reason: systemError()) }
        if let failure {
            unlink(temporary)
            throw failure
        }
    }

    /// The whole file at `path`.
    public static func readBytes(path: String) throws(PlanFileError) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .io(path: path, operation: "open", reason: systemError()) }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw .io(path: path, operation: "stat", reason: systemError()) }
        let size = Int(status.st_size)
        guard size > 0 else { return [] }
        var failure: PlanFileError?
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            var total = 0
            while total < size {
                let result = systemRead(descriptor, buffer.baseAddress! + total, size - total)
                if result < 0 {
                    if errno == EINTR { continue }
                    failure = .io(path: path, operation: "read", reason: systemError())
                    break
                }
                if result == 0 { break }  // the file shrank meanwhile: decode reports the truncation
                total += result
            }
            initialized = total
        }
        if let failure { throw failure }
        return bytes
    }
}
