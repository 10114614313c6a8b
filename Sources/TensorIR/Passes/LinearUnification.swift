/// Rewrites Gemm into `linear(x, weight[N,K], bias[N])` whenever that is exact:
/// weight = alpha·B'ᵀ (so B must be constant unless alpha = 1 and transB), bias = beta·C broadcast
/// to [N] (so C must be constant unless beta = 1 and C is already [N]; a C that varies along M,
/// like [M,1] or [M,N] with M > 1, keeps the Gemm). transA needs a constant A (it is transposed
/// at compile time) or a computed A of shape [K,1] or [1,M], whose transpose is a reshape (same
/// row-major order); any other computed A with transA keeps the Gemm.
public struct GemmToLinear: TensorPass {
    public init() {}
    public var name: String { "gemm-to-linear" }

    public func run(_ graph: inout TensorGraph) throws {
        var changed = false
        let original = graph
        let rewritten = try graph.rewritten { rewriter, node in
            guard case .gemm(let alpha, let beta, let transA, let transB) = node.operation else { return nil }
            guard node.inputs.count >= 2, let bType = original[node.inputs[1]].type,
                  let aType = original[node.inputs[0]].type, bType.shape.count == 2, aType.shape.count == 2 else { return nil }
            let constantA = original.constantValue(node.inputs[0])
            let constantB = original.constantValue(node.inputs[1])
            let n = transB ? bType.shape[0] : bType.shape[1]
            // Decide everything before emitting anything.
            let transposeIsReshape = aType.shape[0] == 1 || aType.shape[1] == 1
            if transA && constantA == nil && !transposeIsReshape { return nil }
            let weightNeedsBuilding = !(alpha == 1 && transB)
            if weightNeedsBuilding && constantB == nil { return nil }
            var biasOperand: NodeID? = nil
            var biasToBuild: [Float]? = nil
            if node.inputs.count == 3, beta != 0 {
                let cID = node.inputs[2]
                guard let cType = original[cID].type, ShapeInference.broadcasts(cType.shape, to: [1, n]) else { return nil }
                if beta == 1 && cType.shape == [n] {
                    biasOperand = rewriter.mapped(cID)
                } else {
                    guard let c = original.constantValue(cID) else { return nil }
                    let values = c.floats
                    let vector = ShapeInference.broadcastVector(values, shape: c.shape, length: n)
                    biasToBuild = vector.map { beta * $0 }
                }
            }
            var x = rewriter.mapped(node.inputs[0])
            if transA, let a = constantA {
                x = rewriter.emitConstant(LinearAlgebra.transposed(a), name: "\(original[node.inputs[0]].name).transposed", sourceNode: node.sourceNode)
            } else if transA {
                let aName = original[node.inputs[0]].name
                let shape = rewriter.emitConstant(Tensor(shape: [2], int64s: [Int64(aType.shape[1]), Int64(aType.shape[0])]),
                                                  name: "\(aName).transposed_shape", sourceNode: node.sourceNode)
                x = try rewriter.emit(name: rewriter.uniqueName("\(aName).transposed"), sourceNode: node.sourceNode,
                                      .reshape(allowZero: false), inputs: [x, shape])
            }
            var weight = rewriter.mapped(node.inputs[1])
            if weightNeedsBuilding, let b = constantB {
                var w = transB ? b : LinearAlgebra.transposed(b)
                if alpha != 1 { w = Tensor(shape: w.shape, floats: w.floats.map { alpha * $0 }) }
                weight = rewriter.emitConstant(w, name: "\(node.name).weight", sourceNode: node.sourceNode)
            }
            if let biasToBuild {
                biasOperand = rewriter.emitConstant(Tensor(shape: [n], floats: biasToBuild), name: "\(node.name).bias", sourceNode: node.sourceNode)
            }
            changed = true
            return try rewriter.emit(name: node.name, sourceNode: node.sourceNode, .linear,
                                     inputs: [x, weight] + (biasOperand.map { [$0] } ?? []))
        }
        if changed {
            graph = rewritten
            graph.removeDeadNodesAndRenumber()
        }
    }
}

