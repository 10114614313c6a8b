/// Convolution, gemm, matmul and linear: every one a GEMM with Double accumulation.
extension ReferenceExecutor {
    static func conv(_ step: Step, _ attributes: ConvAttributes) throws -> Tensor {
        try step.expectOperands(2...3)
        let x = step.operands[0], w = step.operands[1]
        let geometry = try convGeometry(step, attributes, input: x.shape, weight: w.shape)
        let outputChannels = w.shape[0]
        let batch = x.shape[0]
        var bias: [Double]? = nil
        if step.operands.count == 3 {
            bias = try step.channelVector(2, "bias", channels: outputChannels)
        }
        let input = try step.floats(0, "input")
        let weights = try step.floats(1, "weight")
        let shape = [batch, outputChannels, geometry.outputHeight, geometry.outputWidth]
        let count = shape.reduce(1, *)
        let values = filledFloats(count) { output in
            input.withUnsafeBufferPointer { input in
                weights.withUnsafeBufferPointer { weights in
                    let run = { (bias: UnsafePointer<Double>?) in
                        ConvolutionKernel.convolve(input: input.baseAddress!, batch: batch, weights: weights.baseAddress!,
                                                   outputChannels: outputChannels, groups: attributes.group, bias: bias,
                                                   geometry: geometry, output: output, threads: step.threads)
                    }
                    if let bias { bias.withUnsafeBufferPointer { run($0.baseAddress!) } } else { run(nil) }
                }
            }
        }
        return Tensor(shape: shape, floats: values)
    }

    /// Checks a convolution's operands and attributes and derives its per-group geometry and output size.
    private static func convGeometry(_ step: Step, _ a: ConvAttributes, input: [Int], weight: [Int]) throws -> ConvolutionGeometry {
        guard input.count == 4 else { throw step.mismatch("input must be NCHW (rank 4) but has shape \(input)") }
        guard weight.count == 4 else { throw step.mismatch("weight must be [M, C/group, kH, kW] but has shape \(weight)") }
        guard a.strides.count == 2, a.dilations.count == 2, a.pads.count == 4, a.strides.allSatisfy({ $0 > 0 }),
              a.dilations.allSatisfy({ $0 > 0 }), a.pads.allSatisfy({ $0 >= 0 }) else {
            throw step.invalid("needs 2 positive strides, 2 positive dilations and 4 non-negative pads; got strides \(a.strides), dilations \(a.dilations), pads \(a.pads)")
        }
        guard a.group > 0, input[1] % a.group == 0, weight[0] % a.group == 0 else {
            throw step.mismatch("group \(a.group) must divide the input channels \(input[1]) and output channels \(weight[0])")
        }
        guard weight[1] * a.group == input[1] else {
            throw step.mismatch("weight has \(weight[1]) input channels per group but input has \(input[1]) channels in \(a.group) groups")
        }
        if !a.kernel.isEmpty && a.kernel != [weight[2], weight[3]] {
            throw step.mismatch("kernel_shape \(a.kernel) differs from the weight's spatial shape \([weight[2], weight[3]])")
        }
        let outputHeight = try windowLength(step, input: input[2], kernel: weight[2], stride: a.strides[0],
                                            dilation: a.dilations[0], padBegin: a.pads[0], padEnd: a.pads[2], ceilMode: false)
        let outputWidth = try windowLength(step, input: input[3], kernel: weight[3], stride: a.strides[1],
                                           dilation: a.dilations[1], padBegin: a.pads[1], padEnd: a.pads[3], ceilMode: false)
        return ConvolutionGeometry(
            channels: weight[1], height: input[2], width: input[3], kernelHeight: weight[2], kernelWidth: weight[3],
            strideHeight: a.strides[0], strideWidth: a.strides[1], dilationHeight: a.dilations[0],
            dilationWidth: a.dilations[1], padTop: a.pads[0], padLeft: a.pads[1],
            outputHeight: outputHeight, outputWidth: outputWidth)
    }

    /// Output length of a sliding window along one axis; with `ceilMode` the last window must start inside
    /// the input or its begin padding (ONNX / PyTorch rule).
    static func windowLength(_ step: Step, input: Int, kernel: Int, stride: Int, dilation: Int, padBegin: Int,
                             padEnd: Int, ceilMode: Bool) throws -> Int {
        let span = dilation * (kernel - 1) + 1
        let room = input + padBegin + padEnd - span
        guard kernel > 0, room >= 0 else {
            throw step.mismatch("window of \(kernel) taps (dilation \(dilation)) does not fit an axis of \(input) with pads \(padBegin)+\(padEnd)")
        }
        if !ceilMode { return room / stride + 1 }
        var length = (room + stride - 1) / stride + 1
        if (length - 1) * stride >= input + padBegin { length -= 1 }
        return length
    }

