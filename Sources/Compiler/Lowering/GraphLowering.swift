import Foundation
import CipherIR
import TensorIR

/// Walks a TensorGraph (after `TensorPipeline.run`) and emits the unleveled CipherIR program: graph inputs become
/// `input` bindings with explicit layouts, each node is lowered by the chosen layout, graph outputs become `output`
/// bindings.
public enum GraphLowering {
    /// The slot count the batch layout uses for `graph`: the batch (dimension 0 of the inputs), rounded up to a
    /// power of two.
    public static func batchSize(of graph: TensorGraph) throws -> Int {
        var batch: Int? = nil
        for id in graph.inputs {
            let node = graph.node(id)
            guard let shape = node.type?.shape else { throw CompilerError.missingType(node: node.name) }
            guard let n = shape.first else {
                throw CompilerError.batchDimension(node: node.name, detail: "a scalar input has no batch dimension")
            }
            if let batch, batch != n {
                throw CompilerError.batchDimension(node: node.name, detail: "inputs disagree on the batch size (\(batch) vs \(n))")
            }
            batch = n
        }
        return batch ?? 1
    }

    static func nextPowerOfTwo(_ n: Int) -> Int {
        var p = 1
        while p < n { p <<= 1 }
        return p
    }

    /// Lowers `graph` to an unleveled program.
    public static func lower(_ graph: TensorGraph, options: CompilerOptions, state: CompilationState) throws -> Program {
        switch options.layout {
        case .batch:
            // One instruction per layer: tensors are lane values, convolutions and dense layers `linearMap`s.
            let batch = try batchSize(of: graph)
            let slots = nextPowerOfTwo(batch)
            guard slots <= 1 << (ParameterSelection.largestLogN - 1) else { throw CompilerError.tooManyImages(batch: batch, slots: slots) }
            let context = LoweringContext(slots: slots)
            let activations = ActivationLowering(context: context, options: options, state: state)
            let lowering = BatchLowering(context: context, activations: activations, batch: batch)
            try walk(graph, context: context) { node, operands in
                guard let shape = node.type?.shape else { throw CompilerError.missingType(node: node.name) }
                if case .input = node.operation { return .packed(lowering.input(name: node.name, shape: shape)) }
                return .packed(try lowering.lower(node, operands: operands, outputShape: shape))
            }
            state.report.append("layout: batch, \(batch) image(s) in \(slots) slots")
            return context.finish()
        case .spatial:
            return try SpatialDriver.lower(graph, options: options, state: state)
        }
    }

    /// Visits nodes in order; constants stay plaintext, the rest go through `lowerNode`; outputs are bound.
    static func walk(_ graph: TensorGraph, context: LoweringContext,
                     _ lowerNode: (Node, [LoweredValue]) throws -> LoweredValue) throws {
        var values: [NodeID: LoweredValue] = [:]
        var remaining = graph.useCounts()
        for node in graph.nodes {
            if case .constant(let tensor) = node.operation {
                values[node.id] = .plain(tensor)
                continue
            }
            let operands = node.inputs.map { values[$0]! }
            values[node.id] = try lowerNode(node, operands)
            for input in node.inputs {
                remaining[input, default: 1] -= 1
                if remaining[input] == 0 { values[input] = nil }
            }
        }
        for output in graph.outputs {
            let node = graph.node(output)
            guard case .packed(let tensor)? = values[output] else {
                throw CompilerError.unsupportedOperation(node: node.name, operation: node.operation.mnemonic, layout: "any",
                                                         hint: "a graph output must depend on the encrypted input")
            }
            context.output(name: node.name, tensor)
        }
    }
}

/// The spatial layout's driver: linear nodes go to `SpatialLowering` (diagonal BSGS transforms); activations and
/// ciphertext products are applied per ciphertext here.
enum SpatialDriver {
    /// The largest slot count used (N/2 of the largest ring).
    static let maximumSlots = 1 << (ParameterSelection.largestLogN - 1)

    static func lower(_ graph: TensorGraph, options: CompilerOptions, state: CompilationState) throws -> Program {
        var largest = 1
        for node in graph.nodes {
            if case .constant = node.operation { continue }
            largest = max(largest, node.type?.shape.reduce(1, *) ?? 1)
        }
        var slots = min(GraphLowering.nextPowerOfTwo(largest), maximumSlots)
        if case .insecure(let logN) = options.security { slots = min(slots, 1 << (logN - 1)) }
        // The ring the depth needs may give fewer slots than the largest tensor wants: pack into those (the depth is
        // estimated from the graph, so no trial lowering at a huge slot count is needed; parameters are still chosen
        // from the lowered program).
        if case .classical128 = options.security {
            let depth = estimatedDepth(graph, options: options)
            if let ring = try? ParameterSelection.select(depth: depth, slots: 1, options: options) { slots = min(slots, ring.maxSlots) }
        }
        let program = try lower(graph, slots: slots, options: options, state: state)
        state.report.append("layout: spatial, \(slots) slots per ciphertext")
        return program
    }

