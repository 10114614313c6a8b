import TensorIR

/// Relu, Sigmoid, Clip (ReLU6 and friends). Clip's bounds moved from attributes to inputs in opset 11.
enum ActivationImporters {
    static let all: [OperatorImporter] = [
        OperatorImporter("Relu") { importer, node throws(ONNXImportError) in
            try node.expectInputs(1...1)
            return importer.emit(.relu, inputs: [try importer.operand(0, of: node)], for: node)
        },
        OperatorImporter("Sigmoid") { importer, node throws(ONNXImportError) in
            try node.expectInputs(1...1)
            return importer.emit(.sigmoid, inputs: [try importer.operand(0, of: node)], for: node)
        },
        // Clip-1 and Clip-6: bounds are float attributes; absent means unbounded.
        OperatorImporter("Clip", opsets: 1...10) { importer, node throws(ONNXImportError) in
            try node.expectInputs(1...1)
            let x = try importer.operand(0, of: node)
            return importer.emit(.clip(min: try node.optionalFloat("min"), max: try node.optionalFloat("max")), inputs: [x], for: node)
        },
        // Clip-11+: bounds are optional scalar inputs, which must be constants.
        OperatorImporter("Clip", opsets: 11...Int.max) { importer, node throws(ONNXImportError) in
            try node.expectInputs(1...3)
            let x = try importer.operand(0, of: node)
            let lower = try importer.constantOperand(1, of: node, role: "min").map { (_, tensor) throws(ONNXImportError) in
                try scalar(tensor, node: node, role: "min")
            }
            let upper = try importer.constantOperand(2, of: node, role: "max").map { (_, tensor) throws(ONNXImportError) in
                try scalar(tensor, node: node, role: "max")
            }
            return importer.emit(.clip(min: lower, max: upper), inputs: [x], for: node)
        },
    ]

    /// The single element of a constant that ONNX requires to be a scalar.
    static func scalar(_ tensor: Tensor, node: NodeView, role: String) throws(ONNXImportError) -> Float {
        guard tensor.count == 1 else {
            throw .invalidNode(node: node.name, detail: "\(node.opType)'s \(role) must be a scalar, has shape \(tensor.shape)")
        }
        return tensor.floats[0]
    }
}