/// Rewrites MatMul(x, W[K,N]) with a constant 2-D W into linear(x, Wᵀ), then absorbs a following
/// Add (or Sub) of a constant that broadcasts along the last axis only ([N], [1], [1,…,1,N],
/// a scalar) into the linear's bias, when the linear result has no other use.
public struct MatMulToLinear: TensorPass {
    public init() {}
    public var name: String { "matmul-to-linear" }

    public func run(_ graph: inout TensorGraph) throws {
        var changed = false
        let original = graph
        var step = try original.rewritten { rewriter, node in
            guard case .matMul = node.operation, node.inputs.count == 2,
                  let w = original.constantValue(node.inputs[1]), w.rank == 2, w.elementType == .float32 else { return nil }
            let weight = rewriter.emitConstant(LinearAlgebra.transposed(w), name: "\(node.name).weight", sourceNode: node.sourceNode)
            changed = true
            return try rewriter.emit(name: node.name, sourceNode: node.sourceNode, .linear,
                                     inputs: [rewriter.mapped(node.inputs[0]), weight])
        }
        let afterMatMul = step
        let uses = afterMatMul.liveUseCounts()
        step = try afterMatMul.rewritten { rewriter, node in
            let sign: Float
            switch node.operation {
            case .add: sign = 1
            case .sub: sign = -1
            default: return nil
            }
            guard node.inputs.count == 2 else { return nil }
            // Add is commutative: the linear may be either operand; Sub only as the minuend.
            let candidates = sign == 1 ? [(0, 1), (1, 0)] : [(0, 1)]
            for (linearSide, constantSide) in candidates {
                let linearID = node.inputs[linearSide]
                let linearNode = afterMatMul[linearID]
                guard case .linear = linearNode.operation, uses[linearID] == 1,
                      let outType = linearNode.type, let nodeType = node.type, outType == nodeType,
                      let c = afterMatMul.constantValue(node.inputs[constantSide]), c.elementType == .float32 else { continue }
                let n = outType.shape[outType.shape.count - 1]
                let lastAxisOnly = c.shape.dropLast().allSatisfy { $0 == 1 } && (c.shape.last.map { $0 == n || $0 == 1 } ?? true)
                guard c.rank <= outType.shape.count, lastAxisOnly else { continue }
                var bias = ShapeInference.broadcastVector(c.floats, shape: c.shape, length: n).map { sign * $0 }
                if linearNode.inputs.count == 3 {
                    guard let existing = afterMatMul.constantValue(linearNode.inputs[2]) else { continue }
                    bias = zip(existing.floats, bias).map { $0 + $1 }
                }
                let biasID = rewriter.emitConstant(Tensor(shape: [n], floats: bias), name: "\(node.name).bias", sourceNode: node.sourceNode)
                changed = true
                return try rewriter.emit(name: node.name, sourceNode: linearNode.sourceNode, .linear,
                                         inputs: [rewriter.mapped(linearNode.inputs[0]), rewriter.mapped(linearNode.inputs[1]), biasID])
            }
            return nil
        }
        if changed {
            graph = step
            graph.removeDeadNodesAndRenumber()
        }
    }
}

extension ShapeInference {
    /// Expands `values` of a shape that broadcasts along one trailing axis ([], [1], [n], [1,…,1,n])
    /// to `length` elements.
    static func broadcastVector(_ values: [Float], shape: [Int], length: Int) -> [Float] {
        values.count == length ? values : [Float](repeating: values[0], count: length)
    }
}

fileprivate enum LinearAlgebra {
    /// The transpose of a matrix.
    static func transposed(_ matrix: Tensor) -> Tensor {
        precondition(matrix.rank == 2, "transposed needs a matrix")
        let rows = matrix.shape[0], columns = matrix.shape[1]
        switch matrix.storage {
        case .float32(let values):
            var result = [Float](repeating: 0, count: values.count)
            for row in 0..<rows { for column in 0..<columns { result[column * rows + row] = values[row * columns + column] } }
            return Tensor(shape: [columns, rows], floats: result)
        case .int64(let values):
            var result = [Int64](repeating: 0, count: values.count)
            for row in 0..<rows { for column in 0..<columns { result[column * rows + row] = values[row * columns + column] } }
            return Tensor(shape: [columns, rows], int64s: result)
        }
    }
}
