/// Folds inference-mode BatchNormalization, y = (x − μ)·γ/√(σ²+ε) + β per channel (axis 1),
/// with constant γ, β, μ, σ². Writing s = γ/√(σ²+ε) and t = β − μ·s (computed in Double):
/// - after a Conv with constant weight (and bias) whose result has no other use:
///   w'[m] = w[m]·s[m], b' = b·s + t;
/// - after a `linear` with constant weight (and bias) and a rank-2 result, so axis 1 is the
///   output feature: W'[n,:] = W[n,:]·s[n], b' = b·s + t;
/// - after a Gemm with constant B: B' scales output column n by s[n], C' = (beta·C)·s + t
///   (broadcast to [N] or [M,N]), beta' = 1;
/// - otherwise into `affine(x, s, t)`.
/// BatchNormalization with a computed parameter stays as it is.
public struct FoldBatchNormalization: TensorPass {
    public init() {}
    public var name: String { "fold-batch-norm" }

    public func run(_ graph: inout TensorGraph) throws {
        var changed = false
        let original = graph
        let uses = original.liveUseCounts()
        let rewritten = try original.rewritten { rewriter, node in
            guard case .batchNormalization(let epsilon) = node.operation, node.inputs.count == 5 else { return nil }
            let parameters = node.inputs[1...].compactMap { original.constantValue($0)?.floats }
            guard parameters.count == 4 else { return nil }
            let (gamma, beta, mean, variance) = (parameters[0], parameters[1], parameters[2], parameters[3])
            let scale = gamma.indices.map { Double(gamma[$0]) / (Double(variance[$0]) + Double(epsilon)).squareRoot() }
            let shift = beta.indices.map { Double(beta[$0]) - Double(mean[$0]) * scale[$0] }
            changed = true
            let producerID = node.inputs[0]
            let producer = original[producerID]
            if uses[producerID] == 1,
               let folded = try Self.fold(into: producer, scale: scale, shift: shift, name: node.name, original: original, rewriter: &rewriter) {
                return folded
            }
            let scaleID = rewriter.emitConstant(Tensor(shape: [scale.count], floats: scale.map(Float.init)), name: "\(node.name).scale", sourceNode: node.sourceNode)
            let shiftID = rewriter.emitConstant(Tensor(shape: [shift.count], floats: shift.map(Float.init)), name: "\(node.name).shift", sourceNode: node.sourceNode)
            return try rewriter.emit(name: node.name, sourceNode: node.sourceNode, .affine,
                                     inputs: [rewriter.mapped(producerID), scaleID, shiftID])
        }
        if changed {
            graph = rewritten
            graph.removeDeadNodesAndRenumber()
        }
    }

    /// Emits `producer` with the per-channel affine map (scale, shift) folded in, or returns nil
    /// (emitting nothing) when the producer cannot absorb it.
    static func fold(into producer: Node, scale: [Double], shift: [Double], name: String,
                     original: TensorGraph, rewriter: inout GraphRewriter) throws -> NodeID? {
        let channels = scale.count
        func foldedBias(_ biasID: NodeID?) -> [Float]? {
            guard let biasID else { return shift.map(Float.init) }
            guard let bias = original.constantValue(biasID)?.floats, bias.count == channels else { return nil }
            return (0..<channels).map { Float(Double(bias[$0]) * scale[$0] + shift[$0]) }
        }
        /// Scales the slab of `inner` consecutive elements belonging to output channel c by scale[c].
        func scaledRows(_ weight: Tensor) -> Tensor {
            let inner = weight.count / channels
            var values = weight.floats
            for index in values.indices { values[index] = Float(Double(values[index]) * scale[index / inner]) }
            return Tensor(shape: weight.shape, floats: values)
        }
        switch producer.operation {
        case .conv(let attributes):
            guard let weight = original.constantValue(producer.inputs[1]), weight.shape.first == channels,
                  let bias = foldedBias(producer.inputs.count == 3 ? producer.inputs[2] : nil) else { return nil }
            let weightID = rewriter.emitConstant(scaledRows(weight), name: "\(name).weight", sourceNode: producer.sourceNode)
            let biasID = rewriter.emitConstant(Tensor(shape: [channels], floats: bias), name: "\(name).bias", sourceNode: producer.sourceNode)
            return try rewriter.emit(name: name, sourceNode: producer.sourceNode, .conv(attributes),
                                     inputs: [rewriter.mapped(producer.inputs[0]), weightID, biasID])
        case .linear:
            guard producer.type?.shape.count == 2,
                  let weight = original.constantValue(producer.inputs[1]), weight.shape.first == channels,
                  let bias = foldedBias(producer.inputs.count == 3 ? producer.inputs[2] : nil) else { return nil }
            let weightID = rewriter.emitConstant(scaledRows(weight), name: "\(name).weight", sourceNode: producer.sourceNode)
            let biasID = rewriter.emitConstant(Tensor(shape: [channels], floats: bias), name: "\(name).bias", sourceNode: producer.sourceNode)
            return try rewriter.emit(name: name, sourceNode: producer.sourceNode, .linear,
                                     inputs: [rewriter.mapped(producer.inputs[0]), weightID, biasID])
        case .gemm(let alpha, let beta, let transA, let transB):
            guard let outType = producer.type, outType.shape.count == 2, outType.shape[1] == channels,
                  let b = original.constantValue(producer.inputs[1]) else { return nil }
            var bValues = b.floats
            let bColumns = b.shape[1]
            for index in bValues.indices {
                // Output feature n is row n of B when transB, column n otherwise.
                let feature = transB ? index / bColumns : index % bColumns
                bValues[index] = Float(Double(bValues[index]) * scale[feature])
            }
            var cShape = [channels]
            var cValues: [Float]
            if producer.inputs.count == 3, beta != 0 {
                guard let c = original.constantValue(producer.inputs[2]),
                      let shape = ShapeInference.broadcast(c.shape, [channels]) else { return nil }
                cShape = shape
                let sources = FoldingKernels.broadcastIndices(from: c.shape, to: shape)
                let cFloats = c.floats
                cValues = sources.indices.map { index in
                    Float(Double(beta) * Double(cFloats[sources[index]]) * scale[index % channels] + shift[index % channels])
                }
            } else {
                cValues = shift.map(Float.init)
            }
            let bID = rewriter.emitConstant(Tensor(shape: b.shape, floats: bValues), name: "\(name).b", sourceNode: producer.sourceNode)
            let cID = rewriter.emitConstant(Tensor(shape: cShape, floats: cValues), name: "\(name).c", sourceNode: producer.sourceNode)
            return try rewriter.emit(name: name, sourceNode: producer.sourceNode,
                                     .gemm(alpha: alpha, beta: 1, transA: transA, transB: transB),
                                     inputs: [rewriter.mapped(producer.inputs[0]), bID, cID])
        default:
            return nil
        }
    }
}
