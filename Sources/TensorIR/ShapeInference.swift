/// Static shape rules for every `Operation`, and the pass that assigns `Node.type` through a graph.
///
/// The rules follow ONNX (opset 13+) for the same operations: numpy broadcasting for elementwise
/// ops, numpy `matmul` promotion, the pooling output formula with ONNX's ceil-mode correction, and
/// so on. Every mismatch throws `TensorIRError.shapeMismatch` naming the node, the operation and the
/// offending dimension; a wrong operand count or an impossible attribute throws `.invalidGraph`.
public enum ShapeInference {
    /// The type of the value `operation` defines, given its operands' types.
    ///
    /// - Parameters:
    ///   - operands: the operand types in `Node.inputs` order.
    ///   - constantOperands: for each operand, its value when it is a constant (`nil` otherwise);
    ///     `reshape` needs its shape operand here. Shorter than `operands` is treated as `nil`s.
    ///   - node: the node's name, used in error messages.
    public static func outputType(of operation: Operation, operands: [TensorType], constantOperands: [Tensor?],
                                  node: String) throws -> TensorType {
        let rule = Rule(operation: operation, operands: operands, constants: constantOperands, node: node)
        return try rule.infer()
    }

    /// Sets `type` on every node of `graph`, in order. Graph inputs must already carry a type;
    /// constants take the type of their tensor. Small i64 values computed from constants (a
    /// Reshape target built by Concat/Mul of constants) are evaluated on the way, so shapes can
    /// be inferred before constant folding has run.
    public static func run(_ graph: inout TensorGraph) throws {
        var knownValues: [NodeID: Tensor] = [:]
        for node in graph.nodes {
            var updated = node
            switch node.operation {
            case .input:
                guard node.type != nil else {
                    throw TensorIRError.invalidGraph(node: node.name, detail: "graph input has no type; bind every dimension when importing")
                }
                continue
            case .constant(let tensor):
                updated.type = tensor.type
                knownValues[node.id] = tensor
            default:
                var operandTypes: [TensorType] = []
                var constants: [Tensor?] = []
                operandTypes.reserveCapacity(node.inputs.count)
                for input in node.inputs {
                    guard graph.contains(input) else {
                        throw TensorIRError.invalidGraph(node: node.name, detail: "operand \(input) is not defined in the graph")
                    }
                    let operand = graph[input]
                    guard let type = operand.type else {
                        throw TensorIRError.invalidGraph(node: node.name, detail: "operand '\(operand.name)' (\(input)) has no type; it must be defined before its use")
                    }
                    operandTypes.append(type)
                    constants.append(knownValues[input])
                }
                let type = try outputType(of: node.operation, operands: operandTypes, constantOperands: constants, node: node.name)
                updated.type = type
                if type.elementType == .int64, type.count <= smallIntegerValueLimit, !constants.isEmpty {
                    let operandValues = constants.compactMap { $0 }
                    if operandValues.count == constants.count,
                       let value = FoldingKernels.evaluate(node.operation, operandValues, resultType: type) {
                        knownValues[node.id] = value
                    }
                }
            }
            if updated != node { graph[node.id] = updated }
        }
    }

    /// i64 results up to this many elements are evaluated during shape inference (shape vectors).
    static let smallIntegerValueLimit = 64

    /// numpy (multidirectional) broadcasting of two shapes; `nil` when they are incompatible.
    public static func broadcast(_ lhs: [Int], _ rhs: [Int]) -> [Int]? {
        let rank = max(lhs.count, rhs.count)
        var result = [Int](repeating: 1, count: rank)
        for index in 0..<rank {
            let a = index < rank - lhs.count ? 1 : lhs[index - (rank - lhs.count)]
            let b = index < rank - rhs.count ? 1 : rhs[index - (rank - rhs.count)]
            if a == b || b == 1 {
                result[index] = a
            } else if a == 1 {
                result[index] = b
            } else {
                return nil
            }
        }
        return result
    }

    /// Whether `shape` broadcasts to `target` without changing `target` (ONNX unidirectional broadcasting).
    public static func broadcasts(_ shape: [Int], to target: [Int]) -> Bool {
        broadcast(shape, target) == target && shape.count <= target.count
    }

