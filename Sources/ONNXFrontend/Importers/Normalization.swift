import TensorIR

/// BatchNormalization in inference mode. Opset 1-8 had `spatial` (0 = per-activation statistics),
/// opset 14 added `training_mode`; both non-default variants are unsupported. The extra outputs
/// (running/saved mean and variance) exist only in training and may not be read.
enum NormalizationImporters {
    static let all: [OperatorImporter] = [
        OperatorImporter("BatchNormalization", opsets: 1...8, unsupportedReason: { node in
            (try? node.int("spatial", default: 1)) == 0
                ? "per-activation statistics (spatial=0) are not supported; only spatial batch normalization" : nil
        }, importBatchNormalization),
        OperatorImporter("BatchNormalization", opsets: 9...13, importBatchNormalization),
        OperatorImporter("BatchNormalization", opsets: 14...Int.max, unsupportedReason: { node in
            ((try? node.int("training_mode", default: 0)) ?? 0) != 0 ? "training_mode=1 is not supported; export in eval mode" : nil
        }, importBatchNormalization),
    ]

    @Sendable static func importBatchNormalization(_ importer: inout GraphImporter, _ node: NodeView) throws(ONNXImportError) -> NodeID {
        try node.expectInputs(5...5)
        let epsilon = try node.float("epsilon", default: 1e-5)
        guard epsilon >= 0 else {
            throw .invalidAttribute(node: node.name, name: "epsilon", detail: "must be non-negative, is \(epsilon)")
        }
        // momentum (and is_test / consumed_inputs in old opsets) only matter in training.
        return importer.emit(.batchNormalization(epsilon: epsilon), inputs: try importer.operands(of: node), for: node)
    }
}
