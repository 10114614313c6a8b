#if canImport(Darwin)
import Darwin
#elseif canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Small plaintext kernels that evaluate an operation on constant operands at compile time.
/// They cover the shape-preserving and shape-moving operations; windowed and contracting
/// operations (conv, pooling, gemm, matmul, linear) are left to the executor at run time.
enum FoldingKernels {
    /// The value of `operation` applied to `operands`, or `nil` when this operation is not folded.
    /// `resultType` is the already inferred type of the result.
    static func evaluate(_ operation: Operation, _ operands: [Tensor], resultType: TensorType) -> Tensor? {
        switch operation {
        case .identity, .dropout:
            return operands[0]
        case .reshape, .flatten:
            var result = operands[0]
            result.shape = resultType.shape
            return result
        case .add: return elementwise(operands[0], operands[1], resultType.shape, { $0 + $1 }, { $0 &+ $1 })
        case .sub: return elementwise(operands[0], operands[1], resultType.shape, { $0 - $1 }, { $0 &- $1 })
        case .mul: return elementwise(operands[0], operands[1], resultType.shape, { $0 * $1 }, { $0 &* $1 })
        case .relu:
            return floatMap(operands[0]) { max($0, 0) }
        case .clip(let low, let high):
            return floatMap(operands[0]) { value in
                var result = value
                if let low, result < low { result = low }
                if let high, result > high { result = high }
                return result
            }
        case .sigmoid:
            return floatMap(operands[0]) { Float(1 / (1 + exp(-Double($0)))) }
        case .affine:
            return perChannel(operands[0]) { channel, value in
                value * operands[1].floats[channel] + operands[2].floats[channel]
            }
        case .batchNormalization(let epsilon):
            let scale = operands[1].floats, bias = operands[2].floats, mean = operands[3].floats, variance = operands[4].floats
            return perChannel(operands[0]) { channel, value in
                let factor = Double(scale[channel]) / (Double(variance[channel]) + Double(epsilon)).squareRoot()
                return Float((Double(value) - Double(mean[channel])) * factor + Double(bias[channel]))
            }
        case .concat:
            return concat(operands, resultType: resultType)
        case .pad(let pads, let value):
            return pad(operands[0], pads: pads, value: value, resultShape: resultType.shape)
        case .input, .constant, .conv, .maxPool, .averagePool, .globalAveragePool, .gemm, .matMul, .linear:
            return nil
        }
    }

    /// Row-major strides of `shape`.
    static func strides(_ shape: [Int]) -> [Int] {
        var result = [Int](repeating: 1, count: shape.count)
        var running = 1
        for axis in shape.indices.reversed() {
            result[axis] = running
            running *= shape[axis]
        }
        return result
    }

    /// For each element of `outputShape` (row-major), the index of the element of `shape` that
    /// numpy broadcasting reads.
    static func broadcastIndices(from shape: [Int], to outputShape: [Int]) -> [Int] {
        let rank = outputShape.count
        let padded = [Int](repeating: 1, count: rank - shape.count) + shape
        let sourceStrides = strides(padded).enumerated().map { padded[$0.offset] == 1 ? 0 : $0.element }
        let total = outputShape.reduce(1, *)
        var indices = [Int](repeating: 0, count: total)
        var counter = [Int](repeating: 0, count: rank)
        var source = 0
        for flat in 0..<total {
            indices[flat] = source
            var axis = rank - 1
            while axis >= 0 {
                counter[axis] += 1
                source += sourceStrides[axis]
                if counter[axis] < outputShape[axis] { break }
                source -= sourceStrides[axis] * counter[axis]
                counter[axis] = 0
                axis -= 1
            }
        }
        return indices
    }

    static func elementwise(_ lhs: Tensor, _ rhs: Tensor, _ shape: [Int],
                            _ floatOp: (Float, Float) -> Float, _ intOp: (Int64, Int64) -> Int64) -> Tensor {
        let left = broadcastIndices(from: lhs.shape, to: shape)
        let right = broadcastIndices(from: rhs.shape, to: shape)
        switch (lhs.storage, rhs.storage) {
        case (.int64(let a), .int64(let b)):
            return Tensor(shape: shape, int64s: left.indices.map { intOp(a[left[$0]], b[right[$0]]) })
        default:
            let a = lhs.floats, b = rhs.floats
            return Tensor(shape: shape, floats: left.indices.map { floatOp(a[left[$0]], b[right[$0]]) })
        }
    }

    static func floatMap(_ tensor: Tensor, _ transform: (Float) -> Float) -> Tensor? {
        guard case .float32(let values) = tensor.storage else { return nil }
        return Tensor(shape: tensor.shape, floats: values.map(transform))
    }

    /// Applies `transform(channel, value)` with the channel on axis 1.
    static func perChannel(_ tensor: Tensor, _ transform: (Int, Float) -> Float) -> Tensor? {
        guard case .float32(let values) = tensor.storage, tensor.rank >= 2 else { return nil }
        let channels = tensor.shape[1]
        let inner = tensor.shape[2...].reduce(1, *)
        var result = values
        for index in result.indices {
            result[index] = transform((index / inner) % channels, values[index])
        }
        return Tensor(shape: tensor.shape, floats: result)
    }

    static func concat(_ operands: [Tensor], resultType: TensorType) -> Tensor? {
        let rank = resultType.shape.count
        // The axis is where the result differs from operand 0, or any axis when all operands agree.
        let axis = (0..<rank).first { resultType.shape[$0] != operands[0].shape[$0] } ?? 0
        let outer = resultType.shape[0..<axis].reduce(1, *)
        let chunks = operands.map { $0.shape[axis...].reduce(1, *) }
        switch resultType.elementType {
        case .int64:
            let sources = operands.map(\.int64s)
            var result: [Int64] = []
            result.reserveCapacity(resultType.count)
            for block in 0..<outer {
                for (source, chunk) in zip(sources, chunks) { result += source[(block * chunk)..<((block + 1) * chunk)] }
            }
            return Tensor(shape: resultType.shape, int64s: result)
        case .float32:
            let sources = operands.map(\.floats)
            var result: [Float] = []
            result.reserveCapacity(resultType.count)
            for block in 0..<outer {
                for (source, chunk) in zip(sources, chunks) { result += source[(block * chunk)..<((block + 1) * chunk)] }
            }
            return Tensor(shape: resultType.shape, floats: result)
        }
    }

    static func pad(_ tensor: Tensor, pads: [Int], value: Float, resultShape: [Int]) -> Tensor? {
        guard case .float32(let values) = tensor.storage else { return nil }
        let rank = tensor.rank
        let inputStrides = strides(tensor.shape)
        let total = resultShape.reduce(1, *)
        var result = [Float](repeating: value, count: total)
        var counter = [Int](repeating: 0, count: rank)
        for flat in 0..<total {
            var source = 0
            var inside = true
            for axis in 0..<rank {
                let position = counter[axis] - pads[axis]
                if position < 0 || position >= tensor.shape[axis] { inside = false; break }
                source += position * inputStrides[axis]
            }
            if inside { result[flat] = values[source] }
            var axis = rank - 1
            while axis >= 0 {
                counter[axis] += 1
                if counter[axis] < resultShape[axis] { break }
                counter[axis] = 0
                axis -= 1
            }
        }
        return Tensor(shape: resultShape, floats: result)
    }
}