    /// Output length of one spatial axis of a convolution or pooling window.
    /// `ceilMode` applies ONNX's rule that the last window must start inside the input or its begin padding.
    static func windowOutputLength(input: Int, kernel: Int, stride: Int, dilation: Int, padBegin: Int, padEnd: Int,
                                   ceilMode: Bool) -> Int {
        let span = dilation * (kernel - 1) + 1
        let numerator = input + padBegin + padEnd - span
        if numerator < 0 { return 0 }
        if !ceilMode { return numerator / stride + 1 }
        var length = (numerator + stride - 1) / stride + 1
        if (length - 1) * stride >= input + padBegin { length -= 1 }
        return length
    }
}

/// One inference: the operation, its operand types and the node name for diagnostics.
private struct Rule {
    let operation: Operation
    let operands: [TensorType]
    let constants: [Tensor?]
    let node: String

    init(operation: Operation, operands: [TensorType], constants: [Tensor?], node: String) {
        self.operation = operation
        self.operands = operands
        self.constants = constants
        self.node = node
    }

    func mismatch(_ detail: String) -> TensorIRError {
        .shapeMismatch(node: node, operation: operation.mnemonic, detail: detail)
    }

    func invalid(_ detail: String) -> TensorIRError {
        .invalidGraph(node: node, detail: "\(operation.mnemonic): \(detail)")
    }

    func expectOperands(_ range: ClosedRange<Int>, _ what: String) throws {
        guard range.contains(operands.count) else {
            throw invalid("expects \(what) but has \(operands.count) operand\(operands.count == 1 ? "" : "s")")
        }
    }

    func expectFloat(_ index: Int, _ role: String) throws {
        guard operands[index].elementType == .float32 else {
            throw mismatch("\(role) must be f32 but is \(operands[index])")
        }
    }

    /// A per-channel operand: 1-D of length `channels`.
    func expectVector(_ index: Int, length: Int, _ role: String) throws {
        let shape = operands[index].shape
        guard shape == [length] else {
            throw mismatch("\(role) must have shape [\(length)] but has \(shape)")
        }
    }

    func infer() throws -> TensorType {
        switch operation {
        case .input:
            throw invalid("a graph input's type cannot be inferred; it is given when the graph is built")
        case .constant(let tensor):
            try expectOperands(0...0, "no operands")
            return tensor.type
        case .conv(let attributes):
            return try conv(attributes)
        case .batchNormalization(let epsilon):
            try expectOperands(5...5, "5 operands (x, scale, bias, mean, var)")
            guard epsilon >= 0, epsilon.isFinite else { throw invalid("epsilon \(epsilon) must be a finite value ≥ 0") }
            return try perChannel(roles: ["scale", "bias", "mean", "var"])
        case .affine:
            try expectOperands(3...3, "3 operands (x, scale, shift)")
            return try perChannel(roles: ["scale", "shift"])
        case .relu, .sigmoid, .identity:
            try expectOperands(1...1, "1 operand")
            return operands[0]
        case .clip(let low, let high):
            try expectOperands(1...1, "1 operand (bounds are attributes)")
            if let low, let high, low > high { throw invalid("min \(low) is greater than max \(high)") }
            return operands[0]
        case .dropout:
            // ONNX Dropout may carry ratio and training_mode operands; inference ignores them.
            try expectOperands(1...3, "1 to 3 operands (data, ratio, training_mode)")
            return operands[0]
        case .maxPool(let attributes), .averagePool(let attributes):
            return try pool(attributes)
        case .globalAveragePool:
            try expectOperands(1...1, "1 operand")
            let shape = operands[0].shape
            guard shape.count >= 3 else { throw mismatch("input must be [N,C,spatial...] (rank ≥ 3) but is \(operands[0])") }
            try expectFloat(0, "input")
            return TensorType(elementType: .float32, shape: [shape[0], shape[1]] + [Int](repeating: 1, count: shape.count - 2))
        case .add, .sub, .mul:
            try expectOperands(2...2, "2 operands")
            guard operands[0].elementType == operands[1].elementType else {
                throw mismatch("operand element types differ: \(operands[0]) and \(operands[1])")
            }
            guard let shape = ShapeInference.broadcast(operands[0].shape, operands[1].shape) else {
                throw mismatch("shapes \(operands[0].shape) and \(operands[1].shape) are not broadcastable (numpy rules: trailing dimensions must be equal or 1)")
            }
            return TensorType(elementType: operands[0].elementType, shape: shape)
        case .gemm(_, _, let transA, let transB):
            return try gemm(transA: transA, transB: transB)
        case .matMul:
            return try matMul()
        case .linear:
            return try linear()
        case .flatten(let axis):
            try expectOperands(1...1, "1 operand")
            let shape = operands[0].shape
            let rank = shape.count
            guard axis >= -rank, axis <= rank else { throw invalid("axis \(axis) is outside [-\(rank), \(rank)] for an input of rank \(rank)") }
            let split = axis < 0 ? axis + rank : axis
            let outer = shape[0..<split].reduce(1, *)
            let inner = shape[split...].reduce(1, *)
            return TensorType(elementType: operands[0].elementType, shape: [outer, inner])
        case .reshape(let allowZero):
            return try reshape(allowZero: allowZero)
        case .pad(let pads, _):
            try expectOperands(1...1, "1 operand (pads are attributes)")
            let shape = operands[0].shape
            guard pads.count == 2 * shape.count else {
                throw invalid("pads has \(pads.count) entries but an input of rank \(shape.count) needs \(2 * shape.count) ([begin per axis..., end per axis...])")
            }
            var result = shape
            for axis in shape.indices {
                result[axis] = shape[axis] + pads[axis] + pads[axis + shape.count]
                guard result[axis] >= 0 else {
                    throw mismatch("axis \(axis) of size \(shape[axis]) is cropped by \(-(pads[axis] + pads[axis + shape.count])), which leaves a negative size")
                }
            }
            return TensorType(elementType: operands[0].elementType, shape: result)
        case .concat(let axis):
            return try concat(axis: axis)
        }
    }

