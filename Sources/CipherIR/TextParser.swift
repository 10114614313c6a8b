extension Program {
    /// Parses the text format (ir-spec/cipher-ir.md, "Text grammar"). Throws `CipherIRError.parse`
    /// with the 1-based line and column of the first problem. The result is not verified; call
    /// `verify()` for the semantic rules.
    public init(parsing text: String) throws {
        var parser = TextParser(text)
        self = try parser.parseProgram()
    }
}

struct Token {
    enum Kind: Equatable {
        case identifier(String)
        case value(UInt32)
        case constantReference(Int)
        case bindingIndex(Int)
        case string(String)
        case number(String)
        case punctuation(Character)
        case arrow
        case end
    }

    var kind: Kind
    var line: Int
    var column: Int

    var spelling: String {
        switch kind {
        case .identifier(let name): return "'\(name)'"
        case .value(let raw): return "'%\(raw)'"
        case .constantReference(let index): return "'@\(index)'"
        case .bindingIndex(let index): return "'#\(index)'"
        case .string(let text): return quoted(text)
        case .number(let text): return "'\(text)'"
        case .punctuation(let character): return "'\(character)'"
        case .arrow: return "'->'"
        case .end: return "end of text"
        }
    }
}

/// Splits the text into tokens with positions. Whitespace and newlines separate tokens; `#` followed
/// by a non-digit starts a comment to the end of the line.
struct Lexer {
    let bytes: [UInt8]
    var offset = 0
    var line = 1
    var column = 1

    init(_ text: String) { bytes = Array(text.utf8) }

    func failure(_ message: String, line: Int, column: Int) -> CipherIRError {
        .parse(line: line, column: column, message: message)
    }

    func peekByte(_ ahead: Int = 0) -> UInt8? {
        offset + ahead < bytes.count ? bytes[offset + ahead] : nil
    }

    mutating func advance() {
        if bytes[offset] == UInt8(ascii: "\n") {
            line += 1
            column = 1
        } else if bytes[offset] & 0xC0 != 0x80 {
            column += 1  // count Unicode scalars, not UTF-8 continuation bytes
        }
        offset += 1
    }

    static func isDigit(_ byte: UInt8) -> Bool { byte >= 48 && byte <= 57 }
    static func isIdentifierStart(_ byte: UInt8) -> Bool {
        (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122) || byte == 95
    }
    static func isIdentifierContinue(_ byte: UInt8) -> Bool { isIdentifierStart(byte) || isDigit(byte) }

    mutating func readDigits() -> String {
        var digits = ""
        while let byte = peekByte(), Lexer.isDigit(byte) {
            digits.append(Character(UnicodeScalar(byte)))
            advance()
        }
        return digits
    }

