/// Deterministic renderings of a `TensorGraph`: the text IR (the form golden tests compare and
/// `--print-after-all` shows), JSON for tools, and Graphviz DOT. The grammar is in `ir-spec/tensor-ir.md`.
public enum TensorGraphPrinter {
    /// Constants with at most this many elements print their values; larger ones print only type and name.
    public static let inlineConstantLimit = 8

    /// The text IR:
    /// ```
    /// graph main(%0: f32[1,3,32,32] "input") {
    ///   %1 = constant f32[16,3,3,3] "conv1.weight"
    ///   %3 = conv(%0, %1, %2) {kernel=[3,3], strides=[1,1], pads=[1,1,1,1], dilations=[1,1], group=1} : f32[1,16,32,32] "conv1_out"
    ///   return %3 "conv1_out"
    /// }
    /// ```
    public static func text(_ graph: TensorGraph) -> String {
        var inputs: [String] = []
        var body: [String] = []
        for node in graph.nodes {
            switch node.operation {
            case .input:
                inputs.append("\(node.id): \(typeText(node.type)) \(quoted(node.name))")
            case .constant(let tensor):
                var line = "  \(node.id) = constant \(tensor.type)"
                if tensor.count <= inlineConstantLimit { line += " [\(valueTexts(tensor).joined(separator: ", "))]" }
                body.append(line + " \(quoted(node.name))")
            default:
                var line = "  \(node.id) = \(node.operation.mnemonic)(\(node.inputs.map(\.description).joined(separator: ", ")))"
                let attributes = attributeTexts(node.operation)
                if !attributes.isEmpty {
                    line += " {\(attributes.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))}"
                }
                body.append(line + " : \(typeText(node.type)) \(quoted(node.name))")
            }
        }
        let returns = graph.outputs.map { graph.contains($0) ? "\($0) \(quoted(graph[$0].name))" : "\($0) \"?\"" }
        var lines = ["graph \(graphNameText(graph.name))(\(inputs.joined(separator: ", "))) {"]
        lines += body
        lines.append("  return \(returns.joined(separator: ", "))")
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }

    /// One JSON object `{name, inputs, outputs, nodes: [{id, name, source, op, inputs, attributes, type}]}`,
    /// keys sorted, two-space indented. Non-finite floats are the strings "inf", "-inf", "nan".
    public static func json(_ graph: TensorGraph) -> String {
        func reference(_ id: NodeID) -> TensorGraphJSONValue {
            .object(["id": .integer(id.raw), "name": .string(graph.contains(id) ? graph[id].name : "?")])
        }
        let nodes: [TensorGraphJSONValue] = graph.nodes.map { node in
            var attributes: [String: TensorGraphJSONValue] = [:]
            for (key, value) in attributeValues(node.operation) { attributes[key] = value }
            let type: TensorGraphJSONValue = node.type.map {
                .object(["elementType": .string($0.elementType.rawValue), "shape": .array($0.shape.map(TensorGraphJSONValue.integer))])
            } ?? .null
            return .object([
                "id": .integer(node.id.raw),
                "name": .string(node.name),
                "source": .string(node.sourceNode),
                "op": .string(node.operation.mnemonic),
                "inputs": .array(node.inputs.map { .integer($0.raw) }),
                "attributes": .object(attributes),
                "type": type,
            ])
        }
        let root = TensorGraphJSONValue.object([
            "name": .string(graph.name),
            "inputs": .array(graph.inputs.map(reference)),
            "outputs": .array(graph.outputs.map(reference)),
            "nodes": .array(nodes),
        ])
        var out = ""
        root.write(to: &out, indent: 0)
        return out + "\n"
    }