    static func gemm(_ step: Step, alpha: Float, beta: Float, transA: Bool, transB: Bool) throws -> Tensor {
        try step.expectOperands(2...3)
        let (rows, columns, depth) = try gemmShape(step, transA: transA, transB: transB)
        let a = try step.floats(0, "A"), b = try step.floats(1, "B")
        var addend: (values: [Double], rowStride: Int, columnStride: Int)? = nil
        if step.operands.count == 3 {
            let c = step.operands[2]
            guard c.rank <= 2, BroadcastKernel.shape(c.shape, [rows, columns]) == [rows, columns] else {
                throw step.mismatch("C of shape \(c.shape) does not broadcast to the result [\(rows), \(columns)]")
            }
            let strides = BroadcastKernel.strides(of: c.shape, broadcastTo: [rows, columns])
            addend = (try step.floats(2, "C").map { Double(beta) * Double($0) }, strides[0], strides[1])
        }
        let aView = (rowStride: transA ? 1 : depth, columnStride: transA ? rows : 1)
        let bView = (rowStride: transB ? 1 : columns, columnStride: transB ? depth : 1)
        let values = filledFloats(rows * columns) { output in
            a.withUnsafeBufferPointer { a in
                b.withUnsafeBufferPointer { b in
                    let run = { (bias: StridedDoubleMatrix?) in
                        GEMMKernel.multiply(StridedFloatMatrix(base: a.baseAddress!, rowStride: aView.rowStride, columnStride: aView.columnStride),
                                            StridedFloatMatrix(base: b.baseAddress!, rowStride: bView.rowStride, columnStride: bView.columnStride),
                                            rows: rows, columns: columns, depth: depth, alpha: Double(alpha), bias: bias,
                                            output: output, outputRowStride: columns, threads: step.threads)
                    }
                    if let addend {
                        addend.values.withUnsafeBufferPointer {
                            run(StridedDoubleMatrix(base: $0.baseAddress!, rowStride: addend.rowStride, columnStride: addend.columnStride))
                        }
                    } else {
                        run(nil)
                    }
                }
            }
        }
        return Tensor(shape: [rows, columns], floats: values)
    }

    /// (M, N, K) of alpha·A'·B' for 2-D A and B.
    private static func gemmShape(_ step: Step, transA: Bool, transB: Bool) throws -> (Int, Int, Int) {
        let a = step.operands[0].shape, b = step.operands[1].shape
        guard a.count == 2, b.count == 2 else { throw step.mismatch("A and B must be matrices but have shapes \(a) and \(b)") }
        let (rows, depth) = transA ? (a[1], a[0]) : (a[0], a[1])
        let (bDepth, columns) = transB ? (b[1], b[0]) : (b[0], b[1])
        guard depth == bDepth else {
            throw step.mismatch("inner dimensions differ: A' is [\(rows), \(depth)] and B' is [\(bDepth), \(columns)]")
        }
        return (rows, columns, depth)
    }

    static func matMul(_ step: Step) throws -> Tensor {
        try step.expectOperands(2...2)
        let shape = try matMulShape(step)
        let a = try step.floats(0, "A"), b = try step.floats(1, "B")
        let aShape = shape.a, bShape = shape.b
        let rows = aShape[aShape.count - 2], depth = aShape[aShape.count - 1], columns = bShape[bShape.count - 1]
        let batchShape = shape.batch
        let batches = batchShape.reduce(1, *)
        let aBatchStrides = BroadcastKernel.strides(of: Array(aShape.dropLast(2)), broadcastTo: batchShape)
        let bBatchStrides = BroadcastKernel.strides(of: Array(bShape.dropLast(2)), broadcastTo: batchShape)
        // When B has no batch of its own, A's batches are contiguous in batch order.
        let sharedB = bBatchStrides.allSatisfy { $0 == 0 }
        let count = batches * rows * columns
        let values = [Float](unsafeUninitializedCapacity: count) { output, initialized in
            a.withUnsafeBufferPointer { a in
                b.withUnsafeBufferPointer { b in
                    if count == 0 { return }
                    if sharedB {
                        // One right-hand matrix for every batch: stack the batches of A into one tall GEMM.
                        GEMMKernel.multiply(StridedFloatMatrix(base: a.baseAddress!, rowStride: depth, columnStride: 1),
                                            StridedFloatMatrix(base: b.baseAddress!, rowStride: columns, columnStride: 1),
                                            rows: batches * rows, columns: columns, depth: depth,
                                            output: output.baseAddress!, outputRowStride: columns, threads: step.threads)
                        return
                    }
                    var index = [Int](repeating: 0, count: batchShape.count)
                    for batch in 0..<batches {
                        var aOffset = 0, bOffset = 0
                        for axis in 0..<batchShape.count {
                            aOffset += index[axis] * aBatchStrides[axis]
                            bOffset += index[axis] * bBatchStrides[axis]
                        }
                        GEMMKernel.multiply(StridedFloatMatrix(base: a.baseAddress! + aOffset * rows * depth, rowStride: depth, columnStride: 1),
                                            StridedFloatMatrix(base: b.baseAddress! + bOffset * depth * columns, rowStride: columns, columnStride: 1),
                                            rows: rows, columns: columns, depth: depth,
                                            output: output.baseAddress! + batch * rows * columns, outputRowStride: columns,
                                            threads: step.threads)
                        var axis = batchShape.count - 1
                        while axis >= 0 {
                            index[axis] += 1
                            if index[axis] < batchShape[axis] { break }
                            index[axis] = 0
                            axis -= 1
                        }
                    }
                }
            }
            initialized = count
        }
        return Tensor(shape: shape.result, floats: values)
    }

