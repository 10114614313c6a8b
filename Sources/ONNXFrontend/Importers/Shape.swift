import TensorIR

/// Shape and data-movement ops: Flatten, Reshape, Concat, Pad, and the inference-time identities
/// Identity and Dropout.
enum ShapeImporters {
    static let all: [OperatorImporter] = [
        OperatorImporter("Flatten") { importer, node throws(ONNXImportError) in
            try node.expectInputs(1...1)
            let x = try importer.operand(0, of: node)
            let axis = try importer.normalizedAxis(try node.int("axis", default: 1), of: x, for: node)
            return importer.emit(.flatten(axis: axis), inputs: [x], for: node)
        },
        // Reshape-1: the target shape is an attribute; materialize it as an int64 constant operand.
        OperatorImporter("Reshape", opsets: 1...4) { importer, node throws(ONNXImportError) in
            try node.expectInputs(1...1)
            let x = try importer.operand(0, of: node)
            guard let target = try node.ints("shape") else {
                throw .invalidAttribute(node: node.name, name: "shape", detail: "is required")
            }
            let shape = importer.emitConstant(Tensor(shape: [target.count], int64s: target.map(Int64.init)),
                                              name: "\(node.outputs[0])::shape", for: node)
            return importer.emit(.reshape(allowZero: false), inputs: [x, shape], for: node)
        },
        // Reshape-5+: the target shape is an int64 input (which must be constant); allowzero from opset 14.
        OperatorImporter("Reshape", opsets: 5...Int.max) { importer, node throws(ONNXImportError) in
            try node.expectInputs(2...2)
            let x = try importer.operand(0, of: node)
            guard let (shape, target) = try importer.constantOperand(1, of: node, role: "target shape") else {
                throw .invalidNode(node: node.name, detail: "Reshape requires input 1 (shape)")
            }
            guard target.elementType == .int64, target.rank == 1 else {
                throw .invalidNode(node: node.name, detail: "Reshape's shape must be a 1-D int64 tensor, is \(target.type)")
            }
            let allowZero = try node.int("allowzero", default: 0) != 0
            return importer.emit(.reshape(allowZero: allowZero), inputs: [x, shape], for: node)
        },
        OperatorImporter("Identity") { importer, node throws(ONNXImportError) in
            try node.expectInputs(1...1)
            return importer.emit(.identity, inputs: [try importer.operand(0, of: node)], for: node)
        },
        // Dropout-1..11: ratio/is_test attributes, irrelevant at inference.
        OperatorImporter("Dropout", opsets: 1...11) { importer, node throws(ONNXImportError) in
            try node.expectInputs(1...1)
            return importer.emit(.dropout, inputs: [try importer.operand(0, of: node)], for: node)
        },
        // Dropout-12+: ratio and training_mode are inputs; training_mode must be absent or constant false.
        OperatorImporter("Dropout", opsets: 12...Int.max) { importer, node throws(ONNXImportError) in
            try node.expectInputs(1...3)
            let x = try importer.operand(0, of: node)
            if let (_, training) = try importer.constantOperand(2, of: node, role: "training_mode"),
               training.int64s.contains(where: { $0 != 0 }) {
                throw .invalidNode(node: node.name, detail: "Dropout has training_mode=true; export the model in eval mode")
            }
            return importer.emit(.dropout, inputs: [x], for: node)
        },
        OperatorImporter("Concat") { importer, node throws(ONNXImportError) in
            let operands = try importer.operands(of: node)
            guard let first = operands.first else {
                throw .invalidNode(node: node.name, detail: "Concat needs at least one input")
            }
            // axis became required in opset 4; Concat-1 defaulted to 1.
            guard let axis = try node.optionalInt("axis") ?? (importer.opset < 4 ? 1 : nil) else {
                throw .invalidAttribute(node: node.name, name: "axis", detail: "is required")
            }
            return importer.emit(.concat(axis: try importer.normalizedAxis(axis, of: first, for: node)), inputs: operands, for: node)
        },
        OperatorImporter("Pad", opsets: 1...1, unsupportedReason: constantModeOnly) { importer, node throws(ONNXImportError) in
            try importPadAttributes(&importer, node, padsAttribute: "paddings")
        },
        OperatorImporter("Pad", opsets: 2...10, unsupportedReason: constantModeOnly) { importer, node throws(ONNXImportError) in
            try importPadAttributes(&importer, node, padsAttribute: "pads")
        },
        OperatorImporter("Pad", opsets: 11...Int.max, unsupportedReason: constantModeOnly, importPadInputs),
    ]