    /// A Graphviz digraph: one box per operation (label: id, mnemonic, type, name), ellipses for
    /// graph inputs and outputs, notes for constants, edges from operand to user.
    public static func dot(_ graph: TensorGraph) -> String {
        var lines = ["digraph \(quoted(graph.name)) {", "  rankdir=TB;", "  node [shape=box, fontname=\"Helvetica\", fontsize=10];"]
        for node in graph.nodes {
            let shape: String
            let label: String
            switch node.operation {
            case .input:
                shape = "ellipse"
                label = "\(node.id) input\n\(node.name)\n\(typeText(node.type))"
            case .constant(let tensor):
                shape = "note"
                label = "\(node.id) constant \(tensor.type)\n\(node.name)"
            default:
                shape = "box"
                let attributes = attributeTexts(node.operation).map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
                label = "\(node.id) \(node.operation.mnemonic)" + (attributes.isEmpty ? "" : "\n\(attributes)")
                    + "\n\(typeText(node.type))\n\(node.name)"
            }
            lines.append("  n\(node.id.raw) [shape=\(shape), label=\(quoted(label))];")
        }
        for node in graph.nodes {
            for (position, input) in node.inputs.enumerated() {
                lines.append("  n\(input.raw) -> n\(node.id.raw) [label=\"\(position)\"];")
            }
        }
        for (index, output) in graph.outputs.enumerated() {
            let name = graph.contains(output) ? graph[output].name : "?"
            lines.append("  out\(index) [shape=ellipse, style=bold, label=\(quoted("output \(name)"))];")
            lines.append("  n\(output.raw) -> out\(index);")
        }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }

    // MARK: - Pieces

    /// The graph name bare when it is an identifier (letters, digits, `_`, `.`, `-`), quoted otherwise.
    static func graphNameText(_ name: String) -> String {
        let bare = !name.isEmpty && name.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "." || $0 == "-"
        }
        return bare ? name : quoted(name)
    }

    static func typeText(_ type: TensorType?) -> String {
        type.map(\.description) ?? "?"
    }

    /// A double-quoted string with `"`, `\` and control characters escaped (valid in the text IR, JSON and DOT).
    static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + "\""
    }

    /// Shortest round-trip spelling of a float: `1.0`, `0.1`, `1e-05`, `inf`, `-inf`, `nan`.
    static func floatText(_ value: Float) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value < 0 ? "-inf" : "inf" }
        return "\(value)"
    }

    static func valueTexts(_ tensor: Tensor) -> [String] {
        switch tensor.storage {
        case .float32(let values): return values.map(floatText)
        case .int64(let values): return values.map { "\($0)" }
        }
    }

    static func listText(_ values: [Int]) -> String {
        "[\(values.map(String.init).joined(separator: ","))]"
    }

    /// Attributes in their stable print order.
    static func attributeTexts(_ operation: Operation) -> [(key: String, value: String)] {
        attributeValues(operation).map { ($0.key, $0.value.inlineText) }
    }

    static func attributeValues(_ operation: Operation) -> [(key: String, value: TensorGraphJSONValue)] {
        func list(_ values: [Int]) -> TensorGraphJSONValue { .array(values.map(TensorGraphJSONValue.integer)) }
        switch operation {
        case .conv(let a):
            return [("kernel", list(a.kernel)), ("strides", list(a.strides)), ("pads", list(a.pads)),
                    ("dilations", list(a.dilations)), ("group", .integer(a.group))]
        case .maxPool(let a):
            return [("kernel", list(a.kernel)), ("strides", list(a.strides)), ("pads", list(a.pads)),
                    ("dilations", list(a.dilations)), ("ceil_mode", .bool(a.ceilMode))]
        case .averagePool(let a):
            return [("kernel", list(a.kernel)), ("strides", list(a.strides)), ("pads", list(a.pads)),
                    ("dilations", list(a.dilations)), ("ceil_mode", .bool(a.ceilMode)),
                    ("count_include_pad", .bool(a.countIncludePad))]
        case .batchNormalization(let epsilon):
            return [("epsilon", .float(epsilon))]
        case .clip(let low, let high):
            var result: [(key: String, value: TensorGraphJSONValue)] = []
            if let low { result.append(("min", .float(low))) }
            if let high { result.append(("max", .float(high))) }
            return result
        case .gemm(let alpha, let beta, let transA, let transB):
            return [("alpha", .float(alpha)), ("beta", .float(beta)), ("trans_a", .bool(transA)), ("trans_b", .bool(transB))]
        case .flatten(let axis):
            return [("axis", .integer(axis))]
        case .reshape(let allowZero):
            return [("allow_zero", .bool(allowZero))]
        case .pad(let pads, let value):
            return [("pads", list(pads)), ("value", .float(value))]
        case .concat(let axis):
            return [("axis", .integer(axis))]
        case .constant(let tensor):
            var result: [(key: String, value: TensorGraphJSONValue)] = [("shape", list(tensor.shape)), ("element_type", .string(tensor.elementType.rawValue))]
            if tensor.count <= inlineConstantLimit {
                switch tensor.storage {
                case .float32(let values): result.append(("value", .array(values.map(TensorGraphJSONValue.float))))
                case .int64(let values): result.append(("value", .array(values.map { .integer(Int($0)) })))
                }
            }
            return result
        case .input, .affine, .relu, .sigmoid, .globalAveragePool, .add, .sub, .mul, .matMul, .linear, .identity, .dropout:
            return []
        }
    }
}