    mutating func next() throws -> Token {
        // Skip whitespace and comments.
        while let byte = peekByte() {
            if byte == 32 || byte == 9 || byte == 10 || byte == 13 {
                advance()
            } else if byte == UInt8(ascii: "#"), !(peekByte(1).map(Lexer.isDigit) ?? false) {
                while let byte = peekByte(), byte != 10 { advance() }
            } else {
                break
            }
        }
        let startLine = line
        let startColumn = column
        func token(_ kind: Token.Kind) -> Token { Token(kind: kind, line: startLine, column: startColumn) }
        guard let byte = peekByte() else { return token(.end) }

        if Lexer.isIdentifierStart(byte) {
            var name = ""
            while let byte = peekByte(), Lexer.isIdentifierContinue(byte) {
                name.append(Character(UnicodeScalar(byte)))
                advance()
            }
            return token(.identifier(name))
        }
        if byte == UInt8(ascii: "%") || byte == UInt8(ascii: "@") || byte == UInt8(ascii: "#") {
            advance()
            let digits = readDigits()
            guard !digits.isEmpty else {
                throw failure("expected digits after '\(Character(UnicodeScalar(byte)))'", line: startLine, column: startColumn)
            }
            if byte == UInt8(ascii: "%") {
                guard let raw = UInt32(digits) else {
                    throw failure("value id %\(digits) does not fit in 32 bits", line: startLine, column: startColumn)
                }
                return token(.value(raw))
            }
            guard let index = Int(digits), index <= Int(Int32.max) else {
                throw failure("index \(digits) is too large", line: startLine, column: startColumn)
            }
            return token(byte == UInt8(ascii: "@") ? .constantReference(index) : .bindingIndex(index))
        }
        if byte == UInt8(ascii: "-"), peekByte(1) == UInt8(ascii: ">") {
            advance()
            advance()
            return token(.arrow)
        }
        if Lexer.isDigit(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: ".") {
            var text = ""
            if byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+") {
                text.append(Character(UnicodeScalar(byte)))
                advance()
                // Signed inf / nan.
                if let next = peekByte(), Lexer.isIdentifierStart(next) {
                    var word = ""
                    while let byte = peekByte(), Lexer.isIdentifierContinue(byte) {
                        word.append(Character(UnicodeScalar(byte)))
                        advance()
                    }
                    guard word == "inf" || word == "nan" else {
                        throw failure("expected a number after '\(text)'", line: startLine, column: startColumn)
                    }
                    return token(.number(text + word))
                }
            }
            text += readDigits()
            if peekByte() == UInt8(ascii: ".") {
                text.append(".")
                advance()
                text += readDigits()
            }
            if let e = peekByte(), e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
                text.append("e")
                advance()
                if let sign = peekByte(), sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") {
                    text.append(Character(UnicodeScalar(sign)))
                    advance()
                }
                let exponent = readDigits()
                guard !exponent.isEmpty else {
                    throw failure("malformed number exponent in '\(text)'", line: startLine, column: startColumn)
                }
                text += exponent
            }
            guard text.contains(where: \.isNumber) else {
                throw failure("malformed number '\(text)'", line: startLine, column: startColumn)
            }
            return token(.number(text))
        }
        if byte == UInt8(ascii: "\"") {
            return token(.string(try readString(line: startLine, column: startColumn)))
        }
        let punctuation: [UInt8] = Array("=,[](){}<>:^".utf8)
        if punctuation.contains(byte) {
            advance()
            return token(.punctuation(Character(UnicodeScalar(byte))))
        }
        let scalar = String(decoding: bytes[offset..<min(bytes.count, offset + 4)], as: UTF8.self).first.map(String.init) ?? "?"
        throw failure("unexpected character '\(scalar)'", line: startLine, column: startColumn)
    }

    mutating func readString(line startLine: Int, column startColumn: Int) throws -> String {
        advance()  // opening quote
        var utf8: [UInt8] = []
        while true {
            guard let byte = peekByte(), byte != 10 else {
                throw failure("unterminated string", line: startLine, column: startColumn)
            }
            advance()
            if byte == UInt8(ascii: "\"") { break }
            if byte != UInt8(ascii: "\\") {
                utf8.append(byte)
                continue
            }
            guard let escape = peekByte() else { throw failure("unterminated string", line: startLine, column: startColumn) }
            let escapeLine = line
            let escapeColumn = column
            advance()
            switch escape {
            case UInt8(ascii: "\""): utf8.append(escape)
            case UInt8(ascii: "\\"): utf8.append(escape)
            case UInt8(ascii: "n"): utf8.append(10)
            case UInt8(ascii: "t"): utf8.append(9)
            case UInt8(ascii: "u"):
                guard peekByte() == UInt8(ascii: "{") else {
                    throw failure("expected '{' after \\u", line: escapeLine, column: escapeColumn)
                }
                advance()
                var digits = ""
                while let byte = peekByte(), byte != UInt8(ascii: "}"), digits.count < 8 {
                    digits.append(Character(UnicodeScalar(byte)))
                    advance()
                }
                guard peekByte() == UInt8(ascii: "}"), let value = UInt32(digits, radix: 16), let scalar = UnicodeScalar(value) else {
                    throw failure("malformed \\u{…} escape", line: escapeLine, column: escapeColumn)
                }
                advance()
                utf8.append(contentsOf: Array(String(Character(scalar)).utf8))
            default:
                throw failure("unknown escape '\\\(Character(UnicodeScalar(escape)))'; use \\\", \\\\, \\n, \\t or \\u{…}", line: escapeLine, column: escapeColumn)
            }
        }
        guard let text = String(validating: utf8, as: UTF8.self) else {
            throw failure("string is not valid UTF-8", line: startLine, column: startColumn)
        }
        return text
    }
}