    /// numpy matmul shapes: 1-D operands promoted to matrices, batch dimensions broadcast.
    private static func matMulShape(_ step: Step) throws -> (a: [Int], b: [Int], batch: [Int], result: [Int]) {
        let a = step.operands[0].shape, b = step.operands[1].shape
        guard !a.isEmpty, !b.isEmpty else { throw step.mismatch("operands must have rank ≥ 1 but have shapes \(a) and \(b)") }
        let aShape = a.count == 1 ? [1, a[0]] : a
        let bShape = b.count == 1 ? [b[0], 1] : b
        guard aShape[aShape.count - 1] == bShape[bShape.count - 2] else {
            throw step.mismatch("inner dimensions differ: \(a) × \(b)")
        }
        guard let batch = BroadcastKernel.shape(Array(aShape.dropLast(2)), Array(bShape.dropLast(2))) else {
            throw step.mismatch("batch dimensions of \(a) and \(b) do not broadcast")
        }
        var result = batch
        if a.count > 1 { result.append(aShape[aShape.count - 2]) }
        if b.count > 1 { result.append(bShape[bShape.count - 1]) }
        return (aShape, bShape, batch, result)
    }

    static func linear(_ step: Step) throws -> Tensor {
        try step.expectOperands(2...3)
        let x = step.operands[0], w = step.operands[1]
        guard x.rank >= 1, w.rank == 2, x.shape[x.rank - 1] == w.shape[1] else {
            throw step.mismatch("needs x[..., K] and weight[N, K] but has shapes \(x.shape) and \(w.shape)")
        }
        let depth = w.shape[1], columns = w.shape[0]
        let rows = depth == 0 ? x.shape.dropLast().reduce(1, *) : x.count / depth
        var bias: [Double]? = nil
        if step.operands.count == 3 { bias = try step.channelVector(2, "bias", channels: columns) }
        let input = try step.floats(0, "input"), weights = try step.floats(1, "weight")
        let values = filledFloats(rows * columns) { output in
            input.withUnsafeBufferPointer { input in
                weights.withUnsafeBufferPointer { weights in
                    let run = { (bias: StridedDoubleMatrix?) in
                        GEMMKernel.multiply(StridedFloatMatrix(base: input.baseAddress!, rowStride: depth, columnStride: 1),
                                            StridedFloatMatrix(base: weights.baseAddress!, rowStride: 1, columnStride: depth),
                                            rows: rows, columns: columns, depth: depth, bias: bias,
                                            output: output, outputRowStride: columns, threads: step.threads)
                    }
                    if let bias {
                        bias.withUnsafeBufferPointer { run(StridedDoubleMatrix(base: $0.baseAddress!, rowStride: 0, columnStride: 1)) }
                    } else {
                        run(nil)
                    }
                }
            }
        }
        return Tensor(shape: Array(x.shape.dropLast()) + [columns], floats: values)
    }

    /// `count` Floats written by `body` (not called when `count` is 0).
    private static func filledFloats(_ count: Int, _ body: (UnsafeMutablePointer<Float>) -> Void) -> [Float] {
        return [Float](unsafeUninitializedCapacity: count) { output, initialized in
            if count > 0 { body(output.baseAddress!) }
            initialized = count
        }
    }
}
