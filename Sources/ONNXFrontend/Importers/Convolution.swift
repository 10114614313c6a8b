import TensorIR

/// Conv (2-D, NCHW): pads/strides/dilations/group with ONNX defaults, auto_pad resolved to explicit pads.
enum ConvolutionImporters {
    static let all: [OperatorImporter] = [
        OperatorImporter("Conv", unsupportedReason: twoDimensionalOnly, importConv),
    ]

    /// Static check shared with pooling: 1-D and 3-D windows are not implemented.
    @Sendable static func twoDimensionalOnly(_ node: NodeView) -> String? {
        guard let kernel = try? node.ints("kernel_shape"), kernel.count != 2 else { return nil }
        return "only 2-D windows are supported (kernel_shape \(kernel) has \(kernel.count) spatial axes)"
    }

    @Sendable static func importConv(_ importer: inout GraphImporter, _ node: NodeView) throws(ONNXImportError) -> NodeID {
        try node.expectInputs(2...3)
        let x = try importer.operand(0, of: node)
        let weight = try importer.operand(1, of: node)
        let bias = try importer.optionalOperand(2, of: node)
        let weightShape: [Int]
        if let constant = importer.constantValue(weight) {
            weightShape = constant.shape
        } else {
            weightShape = try importer.shape(of: weight, for: node)
        }
        guard weightShape.count == 4 else {
            throw .unsupportedOperators([UnsupportedOperator(nodeName: node.name, opType: node.opType,
                reason: "only 2-D convolution is supported (weight '\(node.inputs[1])' has rank \(weightShape.count), expected 4)")])
        }
        let kernel = Array(weightShape[2...])
        if let declared = try node.ints("kernel_shape"), declared != kernel {
            throw .invalidAttribute(node: node.name, name: "kernel_shape", detail: "is \(declared) but the weight's kernel is \(kernel)")
        }
        let group = try node.int("group", default: 1)
        guard group >= 1 else { throw .invalidAttribute(node: node.name, name: "group", detail: "must be at least 1, is \(group)") }
        let window = try SpatialWindow.read(node, kernel: kernel, input: x, importer: &importer)
        let attributes = ConvAttributes(kernel: kernel, strides: window.strides, dilations: window.dilations, pads: window.pads, group: group)
        return importer.emit(.conv(attributes), inputs: [x, weight] + (bias.map { [$0] } ?? []), for: node)
    }
}

/// Strides, dilations and pads of a 2-D window (Conv, MaxPool, AveragePool), read with ONNX's defaults
/// (1, 1, 0) and with `auto_pad` resolved against the input's spatial size.
struct SpatialWindow {
    var strides: [Int]
    var dilations: [Int]
    /// [top, left, bottom, right]
    var pads: [Int]

    static func read(_ node: NodeView, kernel: [Int], input: NodeID, importer: inout GraphImporter) throws(ONNXImportError) -> SpatialWindow {
        guard kernel.count == 2, kernel.allSatisfy({ $0 >= 1 }) else {
            throw .invalidAttribute(node: node.name, name: "kernel_shape", detail: "must be two positive sizes, is \(kernel)")
        }
        let strides = try node.ints("strides", count: 2, default: [1, 1])
        let dilations = try node.ints("dilations", count: 2, default: [1, 1])
        guard strides.allSatisfy({ $0 >= 1 }) else {
            throw .invalidAttribute(node: node.name, name: "strides", detail: "must be positive, is \(strides)")
        }
        guard dilations.allSatisfy({ $0 >= 1 }) else {
            throw .invalidAttribute(node: node.name, name: "dilations", detail: "must be positive, is \(dilations)")
        }
        let autoPad = try node.string("auto_pad", default: "NOTSET")
        var pads: [Int]
        switch autoPad {
        case "NOTSET", "":
            pads = try node.ints("pads", count: 4, default: [0, 0, 0, 0])
            guard pads.allSatisfy({ $0 >= 0 }) else {
                throw .invalidAttribute(node: node.name, name: "pads", detail: "must be non-negative, is \(pads)")
            }
        case "VALID":
            pads = [0, 0, 0, 0]
        case "SAME_UPPER", "SAME_LOWER":
            let shape = try importer.shape(of: input, for: node)
            guard shape.count == 4 else {
                throw .invalidNode(node: node.name, detail: "input '\(node.inputs[0])' has shape \(shape); expected rank 4 (NCHW)")
            }
            pads = [0, 0, 0, 0]
            for axis in 0..<2 {
                // Output size ceil(in / stride); the padding that achieves it is split evenly, the odd
                // unit going to the end (SAME_UPPER) or the beginning (SAME_LOWER).
                let size = shape[2 + axis]
                let output = (size + strides[axis] - 1) / strides[axis]
                let extent = (kernel[axis] - 1) * dilations[axis] + 1
                let total = max(0, (output - 1) * strides[axis] + extent - size)
                let small = total / 2
                let large = total - small
                pads[axis] = autoPad == "SAME_UPPER" ? small : large
                pads[axis + 2] = autoPad == "SAME_UPPER" ? large : small
            }
        default:
            throw .invalidAttribute(node: node.name, name: "auto_pad",
                                    detail: "is '\(autoPad)'; expected NOTSET, SAME_UPPER, SAME_LOWER or VALID")
        }
        return SpatialWindow(strides: strides, dilations: dilations, pads: pads)
    }
}