struct TextParser {
    var lexer: Lexer
    var current: Token
    var lookahead: Token?
    var setupError: CipherIRError?

    init(_ text: String) {
        lexer = Lexer(text)
        do {
            current = try lexer.next()
        } catch {
            current = Token(kind: .end, line: 1, column: 1)
            setupError = error as? CipherIRError
        }
    }

    // MARK: token helpers

    func failure(_ message: String, at token: Token? = nil) -> CipherIRError {
        let token = token ?? current
        return .parse(line: token.line, column: token.column, message: message)
    }

    mutating func advance() throws {
        if let lookahead {
            current = lookahead
            self.lookahead = nil
        } else {
            current = try lexer.next()
        }
    }

    mutating func peek() throws -> Token {
        if let lookahead { return lookahead }
        let token = try lexer.next()
        lookahead = token
        return token
    }

    mutating func expect(_ character: Character) throws {
        guard current.kind == .punctuation(character) else {
            throw failure("expected '\(character)' but found \(current.spelling)")
        }
        try advance()
    }

    mutating func accept(_ character: Character) throws -> Bool {
        guard current.kind == .punctuation(character) else { return false }
        try advance()
        return true
    }

    mutating func expectKeyword(_ word: String) throws {
        guard current.kind == .identifier(word) else {
            throw failure("expected '\(word)' but found \(current.spelling)")
        }
        try advance()
    }

    mutating func identifier() throws -> String {
        guard case .identifier(let name) = current.kind else {
            throw failure("expected a name but found \(current.spelling)")
        }
        try advance()
        return name
    }

    mutating func string() throws -> String {
        guard case .string(let text) = current.kind else {
            throw failure("expected a string in double quotes but found \(current.spelling)")
        }
        try advance()
        return text
    }

    mutating func integer() throws -> Int {
        guard case .number(let text) = current.kind, let value = Int(text) else {
            throw failure("expected an integer but found \(current.spelling)")
        }
        try advance()
        return value
    }

    mutating func double() throws -> Double {
        let text: String
        switch current.kind {
        case .number(let spelled): text = spelled
        case .identifier(let word) where word == "inf" || word == "nan": text = word
        default: throw failure("expected a number but found \(current.spelling)")
        }
        guard let value = Double(text) else { throw failure("malformed number '\(text)'") }
        try advance()
        return value
    }

    /// A scale: `2^k` or a decimal number.
    mutating func scale() throws -> Double {
        let start = current
        let value = try double()
        guard try accept("^") else { return value }
        let exponent = try integer()
        guard value == 2, (-1022...1023).contains(exponent) else {
            throw failure("a scale power must be written 2^k with k in -1022…1023", at: start)
        }
        return Double(sign: .plus, exponent: exponent, significand: 1)
    }

    mutating func integerList() throws -> [Int] {
        try expect("[")
        var values: [Int] = []
        if try accept("]") { return values }
        repeat { values.append(try integer()) } while try accept(",")
        try expect("]")
        return values
    }

    mutating func doubleList() throws -> [Double] {
        try expect("[")
        var values: [Double] = []
        if try accept("]") { return values }
        repeat { values.append(try double()) } while try accept(",")
        try expect("]")
        return values
    }

    mutating func boolean() throws -> Bool {
        switch current.kind {
        case .identifier("true"): try advance(); return true
        case .identifier("false"): try advance(); return false
        default: throw failure("expected true or false but found \(current.spelling)")
        }
    }

    /// Reads `name=` and returns the name with its token (for diagnostics), or nil when the current
    /// token does not start an attribute.
    mutating func attributeName() throws -> (String, Token)? {
        guard case .identifier(let name) = current.kind, try peek().kind == .punctuation("=") else { return nil }
        let token = current
        try advance()
        try advance()
        return (name, token)
    }

    // MARK: program

