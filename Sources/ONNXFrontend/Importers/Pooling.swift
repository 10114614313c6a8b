import TensorIR

/// MaxPool, AveragePool (2-D windows, ceil_mode, count_include_pad) and GlobalAveragePool.
enum PoolingImporters {
    static let all: [OperatorImporter] = [
        OperatorImporter("MaxPool", unsupportedReason: ConvolutionImporters.twoDimensionalOnly) { importer, node throws(ONNXImportError) in
            try importPool(&importer, node, average: false)
        },
        OperatorImporter("AveragePool", unsupportedReason: ConvolutionImporters.twoDimensionalOnly) { importer, node throws(ONNXImportError) in
            try importPool(&importer, node, average: true)
        },
        OperatorImporter("GlobalAveragePool") { importer, node throws(ONNXImportError) in
            try node.expectInputs(1...1)
            return importer.emit(.globalAveragePool, inputs: [try importer.operand(0, of: node)], for: node)
        },
    ]

    static func importPool(_ importer: inout GraphImporter, _ node: NodeView, average: Bool) throws(ONNXImportError) -> NodeID {
        try node.expectInputs(1...1)
        let x = try importer.operand(0, of: node)
        guard let kernel = try node.ints("kernel_shape") else {
            throw .invalidAttribute(node: node.name, name: "kernel_shape", detail: "is required")
        }
        // ceil_mode exists from opset 10, count_include_pad from 7, AveragePool dilations from 19;
        // absent attributes read as their defaults, which is what older opsets meant.
        let ceilMode = try node.int("ceil_mode", default: 0) != 0
        let countIncludePad = average ? try node.int("count_include_pad", default: 0) != 0 : false
        let window = try SpatialWindow.read(node, kernel: kernel, input: x, importer: &importer)
        let attributes = PoolAttributes(kernel: kernel, strides: window.strides, dilations: window.dilations, pads: window.pads,
                                        ceilMode: ceilMode, countIncludePad: countIncludePad)
        return importer.emit(average ? .averagePool(attributes) : .maxPool(attributes), inputs: [x], for: node)
    }
}
