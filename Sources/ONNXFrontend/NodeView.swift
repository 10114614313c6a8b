import ONNXProto

/// A read-only Swift view of one NodeProto: names decoded once, attributes read on demand with
/// ONNX's defaults and type checks.
struct NodeView {
    let proto: UnsafeMutablePointer<Onnx__NodeProto>
    /// Position in the graph's node list.
    let index: Int
    /// The node's name, or `OpType#index` when the file gives none (used in every diagnostic).
    let name: String
    let opType: String
    /// "" for ai.onnx (also written "ai.onnx").
    let domain: String
    /// Operand names; "" marks an omitted optional operand.
    let inputs: [String]
    let outputs: [String]

    init(_ proto: UnsafeMutablePointer<Onnx__NodeProto>, index: Int) {
        self.proto = proto
        self.index = index
        opType = swiftString(proto.pointee.op_type)
        let domain = swiftString(proto.pointee.domain)
        self.domain = domain == "ai.onnx" ? "" : domain
        let name = swiftString(proto.pointee.name)
        self.name = name.isEmpty ? "\(opType)#\(index)" : name
        inputs = strings(proto.pointee.input, proto.pointee.n_input)
        outputs = strings(proto.pointee.output, proto.pointee.n_output)
    }

    var isDefaultDomain: Bool { domain.isEmpty }
    /// The op type with its domain prefixed outside ai.onnx ("com.microsoft.FusedConv").
    var qualifiedOpType: String { isDefaultDomain ? opType : "\(domain).\(opType)" }

    /// The name of operand `position`, nil when it is omitted (absent or "").
    func input(_ position: Int) -> String? {
        position < inputs.count && !inputs[position].isEmpty ? inputs[position] : nil
    }

    /// Throws unless the number of operands (trailing omitted ones not counted) is in `range`.
    func expectInputs(_ range: ClosedRange<Int>) throws(ONNXImportError) {
        let count = (inputs.lastIndex { !$0.isEmpty } ?? -1) + 1
        guard range.contains(count) else {
            let expected = range.lowerBound == range.upperBound ? "\(range.lowerBound)" : "\(range.lowerBound) to \(range.upperBound)"
            throw .invalidNode(node: name, detail: "\(opType) expects \(expected) input(s) but has \(count)")
        }
        for position in 0..<range.lowerBound where input(position) == nil {
            throw .invalidNode(node: name, detail: "\(opType) requires input \(position), which is empty")
        }
    }

    // MARK: attributes

    func attribute(_ attributeName: String) -> UnsafeMutablePointer<Onnx__AttributeProto>? {
        for attribute in messages(proto.pointee.attribute, proto.pointee.n_attribute)
        where swiftString(attribute.pointee.name) == attributeName {
            return attribute
        }
        return nil
    }

    func has(_ attributeName: String) -> Bool { attribute(attributeName) != nil }

    /// The attribute if present, after checking its declared type (files from IR version 1 may omit the
    /// type; then the value field decides).
    private func typed(_ attributeName: String, _ expected: Onnx__AttributeProto__AttributeType) throws(ONNXImportError) -> Onnx__AttributeProto? {
        guard let attribute = attribute(attributeName) else { return nil }
        let value = attribute.pointee
        if value.has_type != 0, value.type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED, value.type != expected {
            throw .invalidAttribute(node: name, name: attributeName,
                                    detail: "must be \(Self.typeName(expected)) but is \(Self.typeName(value.type))")
        }
        return value
    }

    func optionalInt(_ attributeName: String) throws(ONNXImportError) -> Int? {
        guard let value = try typed(attributeName, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT) else { return nil }
        guard value.has_i != 0 || value.has_type != 0 else {
            throw .invalidAttribute(node: name, name: attributeName, detail: "has no integer value")
        }
        return Int(value.i)
    }

    func int(_ attributeName: String, default defaultValue: Int) throws(ONNXImportError) -> Int {
        try optionalInt(attributeName) ?? defaultValue
    }

    func ints(_ attributeName: String) throws(ONNXImportError) -> [Int]? {
        guard let value = try typed(attributeName, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS) else { return nil }
        return repeated(value.ints, value.n_ints).map { Int($0) }
    }

    func optionalFloat(_ attributeName: String) throws(ONNXImportError) -> Float? {
        guard let value = try typed(attributeName, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT) else { return nil }
        guard value.has_f != 0 || value.has_type != 0 else {
            throw .invalidAttribute(node: name, name: attributeName, detail: "has no float value")
        }
        return value.f
    }

    func float(_ attributeName: String, default defaultValue: Float) throws(ONNXImportError) -> Float {
        try optionalFloat(attributeName) ?? defaultValue
    }

    func floats(_ attributeName: String) throws(ONNXImportError) -> [Float]? {
        guard let value = try typed(attributeName, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS) else { return nil }
        return Array(repeated(value.floats, value.n_floats))
    }

    func string(_ attributeName: String, default defaultValue: String) throws(ONNXImportError) -> String {
        guard let value = try typed(attributeName, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING) else { return defaultValue }
        return ONNXFrontend.string(of: value.s)
    }

    func tensor(_ attributeName: String) throws(ONNXImportError) -> UnsafeMutablePointer<Onnx__TensorProto>? {
        guard let value = try typed(attributeName, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR) else { return nil }
        guard let tensor = value.t else {
            throw .invalidAttribute(node: name, name: attributeName, detail: "has no tensor value")
        }
        return tensor
    }

    /// Integer list attribute of exactly `count` entries, `defaultValue` when absent.
    func ints(_ attributeName: String, count: Int, default defaultValue: [Int]) throws(ONNXImportError) -> [Int] {
        guard let values = try ints(attributeName) else { return defaultValue }
        guard values.count == count else {
            throw .invalidAttribute(node: name, name: attributeName, detail: "must have \(count) entries but has \(values.count) (\(values))")
        }
        return values
    }

    static func typeName(_ type: Onnx__AttributeProto__AttributeType) -> String {
        switch type {
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT: return "FLOAT"
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT: return "INT"
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING: return "STRING"
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR: return "TENSOR"
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH: return "GRAPH"
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS: return "FLOATS"
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS: return "INTS"
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS: return "STRINGS"
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS: return "TENSORS"
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS: return "GRAPHS"
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR: return "SPARSE_TENSOR"
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSORS: return "SPARSE_TENSORS"
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTO: return "TYPE_PROTO"
        case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTOS: return "TYPE_PROTOS"
        default: return "UNDEFINED"
        }
    }
}
