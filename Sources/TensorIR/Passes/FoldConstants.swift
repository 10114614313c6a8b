/// Replaces a node all of whose operands are constants by the constant it computes, when the
/// result is no larger than
/// max(`smallResultLimit`, the operands' total element count) — folding never inflates the plan
/// (an outer-product broadcast of two vectors stays a computation). Elementwise and layout
/// operations use `FoldingKernels`; the rest runs on `ReferenceExecutor`. Runs to a fixed point in one
/// sweep because nodes are visited in topological order.
public struct FoldConstants: TensorPass {
    /// Results up to this many elements are always folded.
    public var smallResultLimit: Int

    public init(smallResultLimit: Int = 4096) {
        self.smallResultLimit = smallResultLimit
    }

    public var name: String { "fold-constants" }

    public func run(_ graph: inout TensorGraph) throws {
        var changed = false
        let rewritten = try graph.rewritten { rewriter, node in
            switch node.operation {
            case .input, .constant: return nil
            default: break
            }
            let operandIDs = node.inputs.map(rewriter.mapped)
            guard !operandIDs.isEmpty else { return nil }
            var operands: [Tensor] = []
            for id in operandIDs {
                guard let tensor = rewriter.graph.constantValue(id) else { return nil }
                operands.append(tensor)
            }
            let type = try ShapeInference.outputType(of: node.operation, operands: operands.map(\.type),
                                                     constantOperands: operands, node: node.name)
            guard type.count <= max(smallResultLimit, operands.reduce(0) { $0 + $1.count }) else { return nil }
            guard let value = try FoldingKernels.evaluate(node.operation, operands, resultType: type)
                    ?? Self.execute(node, operands: operands, type: type) else { return nil }
            changed = true
            return rewriter.emitConstant(value, replacing: node.name, sourceNode: node.sourceNode)
        }
        if changed {
            graph = rewritten
            graph.removeDeadNodesAndRenumber()
        }
    }

    /// Windowed and contracting operations (conv, pooling, gemm, matmul, linear) on constants are
    /// evaluated by the reference executor on a one-node graph, so folding and execution agree.
    static func execute(_ node: Node, operands: [Tensor], type: TensorType) throws -> Tensor? {
        var single = TensorGraph(name: "fold")
        let inputs = operands.enumerated().map { index, tensor in
            single.append(name: "operand\(index)", .constant(tensor), type: tensor.type)
        }
        let result = single.append(name: "result", node.operation, inputs: inputs, type: type)
        single.outputs = [result]
        let outputs = try ReferenceExecutor(graph: single, threads: 1).run(inputs: [:])
        return outputs["result"]
    }
}
