import ONNXProto
import TensorIR

/// Walks a GraphProto in order and builds the `TensorGraph`: graph inputs first (types bound), then
/// one importer call per node; initializers become constant nodes on first use.
struct GraphImporter {
    private let proto: UnsafeMutablePointer<Onnx__GraphProto>
    /// The ai.onnx opset the graph was written against.
    let opset: Int
    let batchSize: Int
    let decoder: TensorDecoder
    private(set) var graph: TensorGraph

    /// What an ONNX value name currently refers to.
    private enum ValueSource {
        case node(NodeID)
        /// Decoded into a constant node on first use, so unused initializers cost nothing.
        case initializer(UnsafeMutablePointer<Onnx__TensorProto>)
        /// A second, third, … output of a node: not representable (every IR node has one value).
        case secondaryOutput(producer: String)
    }
    private var values: [String: ValueSource] = [:]
    /// Nodes before this index carry a type (see `shape(of:for:)`).
    private var typedPrefix = 0

    init(graph proto: UnsafeMutablePointer<Onnx__GraphProto>, opset: Int, directory: String, batchSize: Int) {
        self.proto = proto
        self.opset = opset
        self.batchSize = batchSize
        decoder = TensorDecoder(directory: directory)
        let name = swiftString(proto.pointee.name)
        graph = TensorGraph(name: name.isEmpty ? "main" : name)
    }

    mutating func run() throws(ONNXImportError) -> TensorGraph {
        for initializer in messages(proto.pointee.initializer, proto.pointee.n_initializer) {
            let name = swiftString(initializer.pointee.name)
            guard !name.isEmpty else { throw .invalidGraph(detail: "an initializer has no name") }
            guard values[name] == nil else { throw .invalidGraph(detail: "initializer '\(name)' is defined twice") }
            values[name] = .initializer(initializer)
        }
        for input in messages(proto.pointee.input, proto.pointee.n_input) {
            let name = swiftString(input.pointee.name)
            if case .initializer = values[name] { continue }   // a weight listed as input (IR < 4): a constant
            guard !name.isEmpty, values[name] == nil else {
                throw .invalidGraph(detail: "graph input '\(name)' is empty or declared twice")
            }
            let type = try inputType(input)
            values[name] = .node(graph.append(name: name, .input, type: type))
        }
        for (index, nodeProto) in messages(proto.pointee.node, proto.pointee.n_node).enumerated() {
            let node = NodeView(nodeProto, index: index)
            guard let importer = OperatorRegistry.importer(for: node, opset: opset) else {
                // ONNXModel.makeGraph scanned for these already; reaching here means the table changed.
                throw .unsupportedOperators([OperatorRegistry.unsupported(node, opset: opset)
                    ?? UnsupportedOperator(nodeName: node.name, opType: node.opType, domain: node.domain)])
            }
            guard let first = node.outputs.first, !first.isEmpty else {
                throw .invalidNode(node: node.name, detail: "has no output")
            }
            let id = try importer.importNode(&self, node)
            try define(first, as: .node(id))
            for output in node.outputs.dropFirst() where !output.isEmpty {
                try define(output, as: .secondaryOutput(producer: node.name))
            }
        }
        var outputs: [NodeID] = []
        for output in messages(proto.pointee.output, proto.pointee.n_output) {
            let name = swiftString(output.pointee.name)
            guard values[name] != nil else {
                throw .invalidGraph(detail: "graph output '\(name)' is not produced by any node, initializer or input")
            }
            outputs.append(try value(name, user: "graph output '\(name)'"))
        }
        guard !outputs.isEmpty else { throw .invalidGraph(detail: "the graph declares no outputs") }
        graph.outputs = outputs
        return graph
    }

    private mutating func define(_ name: String, as source: ValueSource) throws(ONNXImportError) {
        guard values[name] == nil else { throw .invalidGraph(detail: "value '\(name)' is defined twice") }
        values[name] = source
    }

    /// The static type of a graph input: float32 or int64, the symbolic first dimension bound to the batch size.
    private func inputType(_ input: UnsafeMutablePointer<Onnx__ValueInfoProto>) throws(ONNXImportError) -> TensorType {
        let info = valueInfo(input)
        let elementType: ElementType
        switch info.elementType {
        case "float32": elementType = .float32
        case "int64": elementType = .int64
        case "non-tensor": throw .invalidInput(name: info.name, detail: "is not a tensor; only tensor inputs are supported")
        default: throw .unsupportedDataType(tensor: info.name, type: info.elementType)
        }
        guard info.hasShape else {
            throw .invalidInput(name: info.name, detail: "has no shape; export the model with a static input shape")
        }
        var shape: [Int] = []
        for (axis, dim) in info.dims.enumerated() {
            if let size = Int(dim) {
                guard size >= 0 else { throw .invalidInput(name: info.name, detail: "has negative dimension \(size) at axis \(axis)") }
                shape.append(size)
            } else if axis == 0 {
                shape.append(batchSize)
            } else {
                throw .symbolicDimension(input: info.name, axis: axis, name: dim)
            }
        }
        return TensorType(elementType: elementType, shape: shape)
    }

    // MARK: for importers

