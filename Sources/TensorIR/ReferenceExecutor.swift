import Foundation

/// Runs a `TensorGraph` in floating point: the plaintext oracle every encrypted result is checked
/// against, and the engine that calibrates activation ranges.
///
/// Values are stored as Float; every sum of products (convolution, gemm, matmul, linear, pooling
/// averages, normalization) is accumulated in Double and rounded once. Each intermediate tensor is
/// released after its last use, so peak memory is a few activations plus the weights.
/// Every `Operation` is executed, both as imported and after the tensor passes. Spatial operations
/// (conv, pooling) take NCHW tensors with 2-D windows.
public struct ReferenceExecutor: Sendable {
    public let graph: TensorGraph
    /// Worker threads for convolution, gemm and pooling kernels (at least 1).
    public let threads: Int
    private let positions: [NodeID: Int]
    /// Uses of each node's value by position (operands plus graph outputs).
    private let uses: [Int]

    public init(graph: TensorGraph, threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.graph = graph
        self.threads = max(1, threads)
        var positions: [NodeID: Int] = [:]
        for (position, node) in graph.nodes.enumerated() { positions[node.id] = position }
        self.positions = positions
        let counts = graph.useCounts()
        self.uses = graph.nodes.map { counts[$0.id, default: 0] }
    }

    /// Runs the graph on `inputs` (keyed by input node name) and returns the outputs keyed by output node name.
    public func run(inputs: [String: Tensor]) throws -> [String: Tensor] {
        try run(inputs: inputs, observe: { _, _ in })
    }

    /// Runs the graph and calls `observe` with every node's value (inputs and constants included) as soon
    /// as it is computed, in graph order; the value is released afterwards unless a later node uses it.
    public func run(inputs: [String: Tensor], observe: (Node, Tensor) throws -> Void) throws -> [String: Tensor] {
        try validate(inputs)
        var values = [Tensor?](repeating: nil, count: graph.nodes.count)
        var remainingUses = uses
        for (position, node) in graph.nodes.enumerated() {
            let value: Tensor
            do {
                let operands = node.inputs.map { operand -> Tensor in
                    guard let value = values[positions[operand]!] else {
                        preconditionFailure("operand \(operand) of \(node.name) was released before its last use")
                    }
                    return value
                }
                value = try evaluate(Step(node: node, operands: operands, threads: threads), inputs: inputs)
            }
            if let expected = node.type, expected != value.type {
                throw TensorIRError.shapeMismatch(
                    node: node.name, operation: node.operation.mnemonic,
                    detail: "computed a value of type \(value.type) but the graph records \(expected); rerun shape inference after changing the graph")
            }
            try observe(node, value)
            if remainingUses[position] > 0 { values[position] = value }
            for operand in node.inputs {
                let operandPosition = positions[operand]!
                remainingUses[operandPosition] -= 1
                if remainingUses[operandPosition] == 0 { values[operandPosition] = nil }
            }
        }
        var results: [String: Tensor] = [:]
        for output in graph.outputs {
            results[graph.node(output).name] = values[positions[output]!]
        }
        return results
    }

    /// Every graph input must be given, with the recorded type when shape inference has set one.
    private func validate(_ inputs: [String: Tensor]) throws {
        for node in graph.nodes {
            guard case .input = node.operation else { continue }
            guard let tensor = inputs[node.name] else { throw TensorIRError.missingInput(name: node.name) }
            if let expected = node.type, expected != tensor.type {
                throw TensorIRError.inputMismatch(name: node.name, expected: expected, got: tensor.type)
            }
        }
    }

    private func evaluate(_ step: Step, inputs: [String: Tensor]) throws -> Tensor {
        switch step.node.operation {
        case .input:
            try step.expectOperands(0...0)
            return inputs[step.node.name]!
        case .constant(let tensor):
            try step.expectOperands(0...0)
            return tensor
        case .conv(let attributes): return try Self.conv(step, attributes)
        case .batchNormalization(let epsilon): return try Self.batchNormalization(step, epsilon: epsilon)
        case .affine: return try Self.affine(step)
        case .relu: return try Self.relu(step)
        case .clip(let minimum, let maximum): return try Self.clip(step, minimum: minimum, maximum: maximum)
        case .sigmoid: return try Self.sigmoid(step)
        case .maxPool(let attributes): return try Self.maxPool(step, attributes)
        case .averagePool(let attributes): return try Self.averagePool(step, attributes)
        case .globalAveragePool: return try Self.globalAveragePool(step)
        case .add: return try Self.binary(step, { $0 + $1 }, { $0 &+ $1 })
        case .sub: return try Self.binary(step, { $0 - $1 }, { $0 &- $1 })
        case .mul: return try Self.binary(step, { $0 * $1 }, { $0 &* $1 })
        case .gemm(let alpha, let beta, let transA, let transB):
            return try Self.gemm(step, alpha: alpha, beta: beta, transA: transA, transB: transB)
        case .matMul: return try Self.matMul(step)
        case .linear: return try Self.linear(step)
        case .flatten(let axis): return try Self.flatten(step, axis: axis)
        case .reshape(let allowZero): return try Self.reshape(step, allowZero: allowZero)
        case .identity:
            try step.expectOperands(1...1)
            return step.operands[0]
        case .dropout:
            // Inference mode: the optional ratio and training_mode operands are ignored.
            try step.expectOperands(1...3)
            return step.operands[0]
        case .pad(let pads, let value): return try Self.pad(step, pads: pads, value: value)
        case .concat(let axis): return try Self.concat(step, axis: axis)
        }
    }

    /// One node about to run: its operands and the helpers that turn a bad operand into a typed error.
    struct Step {
        let node: Node
        let operands: [Tensor]
        let threads: Int

        var name: String { node.name }

        func mismatch(_ detail: String) -> TensorIRError {
            .shapeMismatch(node: node.name, operation: node.operation.mnemonic, detail: detail)
        }

        func invalid(_ detail: String) -> TensorIRError {
            .invalidGraph(node: node.name, detail: "\(node.operation.mnemonic): \(detail)")
        }

        func expectOperands(_ range: ClosedRange<Int>) throws {
            guard range.contains(operands.count) else {
                let expected = range.lowerBound == range.upperBound ? "\(range.lowerBound)" : "\(range.lowerBound) to \(range.upperBound)"
                throw invalid("expects \(expected) operands but has \(operands.count)")
            }
        }

        /// The float elements of operand `index`, which must be float32.
        func floats(_ index: Int, _ role: String) throws -> [Float] {
            guard case .float32(let values) = operands[index].storage else {
                throw mismatch("\(role) must be float32 but is \(operands[index].type)")
            }
            return values
        }

        /// Operand `index` as per-channel Double values; it must hold exactly `channels` elements.
        func channelVector(_ index: Int, _ role: String, channels: Int) throws -> [Double] {
            let tensor = operands[index]
            guard tensor.count == channels, tensor.shape.filter({ $0 != 1 }).count <= 1 else {
                throw mismatch("\(role) must have \(channels) elements (one per channel) but has shape \(tensor.type)")
            }
            return try floats(index, role).map(Double.init)
        }
    }
}
