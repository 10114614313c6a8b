/// MaxPool, AveragePool and GlobalAveragePool over NCHW tensors.
extension ReferenceExecutor {
    static func maxPool(_ step: Step, _ attributes: PoolAttributes) throws -> Tensor {
        try pool(step, attributes) { input, planes, geometry, output in
            PoolingKernel.maxPool(input: input, planes: planes, geometry: geometry, output: output, threads: step.threads)
        }
    }

    static func averagePool(_ step: Step, _ attributes: PoolAttributes) throws -> Tensor {
        try pool(step, attributes) { input, planes, geometry, output in
            PoolingKernel.averagePool(input: input, planes: planes, geometry: geometry,
                                      countIncludePad: attributes.countIncludePad, output: output, threads: step.threads)
        }
    }

    private static func pool(_ step: Step, _ attributes: PoolAttributes,
                             _ kernel: (UnsafePointer<Float>, Int, PoolingGeometry, UnsafeMutablePointer<Float>) -> Void) throws -> Tensor {
        try step.expectOperands(1...1)
        let x = step.operands[0]
        let geometry = try poolGeometry(step, attributes, input: x.shape)
        let input = try step.floats(0, "input")
        let planes = x.shape[0] * x.shape[1]
        let shape = [x.shape[0], x.shape[1], geometry.outputHeight, geometry.outputWidth]
        let count = shape.reduce(1, *)
        let values = [Float](unsafeUninitializedCapacity: count) { output, initialized in
            input.withUnsafeBufferPointer { input in
                if count > 0 { kernel(input.baseAddress!, planes, geometry, output.baseAddress!) }
            }
            initialized = count
        }
        return Tensor(shape: shape, floats: values)
    }

    /// Checks a pooling window's attributes against the input and derives the output size (ceil mode included).
    private static func poolGeometry(_ step: Step, _ a: PoolAttributes, input: [Int]) throws -> PoolingGeometry {
        guard input.count == 4 else { throw step.mismatch("input must be NCHW (rank 4) but has shape \(input)") }
        guard a.kernel.count == 2, a.strides.count == 2, a.dilations.count == 2, a.pads.count == 4,
              a.kernel.allSatisfy({ $0 > 0 }), a.strides.allSatisfy({ $0 > 0 }), a.dilations.allSatisfy({ $0 > 0 }),
              a.pads.allSatisfy({ $0 >= 0 }) else {
            throw step.invalid("needs a 2-D kernel, 2 positive strides and dilations and 4 non-negative pads; got kernel \(a.kernel), strides \(a.strides), dilations \(a.dilations), pads \(a.pads)")
        }
        let outputHeight = try windowLength(step, input: input[2], kernel: a.kernel[0], stride: a.strides[0],
                                            dilation: a.dilations[0], padBegin: a.pads[0], padEnd: a.pads[2], ceilMode: a.ceilMode)
        let outputWidth = try windowLength(step, input: input[3], kernel: a.kernel[1], stride: a.strides[1],
                                           dilation: a.dilations[1], padBegin: a.pads[1], padEnd: a.pads[3], ceilMode: a.ceilMode)
        return PoolingGeometry(
            height: input[2], width: input[3], kernelHeight: a.kernel[0], kernelWidth: a.kernel[1],
            strideHeight: a.strides[0], strideWidth: a.strides[1], dilationHeight: a.dilations[0],
            dilationWidth: a.dilations[1], padTop: a.pads[0], padLeft: a.pads[1], padBottom: a.pads[2],
            padRight: a.pads[3], outputHeight: outputHeight, outputWidth: outputWidth)
    }

    /// Mean over every axis after the channel axis; the output keeps them as 1s.
    static func globalAveragePool(_ step: Step) throws -> Tensor {
        try step.expectOperands(1...1)
        let x = step.operands[0]
        guard x.rank >= 3 else { throw step.mismatch("input must be [N, C, spatial...] but has shape \(x.shape)") }
        let input = try step.floats(0, "input")
        let planes = x.shape[0] * x.shape[1]
        let planeSize = x.shape.dropFirst(2).reduce(1, *)
        var values = [Float](repeating: 0, count: planes)
        input.withUnsafeBufferPointer { input in
            for plane in 0..<planes where planeSize > 0 {
                var sum = 0.0
                for index in (plane * planeSize)..<((plane + 1) * planeSize) { sum += Double(input[index]) }
                values[plane] = Float(sum / Double(planeSize))
            }
        }
        return Tensor(shape: [x.shape[0], x.shape[1]] + [Int](repeating: 1, count: x.rank - 2), floats: values)
    }
}