    /// The IR node holding value `name`, read by `user` (a node name, for diagnostics).
    mutating func value(_ name: String, user: String) throws(ONNXImportError) -> NodeID {
        switch values[name] {
        case .node(let id):
            return id
        case .initializer(let proto):
            let tensor = try decoder.decode(proto, name: name)
            let id = graph.append(name: name, .constant(tensor), type: tensor.type)
            values[name] = .node(id)
            return id
        case .secondaryOutput(let producer):
            throw .secondaryOutputUsed(user: user, output: name, producer: producer)
        case nil:
            throw .undefinedValue(node: user, name: name)
        }
    }

    /// Operand `position` of `node`, which must be present.
    mutating func operand(_ position: Int, of node: NodeView) throws(ONNXImportError) -> NodeID {
        guard let name = node.input(position) else {
            throw .invalidNode(node: node.name, detail: "\(node.opType) requires input \(position)")
        }
        return try value(name, user: node.name)
    }

    /// Operand `position` of `node`, nil when omitted.
    mutating func optionalOperand(_ position: Int, of node: NodeView) throws(ONNXImportError) -> NodeID? {
        guard let name = node.input(position) else { return nil }
        return try value(name, user: node.name)
    }

    /// Every present operand of `node`, in order.
    mutating func operands(of node: NodeView) throws(ONNXImportError) -> [NodeID] {
        var ids: [NodeID] = []
        for name in node.inputs where !name.isEmpty { ids.append(try value(name, user: node.name)) }
        return ids
    }

    /// The tensor of a constant operand (initializer or Constant node), nil when it is computed.
    func constantValue(_ id: NodeID) -> Tensor? {
        if case .constant(let tensor) = graph[id].operation { return tensor }
        return nil
    }

    /// Operand `position`, which must be a constant (a Reshape target, Pad amounts, Clip bounds).
    mutating func constantOperand(_ position: Int, of node: NodeView, role: String) throws(ONNXImportError) -> (NodeID, Tensor)? {
        guard let id = try optionalOperand(position, of: node) else { return nil }
        guard let tensor = constantValue(id) else {
            throw .invalidNode(node: node.name, detail: "\(node.opType)'s \(role) (input \(position), '\(node.inputs[position])') "
                + "must be a constant (initializer or Constant node), but it is computed; export with constant folding "
                + "(do_constant_folding=True) or simplify the model first")
        }
        return (id, tensor)
    }

    /// Appends the IR node for `node`'s first output.
    mutating func emit(_ operation: Operation, inputs: [NodeID], for node: NodeView, type: TensorType? = nil) -> NodeID {
        graph.append(name: node.outputs[0], sourceNode: node.name, operation, inputs: inputs, type: type)
    }

    /// Appends a helper constant made from attributes (e.g. Reshape-1's `shape`).
    mutating func emitConstant(_ tensor: Tensor, name: String, for node: NodeView) -> NodeID {
        graph.append(name: name, sourceNode: node.name, .constant(tensor), type: tensor.type)
    }

    /// The static shape of an already imported value, inferring the types of the nodes imported so far
    /// when needed (for auto_pad SAME and negative axes). Nodes typed once keep their type, so each node
    /// is inferred at most once however many times this is called.
    mutating func shape(of id: NodeID, for node: NodeView) throws(ONNXImportError) -> [Int] {
        if let type = graph[id].type { return type.shape }
        for index in typedPrefix..<graph.nodes.count {
            let current = graph.nodes[index]
            typedPrefix = index + 1
            if current.type != nil { continue }
            var operandTypes: [TensorType] = []
            var constants: [Tensor?] = []
            for input in current.inputs {
                let operand = graph[input]
                guard let type = operand.type else {
                    throw .shapeInference(node: node.name, error: .invalidGraph(node: operand.name, detail: "has no type"))
                }
                operandTypes.append(type)
                if case .constant(let tensor) = operand.operation { constants.append(tensor) } else { constants.append(nil) }
            }
            do {
                var typed = current
                typed.type = try ShapeInference.outputType(of: current.operation, operands: operandTypes,
                                                           constantOperands: constants, node: current.name)
                graph[current.id] = typed
            } catch let error as TensorIRError {
                throw .shapeInference(node: node.name, error: error)
            } catch {
                throw .shapeInference(node: node.name, error: .invalidGraph(node: current.name, detail: "\(error)"))
            }
        }
        guard let type = graph[id].type else {
            throw .shapeInference(node: node.name, error: .invalidGraph(node: graph[id].name, detail: "shape inference left this value untyped"))
        }
        return type.shape
    }

    /// The rank of an imported value (see `shape(of:for:)`).
    mutating func rank(of id: NodeID, for node: NodeView) throws(ONNXImportError) -> Int {
        try shape(of: id, for: node).count
    }

    /// `axis` in `-rank..<rank` made non-negative, or an invalidAttribute error.
    mutating func normalizedAxis(_ axis: Int, of id: NodeID, for node: NodeView, attribute: String = "axis") throws(ONNXImportError) -> Int {
        guard axis < 0 else { return axis }
        let rank = try rank(of: id, for: node)
        let normalized = axis + rank
        guard normalized >= 0 else {
            throw .invalidAttribute(node: node.name, name: attribute, detail: "value \(axis) is out of range for rank \(rank)")
        }
        return normalized
    }
}