    /// The multiplicative depth the spatial lowering will need for `graph`, estimated node by node: one level per
    /// linear layer or ct×ct product, the approximation's depth per polynomial activation, a reset per client-aided
    /// activation.
    static func estimatedDepth(_ graph: TensorGraph, options: CompilerOptions) -> Int {
        let activationDepth: Int
        if let degree = options.reluDegree {
            activationDepth = Int(ceil(log2(Double(degree + 1)))) + 2
        } else {
            activationDepth = 16
        }
        var depth: [NodeID: Int] = [:]
        var deepest = 0
        for node in graph.nodes {
            let inputs = node.inputs.compactMap { depth[$0] }.max() ?? 0
            let encryptedOperands = node.inputs.filter { depth[$0] != nil }.count
            let value: Int?
            switch node.operation {
            case .constant: value = nil
            case .input: value = 0
            case .conv, .linear, .affine, .averagePool, .globalAveragePool: value = inputs + 1
            case .mul: value = inputs + 1
            case .add, .sub: value = inputs + (encryptedOperands == 2 ? 1 : 0)
            case .relu, .clip, .sigmoid:
                value = options.activations == .client ? 0 : inputs + activationDepth * (node.operation == .relu ? 1 : 2)
            case .maxPool(let a):
                let rounds = Int(ceil(log2(Double(max(a.kernel.reduce(1, *), 2)))))
                value = options.activations == .client ? inputs + 1 : inputs + 1 + rounds * activationDepth
            default: value = inputs
            }
            if let value {
                depth[node.id] = value
                deepest = max(deepest, value)
            }
        }
        return deepest
    }

    static func lower(_ graph: TensorGraph, slots: Int, options: CompilerOptions, state: CompilationState) throws -> Program {
        let context = LoweringContext(slots: slots)
        let activations = ActivationLowering(context: context, options: options, state: state)
        try GraphLowering.walk(graph, context: context) { node, operands in
            guard let shape = node.type?.shape else { throw CompilerError.missingType(node: node.name) }
            let packed = operands.compactMap { value -> PackedTensor? in
                if case .packed(let tensor) = value { return tensor } else { return nil }
            }
            switch node.operation {
            case .input:
                let (layout, count) = SpatialLowering.pack(inputShape: shape, slots: slots)
                guard case .explicit(let positions) = layout else {
                    return .packed(context.input(name: node.name, shape: shape, positions: (0..<shape.reduce(1, *)).map { $0 }, ciphertextCount: count))
                }
                return .packed(context.input(name: node.name, shape: shape, positions: positions.map(Int.init), ciphertextCount: count))
            case .relu, .clip, .sigmoid:
                guard let x = packed.first else { throw CompilerError.missingType(node: node.name) }
                let values = try x.values.map { try activations.apply(node.operation, to: $0, node: node) }
                // Odd sign composites and client ReLU keep empty slots zero; other polynomials may not.
                var keepsZero = false
                if case .relu = node.operation { keepsZero = options.activations == .client || options.reluDegree == nil }
                return .packed(PackedTensor(shape: shape, values: values, layout: x.layout, slots: slots,
                                            garbageSlots: x.garbageSlots || !keepsZero))
            case .pad(let pads, let value):
                guard let x = packed.first else { throw CompilerError.missingType(node: node.name) }
                return .packed(try SpatialAssembly.pad(node, x, pads: pads, value: value, shape: shape, context: context))
            case .concat(let axis):
                return .packed(try SpatialAssembly.concat(node, operands, axis: axis, shape: shape, context: context))
            case _ where (node.operation == .add || node.operation == .sub || (node.operation == .mul && packed.count == 1))
                && packed.contains(where: { $0.shape != shape }):
                // Broadcasting that expands an encrypted operand: one gather transform per operand.
                return .packed(try SpatialAssembly.expandingElementwise(node, operands, shape: shape, context: context))
            case .mul where packed.count == 2:
                var a = packed[0]
                var b = packed[1]
                if a.shape != shape && b.shape == shape { swap(&a, &b) }
                if a.shape != shape {
                    a = try SpatialAssembly.broadcast(node, a, to: shape, positions: SpatialAssembly.outputPositions(shape: shape, slots: slots), context: context)
                }
                if b.shape != shape {
                    b = try SpatialAssembly.broadcast(node, b, to: shape, positions: a.flatPositions(), context: context)
                } else if b.layout != a.layout {
                    b = try SpatialAssembly.align(node, b, to: a, context: context)
                }
                guard a.layout == b.layout, a.values.count == b.values.count, a.shape == b.shape else {
                    throw CompilerError.unsupportedOperation(node: node.name, operation: "mul", layout: "spatial",
                                                             hint: "a product of two encrypted tensors needs equal shapes and packings")
                }
                let values = zip(a.values, b.values).map { context.mul($0, $1) }
                return .packed(PackedTensor(shape: shape, values: values, layout: a.layout, slots: slots,
                                            garbageSlots: a.garbageSlots && b.garbageSlots))
            case .maxPool(let attributes):
                guard let x = packed.first else { throw CompilerError.missingType(node: node.name) }
                return .packed(try maxPool(node, x, attributes, outputShape: shape, context: context, activations: activations))
            default:
                guard SpatialLowering.handles(node, graph: graph) else {
                    throw CompilerError.unsupportedOperation(node: node.name, operation: node.operation.mnemonic, layout: "spatial",
                                                             hint: "compile with --layout batch")
                }
                do {
                    return .packed(try SpatialLowering.lower(node: node, graph: graph, inputs: packed, context: context))
                } catch let error as SpatialLoweringError {
                    throw CompilerError.unsupportedOperation(node: node.name, operation: node.operation.mnemonic, layout: "spatial",
                                                             hint: "\(error)")
                }
            }
        }
        return context.finish()
    }