    func perChannel(roles: [String]) throws -> TensorType {
        let x = operands[0]
        guard x.shape.count >= 2 else { throw mismatch("input must be [N,C,...] (rank ≥ 2) but is \(x)") }
        try expectFloat(0, "input")
        let channels = x.shape[1]
        for (offset, role) in roles.enumerated() {
            try expectVector(offset + 1, length: channels, "\(role) (operand \(offset + 1), one per channel of \(x))")
        }
        return x
    }

    func checkWindow(kernel: [Int], strides: [Int], dilations: [Int], pads: [Int]) throws {
        guard kernel.count == 2, kernel.allSatisfy({ $0 >= 1 }) else { throw invalid("kernel \(kernel) must be two sizes ≥ 1") }
        guard strides.count == 2, strides.allSatisfy({ $0 >= 1 }) else { throw invalid("strides \(strides) must be two values ≥ 1") }
        guard dilations.count == 2, dilations.allSatisfy({ $0 >= 1 }) else { throw invalid("dilations \(dilations) must be two values ≥ 1") }
        guard pads.count == 4, pads.allSatisfy({ $0 >= 0 }) else { throw invalid("pads \(pads) must be four values ≥ 0 [top, left, bottom, right]") }
    }

    func spatialOutput(input: [Int], kernel: [Int], strides: [Int], dilations: [Int], pads: [Int], ceilMode: Bool) throws -> [Int] {
        var result: [Int] = []
        for axis in 0..<2 {
            let length = ShapeInference.windowOutputLength(
                input: input[axis], kernel: kernel[axis], stride: strides[axis], dilation: dilations[axis],
                padBegin: pads[axis], padEnd: pads[axis + 2], ceilMode: ceilMode)
            guard length >= 1 else {
                let span = dilations[axis] * (kernel[axis] - 1) + 1
                throw mismatch("spatial axis \(axis) of size \(input[axis]) with pads \(pads[axis])+\(pads[axis + 2]) is smaller than the (dilated) window \(span)")
            }
            result.append(length)
        }
        return result
    }

