import TensorIR

/// Translates one ONNX node (whose operands are already in the graph) and returns the IR node that
/// defines the node's first output.
typealias ImportFunction = @Sendable (inout GraphImporter, NodeView) throws(ONNXImportError) -> NodeID

/// One entry of the importer table: an op type, the ai.onnx opset versions whose semantics it
/// implements, an optional static check for variants Tessera does not support, and the translation.
struct OperatorImporter: Sendable {
    let opType: String
    /// Opset versions (inclusive) this entry handles; an op whose semantics changed has one entry per range.
    let opsets: ClosedRange<Int>
    /// Returns why this node is unsupported (e.g. Pad mode "reflect"), nil when it can be imported.
    let unsupportedReason: (@Sendable (NodeView) -> String?)?
    let importNode: ImportFunction

    init(_ opType: String, opsets: ClosedRange<Int> = 1...Int.max,
         unsupportedReason: (@Sendable (NodeView) -> String?)? = nil, _ importNode: @escaping ImportFunction) {
        self.opType = opType
        self.opsets = opsets
        self.unsupportedReason = unsupportedReason
        self.importNode = importNode
    }
}

/// The table of op importers, grouped by category (one file per category under Importers/).
enum OperatorRegistry {
    static let table: [String: [OperatorImporter]] = Dictionary(
        grouping: ConvolutionImporters.all + PoolingImporters.all + ActivationImporters.all
            + ElementwiseImporters.all + LinearImporters.all + NormalizationImporters.all
            + ShapeImporters.all + ConstantImporters.all,
        by: \.opType
    )

    /// The entry for `node` under ai.onnx opset `opset`, nil when there is none.
    static func importer(for node: NodeView, opset: Int) -> OperatorImporter? {
        guard node.isDefaultDomain else { return nil }
        return table[node.opType]?.first { $0.opsets.contains(opset) }
    }

    /// Why `node` cannot be imported, nil when it can.
    static func unsupported(_ node: NodeView, opset: Int) -> UnsupportedOperator? {
        guard node.isDefaultDomain else {
            return UnsupportedOperator(nodeName: node.name, opType: node.opType, domain: node.domain,
                                       reason: "only the ai.onnx domain is supported")
        }
        guard let entries = table[node.opType] else {
            return UnsupportedOperator(nodeName: node.name, opType: node.opType)
        }
        guard let entry = entries.first(where: { $0.opsets.contains(opset) }) else {
            let ranges = entries.map { "\($0.opsets.lowerBound)...\($0.opsets.upperBound == Int.max ? "" : String($0.opsets.upperBound))" }
            return UnsupportedOperator(nodeName: node.name, opType: node.opType,
                                       reason: "opset \(opset) is not supported for \(node.opType) (supported: \(ranges.joined(separator: ", ")))")
        }
        if let reason = entry.unsupportedReason?(node) {
            return UnsupportedOperator(nodeName: node.name, opType: node.opType, reason: reason)
        }
        return nil
    }
}
