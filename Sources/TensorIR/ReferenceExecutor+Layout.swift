/// Operations that move elements without arithmetic: flatten, reshape, pad, concat.
extension ReferenceExecutor {
    static func flatten(_ step: Step, axis: Int) throws -> Tensor {
        try step.expectOperands(1...1)
        var tensor = step.operands[0]
        tensor.shape = try flattenShape(step, tensor.shape, axis: axis)
        return tensor
    }

    private static func flattenShape(_ step: Step, _ shape: [Int], axis: Int) throws -> [Int] {
        let resolved = axis < 0 ? axis + shape.count : axis
        guard resolved >= 0 && resolved <= shape.count else {
            throw step.invalid("axis \(axis) is outside [-\(shape.count), \(shape.count)] for shape \(shape)")
        }
        return [shape[..<resolved].reduce(1, *), shape[resolved...].reduce(1, *)]
    }

    static func reshape(_ step: Step, allowZero: Bool) throws -> Tensor {
        try step.expectOperands(2...2)
        var tensor = step.operands[0]
        tensor.shape = try reshapeShape(step, tensor.shape, target: step.operands[1], allowZero: allowZero)
        return tensor
    }

    /// ONNX Reshape: 0 copies the input dimension at the same index (unless allowZero), one −1 is inferred.
    private static func reshapeShape(_ step: Step, _ input: [Int], target: Tensor, allowZero: Bool) throws -> [Int] {
        guard target.elementType == .int64, target.rank == 1 else {
            throw step.mismatch("the shape operand must be a 1-D int64 tensor but is \(target.type)")
        }
        var shape = target.int64s.map { Int($0) }
        var inferred: Int? = nil
        for (index, dimension) in shape.enumerated() {
            switch dimension {
            case 0 where !allowZero:
                guard index < input.count else {
                    throw step.mismatch("target \(shape) copies dimension \(index) (0) but the input \(input) has rank \(input.count)")
                }
                shape[index] = input[index]
            case -1:
                guard inferred == nil else { throw step.mismatch("target \(shape) has more than one -1") }
                inferred = index
            case let value where value < -1:
                throw step.mismatch("target \(shape) has the negative dimension \(value)")
            default:
                break
            }
        }
        let count = input.reduce(1, *)
        if let inferred {
            let known = shape.enumerated().filter { $0.offset != inferred }.reduce(1) { $0 * $1.element }
            guard known > 0, count % known == 0 else {
                throw step.mismatch("cannot infer the -1 in \(shape): \(count) elements are not a multiple of \(known)")
            }
            shape[inferred] = count / known
        }
        guard shape.reduce(1, *) == count else {
            throw step.mismatch("cannot reshape \(input) (\(count) elements) to \(shape)")
        }
        return shape
    }

    /// Constant padding; a negative pad removes elements from that side.
    static func pad(_ step: Step, pads: [Int], value: Float) throws -> Tensor {
        try step.expectOperands(1...1)
        let x = step.operands[0]
        let shape = try padShape(step, x.shape, pads: pads)
        let begins = Array(pads[..<x.rank])
        switch x.storage {
        case .float32(let values):
            return Tensor(shape: shape, floats: padded(values, from: x.shape, to: shape, begins: begins, fill: value))
        case .int64(let values):
            return Tensor(shape: shape, int64s: padded(values, from: x.shape, to: shape, begins: begins, fill: Int64(value)))
        }
    }

