import TensorIR

/// A node the importer cannot translate: its op type is not in the importer table, its domain is not
/// ai.onnx, or an attribute selects a variant Tessera does not implement (`reason` says which).
public struct UnsupportedOperator: Sendable, Codable, Equatable, Hashable, CustomStringConvertible {
    /// The node's name in the file, or `OpType#index` when the file gives none.
    public var nodeName: String
    public var opType: String
    /// "" for the default ai.onnx domain.
    public var domain: String
    /// Why a known op type is unsupported ("" when the op type itself is unknown).
    public var reason: String

    public init(nodeName: String, opType: String, domain: String = "", reason: String = "") {
        self.nodeName = nodeName
        self.opType = opType
        self.domain = domain
        self.reason = reason
    }

    public var description: String {
        let qualified = domain.isEmpty || domain == "ai.onnx" ? opType : "\(domain).\(opType)"
        return reason.isEmpty ? "\(nodeName) (\(qualified))" : "\(nodeName) (\(qualified)): \(reason)"
    }
}

/// Everything that can go wrong while reading an ONNX file and translating it into a `TensorGraph`.
/// Each description names the file, tensor, node or attribute at fault and, where there is one, the fix.
public enum ONNXImportError: Error, Equatable, CustomStringConvertible {
    case fileNotFound(path: String)
    /// The file exists but cannot be opened or mapped.
    case unreadable(path: String, reason: String)
    /// Protobuf decoding failed, or the message has no graph / IR version.
    case notONNX(path: String)
    /// An initializer stored outside the model names a file that does not exist.
    case missingExternalData(tensor: String, file: String)
    /// The external data file is shorter than the tensor's offset plus length.
    case externalDataOutOfRange(tensor: String, file: String, offset: Int, length: Int, fileSize: Int)
    /// An initializer or constant whose data does not match its dims, or uses an unsupported storage form.
    case invalidTensor(tensor: String, detail: String)
    /// An initializer, constant or graph input with an element type Tessera does not handle.
    case unsupportedDataType(tensor: String, type: String)
    /// Every node that cannot be imported, all listed (the scan does not stop at the first).
    case unsupportedOperators([UnsupportedOperator])
    /// An attribute has the wrong type, is missing, or has a value outside its range.
    case invalidAttribute(node: String, name: String, detail: String)
    /// A node has the wrong number of operands or an operand that must be constant is not.
    case invalidNode(node: String, detail: String)
    /// A node reads a value no earlier node, initializer or graph input defines.
    case undefinedValue(node: String, name: String)
    /// A node (or the graph output list) reads an output other than the first of a multi-output node.
    case secondaryOutputUsed(user: String, output: String, producer: String)
    /// A graph input has a symbolic dimension other than the batch (first) dimension.
    case symbolicDimension(input: String, axis: Int, name: String)
    /// A graph input that is not a tensor, or has no shape.
    case invalidInput(name: String, detail: String)
    case invalidBatchSize(Int)
    /// Structural problems: duplicate value names, an undefined graph output.
    case invalidGraph(detail: String)
    /// Resolving `auto_pad` or a negative axis needed an operand's shape and shape inference failed.
    case shapeInference(node: String, error: TensorIRError)

    public var description: String {
        switch self {
        case .fileNotFound(let path):
            return "\(path): no such file; check the path"
        case .unreadable(let path, let reason):
            return "\(path): cannot be read (\(reason))"
        case .notONNX(let path):
            return "\(path) is not an ONNX model or is truncated; re-export it (torch.onnx.export / onnx.save)"
        case .missingExternalData(let tensor, let file):
            return "initializer '\(tensor)' is stored in external file '\(file)', which does not exist; "
                + "keep the data file next to the model"
        case .externalDataOutOfRange(let tensor, let file, let offset, let length, let fileSize):
            return "initializer '\(tensor)' needs bytes \(offset)..<\(offset + length) of '\(file)', "
                + "but the file has only \(fileSize) bytes; the data file is truncated or belongs to another model"
        case .invalidTensor(let tensor, let detail):
            return "tensor '\(tensor)': \(detail)"
        case .unsupportedDataType(let tensor, let type):
            return "tensor '\(tensor)' has element type \(type); only float32 (also float64/float16/bfloat16, "
                + "converted) and integer types are supported"
        case .unsupportedOperators(let operators):
            let list = operators.map { "  \($0)" }.joined(separator: "\n")
            return "\(operators.count) node(s) use operators Tessera does not support:\n\(list)"
        case .invalidAttribute(let node, let name, let detail):
            return "node '\(node)': attribute '\(name)' \(detail)"
        case .invalidNode(let node, let detail):
            return "node '\(node)': \(detail)"
        case .undefinedValue(let node, let name):
            return "node '\(node)' reads '\(name)', which no earlier node, initializer or graph input defines; "
                + "the graph must be topologically sorted"
        case .secondaryOutputUsed(let user, let output, let producer):
            return "'\(user)' reads '\(output)', a secondary output of node '\(producer)'; "
                + "only the first output of a node is supported (inference mode)"
        case .symbolicDimension(let input, let axis, let name):
            return "input '\(input)' has symbolic dimension '\(name)' at axis \(axis); only the first (batch) "
                + "dimension may be symbolic — fix the others when exporting"
        case .invalidInput(let name, let detail):
            return "graph input '\(name)': \(detail)"
        case .invalidBatchSize(let size):
            return "batch size \(size) is invalid; it must be at least 1"
        case .invalidGraph(let detail):
            return "invalid graph: \(detail)"
        case .shapeInference(let node, let error):
            return "node '\(node)' needs an operand's shape, and shape inference failed: \(error)"
        }
    }
}
