/// Identifies a node and, since every node produces exactly one value, that value.
public struct NodeID: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let raw: Int
    public init(_ raw: Int) { self.raw = raw }
    public static func < (lhs: NodeID, rhs: NodeID) -> Bool { lhs.raw < rhs.raw }
    public var description: String { "%\(raw)" }
}

/// One operation in SSA form: it reads the values of `inputs` and defines one value.
public struct Node: Sendable, Equatable {
    public var id: NodeID
    /// The ONNX name of the value this node defines (unique within a graph).
    public var name: String
    /// The ONNX node name it came from, for diagnostics ("" when the file had none).
    public var sourceNode: String
    public var operation: Operation
    public var inputs: [NodeID]
    /// Set by shape inference.
    public var type: TensorType?

    public init(id: NodeID, name: String, sourceNode: String = "", operation: Operation, inputs: [NodeID], type: TensorType? = nil) {
        self.id = id
        self.name = name
        self.sourceNode = sourceNode
        self.operation = operation
        self.inputs = inputs
        self.type = type
    }
}

/// A tensor program: nodes in topological order (every operand is defined before it is used),
/// the graph inputs (nodes with `.input`) and the named outputs.
public struct TensorGraph: Sendable, Equatable {
    public var name: String
    public private(set) var nodes: [Node] = []
    public var outputs: [NodeID] = []
    private var indexByID: [NodeID: Int] = [:]
    private var nextID = 0

    public init(name: String = "main") {
        self.name = name
    }

    /// Appends a node; its operands must already be in the graph.
    @discardableResult
    public mutating func append(name: String, sourceNode: String = "", _ operation: Operation, inputs: [NodeID] = [], type: TensorType? = nil) -> NodeID {
        for input in inputs {
            precondition(indexByID[input] != nil, "operand \(input) of \(name) is not defined before use")
        }
        let id = NodeID(nextID)
        nextID += 1
        indexByID[id] = nodes.count
        nodes.append(Node(id: id, name: name, sourceNode: sourceNode, operation: operation, inputs: inputs, type: type))
        return id
    }

    public func node(_ id: NodeID) -> Node {
        guard let index = indexByID[id] else { preconditionFailure("no node \(id)") }
        return nodes[index]
    }

    public func contains(_ id: NodeID) -> Bool { indexByID[id] != nil }

    public subscript(id: NodeID) -> Node {
        get { node(id) }
        set {
            guard let index = indexByID[id] else { preconditionFailure("no node \(id)") }
            precondition(newValue.id == id, "a node keeps its id")
            nodes[index] = newValue
        }
    }

    /// Graph inputs in declaration order.
    public var inputs: [NodeID] {
        nodes.filter { if case .input = $0.operation { return true } else { return false } }.map(\.id)
    }

    /// Replaces every use of `old` (as operand or output) by `new`.
    public mutating func replaceAllUses(of old: NodeID, with new: NodeID) {
        for index in nodes.indices {
            nodes[index].inputs = nodes[index].inputs.map { $0 == old ? new : $0 }
        }
        outputs = outputs.map { $0 == old ? new : $0 }
    }

    /// Removes nodes that no output depends on (graph inputs are always kept).
    public mutating func removeDeadNodes() {
        var live = Set(outputs)
        for node in nodes.reversed() where live.contains(node.id) {
            live.formUnion(node.inputs)
        }
        nodes.removeAll { node in
            if case .input = node.operation { return false }
            return !live.contains(node.id)
        }
        reindex()
    }

    /// Number of uses of each node (operands plus graph outputs).
    public func useCounts() -> [NodeID: Int] {
        var counts: [NodeID: Int] = [:]
        for node in nodes { for input in node.inputs { counts[input, default: 0] += 1 } }
        for output in outputs { counts[output, default: 0] += 1 }
        return counts
    }

    private mutating func reindex() {
        indexByID = [:]
        for (index, node) in nodes.enumerated() { indexByID[node.id] = index }
    }
}
