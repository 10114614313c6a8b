/// The canonical text form (grammar in ir-spec/cipher-ir.md). `Program(parsing: program.text)`
/// equals `program`, and printing a parsed canonical text gives the same text back.
extension Program: CustomStringConvertible {
    /// The text format version this printer writes and the parser accepts.
    public static let textFormatVersion = 1

    public var description: String { text }

    /// The canonical text of the whole program.
    public var text: String {
        var out = "cipher_ir version=\(Program.textFormatVersion)\n"
        if let parameters {
            out += "\nparams {\n"
            out += "  logN=\(parameters.logN)\n"
            out += "  qBits=\(intList(parameters.qBits))\n"
            out += "  pBits=\(intList(parameters.pBits))\n"
            out += "  dnum=\(parameters.dnum)\n"
            switch parameters.secret {
            case .uniformTernary: out += "  secret=uniform_ternary\n"
            case .sparseTernary(let weight): out += "  secret=sparse_ternary(\(weight))\n"
            }
            out += "  errorStdDev=\(formatDouble(parameters.errorStandardDeviation))\n"
            out += "  log2DefaultScale=\(parameters.log2DefaultScale)\n"
            out += "  security=\(quoted(parameters.securityPreset))\n"
            if let b = parameters.bootstrapping {
                out += "  bootstrapping=(coeffsToSlots=\(b.coeffsToSlotsLevels), evalMod=\(b.evalModLevels), slotsToCoeffs=\(b.slotsToCoeffsLevels), "
                    + "sineRange=\(b.sineRange), cosineDegree=\(b.cosineDegree), doubleAngles=\(b.doubleAngles), "
                    + "messageRatioLog2=\(formatDouble(b.messageRatioLog2)), outputLevel=\(b.outputLevel))\n"
            }
            out += "}\n"
        }
        out += "\nkeys {\n"
        out += "  relinearization=\(keys.relinearization)\n"
        out += "  conjugation=\(keys.conjugation)\n"
        out += "  bootstrapping=\(keys.bootstrapping)\n"
        out += "  rotations=\(intList(keys.rotationSteps))\n"
        out += "}\n"
        if !inputs.isEmpty || !outputs.isEmpty {
            out += "\n"
            for binding in inputs { out += bindingLine("input", binding) }
            for binding in outputs { out += bindingLine("output", binding) }
        }
        if !constants.isEmpty {
            out += "\n"
            for (index, entry) in constants.enumerated() {
                out += "constant @\(index) level=\(entry.level) scale=\(formatScale(entry.scale)) \(constantContentText(entry.content))\n"
            }
        }
        if !laneMaps.isEmpty {
            out += "\n"
            for (index, map) in laneMaps.enumerated() { out += "lane_map #\(index) inputs=\(map.inputLanes) \(laneMapText(map.kind))\n" }
        }
        if !memoryPlan.isEmpty {
            out += "\nmemory_plan bytes=\"\(hex(memoryPlan.bytes))\"\n"
        }
        if !instructions.isEmpty {
            out += "\n"
            for instruction in instructions { out += text(of: instruction) + "\n" }
        }
        return out
    }

    /// One instruction in the text format, e.g. `%4 = rotate %3 step=4 : ct<slots=8, level=2, scale=2^40>`.
    public func text(of instruction: Instruction) -> String {
        let traits = instruction.opcode.traits
        var line = ""
        if !instruction.results.isEmpty {
            line += instruction.results.map(\.description).joined(separator: ", ") + " = "
        }
        line += traits.mnemonic
        switch instruction.immediate {
        case .binding(let index, let ciphertext):
            let reference = bindingReference(isInput: instruction.opcode == .input, index: index) + "[\(ciphertext)]"
            if instruction.opcode == .output {
                line += " " + instruction.operands.map(\.description).joined(separator: ", ") + " -> " + reference
                return line
            }
            line += " " + reference
        case .constantIndex(let index):
            line += " @\(index)"
        default:
            break
        }
        if !instruction.operands.isEmpty {
            line += " " + instruction.operands.map(\.description).joined(separator: ", ")
        }
        switch instruction.immediate {
        case .none, .binding, .constantIndex: break
        case .scalar(let value): line += " value=\(formatDouble(value))"
        case .scaledScalar(let value, let scale): line += " value=\(formatDouble(value)) scale=\(formatScale(scale))"
        case .rotationStep(let step): line += " step=\(step)"
        case .rotationSteps(let steps): line += " steps=\(intList(steps))"
        case .targetLevel(let level): line += " level=\(level)"
        case .refresh(let function, let level): line += " function=\(quoted(function)) level=\(level)"
        case .laneMap(let index): line += " map=#\(index)"
        case .scaledLaneMap(let index, let scale): line += " map=#\(index) scale=\(formatScale(scale))"
        case .constantIndices(let indices): line += " constants=[" + indices.map { "@\($0)" }.joined(separator: ", ") + "]"
        }
        let resultTypes = instruction.results.map { types[$0] }
        if let kind = traits.resultKind, resultTypes.contains(where: { !$0.isUnknown }) {
            line += " : " + resultTypes.map { $0.isUnknown ? kind.mnemonic : "\(kind.mnemonic)<\($0)>" }.joined(separator: ", ")
        }
        return line
    }