    mutating func parseProgram() throws -> Program {
        if let setupError { throw setupError }
        try expectKeyword("cipher_ir")
        guard case .identifier("version") = current.kind else { throw failure("expected 'version=' after 'cipher_ir'") }
        try advance()
        try expect("=")
        let versionToken = current
        let version = try integer()
        guard version == Program.textFormatVersion else {
            throw failure("text format version \(version) is not supported; this build reads version \(Program.textFormatVersion)", at: versionToken)
        }
        var program = Program()
        var seenParams = false
        var seenKeys = false
        var seenMemoryPlan = false
        header: while true {
            let token = current
            switch current.kind {
            case .identifier("params"):
                guard !seenParams else { throw failure("a second params block; a program has one", at: token) }
                seenParams = true
                try advance()
                program.parameters = try parseParameters(at: token)
            case .identifier("keys"):
                guard !seenKeys else { throw failure("a second keys block; a program has one", at: token) }
                seenKeys = true
                try advance()
                program.keys = try parseKeys()
            case .identifier("input") where try peekIsString(),
                .identifier("output") where try peekIsString():
                let isInput = current.kind == .identifier("input")
                try advance()
                let binding = try parseBinding(at: token)
                if isInput { program.inputs.append(binding) } else { program.outputs.append(binding) }
            case .identifier("constant") where try peekIsConstantReference():
                try advance()
                program.constants.append(try parseConstant(expectedIndex: program.constants.count))
            case .identifier("lane_map"):
                try advance()
                program.laneMaps.append(try parseLaneMap(expectedIndex: program.laneMaps.count, at: token))
            case .identifier("memory_plan"):
                guard !seenMemoryPlan else { throw failure("a second memory_plan; a program has one", at: token) }
                seenMemoryPlan = true
                try advance()
                program.memoryPlan = try parseMemoryPlan()
            default:
                break header
            }
        }
        while current.kind != .end {
            program.instructions.append(try parseInstruction(&program))
        }
        return program
    }

    mutating func peekIsString() throws -> Bool {
        if case .string = try peek().kind { return true }
        return false
    }

    mutating func peekIsConstantReference() throws -> Bool {
        if case .constantReference = try peek().kind { return true }
        return false
    }

    mutating func parseParameters(at start: Token) throws -> PlanParameters {
        try expect("{")
        var logN: Int?
        var qBits: [Int]?
        var pBits: [Int]?
        var log2DefaultScale: Int?
        var parameters = PlanParameters(logN: 0, qBits: [], pBits: [], log2DefaultScale: 0)
        var seen = Set<String>()
        while !(try accept("}")) {
            guard let (name, token) = try attributeName() else {
                throw failure("expected 'name=value' or '}' in params but found \(current.spelling)")
            }
            guard seen.insert(name).inserted else { throw failure("params field '\(name)' is given twice", at: token) }
            switch name {
            case "logN": logN = try integer()
            case "qBits": qBits = try integerList()
            case "pBits": pBits = try integerList()
            case "dnum": parameters.dnum = try integer()
            case "secret":
                let kind = try identifier()
                switch kind {
                case "uniform_ternary": parameters.secret = .uniformTernary
                case "sparse_ternary":
                    try expect("(")
                    parameters.secret = .sparseTernary(hammingWeight: try integer())
                    try expect(")")
                default: throw failure("unknown secret distribution '\(kind)'; use uniform_ternary or sparse_ternary(h)", at: token)
                }
            case "errorStdDev": parameters.errorStandardDeviation = try double()
            case "log2DefaultScale": log2DefaultScale = try integer()
            case "security": parameters.securityPreset = try string()
            case "bootstrapping":
                try expect("(")
                var fields: [String: Double] = [:]
                let names = ["coeffsToSlots", "evalMod", "slotsToCoeffs", "sineRange", "cosineDegree", "doubleAngles", "messageRatioLog2", "outputLevel"]
                repeat {
                    guard let (field, fieldToken) = try attributeName(), names.contains(field), fields[field] == nil else {
                        throw failure("bootstrapping=(…) takes each of \(names.joined(separator: ", ")) once")
                    }
                    fields[field] = field == "messageRatioLog2" ? try double() : Double(try integer())
                    _ = fieldToken
                } while try accept(",")
                try expect(")")
                guard names.allSatisfy({ fields[$0] != nil }) else { throw failure("bootstrapping=(…) needs \(names.joined(separator: ", "))", at: token) }
                func int(_ name: String) -> Int { Int(fields[name]!) }
                parameters.bootstrapping = PlanBootstrapping(
                    coeffsToSlotsLevels: int("coeffsToSlots"), slotsToCoeffsLevels: int("slotsToCoeffs"), evalModLevels: int("evalMod"),
                    sineRange: int("sineRange"), cosineDegree: int("cosineDegree"), doubleAngles: int("doubleAngles"),
                    messageRatioLog2: fields["messageRatioLog2"]!, outputLevel: int("outputLevel"))
            default:
                throw failure("unknown params field '\(name)'; expected logN, qBits, pBits, dnum, secret, errorStdDev, log2DefaultScale, security or bootstrapping", at: token)
            }
        }
        guard let logN, let qBits, let pBits, let log2DefaultScale else {
            throw failure("params needs logN, qBits, pBits and log2DefaultScale", at: start)
        }
        parameters.logN = logN
        parameters.qBits = qBits
        parameters.pBits = pBits
        parameters.log2DefaultScale = log2DefaultScale
        return parameters
    }