/// A minimal JSON tree with a deterministic writer (object keys sorted).
enum TensorGraphJSONValue {
    case null
    case bool(Bool)
    case integer(Int)
    case float(Float)
    case string(String)
    case array([TensorGraphJSONValue])
    case object([String: TensorGraphJSONValue])

    /// Compact one-line form, used for text-IR attributes (`[1,1]`, `1e-05`, `true`).
    var inlineText: String {
        switch self {
        case .null: return "null"
        case .bool(let value): return value ? "true" : "false"
        case .integer(let value): return "\(value)"
        case .float(let value): return TensorGraphPrinter.floatText(value)
        case .string(let value): return TensorGraphPrinter.quoted(value)
        case .array(let values): return "[\(values.map(\.inlineText).joined(separator: ","))]"
        case .object(let members):
            return "{\(members.keys.sorted().map { "\(TensorGraphPrinter.quoted($0)):\(members[$0]!.inlineText)" }.joined(separator: ","))}"
        }
    }

    func write(to out: inout String, indent: Int) {
        let pad = String(repeating: "  ", count: indent + 1)
        let closingPad = String(repeating: "  ", count: indent)
        switch self {
        case .float(let value) where !value.isFinite:
            out += TensorGraphPrinter.quoted(TensorGraphPrinter.floatText(value))
        case .array(let values) where values.allSatisfy(\.isScalar):
            out += "[" + values.map { $0.jsonScalarText }.joined(separator: ", ") + "]"
        case .array(let values):
            out += "[\n"
            for (index, value) in values.enumerated() {
                out += pad
                value.write(to: &out, indent: indent + 1)
                out += index + 1 < values.count ? ",\n" : "\n"
            }
            out += closingPad + "]"
        case .object(let members) where members.isEmpty:
            out += "{}"
        case .object(let members):
            out += "{\n"
            let keys = members.keys.sorted()
            for (index, key) in keys.enumerated() {
                out += pad + TensorGraphPrinter.quoted(key) + ": "
                members[key]!.write(to: &out, indent: indent + 1)
                out += index + 1 < keys.count ? ",\n" : "\n"
            }
            out += closingPad + "}"
        default:
            out += jsonScalarText
        }
    }

    var isScalar: Bool {
        switch self {
        case .array, .object: return false
        default: return true
        }
    }

    var jsonScalarText: String {
        if case .float(let value) = self, !value.isFinite { return TensorGraphPrinter.quoted(TensorGraphPrinter.floatText(value)) }
        return inlineText
    }
}
