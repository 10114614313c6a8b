import Foundation
import CipherIR
import TensorIR

/// A linear layer as a diagonal transform between two packings, before it is emitted.
public struct SpatialLinearLayer: Sendable {
    public var transform: DiagonalLinearTransform
    public var outputShape: [Int]
    /// Flat position (ciphertext·slots + slot) of every output element.
    public var outputPositions: [Int]

    public var outputCiphertexts: Int { transform.outputCiphertexts }
}

/// Lowers the linear nodes of a TensorGraph (after `TensorPipeline.run`) in the spatial layout: conv (stride,
/// padding, dilation, groups), linear, affine, elementwise products with a constant, average and global-average
/// pooling as one diagonal baby-step giant-step transform each (one plaintext-multiplication level); flatten,
/// reshape, identity and dropout as layout changes without instructions; add and sub of two tensors (aligned by a
/// layout-change transform when their packings differ) or of a tensor and a constant.
public enum SpatialLowering {
    /// The packing of a graph input: [1, C, H, W] (or [C, H, W]) channel-major dense (`SpatialLayout.dense`),
    /// any other shape contiguous. Slots must be a power of two.
    public static func pack(inputShape: [Int], slots: Int) -> (layout: SlotLayout, ciphertextCount: Int) {
        let dims: [Int]? = inputShape.count == 4 && inputShape[0] == 1 ? Array(inputShape[1...]) : inputShape.count == 3 ? inputShape : nil
        if let dims, dims.allSatisfy({ $0 > 0 }) {
            let layout = SpatialLayout.dense(channels: dims[0], height: dims[1], width: dims[2], slots: slots)
            return (.explicit(layout.positions().map { Int32($0) }), layout.ciphertextCount)
        }
        let count = inputShape.reduce(1, *)
        return (.explicit((0..<count).map { Int32($0) }), max(1, (count + slots - 1) / slots))
    }

    /// Whether `lower` handles this op (a linear layer or a layout change of the spatial layout). `mul` is linear
    /// only when one operand is a constant.
    public static func handles(_ node: Node, graph: TensorGraph) -> Bool {
        switch node.operation {
        case .conv, .linear, .affine, .averagePool, .globalAveragePool, .flatten, .reshape, .identity, .dropout, .add, .sub:
            return true
        case .mul:
            return node.inputs.contains { constant(of: $0, in: graph) != nil }
        default:
            return false
        }
    }

    /// Lowers one linear node. `inputs` are the packed tensors of the node's non-constant operands, in operand
    /// order (weights, biases, scales and shapes are read from the graph's constants).
    public static func lower(node: Node, graph: TensorGraph, inputs: [PackedTensor], context: LoweringContext) throws -> PackedTensor {
        for input in inputs where input.slots != context.slots {
            throw SpatialLoweringError.shapeMismatch(node: node.name, detail: "an operand is packed in \(input.slots) slots but the program uses \(context.slots)")
        }
        switch node.operation {
        case .flatten, .reshape, .identity, .dropout:
            let data = try dataOperands(node, graph: graph, inputs: inputs, expected: 1)[0]
            return try relayout(node, data)
        case .add, .sub:
            return try elementwiseAdd(node, graph: graph, inputs: inputs, context: context, subtract: node.operation == .sub)
        default:
            let data = try dataOperands(node, graph: graph, inputs: inputs, expected: 1)[0]
            let layer = try linearLayer(node: node, graph: graph, input: data)
            let values = layer.transform.lower(inputs: data.values, context: context)
            return PackedTensor(shape: layer.outputShape, values: values, layout: .explicit(layer.outputPositions.map { Int32($0) }),
                                slots: context.slots)
        }
    }

    /// The diagonal transform of a node with one packed operand (conv, linear, affine, averagePool,
    /// globalAveragePool, mul by a constant), generated from the layer's structure.
    public static func linearLayer(node: Node, graph: TensorGraph, input: PackedTensor) throws -> SpatialLinearLayer {
        let positions = input.flatPositions()
        let layer: SpatialLinearLayer
        switch node.operation {
        case .conv(let attributes):
            layer = try convolution(node, graph: graph, input: input, positions: positions, attributes: attributes)
        case .averagePool(let attributes):
            layer = try averagePool(node, input: input, positions: positions, attributes: attributes)
        case .globalAveragePool:
            layer = try globalAveragePool(node, input: input, positions: positions)
        case .linear:
            layer = try linear(node, graph: graph, input: input, positions: positions)
        case .affine:
            layer = try affine(node, graph: graph, input: input, positions: positions)
        case .mul:
            layer = try scale(node, graph: graph, input: input, positions: positions)
        default:
            throw SpatialLoweringError.unsupportedOperation(node: node.name, operation: node.operation.mnemonic)
        }
        if let expected = node.type?.shape, expected != layer.outputShape {
            throw SpatialLoweringError.shapeMismatch(node: node.name, detail: "computed output shape \(layer.outputShape) but the graph records \(expected)")
        }
        return layer
    }