    private static func padShape(_ step: Step, _ input: [Int], pads: [Int]) throws -> [Int] {
        guard pads.count == 2 * input.count else {
            throw step.invalid("has \(pads.count) pads but a rank-\(input.count) input needs \(2 * input.count)")
        }
        let shape = input.indices.map { input[$0] + pads[$0] + pads[$0 + input.count] }
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw step.mismatch("pads \(pads) crop more than the input \(input) holds")
        }
        return shape
    }

    /// Output element at index o reads input index o − begin along every axis, or `fill` outside the input.
    private static func padded<Element>(_ input: [Element], from inputShape: [Int], to shape: [Int], begins: [Int],
                                        fill: Element) -> [Element] {
        let count = shape.reduce(1, *)
        var output = [Element](repeating: fill, count: count)
        let rank = shape.count
        if count == 0 || inputShape.contains(0) { return output }
        if rank == 0 { return input }
        let inner = shape[rank - 1], inputInner = inputShape[rank - 1]
        // The run of the last axis that comes from the input.
        let firstColumn = max(0, begins[rank - 1]), lastColumn = min(inner, begins[rank - 1] + inputInner)
        var inputStrides = [Int](repeating: 1, count: rank)
        for axis in stride(from: rank - 2, through: 0, by: -1) { inputStrides[axis] = inputStrides[axis + 1] * inputShape[axis + 1] }
        var index = [Int](repeating: 0, count: rank)
        output.withUnsafeMutableBufferPointer { output in
            input.withUnsafeBufferPointer { input in
                for row in 0..<(count / inner) {
                    var source = 0
                    var inside = true
                    for axis in 0..<(rank - 1) {
                        let position = index[axis] - begins[axis]
                        if position < 0 || position >= inputShape[axis] { inside = false; break }
                        source += position * inputStrides[axis]
                    }
                    if inside && firstColumn < lastColumn {
                        for column in firstColumn..<lastColumn {
                            output[row * inner + column] = input[source + column - begins[rank - 1]]
                        }
                    }
                    var axis = rank - 2
                    while axis >= 0 {
                        index[axis] += 1
                        if index[axis] < shape[axis] { break }
                        index[axis] = 0
                        axis -= 1
                    }
                }
            }
        }
        return output
    }

    static func concat(_ step: Step, axis: Int) throws -> Tensor {
        guard !step.operands.isEmpty else { throw step.invalid("expects at least 1 operand but has 0") }
        let (shape, resolved) = try concatShape(step, axis: axis)
        let outer = shape[..<resolved].reduce(1, *)
        let chunks = step.operands.map { $0.shape[resolved...].reduce(1, *) }
        if step.operands.allSatisfy({ $0.elementType == .int64 }) {
            return Tensor(shape: shape, int64s: concatenated(step.operands.map(\.int64s), chunks: chunks, outer: outer))
        }
        guard step.operands.allSatisfy({ $0.elementType == .float32 }) else {
            throw step.mismatch("operands mix element types: \(step.operands.map { $0.type.description })")
        }
        return Tensor(shape: shape, floats: concatenated(step.operands.map(\.floats), chunks: chunks, outer: outer))
    }

    private static func concatShape(_ step: Step, axis: Int) throws -> ([Int], Int) {
        let first = step.operands[0].shape
        let resolved = axis < 0 ? axis + first.count : axis
        guard resolved >= 0 && resolved < first.count else {
            throw step.invalid("axis \(axis) is outside [-\(first.count), \(first.count - 1)] for shape \(first)")
        }
        var shape = first
        shape[resolved] = 0
        for operand in step.operands {
            var other = operand.shape
            guard other.count == first.count else {
                throw step.mismatch("operands have different ranks: \(step.operands.map(\.shape))")
            }
            shape[resolved] += other[resolved]
            other[resolved] = first[resolved]
            guard other == first else {
                throw step.mismatch("operands differ outside axis \(resolved): \(step.operands.map(\.shape))")
            }
        }
        return (shape, resolved)
    }

    private static func concatenated<Element>(_ parts: [[Element]], chunks: [Int], outer: Int) -> [Element] {
        var output: [Element] = []
        output.reserveCapacity(chunks.reduce(0, +) * outer)
        for block in 0..<outer {
            for (part, chunk) in zip(parts, chunks) {
                output.append(contentsOf: part[(block * chunk)..<((block + 1) * chunk)])
            }
        }
        return output
    }
}
