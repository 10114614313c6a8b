import TensorIR

/// Gemm (alpha, beta, transA, transB; C optional from opset 11) and MatMul.
enum LinearImporters {
    static let all: [OperatorImporter] = [
        OperatorImporter("Gemm") { importer, node throws(ONNXImportError) in
            try node.expectInputs(2...3)
            let alpha = try node.float("alpha", default: 1)
            let beta = try node.float("beta", default: 1)
            let transA = try node.int("transA", default: 0) != 0
            let transB = try node.int("transB", default: 0) != 0
            let operands = try importer.operands(of: node)
            return importer.emit(.gemm(alpha: alpha, beta: beta, transA: transA, transB: transB), inputs: operands, for: node)
        },
        OperatorImporter("MatMul") { importer, node throws(ONNXImportError) in
            try node.expectInputs(2...2)
            return importer.emit(.matMul, inputs: try importer.operands(of: node), for: node)
        },
    ]
}