    func conv(_ attributes: ConvAttributes) throws -> TensorType {
        try expectOperands(2...3, "2 or 3 operands (x, w, optional b)")
        let x = operands[0].shape, w = operands[1].shape
        try expectFloat(0, "input")
        try expectFloat(1, "weight")
        guard x.count == 4 else { throw mismatch("input must be NCHW (rank 4) but is \(operands[0])") }
        guard w.count == 4 else { throw mismatch("weight must be [M, C/group, kH, kW] (rank 4) but is \(operands[1])") }
        guard attributes.group >= 1 else { throw invalid("group \(attributes.group) must be ≥ 1") }
        let kernel = attributes.kernel.isEmpty ? Array(w[2...]) : attributes.kernel
        try checkWindow(kernel: kernel, strides: attributes.strides, dilations: attributes.dilations, pads: attributes.pads)
        guard Array(w[2...]) == kernel else {
            throw mismatch("weight spatial size \(Array(w[2...])) differs from kernel attribute \(kernel)")
        }
        let group = attributes.group
        guard x[1] % group == 0 else { throw mismatch("input channels \(x[1]) are not divisible by group \(group)") }
        guard w[0] % group == 0 else { throw mismatch("output channels \(w[0]) are not divisible by group \(group)") }
        guard w[1] == x[1] / group else {
            throw mismatch("weight has \(w[1]) input channels per group but the input has \(x[1]) channels in \(group) group\(group == 1 ? "" : "s") (\(x[1] / group) per group)")
        }
        if operands.count == 3 {
            try expectVector(2, length: w[0], "bias (one per output channel)")
        }
        let spatial = try spatialOutput(input: Array(x[2...]), kernel: kernel, strides: attributes.strides,
                                        dilations: attributes.dilations, pads: attributes.pads, ceilMode: false)
        return TensorType(elementType: .float32, shape: [x[0], w[0]] + spatial)
    }

    func pool(_ attributes: PoolAttributes) throws -> TensorType {
        try expectOperands(1...1, "1 operand")
        let x = operands[0].shape
        try expectFloat(0, "input")
        guard x.count == 4 else { throw mismatch("input must be NCHW (rank 4) but is \(operands[0])") }
        try checkWindow(kernel: attributes.kernel, strides: attributes.strides, dilations: attributes.dilations, pads: attributes.pads)
        let spatial = try spatialOutput(input: Array(x[2...]), kernel: attributes.kernel, strides: attributes.strides,
                                        dilations: attributes.dilations, pads: attributes.pads, ceilMode: attributes.ceilMode)
        return TensorType(elementType: .float32, shape: [x[0], x[1]] + spatial)
    }

    func gemm(transA: Bool, transB: Bool) throws -> TensorType {
        try expectOperands(2...3, "2 or 3 operands (A, B, optional C)")
        let a = operands[0].shape, b = operands[1].shape
        try expectFloat(0, "A")
        try expectFloat(1, "B")
        guard a.count == 2 else { throw mismatch("A must be a matrix (rank 2) but is \(operands[0])") }
        guard b.count == 2 else { throw mismatch("B must be a matrix (rank 2) but is \(operands[1])") }
        let (m, k) = transA ? (a[1], a[0]) : (a[0], a[1])
        let (kB, n) = transB ? (b[1], b[0]) : (b[0], b[1])
        guard k == kB else {
            throw mismatch("inner dimensions differ: A\(transA ? "ᵀ" : "") is [\(m),\(k)] and B\(transB ? "ᵀ" : "") is [\(kB),\(n)]")
        }
        if operands.count == 3 {
            try expectFloat(2, "C")
            guard ShapeInference.broadcasts(operands[2].shape, to: [m, n]) else {
                throw mismatch("C \(operands[2].shape) does not broadcast to the result [\(m),\(n)]")
            }
        }
        return TensorType(elementType: .float32, shape: [m, n])
    }

    func matMul() throws -> TensorType {
        try expectOperands(2...2, "2 operands")
        try expectFloat(0, "A")
        try expectFloat(1, "B")
        var a = operands[0].shape, b = operands[1].shape
        guard !a.isEmpty, !b.isEmpty else { throw mismatch("operands must have rank ≥ 1 but are \(operands[0]) and \(operands[1])") }
        let promotedA = a.count == 1, promotedB = b.count == 1
        if promotedA { a = [1] + a }
        if promotedB { b = b + [1] }
        guard a[a.count - 1] == b[b.count - 2] else {
            throw mismatch("inner dimensions differ: A \(operands[0].shape) has K=\(a[a.count - 1]) and B \(operands[1].shape) has K=\(b[b.count - 2])")
        }
        guard let batch = ShapeInference.broadcast(Array(a.dropLast(2)), Array(b.dropLast(2))) else {
            throw mismatch("batch dimensions \(Array(a.dropLast(2))) and \(Array(b.dropLast(2))) are not broadcastable")
        }
        var shape = batch
        if !promotedA { shape.append(a[a.count - 2]) }
        if !promotedB { shape.append(b[b.count - 1]) }
        return TensorType(elementType: .float32, shape: shape)
    }