    mutating func parseKeys() throws -> KeyRequirements {
        try expect("{")
        var keys = KeyRequirements()
        var seen = Set<String>()
        while !(try accept("}")) {
            guard let (name, token) = try attributeName() else {
                throw failure("expected 'name=value' or '}' in keys but found \(current.spelling)")
            }
            guard seen.insert(name).inserted else { throw failure("keys field '\(name)' is given twice", at: token) }
            switch name {
            case "relinearization": keys.relinearization = try boolean()
            case "conjugation": keys.conjugation = try boolean()
            case "bootstrapping": keys.bootstrapping = try boolean()
            case "rotations": for step in try integerList() { keys.insertRotationStep(step) }
            default:
                throw failure("unknown keys field '\(name)'; expected relinearization, conjugation, bootstrapping or rotations", at: token)
            }
        }
        return keys
    }

    mutating func parseBinding(at start: Token) throws -> TensorBinding {
        let name = try string()
        var shape: [Int]?
        var ciphertexts: Int?
        var slots: Int?
        var binding = TensorBinding(name: name, shape: [], ciphertextCount: 0, slots: 0)
        var seen = Set<String>()
        while let (attribute, token) = try attributeName() {
            guard seen.insert(attribute).inserted else { throw failure("binding attribute '\(attribute)' is given twice", at: token) }
            switch attribute {
            case "shape": shape = try integerList()
            case "ciphertexts": ciphertexts = try integer()
            case "slots": slots = try integer()
            case "level": binding.level = try integer()
            case "scale": binding.scale = try scale()
            case "layout": binding.layout = try parseLayout()
            default:
                throw failure("unknown binding attribute '\(attribute)'; expected shape, ciphertexts, slots, level, scale or layout", at: token)
            }
        }
        guard let shape, let ciphertexts, let slots else {
            throw failure("binding \(quoted(name)) needs shape, ciphertexts and slots", at: start)
        }
        binding.shape = shape
        binding.ciphertextCount = ciphertexts
        binding.slots = slots
        return binding
    }

    mutating func parseLayout() throws -> SlotLayout {
        let token = current
        switch try identifier() {
        case "contiguous":
            return .contiguous
        case "explicit":
            let positionsToken = current
            let positions = try integerList()
            guard positions.allSatisfy({ (0...Int(Int32.max)).contains($0) }) else {
                throw failure("explicit layout positions must be in 0…\(Int32.max)", at: positionsToken)
            }
            return .explicit(positions.map { Int32($0) })
        case "strided":
            try expect("(")
            try expectKeyword("ciphertexts")
            try expect("=")
            let ciphertextStrides = try integerList()
            try expect(",")
            try expectKeyword("slots")
            try expect("=")
            let slotStrides = try integerList()
            try expect(",")
            try expectKeyword("offset")
            try expect("=")
            let offset = try integer()
            try expect(")")
            return .strided(ciphertextStrides: ciphertextStrides, slotStrides: slotStrides, slotOffset: offset)
        case let other:
            throw failure("unknown layout '\(other)'; use contiguous, explicit[…] or strided(…)", at: token)
        }
    }

