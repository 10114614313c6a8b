import Foundation

/// Elementwise and per-channel operations.
extension ReferenceExecutor {
    /// add / sub / mul with numpy broadcasting; int64 when both operands are int64, float32 otherwise.
    static func binary(_ step: Step, _ floatOperation: (Float, Float) -> Float,
                       _ integerOperation: (Int64, Int64) -> Int64) throws -> Tensor {
        try step.expectOperands(2...2)
        let lhs = step.operands[0], rhs = step.operands[1]
        let shape = try binaryShape(step, lhs.shape, rhs.shape)
        if case .int64(let a) = lhs.storage, case .int64(let b) = rhs.storage {
            return Tensor(shape: shape, int64s: BroadcastKernel.apply(a, lhs.shape, b, rhs.shape, shape: shape, integerOperation))
        }
        return Tensor(shape: shape, floats: BroadcastKernel.apply(lhs.floats, lhs.shape, rhs.floats, rhs.shape, shape: shape, floatOperation))
    }

    private static func binaryShape(_ step: Step, _ lhs: [Int], _ rhs: [Int]) throws -> [Int] {
        guard let shape = BroadcastKernel.shape(lhs, rhs) else {
            throw step.mismatch("shapes \(lhs) and \(rhs) do not broadcast (aligned from the right, each pair of dimensions must be equal or 1)")
        }
        return shape
    }

    static func relu(_ step: Step) throws -> Tensor {
        try unary(step) { $0 > 0 || $0.isNaN ? $0 : 0 }
    }

    static func clip(_ step: Step, minimum: Float?, maximum: Float?) throws -> Tensor {
        let low = minimum ?? -.infinity, high = maximum ?? .infinity
        return try unary(step) { value in
            if value < low { return low }
            if value > high { return high }
            return value
        }
    }

    static func sigmoid(_ step: Step) throws -> Tensor {
        try unary(step) { Float(1 / (1 + exp(-Double($0)))) }
    }

    private static func unary(_ step: Step, _ operation: (Float) -> Float) throws -> Tensor {
        try step.expectOperands(1...1)
        let input = try step.floats(0, "input")
        return Tensor(shape: step.operands[0].shape, floats: input.map(operation))
    }

    /// y = (x − mean)/√(var + ε)·scale + bias per channel (axis 1), as one Double multiply-add.
    static func batchNormalization(_ step: Step, epsilon: Float) throws -> Tensor {
        try step.expectOperands(5...5)
        let channels = try channelCount(step)
        let scale = try step.channelVector(1, "scale", channels: channels)
        let bias = try step.channelVector(2, "bias", channels: channels)
        let mean = try step.channelVector(3, "mean", channels: channels)
        let variance = try step.channelVector(4, "variance", channels: channels)
        var multiplier = [Double](repeating: 0, count: channels)
        var shift = [Double](repeating: 0, count: channels)
        for channel in 0..<channels {
            multiplier[channel] = scale[channel] / (variance[channel] + Double(epsilon)).squareRoot()
            shift[channel] = bias[channel] - mean[channel] * multiplier[channel]
        }
        return try perChannel(step, multiplier: multiplier, shift: shift)
    }

    /// y = x·scale + shift per channel (axis 1).
    static func affine(_ step: Step) throws -> Tensor {
        try step.expectOperands(3...3)
        let channels = try channelCount(step)
        return try perChannel(step, multiplier: try step.channelVector(1, "scale", channels: channels),
                              shift: try step.channelVector(2, "shift", channels: channels))
    }

    private static func channelCount(_ step: Step) throws -> Int {
        let shape = step.operands[0].shape
        guard shape.count >= 2 else { throw step.mismatch("input must have a channel axis 1 but has shape \(shape)") }
        return shape[1]
    }

    private static func perChannel(_ step: Step, multiplier: [Double], shift: [Double]) throws -> Tensor {
        let x = step.operands[0]
        let input = try step.floats(0, "input")
        let channels = x.shape[1]
        let inner = x.shape.dropFirst(2).reduce(1, *)
        let count = input.count
        let values = [Float](unsafeUninitializedCapacity: count) { output, initialized in
            input.withUnsafeBufferPointer { input in
                var index = 0
                for _ in 0..<x.shape[0] {
                    for channel in 0..<channels {
                        let a = multiplier[channel], b = shift[channel]
                        for _ in 0..<inner {
                            output[index] = Float(Double(input[index]) * a + b)
                            index += 1
                        }
                    }
                }
            }
            initialized = count
        }
        return Tensor(shape: x.shape, floats: values)
    }
}
