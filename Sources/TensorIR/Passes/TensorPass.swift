/// A graph-to-graph transformation of the tensor IR. A pass preserves the graph's meaning exactly
/// (up to float rounding), keeps nodes in topological order and leaves every node typed when it
/// was given a typed graph.
public protocol TensorPass: Sendable {
    /// The name `--print-after-all` and diagnostics use (kebab-case, e.g. `fold-batch-norm`).
    var name: String { get }
    func run(_ graph: inout TensorGraph) throws
}

/// Assigns `Node.type` everywhere (see `ShapeInference`).
public struct InferShapes: TensorPass {
    public init() {}
    public var name: String { "infer-shapes" }
    public func run(_ graph: inout TensorGraph) throws {
        try ShapeInference.run(&graph)
    }
}

/// Removes nodes no graph output depends on (graph inputs stay) and renumbers the remaining
/// nodes densely from %0 in their existing order.
public struct RemoveDeadNodes: TensorPass {
    public init() {}
    public var name: String { "remove-dead-nodes" }
    public func run(_ graph: inout TensorGraph) throws {
        graph.removeDeadNodesAndRenumber()
    }
}