    /// `#k inputs=N` then `gather=[…]`, `rows=[…] columns=[…] weights=[…] bias=[…]` or `conv=[…] weights=[…] bias=[…]`.
    mutating func parseLaneMap(expectedIndex: Int, at start: Token) throws -> LaneMap {
        guard case .bindingIndex(let index) = current.kind, index == expectedIndex else {
            throw failure("lane maps are numbered in order from #0; expected #\(expectedIndex) here")
        }
        try advance()
        try expectAttribute("inputs")
        let inputs = try integer()
        func narrow(_ values: [Int], _ what: String) throws -> [Int32] {
            try values.map { value in
                guard let narrow = Int32(exactly: value) else { throw failure("lane map #\(index): \(what) \(value) is out of the 32-bit range", at: start) }
                return narrow
            }
        }
        guard let (field, fieldToken) = try attributeName() else { throw failure("expected gather=, rows= or conv= in lane map #\(index)") }
        let kind: LaneMap.Kind
        switch field {
        case "gather":
            kind = .gather(indices: try narrow(try integerList(), "index"))
        case "rows":
            let rows = try narrow(try integerList(), "row start")
            try expectAttribute("columns")
            let columns = try narrow(try integerList(), "column")
            try expectAttribute("weights")
            let weights = try doubleList()
            try expectAttribute("bias")
            kind = .sparse(rowStarts: rows, columns: columns, weights: weights, bias: try doubleList())
        case "conv":
            let geometry = try integerList()
            guard geometry.count == LaneConvolution.geometryFieldCount else {
                throw failure("conv= needs \(LaneConvolution.geometryFieldCount) geometry fields, not \(geometry.count)", at: fieldToken)
            }
            try expectAttribute("weights")
            let weights = try doubleList()
            try expectAttribute("bias")
            kind = .convolution(LaneConvolution(geometry: geometry, weights: weights, bias: try doubleList()))
        default:
            throw failure("unknown lane map kind '\(field)'; use gather=, rows= or conv=", at: fieldToken)
        }
        let map = LaneMap(inputLanes: inputs, kind: kind)
        if let problem = map.validationError { throw failure("lane map #\(index): \(problem)", at: start) }
        return map
    }

    mutating func parseConstant(expectedIndex: Int) throws -> ConstantEntry {
        guard case .constantReference(let index) = current.kind, index == expectedIndex else {
            throw failure("constants are numbered in order from @0; expected @\(expectedIndex) here")
        }
        let start = current
        try advance()
        var level: Int?
        var scale: Double?
        var values: [Double]?
        var length: Int?
        var rotation = 0
        var grids: [SlotGrid]?
        var seen = Set<String>()
        while let (attribute, token) = try attributeName() {
            guard seen.insert(attribute).inserted else { throw failure("constant attribute '\(attribute)' is given twice", at: token) }
            switch attribute {
            case "level": level = try integer()
            case "scale": scale = try self.scale()
            case "values": values = try doubleList()
            case "length": length = try integer()
            case "rotate": rotation = try integer()
            case "grids": grids = try gridList()
            default: throw failure("unknown constant attribute '\(attribute)'; expected level, scale, and values or length, rotate and grids", at: token)
            }
        }
        guard let level, let scale else {
            throw failure("constant @\(index) needs level and scale", at: start)
        }
        switch (values, length, grids) {
        case (let values?, nil, nil) where !seen.contains("rotate"):
            return ConstantEntry(values: values, level: level, scale: scale)
        case (nil, let length?, let grids?):
            return ConstantEntry(pattern: SlotPattern(length: length, rotation: rotation, grids: grids), level: level, scale: scale)
        default:
            throw failure("constant @\(index) needs either values=[…] or length=, grids=[…] (and optionally rotate=)", at: start)
        }
    }