    // MARK: operands

    /// The builder's transform, or the budget error naming the node.
    static func checked(_ builder: DiagonalTransformBuilder, _ node: Node) throws -> DiagonalLinearTransform {
        if builder.exceededBudget {
            throw SpatialLoweringError.tooManyDiagonals(node: node.name, diagonals: builder.diagonalCount, slots: builder.slots,
                                                        budgetBytes: builder.budgetBytes)
        }
        return builder.finish()
    }

    static func constant(of id: NodeID, in graph: TensorGraph) -> Tensor? {
        guard graph.contains(id), case .constant(let tensor) = graph.node(id).operation else { return nil }
        return tensor
    }

    /// The node's non-constant operands matched with `inputs`.
    static func dataOperands(_ node: Node, graph: TensorGraph, inputs: [PackedTensor], expected: Int) throws -> [PackedTensor] {
        let count = node.inputs.filter { constant(of: $0, in: graph) == nil }.count
        guard count == inputs.count else { throw SpatialLoweringError.operandCount(node: node.name, expected: count, got: inputs.count) }
        guard count == expected else {
            throw SpatialLoweringError.shapeMismatch(node: node.name, detail: "expected \(expected) encrypted operand(s) but \(count) are computed at run time")
        }
        return inputs
    }

    static func weights(_ node: Node, graph: TensorGraph, operand: Int, role: String) throws -> Tensor? {
        guard operand < node.inputs.count else { return nil }
        guard let tensor = constant(of: node.inputs[operand], in: graph) else {
            throw SpatialLoweringError.nonConstantOperand(node: node.name, role: role)
        }
        return tensor
    }

    static func requireWeights(_ node: Node, graph: TensorGraph, operand: Int, role: String) throws -> Tensor {
        guard let tensor = try weights(node, graph: graph, operand: operand, role: role) else {
            throw SpatialLoweringError.shapeMismatch(node: node.name, detail: "missing \(role) operand")
        }
        return tensor
    }

    /// (C, H, W) of a batch-1 NCHW tensor.
    static func imageDimensions(_ node: Node, _ shape: [Int]) throws -> (channels: Int, height: Int, width: Int) {
        guard shape.count == 4 else { throw SpatialLoweringError.shapeMismatch(node: node.name, detail: "input must be NCHW but has shape \(shape)") }
        guard shape[0] == 1 else { throw SpatialLoweringError.batchNotOne(node: node.name, shape: shape) }
        return (shape[1], shape[2], shape[3])
    }

    static func ciphertexts(covering positions: [Int], slots: Int) -> Int {
        (positions.max() ?? 0) / slots + 1
    }

    /// The packing of a window op's output: the input's spatial grid with the gap multiplied by the stride
    /// (channels multiplexed into the gaps, or kept on their sub-positions for per-channel ops), or a dense packing
    /// when the input follows no spatial layout or the output does not fit.
    static func windowOutputPositions(input: PackedTensor, positions: [Int], channels: Int, height: Int, width: Int,
                                      strides: [Int], multiplexed: Bool) -> [Int] {
        if strides[0] == strides[1],
           let layout = SpatialLayout.recognize(shape: input.shape, positions: positions, slots: input.slots),
           let output = layout.windowOutput(channels: channels, height: height, width: width, stride: strides[0], multiplexed: multiplexed) {
            return output.positions()
        }
        return SpatialLayout.dense(channels: channels, height: height, width: width, slots: input.slots).positions()
    }

    /// Output length of a sliding window (ONNX rule, ceil mode included); nil when the window does not fit.
    static func windowLength(input: Int, kernel: Int, stride: Int, dilation: Int, padBegin: Int, padEnd: Int, ceilMode: Bool) -> Int? {
        let span = dilation * (kernel - 1) + 1
        let room = input + padBegin + padEnd - span
        guard kernel > 0, stride > 0, room >= 0 else { return nil }
        if !ceilMode { return room / stride + 1 }
        var length = (room + stride - 1) / stride + 1
        if (length - 1) * stride >= input + padBegin { length -= 1 }
        return length
    }

    /// Output indices o in [0, outputs) whose tap stride·o − pad + offset lies in [0, extent).
    @inline(__always)
    static func validRange(outputs: Int, extent: Int, stride: Int, pad: Int, offset: Int) -> Range<Int> {
        // stride·o ≥ pad − offset and stride·o ≤ extent − 1 + pad − offset
        let low = max(0, ceilDivide(pad - offset, stride))
        let high = min(outputs - 1, floorDivide(extent - 1 + pad - offset, stride))
        return low <= high ? low..<(high + 1) : 0..<0
    }

    @inline(__always)
    static func ceilDivide(_ a: Int, _ b: Int) -> Int { -floorDivide(-a, b) }