    func linear() throws -> TensorType {
        try expectOperands(2...3, "2 or 3 operands (x, weight, optional bias)")
        try expectFloat(0, "input")
        try expectFloat(1, "weight")
        let x = operands[0].shape, w = operands[1].shape
        guard !x.isEmpty else { throw mismatch("input must have rank ≥ 1 but is \(operands[0])") }
        guard w.count == 2 else { throw mismatch("weight must be [N, K] (rank 2) but is \(operands[1])") }
        guard x[x.count - 1] == w[1] else {
            throw mismatch("input's last dimension \(x[x.count - 1]) differs from the weight's K=\(w[1]) (weight is [N, K])")
        }
        if operands.count == 3 {
            try expectFloat(2, "bias")
            try expectVector(2, length: w[0], "bias (one per output feature)")
        }
        return TensorType(elementType: .float32, shape: Array(x.dropLast()) + [w[0]])
    }

    func reshape(allowZero: Bool) throws -> TensorType {
        try expectOperands(2...2, "2 operands (data, shape)")
        let data = operands[0]
        guard operands[1].elementType == .int64, operands[1].shape.count == 1 else {
            throw mismatch("shape operand must be a 1-D i64 tensor but is \(operands[1])")
        }
        guard constants.count > 1, let shapeTensor = constants[1] else {
            throw invalid("shape operand must be a constant (dynamic reshape targets are not supported); fold the shape computation before import")
        }
        let requested = shapeTensor.int64s.map { Int($0) }
        var result: [Int] = []
        var inferred: Int? = nil
        for (index, dimension) in requested.enumerated() {
            switch dimension {
            case -1:
                guard inferred == nil else { throw mismatch("shape \(requested) has more than one -1") }
                inferred = index
                result.append(1)
            case 0 where !allowZero:
                guard index < data.shape.count else {
                    throw mismatch("shape \(requested) copies dimension \(index) (0) but the input \(data) has rank \(data.shape.count)")
                }
                result.append(data.shape[index])
            default:
                guard dimension >= 0 else { throw mismatch("shape \(requested) has invalid dimension \(dimension)") }
                result.append(dimension)
            }
        }
        if allowZero, inferred != nil, requested.contains(0) {
            throw mismatch("shape \(requested) has both -1 and 0 with allowzero=1, so -1 cannot be inferred")
        }
        let total = data.count
        if let inferred {
            let known = result.reduce(1, *)
            guard known > 0, total % known == 0 else {
                throw mismatch("cannot infer -1 in \(requested): \(total) elements of \(data) are not a multiple of \(known)")
            }
            result[inferred] = total / known
        }
        guard result.reduce(1, *) == total else {
            throw mismatch("shape \(requested) has \(result.reduce(1, *)) elements but the input \(data) has \(total)")
        }
        return TensorType(elementType: data.elementType, shape: result)
    }

    func concat(axis: Int) throws -> TensorType {
        guard !operands.isEmpty else { throw invalid("expects at least 1 operand but has 0") }
        let first = operands[0]
        let rank = first.shape.count
        guard rank >= 1 else { throw mismatch("operands must have rank ≥ 1 but operand 0 is \(first)") }
        guard axis >= -rank, axis < rank else { throw invalid("axis \(axis) is outside [-\(rank), \(rank - 1)] for operands of rank \(rank)") }
        let resolved = axis < 0 ? axis + rank : axis
        var result = first.shape
        for (index, operand) in operands.enumerated().dropFirst() {
            guard operand.elementType == first.elementType else {
                throw mismatch("operand \(index) is \(operand) but operand 0 is \(first); element types must agree")
            }
            guard operand.shape.count == rank else {
                throw mismatch("operand \(index) has rank \(operand.shape.count) but operand 0 has rank \(rank)")
            }
            for dimension in 0..<rank where dimension != resolved && operand.shape[dimension] != first.shape[dimension] {
                throw mismatch("operand \(index) \(operand.shape) differs from operand 0 \(first.shape) on axis \(dimension), which is not the concat axis \(resolved)")
            }
            result[resolved] += operand.shape[resolved]
        }
        return TensorType(elementType: first.elementType, shape: result)
    }
}
