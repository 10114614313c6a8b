import CipherIR
import TensorIR

/// Layout-changing ops of the spatial layout that gather elements from several packed tensors (pad, concat, aligning
/// an operand to another's packing): each source is one permutation-like diagonal transform (BSGS, one level) into
/// the output packing, summed; constant elements are added as one plaintext per output ciphertext.
enum SpatialAssembly {
    struct Part {
        var tensor: PackedTensor
        /// For each output element, the source element of `tensor` it copies (nil: not from this part).
        var sourceOf: [Int?]
        /// Per-output-element factor (nil: 1).
        var weights: [Double]? = nil
    }

    /// The packing of a new tensor: dense channel-major for [1, C, H, W], contiguous otherwise.
    static func outputPositions(shape: [Int], slots: Int) -> [Int] {
        if shape.count == 4, shape[0] == 1 {
            return SpatialLayout.dense(channels: shape[1], height: shape[2], width: shape[3], slots: slots).positions()
        }
        return Array(0..<shape.reduce(1, *))
    }

    static func assemble(shape: [Int], positions: [Int]? = nil, parts: [Part], constants: [Double?], context: LoweringContext,
                         node: Node) throws -> PackedTensor {
        let slots = context.slots
        let outputPositions = positions ?? outputPositions(shape: shape, slots: slots)
        let ciphertexts = max(1, (outputPositions.max() ?? 0) / slots + 1)
        var sums = [[ValueID]](repeating: [], count: ciphertexts)
        for part in parts where part.sourceOf.contains(where: { $0 != nil }) {
            let inputPositions = part.tensor.flatPositions()
            var builder = DiagonalTransformBuilder(slots: slots, inputCiphertexts: part.tensor.values.count, outputCiphertexts: ciphertexts)
            for (element, source) in part.sourceOf.enumerated() {
                guard let source else { continue }
                let weight = part.weights?[element] ?? 1
                if weight != 0 {
                    builder.accumulate(outputPosition: outputPositions[element], inputPosition: inputPositions[source], value: weight)
                }
            }
            let values = builder.finish().lower(inputs: part.tensor.values, context: context)
            for (index, value) in values.enumerated() { sums[index].append(value) }
        }
        var plain = [[Double]](repeating: [Double](repeating: 0, count: slots), count: ciphertexts)
        var hasPlain = [Bool](repeating: false, count: ciphertexts)
        for (element, constant) in constants.enumerated() {
            guard let constant, constant != 0 else { continue }
            let position = outputPositions[element]
            plain[position / slots][position % slots] = constant
            hasPlain[position / slots] = true
        }
        var anchor: ValueID? = sums.lazy.compactMap(\.first).first
        var values: [ValueID] = []
        for index in 0..<ciphertexts {
            var value = context.sum(sums[index])
            if hasPlain[index] {
                if value == nil {
                    guard let a = anchor else {
                        throw CompilerError.unsupportedOperation(node: node.name, operation: node.operation.mnemonic, layout: "spatial",
                                                                 hint: "its output does not depend on the encrypted input")
                    }
                    value = context.mulConst(a, 0)
                }
                value = context.addPlain(value!, plain[index])
            }
            guard let result = value ?? anchor.map({ context.mulConst($0, 0) }) else {
                throw CompilerError.unsupportedOperation(node: node.name, operation: node.operation.mnemonic, layout: "spatial",
                                                         hint: "its output does not depend on the encrypted input")
            }
            if anchor == nil { anchor = result }
            values.append(result)
        }
        return PackedTensor(shape: shape, values: values, layout: .explicit(outputPositions.map { Int32($0) }), slots: slots)
    }

    /// Multi-index of flat `index` in `shape` (row-major).
    static func multiIndex(_ index: Int, _ shape: [Int]) -> [Int] {
        var remainder = index
        var result = [Int](repeating: 0, count: shape.count)
        for d in stride(from: shape.count - 1, through: 0, by: -1) {
            result[d] = remainder % shape[d]
            remainder /= shape[d]
        }
        return result
    }

    static func flatIndex(_ index: [Int], _ shape: [Int]) -> Int {
        var flat = 0
        for d in 0..<shape.count { flat = flat * shape[d] + index[d] }
        return flat
    }

    static func pad(_ node: Node, _ x: PackedTensor, pads: [Int], value: Float, shape: [Int], context: LoweringContext) throws -> PackedTensor {
        let rank = x.shape.count
        guard pads.count == 2 * rank, pads.allSatisfy({ $0 >= 0 }) else {
            throw CompilerError.unsupportedOperation(node: node.name, operation: "pad", layout: "spatial", hint: "needs non-negative pads for every axis")
        }
        let count = shape.reduce(1, *)
        var sourceOf = [Int?](repeating: nil, count: count)
        var constants = [Double?](repeating: nil, count: count)
        for element in 0..<count {
            let o = multiIndex(element, shape)
            let i = (0..<rank).map { o[$0] - pads[$0] }
            if (0..<rank).allSatisfy({ i[$0] >= 0 && i[$0] < x.shape[$0] }) {
                sourceOf[element] = flatIndex(i, x.shape)
            } else {
                constants[element] = Double(value)
            }
        }
        return try assemble(shape: shape, parts: [Part(tensor: x, sourceOf: sourceOf)], constants: constants, context: context, node: node)
    }