    /// `[grid(rows, rowStride, columns, columnStride, starts=[…], values=[…]), …]`
    mutating func gridList() throws -> [SlotGrid] {
        try expect("[")
        var grids: [SlotGrid] = []
        if try accept("]") { return grids }
        repeat {
            try expectKeyword("grid")
            try expect("(")
            var geometry: [Int] = []
            for _ in 0..<4 {
                geometry.append(try integer())
                try expect(",")
            }
            guard let (startsName, _) = try attributeName(), startsName == "starts" else { throw failure("expected starts=[…] in grid(…)") }
            let startsToken = current
            var narrow: [Int32] = []
            for start in try integerList() {
                guard let value = Int32(exactly: start) else { throw failure("grid start \(start) is out of the 32-bit range", at: startsToken) }
                narrow.append(value)
            }
            try expect(",")
            guard let (valuesName, _) = try attributeName(), valuesName == "values" else { throw failure("expected values=[…] in grid(…)") }
            let values = try doubleList()
            try expect(")")
            grids.append(SlotGrid(rows: geometry[0], rowStride: geometry[1], columns: geometry[2], columnStride: geometry[3],
                                  starts: narrow, values: values))
        } while try accept(",")
        try expect("]")
        return grids
    }

    mutating func parseMemoryPlan() throws -> MemoryPlan {
        guard let (attribute, token) = try attributeName(), attribute == "bytes" else {
            throw failure("expected bytes=\"…\" after memory_plan")
        }
        let hexText = Array(try string().utf8)
        guard hexText.count % 2 == 0 else { throw failure("memory_plan bytes must have an even number of hex digits", at: token) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(hexText.count / 2)
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            case 65...70: return c - 55
            default: return nil
            }
        }
        var index = 0
        while index < hexText.count {
            guard let high = nibble(hexText[index]), let low = nibble(hexText[index + 1]) else {
                throw failure("memory_plan bytes must be hexadecimal digits", at: token)
            }
            bytes.append(high << 4 | low)
            index += 2
        }
        return MemoryPlan(bytes: bytes)
    }

    // MARK: instructions

    mutating func valueReference() throws -> ValueID {
        guard case .value(let raw) = current.kind else {
            throw failure("expected a value such as %3 but found \(current.spelling)")
        }
        try advance()
        return ValueID(raw)
    }

    mutating func bindingReference(_ program: Program, isInput: Bool) throws -> Immediate {
        let token = current
        let index: Int
        switch current.kind {
        case .string(let name):
            let bindings = isInput ? program.inputs : program.outputs
            guard let found = bindings.firstIndex(where: { $0.name == name }) else {
                throw failure("no \(isInput ? "input" : "output") binding named \(quoted(name)); declare it before the instructions", at: token)
            }
            index = found
        case .bindingIndex(let raw):
            index = raw
        default:
            throw failure("expected a binding name in quotes (or #index) but found \(current.spelling)")
        }
        try advance()
        try expect("[")
        let ciphertext = try integer()
        try expect("]")
        return .binding(index: index, ciphertext: ciphertext)
    }

    mutating func parseInstruction(_ program: inout Program) throws -> Instruction {
        let start = current
        var results: [ValueID] = []
        if case .value = current.kind {
            repeat { results.append(try valueReference()) } while try accept(",")
            try expect("=")
        }
        let mnemonicToken = current
        guard case .identifier(let mnemonic) = current.kind else {
            throw failure(results.isEmpty ? "expected an instruction (\"%N = op …\" or \"output %N -> …\") but found \(current.spelling)" : "expected an op name but found \(current.spelling)")
        }
        guard let opcode = Opcode(mnemonic: mnemonic) else {
            throw failure("unknown op '\(mnemonic)'; the ops are \(Opcode.allCases.map(\.mnemonic).joined(separator: ", "))", at: mnemonicToken)
        }
        try advance()
        let traits = opcode.traits
        if traits.resultKind == nil, !results.isEmpty {
            throw failure("\(mnemonic) defines no value; write it without '%N ='", at: start)
        }
        var instruction = Instruction(opcode, results: results)

        switch traits.immediate {
        case .binding where opcode == .input:
            instruction.immediate = try bindingReference(program, isInput: true)
        case .constantIndex:
            guard case .constantReference(let index) = current.kind else {
                throw failure("expected a constant-pool reference such as @0 but found \(current.spelling)")
            }
            try advance()
            instruction.immediate = .constantIndex(index)
        default:
            break
        }
        if !traits.operandKinds.isEmpty {
            repeat { instruction.operands.append(try valueReference()) } while try accept(",")
        }
        switch traits.immediate {
        case .none, .constantIndex:
            break
        case .binding:
            if opcode == .output {
                guard current.kind == .arrow else { throw failure("expected '->' and the output binding but found \(current.spelling)") }
                try advance()
                instruction.immediate = try bindingReference(program, isInput: false)
            }
        case .scalar:
            try expectAttribute("value")
            instruction.immediate = .scalar(try double())
        case .scaledScalar:
            try expectAttribute("value")
            let value = try double()
            try expectAttribute("scale")
            instruction.immediate = .scaledScalar(value: value, scale: try scale())
        case .rotationStep:
            try expectAttribute("step")
            instruction.immediate = .rotationStep(try integer())
        case .rotationSteps:
            try expectAttribute("steps")
            instruction.immediate = .rotationSteps(try integerList())
        case .targetLevel:
            try expectAttribute("level")
            instruction.immediate = .targetLevel(try integer())
        case .refresh:
            try expectAttribute("function")
            let function = try string()
            try expectAttribute("level")
            instruction.immediate = .refresh(function: function, level: try integer())
        case .constantIndices:
            try expectAttribute("constants")
            try expect("[")
            var indices: [Int] = []
            if !(try accept("]")) {
                repeat {
                    guard case .constantReference(let index) = current.kind else {
                        throw failure("expected a constant-pool reference such as @0 but found \(current.spelling)")
                    }
                    try advance()
                    indices.append(index)
                } while try accept(",")
                try expect("]")
            }
            instruction.immediate = .constantIndices(indices)
        case .laneMap, .scaledLaneMap:
            try expectAttribute("map")
            guard case .bindingIndex(let index) = current.kind else { throw failure("expected a lane map such as #0 but found \(current.spelling)") }
            try advance()
            if traits.immediate == .laneMap {
                instruction.immediate = .laneMap(index)
            } else {
                try expectAttribute("scale")
                instruction.immediate = .scaledLaneMap(index: index, scale: try scale())
            }
        }

        if try accept(":") {
            guard let kind = traits.resultKind else { throw failure("\(mnemonic) defines no value to annotate") }
            var index = 0
            repeat {
                let typeToken = current
                let spelled = try identifier()
                guard spelled == kind.mnemonic else {
                    throw failure("\(mnemonic) defines a \(kind.mnemonic) but the annotation says '\(spelled)'", at: typeToken)
                }
                var type = ValueType()
                if try accept("<") {
                    var first = true
                    while !(try accept(">")) {
                        if !first { try expect(",") }
                        first = false
                        guard let (field, fieldToken) = try attributeName() else {
                            throw failure("expected slots=, level=, scale= or '>' but found \(current.spelling)")
                        }
                        switch field {
                        case "slots" where type.slots == nil: type.slots = try integer()
                        case "level" where type.level == nil: type.level = try integer()
                        case "scale" where type.scale == nil: type.scale = try scale()
                        case "lanes" where type.lanes == nil:
                            let lanes = try integer()
                            guard lanes >= 2 else { throw failure("lanes=\(lanes): write lanes= only for two or more lanes", at: fieldToken) }
                            type.lanes = lanes
                        case "slots", "level", "scale", "lanes": throw failure("type field '\(field)' is given twice", at: fieldToken)
                        default: throw failure("unknown type field '\(field)'; expected slots, level, scale or lanes", at: fieldToken)
                        }
                    }
                }
                guard index < results.count else {
                    throw failure("more type annotations than the \(results.count) result(s)", at: typeToken)
                }
                program.types[results[index]] = type
                index += 1
            } while try accept(",")
            guard index == results.count else {
                throw failure("\(results.count) result(s) but \(index) type annotation(s)", at: start)
            }
        }
        return instruction
    }

    mutating func expectAttribute(_ name: String) throws {
        guard current.kind == .identifier(name), try peek().kind == .punctuation("=") else {
            throw failure("expected '\(name)=' but found \(current.spelling)")
        }
        try advance()
        try advance()
    }
}
