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
        // The ring the depth needs may give fewer slots than the largest tensor wants: pack into those.
        let probe = try lower(graph, slots: slots, options: options, state: CompilationState(options: options))
        let depth = try MeasureDepth.depth(of: probe, options: options)
        if case .classical128 = options.security,
           let ring = try? ParameterSelection.select(depth: depth, slots: 1, options: options), ring.maxSlots < slots {
            slots = ring.maxSlots
            let program = try lower(graph, slots: slots, options: options, state: state)
            state.report.append("layout: spatial, \(slots) slots per ciphertext")
            return program
        }
        let program = try lower(graph, slots: slots, options: options, state: state)
        state.report.append("layout: spatial, \(slots) slots per ciphertext")
        return program
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
            case .mul where packed.count == 2:
                let (a, b) = (packed[0], packed[1])
                guard a.layout == b.layout, a.values.count == b.values.count, a.shape == b.shape else {
                    throw CompilerError.unsupportedOperation(node: node.name, operation: "mul", layout: "spatial",
                                                             hint: "a product of two encrypted tensors needs equal shapes and packings")
                }
                let values = zip(a.values, b.values).map { context.mul($0, $1) }
                return .packed(PackedTensor(shape: shape, values: values, layout: a.layout, slots: slots,
                                            garbageSlots: a.garbageSlots && b.garbageSlots))
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
}