    static func concat(_ node: Node, _ operands: [LoweredValue], axis: Int, shape: [Int], context: LoweringContext) throws -> PackedTensor {
        let rank = shape.count
        let ax = axis < 0 ? axis + rank : axis
        let count = shape.reduce(1, *)
        var offsets: [Int] = []
        var total = 0
        for operand in operands {
            offsets.append(total)
            switch operand {
            case .packed(let t): total += t.shape[ax]
            case .plain(let t): total += t.shape[ax]
            }
        }
        var parts: [Part] = []
        var partOfOperand: [Int: Int] = [:]
        for (index, operand) in operands.enumerated() {
            if case .packed(let t) = operand {
                partOfOperand[index] = parts.count
                parts.append(Part(tensor: t, sourceOf: [Int?](repeating: nil, count: count)))
            }
        }
        var constants = [Double?](repeating: nil, count: count)
        for element in 0..<count {
            var o = multiIndex(element, shape)
            let which = (offsets.lastIndex { $0 <= o[ax] }) ?? 0
            o[ax] -= offsets[which]
            switch operands[which] {
            case .packed(let t): parts[partOfOperand[which]!].sourceOf[element] = flatIndex(o, t.shape)
            case .plain(let t): constants[element] = Double(t.floats[flatIndex(o, t.shape)])
            }
        }
        return try assemble(shape: shape, parts: parts, constants: constants, context: context, node: node)
    }

    /// `x` broadcast (numpy rules) to `shape` and packed at `positions`.
    static func broadcast(_ node: Node, _ x: PackedTensor, to shape: [Int], positions: [Int], context: LoweringContext) throws -> PackedTensor {
        let rank = shape.count
        let padded = [Int](repeating: 1, count: rank - x.shape.count) + x.shape
        let count = shape.reduce(1, *)
        let sourceOf: [Int?] = (0..<count).map { element in
            let o = multiIndex(element, shape)
            return flatIndex((0..<rank).map { padded[$0] == 1 ? 0 : o[$0] }, padded)
        }
        return try assemble(shape: shape, positions: positions, parts: [Part(tensor: x, sourceOf: sourceOf)], constants: [],
                            context: context, node: node)
    }

    /// add/sub/mul whose output is larger than an encrypted operand (numpy broadcasting that expands it): one
    /// transform per encrypted operand (weights carry a constant factor or the sign of a subtraction) plus the
    /// constant terms.
    static func expandingElementwise(_ node: Node, _ operands: [LoweredValue], shape: [Int], context: LoweringContext) throws -> PackedTensor {
        let rank = shape.count
        let count = shape.reduce(1, *)
        func source(_ operandShape: [Int]) -> [Int] {
            let padded = [Int](repeating: 1, count: rank - operandShape.count) + operandShape
            return (0..<count).map { element in
                let o = multiIndex(element, shape)
                return flatIndex((0..<rank).map { padded[$0] == 1 ? 0 : o[$0] }, padded)
            }
        }
        let unsupported = CompilerError.unsupportedOperation(node: node.name, operation: node.operation.mnemonic, layout: "spatial",
                                                             hint: "needs two operands, at least one encrypted")
        guard operands.count == 2 else { throw unsupported }
        var parts: [Part] = []
        var constants = [Double?](repeating: nil, count: count)
        let sign: [Double] = node.operation == .sub ? [1, -1] : [1, 1]
        switch (operands[0], operands[1]) {
        case (.packed(let a), .packed(let b)):
            guard node.operation != .mul else { throw unsupported }
            parts.append(Part(tensor: a, sourceOf: source(a.shape), weights: nil))
            parts.append(Part(tensor: b, sourceOf: source(b.shape), weights: sign[1] == 1 ? nil : [Double](repeating: -1, count: count)))
        case (.packed(let x), .plain(let c)), (.plain(let c), .packed(let x)):
            let cipherFirst: Bool
            if case .packed = operands[0] { cipherFirst = true } else { cipherFirst = false }
            let values = c.floats.map(Double.init)
            let constantSource = source(c.shape)
            let constantAt = constantSource.map { values[$0] }
            switch node.operation {
            case .mul:
                parts.append(Part(tensor: x, sourceOf: source(x.shape), weights: constantAt))
            default:
                let xSign = cipherFirst ? sign[0] : sign[1]
                let cSign = cipherFirst ? sign[1] : sign[0]
                parts.append(Part(tensor: x, sourceOf: source(x.shape), weights: xSign == 1 ? nil : [Double](repeating: -1, count: count)))
                for element in 0..<count { constants[element] = cSign * constantAt[element] }
            }
        case (.plain, .plain):
            throw unsupported
        }
        return try assemble(shape: shape, parts: parts, constants: constants, context: context, node: node)
    }

    /// `x` repacked at `positions` (another tensor's packing of the same shape).
    static func align(_ node: Node, _ x: PackedTensor, to target: PackedTensor, context: LoweringContext) throws -> PackedTensor {
        let count = x.elementCount
        return try assemble(shape: x.shape, positions: target.flatPositions(),
                            parts: [Part(tensor: x, sourceOf: (0..<count).map { $0 })], constants: [], context: context, node: node)
    }
}
