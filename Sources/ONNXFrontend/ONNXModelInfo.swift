/// A graph input or output as the file declares it.
public struct ONNXValueInfo: Sendable, Codable, Equatable {
    public var name: String
    /// "float32", "int64", …, "non-tensor" for sequence/map types, "undefined" when the file omits it.
    public var elementType: String
    /// One entry per axis: "224" for a fixed size, the parameter name (e.g. "N") for a symbolic one,
    /// "?" for an unnamed unknown size.
    public var dims: [String]
    /// False when the file gives no shape at all (then `dims` is empty but the rank is unknown).
    public var hasShape: Bool

    public init(name: String, elementType: String, dims: [String], hasShape: Bool = true) {
        self.name = name
        self.elementType = elementType
        self.dims = dims
        self.hasShape = hasShape
    }
}

/// What `tessera inspect` shows: metadata, interface, operator histogram, parameter count, and the
/// nodes the importer cannot translate.
public struct ONNXModelInfo: Sendable, Codable, Equatable {
    public var producerName: String
    public var producerVersion: String
    public var irVersion: Int
    /// Operator set versions by domain; "" is the default ai.onnx domain.
    public var opsetImports: [String: Int]
    public var graphName: String
    /// Graph inputs that are not initializers (initializers listed as inputs are weights, not inputs).
    public var inputs: [ONNXValueInfo]
    public var outputs: [ONNXValueInfo]
    /// Op type as written in the file (prefixed "domain." outside ai.onnx) → number of nodes.
    public var operatorCounts: [String: Int]
    /// Total number of elements of all initializers.
    public var parameterCount: Int
    /// Every node the importer cannot translate, in graph order.
    public var unsupported: [UnsupportedOperator]

    /// The ai.onnx operator set version the graph was written against.
    public var defaultOpset: Int { opsetImports[""] ?? opsetImports["ai.onnx"] ?? 1 }
}