    @Sendable static func constantModeOnly(_ node: NodeView) -> String? {
        let mode = (try? node.string("mode", default: "constant")) ?? "constant"
        return mode == "constant" ? nil : "Pad mode '\(mode)' is not supported; only mode 'constant'"
    }

    /// Pad-1/Pad-2: pads and value are attributes.
    static func importPadAttributes(_ importer: inout GraphImporter, _ node: NodeView, padsAttribute: String) throws(ONNXImportError) -> NodeID {
        try node.expectInputs(1...1)
        let x = try importer.operand(0, of: node)
        guard let pads = try node.ints(padsAttribute) else {
            throw .invalidAttribute(node: node.name, name: padsAttribute, detail: "is required")
        }
        let value = try node.float("value", default: 0)
        return try emitPad(&importer, node, x, pads: pads, value: value)
    }

    /// Pad-11+: pads (int64), constant_value (scalar) and, from opset 18, axes are constant inputs.
    @Sendable static func importPadInputs(_ importer: inout GraphImporter, _ node: NodeView) throws(ONNXImportError) -> NodeID {
        try node.expectInputs(2...4)
        let x = try importer.operand(0, of: node)
        guard let (_, padsTensor) = try importer.constantOperand(1, of: node, role: "pads") else {
            throw .invalidNode(node: node.name, detail: "Pad requires input 1 (pads)")
        }
        var pads = padsTensor.int64s.map { Int($0) }
        let value = try importer.constantOperand(2, of: node, role: "constant_value").map { (_, tensor) throws(ONNXImportError) in
            try ActivationImporters.scalar(tensor, node: node, role: "constant_value")
        } ?? 0
        if let (_, axesTensor) = try importer.constantOperand(3, of: node, role: "axes") {
            // Expand per-axis pads to ONNX's full [begins..., ends...] layout over every axis.
            let rank = try importer.rank(of: x, for: node)
            let axes = axesTensor.int64s.map { Int($0) < 0 ? Int($0) + rank : Int($0) }
            guard pads.count == 2 * axes.count, axes.allSatisfy({ (0..<rank).contains($0) }), Set(axes).count == axes.count else {
                throw .invalidNode(node: node.name, detail: "Pad axes \(axesTensor.int64s) do not match pads \(pads) for rank \(rank)")
            }
            var full = [Int](repeating: 0, count: 2 * rank)
            for (position, axis) in axes.enumerated() {
                full[axis] = pads[position]
                full[rank + axis] = pads[axes.count + position]
            }
            pads = full
        }
        return try emitPad(&importer, node, x, pads: pads, value: value)
    }

    static func emitPad(_ importer: inout GraphImporter, _ node: NodeView, _ x: NodeID, pads: [Int], value: Float) throws(ONNXImportError) -> NodeID {
        guard pads.count % 2 == 0 else {
            throw .invalidNode(node: node.name, detail: "Pad amounts \(pads) must have two entries (begin, end) per axis")
        }
        guard pads.allSatisfy({ $0 >= 0 }) else {
            throw .unsupportedOperators([UnsupportedOperator(nodeName: node.name, opType: node.opType,
                reason: "negative pads \(pads) (cropping) are not supported")])
        }
        return importer.emit(.pad(pads: pads, value: value), inputs: [x], for: node)
    }
}