    /// `"name"` when the binding exists and its name is unique, else `#index`.
    func bindingReference(isInput: Bool, index: Int) -> String {
        let bindings = isInput ? inputs : outputs
        if (0..<bindings.count).contains(index) {
            let name = bindings[index].name
            if bindings.lazy.filter({ $0.name == name }).count == 1 { return quoted(name) }
        }
        return "#\(index)"
    }

    func bindingLine(_ role: String, _ binding: TensorBinding) -> String {
        var line = "\(role) \(quoted(binding.name)) shape=\(intList(binding.shape)) ciphertexts=\(binding.ciphertextCount) slots=\(binding.slots)"
        if let level = binding.level { line += " level=\(level)" }
        if let scale = binding.scale { line += " scale=\(formatScale(scale))" }
        switch binding.layout {
        case .contiguous:
            line += " layout=contiguous"
        case .explicit(let positions):
            line += " layout=explicit\(intList(positions.map(Int.init)))"
        case .strided(let ciphertextStrides, let slotStrides, let slotOffset):
            line += " layout=strided(ciphertexts=\(intList(ciphertextStrides)), slots=\(intList(slotStrides)), offset=\(slotOffset))"
        }
        return line + "\n"
    }
}

/// `values=[…]`, or `length=… rotate=… grids=[grid(rows, rowStride, columns, columnStride, starts=[…], values=[…]), …]`.
func constantContentText(_ content: ConstantEntry.Content) -> String {
    switch content {
    case .dense(let values):
        return "values=[\(values.map(formatDouble).joined(separator: ", "))]"
    case .pattern(let pattern):
        let grids = pattern.grids.map { grid in
            "grid(\(grid.rows), \(grid.rowStride), \(grid.columns), \(grid.columnStride), starts=\(intList(grid.starts.map { Int($0) })), "
                + "values=[\(grid.values.map(formatDouble).joined(separator: ", "))])"
        }
        return "length=\(pattern.length) rotate=\(pattern.rotation) grids=[\(grids.joined(separator: ", "))]"
    }
}

/// `gather=[…]`, `rows=[…] columns=[…] weights=[…] bias=[…]` or `conv=[15 geometry fields] weights=[…] bias=[…]`.
func laneMapText(_ kind: LaneMap.Kind) -> String {
    func doubles(_ values: [Double]) -> String { "[" + values.map(formatDouble).joined(separator: ", ") + "]" }
    switch kind {
    case .gather(let indices):
        return "gather=\(intList(indices.map { Int($0) }))"
    case .sparse(let rowStarts, let columns, let weights, let bias):
        return "rows=\(intList(rowStarts.map { Int($0) })) columns=\(intList(columns.map { Int($0) })) weights=\(doubles(weights)) bias=\(doubles(bias))"
    case .convolution(let c):
        return "conv=\(intList(c.geometry)) weights=\(doubles(c.weights)) bias=\(doubles(c.bias))"
    }
}

func intList(_ values: [Int]) -> String {
    "[" + values.map(String.init).joined(separator: ", ") + "]"
}

func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef")
    var out = ""
    out.reserveCapacity(bytes.count * 2)
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 15)])
    }
    return out
}

/// A double-quoted string literal with `\"`, `\\`, `\n`, `\t` and `\u{XX}` escapes.
func quoted(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        default:
            if scalar.value < 0x20 || scalar.value == 0x7F {
                out += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}