    /// The flat position of channel c's pixel (h, w) as base + h·rowStride + w·columnStride.
    struct AffineGrid {
        var base: Int
        var rowStride: Int
        var columnStride: Int
    }

    /// Per channel of a [C, H, W] tensor at `positions` (row-major), its affine grid when every pixel follows one
    /// (non-negative strides), else nil. O(C·H·W).
    static func affineChannelGrids(_ positions: [Int], channels: Int, height: Int, width: Int) -> [AffineGrid?] {
        let plane = height * width
        guard positions.count == channels * plane, plane > 0 else { return [AffineGrid?](repeating: nil, count: channels) }
        return (0..<channels).map { channel -> AffineGrid? in
            let first = channel * plane
            let base = positions[first]
            let columnStride = width > 1 ? positions[first + 1] - base : 0
            let rowStride = height > 1 ? positions[first + width] - base : 0
            guard columnStride >= 0, rowStride >= 0 else { return nil }
            for h in 0..<height {
                for w in 0..<width where positions[first + h * width + w] != base + h * rowStride + w * columnStride {
                    return nil
                }
            }
            return AffineGrid(base: base, rowStride: rowStride, columnStride: columnStride)
        }
    }

    // MARK: convolution and pooling

    static func convolution(_ node: Node, graph: TensorGraph, input: PackedTensor, positions: [Int],
                            attributes a: ConvAttributes) throws -> SpatialLinearLayer {
        let (channels, height, width) = try imageDimensions(node, input.shape)
        let weight = try requireWeights(node, graph: graph, operand: 1, role: "weight")
        let bias = try weights(node, graph: graph, operand: 2, role: "bias")
        guard weight.rank == 4 else { throw SpatialLoweringError.shapeMismatch(node: node.name, detail: "weight must be [M, C/group, kH, kW] but has shape \(weight.shape)") }
        let outputChannels = weight.shape[0], groupChannels = weight.shape[1], kernelHeight = weight.shape[2], kernelWidth = weight.shape[3]
        guard a.strides.count == 2, a.dilations.count == 2, a.pads.count == 4, a.group > 0,
              a.strides.allSatisfy({ $0 > 0 }), a.dilations.allSatisfy({ $0 > 0 }), a.pads.allSatisfy({ $0 >= 0 }) else {
            throw SpatialLoweringError.shapeMismatch(node: node.name, detail: "needs 2 positive strides and dilations, 4 non-negative pads and a positive group")
        }
        guard channels % a.group == 0, outputChannels % a.group == 0, groupChannels * a.group == channels else {
            throw SpatialLoweringError.shapeMismatch(node: node.name, detail: "weight \(weight.shape) with group \(a.group) does not match \(channels) input channels")
        }
        if let bias, bias.count != outputChannels {
            throw SpatialLoweringError.shapeMismatch(node: node.name, detail: "bias has \(bias.count) values for \(outputChannels) output channels")
        }
        guard let outputHeight = windowLength(input: height, kernel: kernelHeight, stride: a.strides[0], dilation: a.dilations[0], padBegin: a.pads[0], padEnd: a.pads[2], ceilMode: false),
              let outputWidth = windowLength(input: width, kernel: kernelWidth, stride: a.strides[1], dilation: a.dilations[1], padBegin: a.pads[1], padEnd: a.pads[3], ceilMode: false) else {
            throw SpatialLoweringError.shapeMismatch(node: node.name, detail: "kernel \(kernelHeight)×\(kernelWidth) does not fit the padded \(height)×\(width) input")
        }
        // A depthwise convolution keeps every channel on its sub-position (one offset per tap for all channels);
        // any other convolution multiplexes its output channels into the gaps.
        let depthwise = a.group == channels && outputChannels == channels
        let outputPositions = windowOutputPositions(input: input, positions: positions, channels: outputChannels,
                                                    height: outputHeight, width: outputWidth, strides: a.strides,
                                                    multiplexed: !depthwise)
        let outputCiphertexts = ciphertexts(covering: outputPositions, slots: input.slots)
        let weights = weight.floats
        let outputsPerGroup = outputChannels / a.group
        // Channels whose pixels sit on an affine grid (every spatial layout) take one rectangle placement per weight.
        let inputGrids = affineChannelGrids(positions, channels: channels, height: height, width: width)
        let outputGrids = affineChannelGrids(outputPositions, channels: outputChannels, height: outputHeight, width: outputWidth)
        // Large layers are built by several threads, each keeping the placements of its own output ciphertexts.
        let workers = weight.count * outputHeight * outputWidth >= 1 << 24 ? min(outputCiphertexts, ProcessInfo.processInfo.activeProcessorCount, 8) : 1
        let parts = try ParallelBuild.run(workers: workers) { worker -> DiagonalLinearTransform in
            let first = outputCiphertexts * worker / workers, last = outputCiphertexts * (worker + 1) / workers
            var builder = DiagonalTransformBuilder(slots: input.slots, inputCiphertexts: input.values.count,
                                                   outputCiphertexts: outputCiphertexts, keeping: first..<last)
            positions.withUnsafeBufferPointer { inputPosition in
                outputPositions.withUnsafeBufferPointer { outputPosition in
                    for outputChannel in 0..<outputChannels {
                        let group = outputChannel / outputsPerGroup
                        for local in 0..<groupChannels {
                            let inputChannel = group * groupChannels + local
                            let grids = outputGrids[outputChannel].flatMap { output in inputGrids[inputChannel].map { (output, $0) } }
                            for dy in 0..<kernelHeight {
                                let rows = validRange(outputs: outputHeight, extent: height, stride: a.strides[0], pad: a.pads[0], offset: dy * a.dilations[0])
                                if rows.isEmpty { continue }
                                for dx in 0..<kernelWidth {
                                    let value = Double(weights[((outputChannel * groupChannels + local) * kernelHeight + dy) * kernelWidth + dx])
                                    if value == 0 { continue }
                                    let columns = validRange(outputs: outputWidth, extent: width, stride: a.strides[1], pad: a.pads[1], offset: dx * a.dilations[1])
                                    if columns.isEmpty { continue }
                                    if let (output, input) = grids {
                                        let y = rows.lowerBound * a.strides[0] - a.pads[0] + dy * a.dilations[0]
                                        let x = columns.lowerBound * a.strides[1] - a.pads[1] + dx * a.dilations[1]
                                        builder.accumulate(
                                            outputStart: output.base + rows.lowerBound * output.rowStride + columns.lowerBound * output.columnStride,
                                            inputStart: input.base + y * input.rowStride + x * input.columnStride,
                                            rows: rows.count, outputRowStride: output.rowStride, inputRowStride: a.strides[0] * input.rowStride,
                                            columns: columns.count, outputColumnStride: output.columnStride, inputColumnStride: a.strides[1] * input.columnStride,
                                            value: value)
                                        continue
                                    }
                                    for h in rows {
                                        let y = h * a.strides[0] - a.pads[0] + dy * a.dilations[0]
                                        let inputRow = (inputChannel * height + y) * width - a.pads[1] + dx * a.dilations[1]
                                        let outputRow = (outputChannel * outputHeight + h) * outputWidth
                                        for w in columns {
                                            builder.accumulate(outputPosition: outputPosition[outputRow + w],
                                                               inputPosition: inputPosition[inputRow + w * a.strides[1]], value: value)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            if let bias {
                let values = bias.floats
                let plane = outputHeight * outputWidth
                for channel in 0..<outputChannels {
                    if let grid = outputGrids[channel] {
                        builder.addBias(outputStart: grid.base, rows: outputHeight, rowStride: grid.rowStride, columns: outputWidth,
                                        columnStride: grid.columnStride, value: Double(values[channel]))
                    } else {
                        for pixel in 0..<plane {
                            builder.addBias(outputPosition: outputPositions[channel * plane + pixel], value: Double(values[channel]))
                        }
                    }
                }
            }
            return try checked(builder, node)
        }
        let transform = DiagonalLinearTransform(concatenating: parts)
        return SpatialLinearLayer(transform: transform, outputShape: [1, outputChannels, outputHeight, outputWidth],
                                  outputPositions: outputPositions)
    }

    static func averagePool(_ node: Node, input: PackedTensor, positions: [Int], attributes a: PoolAttributes) throws -> SpatialLinearLayer {
        let (channels, height, width) = try imageDimensions(node, input.shape)
        guard a.kernel.count == 2, a.strides.count == 2, a.dilations.count == 2, a.pads.count == 4,
              a.strides.allSatisfy({ $0 > 0 }), a.dilations.allSatisfy({ $0 > 0 }), a.pads.allSatisfy({ $0 >= 0 }),
              let outputHeight = windowLength(input: height, kernel: a.kernel[0], stride: a.strides[0], dilation: a.dilations[0], padBegin: a.pads[0], padEnd: a.pads[2], ceilMode: a.ceilMode),
              let outputWidth = windowLength(input: width, kernel: a.kernel[1], stride: a.strides[1], dilation: a.dilations[1], padBegin: a.pads[1], padEnd: a.pads[3], ceilMode: a.ceilMode) else {
            throw SpatialLoweringError.shapeMismatch(node: node.name, detail: "pooling window \(a.kernel) with strides \(a.strides), pads \(a.pads) does not fit the \(height)×\(width) input")
        }
        // The divisor of each output pixel (the reference executor's rule, ceil mode and count_include_pad included).
        var reciprocal = [Double](repeating: 0, count: outputHeight * outputWidth)
        for h in 0..<outputHeight {
            for w in 0..<outputWidth {
                var inside = 0, paddedRows = 0, paddedColumns = 0, rows = 0, columns = 0
                for i in 0..<a.kernel[0] {
                    let y = h * a.strides[0] - a.pads[0] + i * a.dilations[0]
                    if y >= -a.pads[0] && y < height + a.pads[2] { paddedRows += 1 }
                    if y >= 0 && y < height { rows += 1 }
                }
                for j in 0..<a.kernel[1] {
                    let x = w * a.strides[1] - a.pads[1] + j * a.dilations[1]
                    if x >= -a.pads[1] && x < width + a.pads[3] { paddedColumns += 1 }
                    if x >= 0 && x < width { columns += 1 }
                }
                inside = rows * columns
                let divisor = a.countIncludePad ? paddedRows * paddedColumns : inside
                reciprocal[h * outputWidth + w] = divisor > 0 ? 1 / Double(divisor) : 0
            }
        }
        let outputPositions = windowOutputPositions(input: input, positions: positions, channels: channels,
                                                    height: outputHeight, width: outputWidth, strides: a.strides,
                                                    multiplexed: false)
        var builder = DiagonalTransformBuilder(slots: input.slots, inputCiphertexts: input.values.count,
                                               outputCiphertexts: ciphertexts(covering: outputPositions, slots: input.slots))
        for channel in 0..<channels {
            for dy in 0..<a.kernel[0] {
                let rows = validRange(outputs: outputHeight, extent: height, stride: a.strides[0], pad: a.pads[0], offset: dy * a.dilations[0])
                for dx in 0..<a.kernel[1] {
                    let columns = validRange(outputs: outputWidth, extent: width, stride: a.strides[1], pad: a.pads[1], offset: dx * a.dilations[1])
                    for h in rows {
                        let y = h * a.strides[0] - a.pads[0] + dy * a.dilations[0]
                        for w in columns {
                            let x = w * a.strides[1] - a.pads[1] + dx * a.dilations[1]
                            builder.accumulate(outputPosition: outputPositions[(channel * outputHeight + h) * outputWidth + w],
                                               inputPosition: positions[(channel * height + y) * width + x],
                                               value: reciprocal[h * outputWidth + w])
                        }
                    }
                }
            }
        }
        return SpatialLinearLayer(transform: try checked(builder, node), outputShape: [1, channels, outputHeight, outputWidth],
                                  outputPositions: outputPositions)
    }

    /// The window taps of a MaxPool, each gathered into the pool's output packing by one layout-change transform
    /// (all taps share the input's hoisted baby-step rotations): max over the returned tensors, element-wise, is
    /// the pool's output. A tap that falls into the padding repeats a valid tap of the same window (max ignores
    /// padding); each tap costs one plaintext-multiplication level. Returns the taps in (dy, dx) order.
    public static func maxPoolTaps(node: Node, graph: TensorGraph, inputs: [PackedTensor], context: LoweringContext) throws -> [PackedTensor] {
        guard case .maxPool(let a) = node.operation else {
            throw SpatialLoweringError.unsupportedOperation(node: node.name, operation: node.operation.mnemonic)
        }
        let input = try dataOperands(node, graph: graph, inputs: inputs, expected: 1)[0]
        let (channels, height, width) = try imageDimensions(node, input.shape)
        guard a.kernel.count == 2, a.strides.count == 2, a.dilations.count == 2, a.pads.count == 4,
              a.strides.allSatisfy({ $0 > 0 }), a.dilations.allSatisfy({ $0 > 0 }), a.pads.allSatisfy({ $0 >= 0 }),
              let outputHeight = windowLength(input: height, kernel: a.kernel[0], stride: a.strides[0], dilation: a.dilations[0], padBegin: a.pads[0], padEnd: a.pads[2], ceilMode: a.ceilMode),
              let outputWidth = windowLength(input: width, kernel: a.kernel[1], stride: a.strides[1], dilation: a.dilations[1], padBegin: a.pads[1], padEnd: a.pads[3], ceilMode: a.ceilMode) else {
            throw SpatialLoweringError.shapeMismatch(node: node.name, detail: "pooling window \(a.kernel) with strides \(a.strides), pads \(a.pads) does not fit the \(height)×\(width) input")
        }
        let shape = [1, channels, outputHeight, outputWidth]
        if let expected = node.type?.shape, expected != shape {
            throw SpatialLoweringError.shapeMismatch(node: node.name, detail: "computed output shape \(shape) but the graph records \(expected)")
        }
        let positions = input.flatPositions()
        let outputPositions = windowOutputPositions(input: input, positions: positions, channels: channels, height: outputHeight,
                                                    width: outputWidth, strides: a.strides, multiplexed: false)
        let outputCiphertexts = ciphertexts(covering: outputPositions, slots: input.slots)
        let taps = a.kernel[0] * a.kernel[1]
        // One transform whose output ciphertext t·outputCiphertexts + o is ciphertext o of tap t.
        var builder = DiagonalTransformBuilder(slots: input.slots, inputCiphertexts: input.values.count,
                                               outputCiphertexts: taps * outputCiphertexts)
        for h in 0..<outputHeight {
            for w in 0..<outputWidth {
                var valid: [(y: Int, x: Int)?] = []
                for dy in 0..<a.kernel[0] {
                    for dx in 0..<a.kernel[1] {
                        let y = h * a.strides[0] - a.pads[0] + dy * a.dilations[0]
                        let x = w * a.strides[1] - a.pads[1] + dx * a.dilations[1]
                        valid.append(y >= 0 && y < height && x >= 0 && x < width ? (y, x) : nil)
                    }
                }
                guard let fallback = valid.first(where: { $0 != nil }) ?? nil else {
                    throw SpatialLoweringError.shapeMismatch(node: node.name, detail: "output pixel (\(h), \(w)) has a window entirely in the padding")
                }
                for (tap, source) in valid.enumerated() {
                    let (y, x) = source ?? fallback
                    for channel in 0..<channels {
                        builder.accumulate(outputPosition: tap * outputCiphertexts * input.slots + outputPositions[(channel * outputHeight + h) * outputWidth + w],
                                           inputPosition: positions[(channel * height + y) * width + x], value: 1)
                    }
                }
            }
        }
        let values = try checked(builder, node).lower(inputs: input.values, context: context)
        let layout = SlotLayout.explicit(outputPositions.map { Int32($0) })
        return (0..<taps).map { tap in
            PackedTensor(shape: shape, values: Array(values[(tap * outputCiphertexts)..<((tap + 1) * outputCiphertexts)]),
                         layout: layout, slots: input.slots)
        }
    }

    /// Mean over each channel's plane; output channel c stays at the position of its input pixel (c, 0, 0).
    static func globalAveragePool(_ node: Node, input: PackedTensor, positions: [Int]) throws -> SpatialLinearLayer {
        guard input.shape.count >= 3 else { throw SpatialLoweringError.shapeMismatch(node: node.name, detail: "input must be [N, C, spatial...] but has shape \(input.shape)") }
        guard input.shape[0] == 1 else { throw SpatialLoweringError.batchNotOne(node: node.name, shape: input.shape) }
        let channels = input.shape[1], plane = input.shape.dropFirst(2).reduce(1, *)
        guard plane > 0 else { throw SpatialLoweringError.shapeMismatch(node: node.name, detail: "empty spatial extent in \(input.shape)") }
        let outputPositions = (0..<channels).map { positions[$0 * plane] }
        var builder = DiagonalTransformBuilder(slots: input.slots, inputCiphertexts: input.values.count,
                                               outputCiphertexts: ciphertexts(covering: outputPositions, slots: input.slots))
        let weight = 1 / Double(plane)
        for channel in 0..<channels {
            for pixel in 0..<plane {
                builder.accumulate(outputPosition: outputPositions[channel], inputPosition: positions[channel * plane + pixel], value: weight)
            }
        }
        return SpatialLinearLayer(transform: try checked(builder, node), outputShape: [1, channels] + [Int](repeating: 1, count: input.shape.count - 2),
                                  outputPositions: outputPositions)
    }

    // MARK: dense and per-element layers

    /// y = x·Wᵀ + b over the last axis. The matrix is indexed by the input's positions, so a flattened image with
    /// gaps needs no compaction. With one row and N ≤ K outputs, output n sits where input element n was (the
    /// offsets then follow the input's structure); otherwise outputs are contiguous.
    static func linear(_ node: Node, graph: TensorGraph, input: PackedTensor, positions: [Int]) throws -> SpatialLinearLayer {
        let weight = try requireWeights(node, graph: graph, operand: 1, role: "weight")
        let bias = try weights(node, graph: graph, operand: 2, role: "bias")
        guard input.shape.count >= 1, weight.rank == 2, input.shape.last == weight.shape[1] else {
            throw SpatialLoweringError.shapeMismatch(node: node.name, detail: "needs x[..., K] and weight[N, K] but has shapes \(input.shape) and \(weight.shape)")
        }
        let depth = weight.shape[1], columns = weight.shape[0]
        let rows = depth == 0 ? 0 : input.elementCount / depth
        if let bias, bias.count != columns {
            throw SpatialLoweringError.shapeMismatch(node: node.name, detail: "bias has \(bias.count) values for \(columns) outputs")
        }
        let outputPositions = rows == 1 && columns <= depth ? Array(positions[0..<columns]) : Array(0..<(rows * columns))
        var builder = DiagonalTransformBuilder(slots: input.slots, inputCiphertexts: input.values.count,
                                               outputCiphertexts: ciphertexts(covering: outputPositions, slots: input.slots))
        let weights = weight.floats
        for row in 0..<rows {
            for column in 0..<columns {
                let outputPosition = outputPositions[row * columns + column]
                for k in 0..<depth {
                    let value = Double(weights[column * depth + k])
                    if value != 0 { builder.accumulate(outputPosition: outputPosition, inputPosition: positions[row * depth + k], value: value) }
                }
            }
        }
        if let bias {
            let values = bias.floats
            for (element, position) in outputPositions.enumerated() { builder.addBias(outputPosition: position, value: Double(values[element % columns])) }
        }
        return SpatialLinearLayer(transform: try checked(builder, node), outputShape: Array(input.shape.dropLast()) + [columns],
                                  outputPositions: outputPositions)
    }

    /// y = x·scale + shift per channel (axis 1): the offset-0 diagonal only, in the input's layout.
    static func affine(_ node: Node, graph: TensorGraph, input: PackedTensor, positions: [Int]) throws -> SpatialLinearLayer {
        let scale = try requireWeights(node, graph: graph, operand: 1, role: "scale")
        let shift = try requireWeights(node, graph: graph, operand: 2, role: "shift")
        guard input.shape.count >= 2 else { throw SpatialLoweringError.shapeMismatch(node: node.name, detail: "input must be [N, C, ...] but has shape \(input.shape)") }
        let channels = input.shape[1], inner = input.shape.dropFirst(2).reduce(1, *)
        guard scale.count == channels, shift.count == channels else {
            throw SpatialLoweringError.shapeMismatch(node: node.name, detail: "scale and shift need \(channels) values, have \(scale.count) and \(shift.count)")
        }
        let scales = scale.floats, shifts = shift.floats
        var builder = DiagonalTransformBuilder(slots: input.slots, inputCiphertexts: input.values.count,
                                               outputCiphertexts: ciphertexts(covering: positions, slots: input.slots))
        for (element, position) in positions.enumerated() {
            let channel = (element / max(inner, 1)) % channels
            builder.accumulate(outputPosition: position, inputPosition: position, value: Double(scales[channel]))
            builder.addBias(outputPosition: position, value: Double(shifts[channel]))
        }
        return SpatialLinearLayer(transform: try checked(builder, node), outputShape: input.shape, outputPositions: positions)
    }

    /// x ⊙ c for a constant c broadcast to x's shape: the offset-0 diagonal.
    static func scale(_ node: Node, graph: TensorGraph, input: PackedTensor, positions: [Int]) throws -> SpatialLinearLayer {
        guard let constantID = node.inputs.first(where: { constant(of: $0, in: graph) != nil }), let factor = constant(of: constantID, in: graph) else {
            throw SpatialLoweringError.unsupportedOperation(node: node.name, operation: "mul of two encrypted tensors")
        }
        let values = try broadcast(factor, to: input.shape, node: node)
        var builder = DiagonalTransformBuilder(slots: input.slots, inputCiphertexts: input.values.count,
                                               outputCiphertexts: ciphertexts(covering: positions, slots: input.slots))
        for (element, position) in positions.enumerated() {
            builder.accumulate(outputPosition: position, inputPosition: position, value: values[element])
        }
        return SpatialLinearLayer(transform: try checked(builder, node), outputShape: input.shape, outputPositions: positions)
    }

    /// A constant's values broadcast (numpy rules) to exactly `shape`.
    static func broadcast(_ tensor: Tensor, to shape: [Int], node: Node) throws -> [Double] {
        let source = tensor.shape
        guard source.count <= shape.count else {
            throw SpatialLoweringError.shapeMismatch(node: node.name, detail: "constant of shape \(source) has more axes than the tensor \(shape)")
        }
        let padded = [Int](repeating: 1, count: shape.count - source.count) + source
        for (s, t) in zip(padded, shape) where s != 1 && s != t {
            throw SpatialLoweringError.shapeMismatch(node: node.name, detail: "constant of shape \(source) does not broadcast to the tensor \(shape)")
        }
        var strides = [Int](repeating: 0, count: shape.count)
        var running = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[axis] = padded[axis] == 1 ? 0 : running
            running *= padded[axis]
        }
        let floats = tensor.floats
        let count = shape.reduce(1, *)
        var result = [Double](repeating: 0, count: count)
        var index = [Int](repeating: 0, count: shape.count)
        for element in 0..<count {
            var source = 0
            for axis in 0..<shape.count { source += index[axis] * strides[axis] }
            result[element] = Double(floats[source])
            var axis = shape.count - 1
            while axis >= 0 {
                index[axis] += 1
                if index[axis] < shape[axis] { break }
                index[axis] = 0
                axis -= 1
            }
        }
        return result
    }

    // MARK: layout changes and additions

    /// Flatten, reshape, identity, dropout: the row-major element order is unchanged, so only the shape changes.
    static func relayout(_ node: Node, _ input: PackedTensor) throws -> PackedTensor {
        guard let shape = node.type?.shape else {
            throw SpatialLoweringError.shapeMismatch(node: node.name, detail: "no inferred output shape")
        }
        guard shape.reduce(1, *) == input.elementCount else {
            throw SpatialLoweringError.shapeMismatch(node: node.name, detail: "output shape \(shape) does not hold the \(input.elementCount) input elements")
        }
        var output = input
        output.shape = shape
        if case .explicit = input.layout {} else { output.layout = .explicit(input.flatPositions().map { Int32($0) }) }
        return output
    }

    /// a ± b. Two packed tensors of one shape in different packings: b is moved into a's packing by a
    /// layout-change transform (one level; the leveling pass matches a's level). A constant operand is broadcast
    /// and added with addPlain.
    static func elementwiseAdd(_ node: Node, graph: TensorGraph, inputs: [PackedTensor], context: LoweringContext, subtract: Bool) throws -> PackedTensor {
        let constants = node.inputs.map { constant(of: $0, in: graph) }
        let dataCount = constants.filter { $0 == nil }.count
        guard dataCount == inputs.count else { throw SpatialLoweringError.operandCount(node: node.name, expected: dataCount, got: inputs.count) }
        if inputs.count == 2 {
            var a = inputs[0], b = inputs[1]
            guard a.shape == b.shape else {
                throw SpatialLoweringError.shapeMismatch(node: node.name, detail: "operands of shapes \(a.shape) and \(b.shape) need broadcasting between encrypted tensors, which is not supported")
            }
            let aPositions = a.flatPositions(), bPositions = b.flatPositions()
            if aPositions != bPositions {
                // Keep the packing a later window op can recognize; move the other operand.
                let aSpatial = SpatialLayout.recognize(shape: a.shape, positions: aPositions, slots: a.slots) != nil
                let bSpatial = SpatialLayout.recognize(shape: b.shape, positions: bPositions, slots: b.slots) != nil
                if !aSpatial && bSpatial {
                    a = try relayout(a, from: aPositions, to: bPositions, ciphertexts: b.values.count, context: context, node: node)
                } else {
                    b = try relayout(b, from: bPositions, to: aPositions, ciphertexts: a.values.count, context: context, node: node)
                }
            }
            let count = max(a.values.count, b.values.count)
            var values: [ValueID] = []
            for index in 0..<count {
                switch (index < a.values.count, index < b.values.count) {
                case (true, true): values.append(subtract ? context.sub(a.values[index], b.values[index]) : context.add(a.values[index], b.values[index]))
                case (true, false): values.append(a.values[index])
                default: values.append(subtract ? context.negate(b.values[index]) : b.values[index])
                }
            }
            return PackedTensor(shape: a.shape, values: values, layout: a.values.count >= b.values.count ? a.layout : b.layout,
                                slots: a.slots, garbageSlots: a.garbageSlots || b.garbageSlots)
        }
        guard inputs.count == 1, let constantIndex = constants.firstIndex(where: { $0 != nil }) else {
            throw SpatialLoweringError.shapeMismatch(node: node.name, detail: "needs two operands")
        }
        let x = inputs[0]
        let addend = try broadcast(constants[constantIndex]!, to: x.shape, node: node)
        let negateTensor = subtract && constantIndex == 0
        let negateConstant = subtract && constantIndex == 1
        var vectors = [[Double]](repeating: [Double](repeating: 0, count: x.slots), count: x.values.count)
        for (element, position) in x.flatPositions().enumerated() {
            vectors[position / x.slots][position % x.slots] = negateConstant ? -addend[element] : addend[element]
        }
        let values = x.values.enumerated().map { index, value -> ValueID in
            let base = negateTensor ? context.negate(value) : value
            return vectors[index].contains { $0 != 0 } ? context.addPlain(base, vectors[index]) : base
        }
        // Adding a constant only where elements live keeps the zero invariant.
        return PackedTensor(shape: x.shape, values: values, layout: x.layout, slots: x.slots, garbageSlots: x.garbageSlots)
    }

    /// Moves a packed tensor to other positions (a permutation transform, one level).
    static func relayout(_ tensor: PackedTensor, from source: [Int], to destination: [Int], ciphertexts count: Int, context: LoweringContext,
                         node: Node) throws -> PackedTensor {
        let transform = try layoutChange(from: source, to: destination, slots: tensor.slots, inputCiphertexts: tensor.values.count,
                                         outputCiphertexts: count, node: node)
        let values = transform.lower(inputs: tensor.values, context: context)
        return PackedTensor(shape: tensor.shape, values: values, layout: .explicit(destination.map { Int32($0) }), slots: tensor.slots)
    }

    /// The transform that moves element e from `source[e]` to `destination[e]`.
    public static func layoutChange(from source: [Int], to destination: [Int], slots: Int, inputCiphertexts: Int, outputCiphertexts: Int,
                                    node: Node) throws -> DiagonalLinearTransform {
        precondition(source.count == destination.count, "a layout change maps every element")
        var builder = DiagonalTransformBuilder(slots: slots, inputCiphertexts: inputCiphertexts, outputCiphertexts: outputCiphertexts)
        for (from, to) in zip(source, destination) { builder.accumulate(outputPosition: to, inputPosition: from, value: 1) }
        return try checked(builder, node)
    }
}
