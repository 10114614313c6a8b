/// Removes `identity` and `dropout` (inference mode: identity) nodes by forwarding their operand.
///
/// A graph output keeps its name: when an identity defines an output, its operand is renamed to
/// the output's name instead — unless the operand is a graph input or another output, whose own
/// name must survive too; then the identity stays.
public struct RemoveIdentities: TensorPass {
    public init() {}
    public var name: String { "remove-identities" }

    public func run(_ graph: inout TensorGraph) throws {
        for node in graph.nodes {
            switch node.operation {
            case .identity, .dropout: break
            default: continue
            }
            // Earlier removals may have rewired this node's operand: read the current node.
            guard let operandID = graph[node.id].inputs.first else {
                throw TensorIRError.invalidGraph(node: node.name, detail: "\(node.operation.mnemonic) has no operand")
            }
            let outputs = Set(graph.outputs)
            if outputs.contains(node.id) {
                var operand = graph[operandID]
                let operandIsInput: Bool
                if case .input = operand.operation { operandIsInput = true } else { operandIsInput = false }
                if operandIsInput || outputs.contains(operandID) { continue }
                operand.name = node.name
                graph[operandID] = operand
            }
            graph.replaceAllUses(of: node.id, with: operandID)
        }
        graph.removeDeadNodesAndRenumber()
    }
}
