/// Builds a new graph from an old one node by node, so a pass can replace a node by several new
/// nodes (a folded weight constant, then the folded conv) while keeping topological order.
/// New node ids are dense in emission order.
public struct GraphRewriter {
    public private(set) var graph: TensorGraph
    private var mapping: [NodeID: NodeID] = [:]
    private var usedNames: Set<String>

    init(name: String, reservedNames: Set<String>) {
        graph = TensorGraph(name: name)
        usedNames = reservedNames
    }

    /// The new id standing for the old node `old` (which must have been visited already).
    public func mapped(_ old: NodeID) -> NodeID {
        guard let new = mapping[old] else { preconditionFailure("node \(old) used before it was rewritten") }
        return new
    }

    /// Records that the old node `old` is now computed by the new node `new`.
    mutating func map(_ old: NodeID, to new: NodeID) {
        mapping[old] = new
    }

    /// A name not used by any node of the old or the new graph: `base`, else `base.1`, `base.2`, ….
    public mutating func uniqueName(_ base: String) -> String {
        if usedNames.insert(base).inserted { return base }
        var suffix = 1
        while !usedNames.insert("\(base).\(suffix)").inserted { suffix += 1 }
        return "\(base).\(suffix)"
    }

    /// Appends a constant under a fresh name derived from `name`.
    public mutating func emitConstant(_ tensor: Tensor, name: String, sourceNode: String = "") -> NodeID {
        graph.append(name: uniqueName(name), sourceNode: sourceNode, .constant(tensor), type: tensor.type)
    }

    /// Appends a constant that takes over the value name of a replaced node (`name` used as is).
    public mutating func emitConstant(_ tensor: Tensor, replacing name: String, sourceNode: String) -> NodeID {
        graph.append(name: name, sourceNode: sourceNode, .constant(tensor), type: tensor.type)
    }

    /// Appends a node whose operands are NEW ids, typed by shape inference (so a rewrite that
    /// builds an ill-shaped node fails here, not in a later pass). `name` is used as is.
    public mutating func emit(name: String, sourceNode: String, _ operation: Operation, inputs: [NodeID]) throws -> NodeID {
        var types: [TensorType] = []
        var constants: [Tensor?] = []
        for input in inputs {
            let operand = graph[input]
            guard let type = operand.type else {
                throw TensorIRError.invalidGraph(node: name, detail: "operand '\(operand.name)' has no type; run shape inference first")
            }
            types.append(type)
            if case .constant(let tensor) = operand.operation { constants.append(tensor) } else { constants.append(nil) }
        }
        let type = try ShapeInference.outputType(of: operation, operands: types, constantOperands: constants, node: name)
        return graph.append(name: name, sourceNode: sourceNode, operation, inputs: inputs, type: type)
    }

    /// Appends an old node unchanged apart from its operands, which are remapped.
    mutating func copy(_ node: Node) -> NodeID {
        graph.append(name: node.name, sourceNode: node.sourceNode, node.operation, inputs: node.inputs.map(mapped), type: node.type)
    }
}

extension TensorGraph {
    /// Rebuilds the graph in node order. For each old node `body` either returns the new id that
    /// now stands for it (after emitting whatever it needs into the rewriter) or `nil` to copy the
    /// node unchanged. Outputs are remapped at the end.
    public func rewritten(_ body: (inout GraphRewriter, Node) throws -> NodeID?) throws -> TensorGraph {
        var rewriter = GraphRewriter(name: name, reservedNames: Set(nodes.map(\.name)))
        for node in nodes {
            let new = try body(&rewriter, node) ?? rewriter.copy(node)
            rewriter.map(node.id, to: new)
        }
        var result = rewriter.graph
        result.outputs = outputs.map(rewriter.mapped)
        return result
    }

    /// Removes dead nodes (see `removeDeadNodes`) and renumbers the rest densely in order.
    /// Passes that replace nodes call this last so that no pass leaves unused nodes behind.
    public mutating func removeDeadNodesAndRenumber() {
        removeDeadNodes()
        var rewriter = GraphRewriter(name: name, reservedNames: [])
        for node in nodes { rewriter.map(node.id, to: rewriter.copy(node)) }
        var result = rewriter.graph
        result.outputs = outputs.map(rewriter.mapped)
        self = result
    }

    /// Use counts that ignore dead nodes: a value used only by nodes no output needs counts as unused there.
    public func liveUseCounts() -> [NodeID: Int] {
        var live = Set(outputs)
        for node in nodes.reversed() where live.contains(node.id) { live.formUnion(node.inputs) }
        var counts: [NodeID: Int] = [:]
        for node in nodes where live.contains(node.id) {
            for input in node.inputs { counts[input, default: 0] += 1 }
        }
        for output in outputs { counts[output, default: 0] += 1 }
        return counts
    }

    /// The tensor of a constant node, `nil` for any other node.
    public func constantValue(_ id: NodeID) -> Tensor? {
        if case .constant(let tensor) = self[id].operation { return tensor }
        return nil
    }
}
