import TensorIR

/// Add, Sub, Mul with numpy broadcasting. Before opset 7 these had `broadcast`/`axis` attributes;
/// suffix alignment (no axis) equals numpy broadcasting, an explicit axis is accepted only where it
/// means the same.
enum ElementwiseImporters {
    static let all: [OperatorImporter] = [
        binary("Add", .add), binary("Sub", .sub), binary("Mul", .mul),
    ]

    static func binary(_ opType: String, _ operation: Operation) -> OperatorImporter {
        OperatorImporter(opType) { importer, node throws(ONNXImportError) in
            try node.expectInputs(2...2)
            let a = try importer.operand(0, of: node)
            let b = try importer.operand(1, of: node)
            if importer.opset < 7, try node.int("broadcast", default: 0) != 0, let axis = try node.optionalInt("axis") {
                let rankA = try importer.rank(of: a, for: node)
                let rankB = try importer.rank(of: b, for: node)
                let normalized = axis < 0 ? axis + rankA : axis
                guard normalized == rankA - rankB else {
                    throw .unsupportedOperators([UnsupportedOperator(nodeName: node.name, opType: node.opType,
                        reason: "legacy broadcast with axis=\(axis) aligns B (rank \(rankB)) with A (rank \(rankA)) "
                            + "at a non-trailing position; re-export with opset ≥ 7")])
                }
            }
            return importer.emit(operation, inputs: [a, b], for: node)
        }
    }
}