    /// MaxPool as a max tree over K·K gathered copies of the input: copy (ky, kx) is a linear transform (diagonal,
    /// BSGS) that moves each window's (ky, kx) element to its output position in the dense output packing. Window
    /// cells in the padding repeat an in-image cell of the same window (MaxPool ignores padding).
    static func maxPool(_ node: Node, _ x: PackedTensor, _ a: PoolAttributes, outputShape: [Int], context: LoweringContext,
                        activations: ActivationLowering) throws -> PackedTensor {
        guard x.shape.count == 4, x.shape[0] == 1, outputShape.count == 4 else {
            throw CompilerError.unsupportedOperation(node: node.name, operation: "max_pool", layout: "spatial", hint: "needs a [1, C, H, W] input")
        }
        let (c, h, w) = (x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow) = (outputShape[2], outputShape[3])
        let slots = context.slots
        let inputPositions = x.flatPositions()
        // Each output stays where its window's anchor cell (s·oy, s·ox) sits in the input packing, so copy (ky, kx) is
        // one rotation per ciphertext pair (a constant offset) instead of a full permutation; when anchors fall
        // outside the input (ceil mode), the output is packed densely instead.
        let anchorsFit = (oh - 1) * a.strides[0] < h && (ow - 1) * a.strides[1] < w
        let outputPositions: [Int]
        let outputCiphertexts: Int
        if anchorsFit {
            var positions: [Int] = []
            positions.reserveCapacity(c * oh * ow)
            for ch in 0..<c {
                for oy in 0..<oh {
                    for ox in 0..<ow { positions.append(inputPositions[(ch * h + oy * a.strides[0]) * w + ox * a.strides[1]]) }
                }
            }
            outputPositions = positions
            outputCiphertexts = x.values.count
        } else {
            let dense = SpatialLayout.dense(channels: c, height: oh, width: ow, slots: slots)
            outputPositions = dense.positions()
            outputCiphertexts = dense.ciphertextCount
        }
        /// The in-image window cells along one axis for output index o (nil: the window is all padding).
        func cells(_ o: Int, stride: Int, pad: Int, dilation: Int, kernel: Int, extent: Int) -> [Int]? {
            let valid = (0..<kernel).map { o * stride - pad + $0 * dilation }.filter { $0 >= 0 && $0 < extent }
            guard let first = valid.first else { return nil }
            return (0..<kernel).map { k in
                let i = o * stride - pad + k * dilation
                return i >= 0 && i < extent ? i : first
            }
        }
        let rows = try (0..<oh).map { oy -> [Int] in
            guard let r = cells(oy, stride: a.strides[0], pad: a.pads[0], dilation: a.dilations[0], kernel: a.kernel[0], extent: h) else {
                throw CompilerError.unsupportedOperation(node: node.name, operation: "max_pool", layout: "spatial", hint: "a window lies entirely in the padding")
            }
            return r
        }
        let columns = try (0..<ow).map { ox -> [Int] in
            guard let r = cells(ox, stride: a.strides[1], pad: a.pads[1], dilation: a.dilations[1], kernel: a.kernel[1], extent: w) else {
                throw CompilerError.unsupportedOperation(node: node.name, operation: "max_pool", layout: "spatial", hint: "a window lies entirely in the padding")
            }
            return r
        }
        var gathered: [[ValueID]] = []
        for ky in 0..<a.kernel[0] {
            for kx in 0..<a.kernel[1] {
                var builder = DiagonalTransformBuilder(slots: slots, inputCiphertexts: x.values.count, outputCiphertexts: outputCiphertexts)
                for ch in 0..<c {
                    for oy in 0..<oh {
                        for ox in 0..<ow {
                            let input = inputPositions[(ch * h + rows[oy][ky]) * w + columns[ox][kx]]
                            builder.accumulate(outputPosition: outputPositions[(ch * oh + oy) * ow + ox], inputPosition: input, value: 1)
                        }
                    }
                }
                gathered.append(builder.finish().lower(inputs: x.values, context: context))
            }
        }
        var values: [ValueID] = []
        for index in 0..<outputCiphertexts {
            values.append(try activations.maximum(of: gathered.map { $0[index] }, node: node))
        }
        return PackedTensor(shape: outputShape, values: values, layout: .explicit(outputPositions.map { Int32($0) }), slots: slots)
    }
}
