import CipherIR
import TensorIR

/// The batch layout (nGraph-HE's): slot n of every ciphertext belongs to image n; a tensor [N, rest…] is one
/// ciphertext per element of `rest`. Linear layers are scalar multiply-accumulate (no rotations, zero weights skipped),
/// elementwise ops work per ciphertext, flatten/reshape are free.
///
/// The batch need not stay in dimension 0 for ops that work on the row-major elements of each image (reshape,
/// flatten, linear over the last axis, activations, broadcasting add/sub/mul): a tensor is valid in this layout when
/// some leading axes multiply to exactly the batch N (its *batch axes*, e.g. [N, K, 1] or [1, N, K]), because then
/// its row-major element e is n·E + r with n the image. With one image every shape qualifies (no leading axes), so a
/// batch-1 model may reshape freely (e.g. [1, 10] → [10, 1] for a transposed Gemm operand). Ops with image structure
/// (conv, pooling, affine, pad, concat) still need the batch in dimension 0.
struct BatchLowering {
    let context: LoweringContext
    let activations: ActivationLowering
    /// Number of images N.
    let batch: Int

    /// Element e = n·E + r of a tensor of N·E elements lives in ciphertext r, slot n.
    static func positions(shape: [Int], batch: Int, slots: Int) -> [Int] {
        let count = shape.reduce(1, *)
        let perImage = count / max(batch, 1)
        var positions = [Int](repeating: 0, count: count)
        for n in 0..<batch { for r in 0..<perImage { positions[n * perImage + r] = r * slots + n } }
        return positions
    }

    /// The number of leading axes of `shape` whose sizes multiply to the batch (the fewest such), or nil when no
    /// prefix does: then the tensor's elements cannot be split into images in row-major order.
    static func batchAxisCount(of shape: [Int], batch: Int) -> Int? {
        var product = 1
        for count in 0...shape.count {
            if product == batch { return count }
            guard count < shape.count, product < batch else { return nil }
            product *= shape[count]
        }
        return nil
    }

    /// The tensor held by lane value `value` (lane r = per-image element r).
    func packed(shape: [Int], value: ValueID, garbage: Bool = false) -> PackedTensor {
        PackedTensor(shape: shape, values: [value],
                     layout: .explicit(Self.positions(shape: shape, batch: batch, slots: context.slots).map { Int32($0) }),
                     slots: context.slots, garbageSlots: garbage, lanes: context.lanes(of: value))
    }

    /// Reads a graph input: one lane value of a lane per element of an image.
    func input(name: String, shape: [Int]) -> PackedTensor {
        let perImage = shape.dropFirst().reduce(1, *)
        return context.input(name: name, shape: shape, positions: Self.positions(shape: shape, batch: batch, slots: context.slots),
                             ciphertextCount: perImage, asLanes: true)
    }

    /// Rows of a sparse lane map under construction.
    struct SparseRows {
        var rowStarts: [Int32] = [0]
        var columns: [Int32] = []
        var weights: [Double] = []
        var bias: [Double] = []

        mutating func add(_ column: Int, _ weight: Double) {
            guard weight != 0 else { return }
            columns.append(Int32(column))
            weights.append(weight)
        }

        mutating func endRow(bias b: Double) {
            rowStarts.append(Int32(columns.count))
            bias.append(b)
        }

        func map(inputLanes: Int) -> LaneMap {
            LaneMap(inputLanes: inputLanes, kind: .sparse(rowStarts: rowStarts, columns: columns, weights: weights,
                                                          bias: bias.allSatisfy { $0 == 0 } ? [] : bias))
        }
    }

    /// The one lane value of a batch tensor.
    func value(of tensor: PackedTensor, node: Node) throws -> ValueID {
        guard tensor.values.count == 1 else {
            throw CompilerError.unsupportedOperation(node: node.name, operation: node.operation.mnemonic, layout: "batch",
                                                     hint: "its operand is not a batch-layout tensor")
        }
        return tensor.values[0]
    }

    // MARK: ops

    func lower(_ node: Node, operands: [LoweredValue], outputShape: [Int]) throws -> PackedTensor {
        switch node.operation {
        case .identity, .dropout, .flatten, .reshape, .linear, .relu, .clip, .sigmoid, .add, .sub, .mul:
            // Row-major per image: any shape whose leading axes hold exactly the batch.
            guard Self.batchAxisCount(of: outputShape, batch: batch) != nil else {
                let from = operands.first.map { value -> String in
                    switch value {
                    case .packed(let t): return " from \(t.shape)"
                    case .plain(let t): return " from \(t.shape)"
                    }
                } ?? ""
                throw CompilerError.batchDimension(
                    node: node.name,
                    detail: "\(node.operation.mnemonic)\(from) to \(outputShape) merges or splits the batch of \(batch) images with other axes (no leading axes of the output multiply to \(batch))")
            }
        default:
            guard outputShape.first == batch else {
                throw CompilerError.batchDimension(node: node.name, detail: "output shape \(outputShape) does not keep the batch of \(batch) in dimension 0")
            }
        }
        func packedOperand(_ index: Int) throws -> PackedTensor {
            guard index < operands.count, case .packed(let tensor) = operands[index] else {
                throw CompilerError.unsupportedOperation(node: node.name, operation: node.operation.mnemonic, layout: "batch",
                                                         hint: "operand \(index) must be an encrypted tensor")
            }
            return tensor
        }
        func plainOperand(_ index: Int, _ what: String) throws -> [Double]? {
            guard index < operands.count else { return nil }
            guard case .plain(let tensor) = operands[index] else {
                throw CompilerError.unsupportedOperation(node: node.name, operation: node.operation.mnemonic, layout: "batch",
                                                         hint: "its \(what) must be a constant (encrypted weights are not supported)")
            }
            return tensor.floats.map(Double.init)
        }
        let unsupported = { (hint: String) in
            CompilerError.unsupportedOperation(node: node.name, operation: node.operation.mnemonic, layout: "batch", hint: hint)
        }
        let perImage = outputShape[(Self.batchAxisCount(of: outputShape, batch: batch) ?? 1)...].reduce(1, *)

        switch node.operation {
        case .identity, .dropout, .flatten, .reshape:
            let x = try packedOperand(0)
            return packed(shape: outputShape, value: try value(of: x, node: node), garbage: x.garbageSlots)

        case .conv(let a):
            let x = try packedOperand(0)
            guard let w = try plainOperand(1, "weight"), case .plain(let weightTensor) = operands[1] else { throw unsupported("needs a weight") }
            let bias = try plainOperand(2, "bias") ?? []
            guard x.shape.count == 4, weightTensor.shape.count == 4, a.strides.count == 2, a.pads.count >= 2, a.dilations.count == 2
            else { throw unsupported("needs NCHW input, a 4-D weight and 2-D strides, pads and dilations") }
            let convolution = LaneConvolution(
                channels: x.shape[1], height: x.shape[2], width: x.shape[3], outputChannels: weightTensor.shape[0],
                outputHeight: outputShape[2], outputWidth: outputShape[3], groups: max(a.group, 1),
                kernelHeight: weightTensor.shape[2], kernelWidth: weightTensor.shape[3], strideY: a.strides[0], strideX: a.strides[1],
                padTop: a.pads[0], padLeft: a.pads[1], dilationY: a.dilations[0], dilationX: a.dilations[1], weights: w, bias: bias)
            let map = LaneMap(inputLanes: x.ciphertextCount, kind: .convolution(convolution))
            if let problem = map.validationError { throw unsupported(problem) }
            return packed(shape: outputShape, value: context.linearMap([try value(of: x, node: node)], map), garbage: true)

        case .linear:
            let x = try packedOperand(0)
            guard let w = try plainOperand(1, "weight"), case .plain(let weightTensor) = operands[1], weightTensor.shape.count == 2
            else { throw unsupported("needs a 2-D weight") }
            let bias = try plainOperand(2, "bias")
            let (outputs, depth) = (weightTensor.shape[0], weightTensor.shape[1])
            guard let batchAxes = Self.batchAxisCount(of: x.shape, batch: batch), batchAxes < x.shape.count else {
                throw CompilerError.batchDimension(node: node.name, detail: "linear sums over the last axis of \(x.shape), which holds the batch of \(batch) images")
            }
            let rows = x.ciphertextCount / max(depth, 1)
            var sparse = SparseRows()
            for row in 0..<rows {
                for o in 0..<outputs {
                    for k in 0..<depth { sparse.add(row * depth + k, w[o * depth + k]) }
                    sparse.endRow(bias: bias?[o] ?? 0)
                }
            }
            return packed(shape: outputShape, value: context.linearMap([try value(of: x, node: node)], sparse.map(inputLanes: x.ciphertextCount)), garbage: true)

        case .affine, .batchNormalization:
            let x = try packedOperand(0)
            guard x.shape.count >= 2 else { throw unsupported("needs a channel axis 1") }
            var multiplier: [Double], shift: [Double]
            if case .batchNormalization(let epsilon) = node.operation {
                guard let scale = try plainOperand(1, "scale"), let b = try plainOperand(2, "bias"),
                      let mean = try plainOperand(3, "mean"), let variance = try plainOperand(4, "variance")
                else { throw unsupported("needs scale, bias, mean and variance") }
                multiplier = zip(scale, variance).map { $0 / ($1 + Double(epsilon)).squareRoot() }
                shift = (0..<b.count).map { b[$0] - mean[$0] * multiplier[$0] }
            } else {
                guard let s = try plainOperand(1, "scale"), let t = try plainOperand(2, "shift") else { throw unsupported("needs scale and shift") }
                multiplier = s
                shift = t
            }
            let channels = x.shape[1]
            let inner = x.shape.dropFirst(2).reduce(1, *)
            guard multiplier.count == channels, shift.count == channels else { throw unsupported("scale and shift need \(channels) values") }
            var v = try value(of: x, node: node)
            if multiplier.allSatisfy({ $0 == 1 }) && Set(shift).count == 1 {
                // One shift for every element: no level spent.
                if shift[0] != 0 { v = context.addConst(v, shift[0]) }
                return packed(shape: outputShape, value: v, garbage: true)
            }
            if Set(multiplier).count == 1 && Set(shift).count == 1 {
                v = context.mulConst(v, multiplier[0])
                if shift[0] != 0 { v = context.addConst(v, shift[0]) }
                return packed(shape: outputShape, value: v, garbage: true)
            }
            var sparse = SparseRows()
            for ch in 0..<channels {
                for i in 0..<inner {
                    sparse.add(ch * inner + i, multiplier[ch])
                    sparse.endRow(bias: shift[ch])
                }
            }
            return packed(shape: outputShape, value: context.linearMap([v], sparse.map(inputLanes: x.ciphertextCount)), garbage: true)

        case .averagePool(let a):
            let x = try packedOperand(0)
            guard x.shape.count == 4 else { throw unsupported("needs NCHW input") }
            let (c, h, w) = (x.shape[1], x.shape[2], x.shape[3])
            let (oh, ow) = (outputShape[2], outputShape[3])
            var sparse = SparseRows()
            for ch in 0..<c {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        let window = poolingWindow(a, oy: oy, ox: ox, height: h, width: w)
                        let divisor = a.countIncludePad ? window.paddedCount : window.inside.count
                        let weight = divisor > 0 ? 1 / Double(divisor) : 0
                        for (iy, ix) in window.inside { sparse.add((ch * h + iy) * w + ix, weight) }
                        sparse.endRow(bias: 0)
                    }
                }
            }
            return packed(shape: outputShape, value: context.linearMap([try value(of: x, node: node)], sparse.map(inputLanes: x.ciphertextCount)))

        case .globalAveragePool:
            let x = try packedOperand(0)
            guard x.shape.count >= 3 else { throw unsupported("needs [N, C, spatial…]") }
            let c = x.shape[1]
            let plane = x.shape.dropFirst(2).reduce(1, *)
            var sparse = SparseRows()
            for ch in 0..<c {
                for i in 0..<plane { sparse.add(ch * plane + i, 1 / Double(plane)) }
                sparse.endRow(bias: 0)
            }
            return packed(shape: outputShape, value: context.linearMap([try value(of: x, node: node)], sparse.map(inputLanes: x.ciphertextCount)))

        case .maxPool(let a):
            let x = try packedOperand(0)
            guard x.shape.count == 4 else { throw unsupported("needs NCHW input") }
            let (c, h, w) = (x.shape[1], x.shape[2], x.shape[3])
            let (oh, ow) = (outputShape[2], outputShape[3])
            // One gather per kernel tap; a tap in the padding repeats the window's first element (max(a, a) = a).
            let taps = a.kernel[0] * a.kernel[1]
            var indices = [[Int32]](repeating: [], count: taps)
            for ch in 0..<c {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        let window = poolingWindow(a, oy: oy, ox: ox, height: h, width: w)
                        guard let first = window.inside.first else { throw unsupported("a pooling window lies entirely in the padding") }
                        for tap in 0..<taps {
                            let (iy, ix) = window.byTap[tap] ?? first
                            indices[tap].append(Int32((ch * h + iy) * w + ix))
                        }
                    }
                }
            }
            let v = try value(of: x, node: node)
            var distinct: [[Int32]] = []
            for tap in indices where !distinct.contains(tap) { distinct.append(tap) }
            let gathered = distinct.map { context.gather([v], $0) }
            return packed(shape: outputShape, value: try activations.maximum(of: gathered, node: node), garbage: true)

        case .add, .sub, .mul:
            return try lowerBinary(node, operands: operands, outputShape: outputShape)

        case .pad(let pads, let padValue):
            let x = try packedOperand(0)
            let rank = x.shape.count
            guard pads.count == 2 * rank, pads[0] == 0, pads[rank] == 0 else { throw unsupported("padding the batch dimension mixes images") }
            guard pads.allSatisfy({ $0 >= 0 }) else { throw unsupported("negative pads (cropping) are not supported") }
            let inner = Array(outputShape.dropFirst())
            let inputInner = Array(x.shape.dropFirst())
            var sources: [Int?] = []
            sources.reserveCapacity(perImage)
            for r in 0..<perImage {
                var remainder = r, sourceIndex = 0, step = 1, inside = true
                for d in stride(from: inner.count - 1, through: 0, by: -1) {
                    let i = remainder % inner[d] - pads[d + 1]
                    remainder /= inner[d]
                    if i < 0 || i >= inputInner[d] { inside = false }
                    sourceIndex += i * step
                    step *= inputInner[d]
                }
                sources.append(inside ? sourceIndex : nil)
            }
            return packed(shape: outputShape, value: try select([try value(of: x, node: node)], sources: sources.map { $0.map { .lane($0) } ?? .constant(Double(padValue)) }, node: node),
                          garbage: padValue != 0 || x.garbageSlots)

        case .concat(let axis):
            let rank = outputShape.count
            let ax = axis < 0 ? axis + rank : axis
            guard ax >= 1 else { throw unsupported("concatenating along the batch axis mixes images") }
            // Constant operands become constant lanes (they must be the same for every image).
            var encrypted: [ValueID] = []
            var pieces: [(shape: [Int], sources: [LaneSource])] = []
            var offset = 0
            for operand in operands {
                switch operand {
                case .packed(let t):
                    let v = try value(of: t, node: node)
                    encrypted.append(v)
                    pieces.append((t.shape, (0..<t.ciphertextCount).map { .lane(offset + $0) }))
                    offset += t.ciphertextCount
                case .plain(let t):
                    let perImage = t.shape.dropFirst().reduce(1, *)
                    let floats = t.floats
                    for n in 1..<max(t.shape.first ?? 1, 1) where Array(floats[(n * perImage)..<((n + 1) * perImage)]) != Array(floats[0..<perImage]) {
                        throw unsupported("a constant operand that differs between images")
                    }
                    pieces.append(([batch] + t.shape.dropFirst(), floats.prefix(perImage).map { .constant(Double($0)) }))
                }
            }
            let outer = outputShape[1..<ax].reduce(1, *)
            var sources: [LaneSource] = []
            for o in 0..<outer {
                for piece in pieces {
                    let block = piece.shape[ax...].reduce(1, *)
                    sources.append(contentsOf: piece.sources[(o * block)..<((o + 1) * block)])
                }
            }
            guard !encrypted.isEmpty else { throw unsupported("its output does not depend on the encrypted input") }
            return packed(shape: outputShape, value: try select(encrypted, sources: sources, node: node), garbage: true)

        case .relu, .clip, .sigmoid:
            let x = try packedOperand(0)
            return packed(shape: outputShape, value: try activations.apply(node.operation, to: try value(of: x, node: node), node: node), garbage: true)

        case .gemm, .matMul:
            throw unsupported("the tensor passes turn Gemm/MatMul into linear only with a constant weight B, a bias C constant along rows, and a transposed A that is a constant or a vector; run them first, or change the model to meet those conditions")
        case .input, .constant:
            throw unsupported("graph inputs and constants are not lowered as operations")
        }
    }

    /// Where a result lane comes from: an operand lane (operands concatenated) or a constant.
    enum LaneSource: Equatable {
        case lane(Int)
        case constant(Double)
    }

    /// Lanes picked from the operands: a `gather` when every lane comes from an operand (no level spent), else a
    /// `linearMap` that copies those lanes and writes the constants as biases.
    func select(_ operands: [ValueID], sources: [LaneSource], node: Node) throws -> ValueID {
        let total = operands.reduce(0) { $0 + context.lanes(of: $1) }
        let picks = sources.compactMap { source -> Int32? in if case .lane(let i) = source { return Int32(i) } else { return nil } }
        if picks.count == sources.count { return context.gather(operands, picks) }
        var sparse = SparseRows()
        for source in sources {
            switch source {
            case .lane(let i):
                sparse.add(i, 1)
                sparse.endRow(bias: 0)
            case .constant(let c):
                sparse.endRow(bias: c)
            }
        }
        return context.linearMap(operands, sparse.map(inputLanes: total))
    }

    /// The input positions of one pooling window: those inside the image (by tap index, row-major over the kernel)
    /// and the count of taps inside the padded image.
    func poolingWindow(_ a: PoolAttributes, oy: Int, ox: Int, height h: Int, width w: Int)
        -> (inside: [(Int, Int)], byTap: [Int: (Int, Int)], paddedCount: Int) {
        var rowsPadded = 0, columnsPadded = 0
        for ky in 0..<a.kernel[0] {
            let iy = oy * a.strides[0] - a.pads[0] + ky * a.dilations[0]
            if iy >= -a.pads[0] && iy < h + a.pads[2] { rowsPadded += 1 }
        }
        for kx in 0..<a.kernel[1] {
            let ix = ox * a.strides[1] - a.pads[1] + kx * a.dilations[1]
            if ix >= -a.pads[1] && ix < w + a.pads[3] { columnsPadded += 1 }
        }
        var inside: [(Int, Int)] = []
        var byTap: [Int: (Int, Int)] = [:]
        for ky in 0..<a.kernel[0] {
            let iy = oy * a.strides[0] - a.pads[0] + ky * a.dilations[0]
            guard iy >= 0 && iy < h else { continue }
            for kx in 0..<a.kernel[1] {
                let ix = ox * a.strides[1] - a.pads[1] + kx * a.dilations[1]
                guard ix >= 0 && ix < w else { continue }
                inside.append((iy, ix))
                byTap[ky * a.kernel[1] + kx] = (iy, ix)
            }
        }
        return (inside, byTap, rowsPadded * columnsPadded)
    }

    /// add/sub/mul with numpy broadcasting. An encrypted operand that is broadcast is first gathered to the output's
    /// lanes; constant operands become addConst/mulConst when uniform, a `linearMap` when they differ between lanes,
    /// and per-lane addPlain/mulPlain when they differ between images.
    private func lowerBinary(_ node: Node, operands: [LoweredValue], outputShape: [Int]) throws -> PackedTensor {
        guard operands.count == 2 else {
            throw CompilerError.unsupportedOperation(node: node.name, operation: node.operation.mnemonic, layout: "batch", hint: "needs two operands")
        }
        let rank = outputShape.count
        // The output's batch axes 0..<batchAxes hold the image n; the rest hold the per-image element r.
        guard let batchAxes = Self.batchAxisCount(of: outputShape, batch: batch) else {
            throw CompilerError.batchDimension(node: node.name, detail: "output shape \(outputShape) does not hold the batch of \(batch) in its leading axes")
        }
        let perImage = outputShape[batchAxes...].reduce(1, *)
        func shapeOf(_ value: LoweredValue) -> [Int] {
            switch value {
            case .packed(let t): return t.shape
            case .plain(let t): return t.shape
            }
        }
        func padded(_ shape: [Int]) -> [Int] { [Int](repeating: 1, count: rank - shape.count) + shape }
        // Broadcast index maps: (image n, per-image element r) of the output → operand flat index.
        func broadcastIndex(_ shape: [Int]) -> (Int, Int) -> Int {
            let padded = padded(shape)
            var strides = [Int](repeating: 0, count: rank)
            var s = 1
            for d in stride(from: rank - 1, through: 0, by: -1) {
                strides[d] = padded[d] == 1 ? 0 : s
                s *= padded[d]
            }
            return { n, r in
                var index = 0
                var remainder = r
                for d in stride(from: rank - 1, through: batchAxes, by: -1) {
                    index += (remainder % outputShape[d]) * strides[d]
                    remainder /= outputShape[d]
                }
                remainder = n
                for d in stride(from: batchAxes - 1, through: 0, by: -1) {
                    index += (remainder % outputShape[d]) * strides[d]
                    remainder /= outputShape[d]
                }
                return index
            }
        }
        // An encrypted operand must span every image along the output's batch axes (its element n·E + r is then
        // image n's r-th element); broadcasting it across images would need a slot-crossing rotation.
        for (index, operand) in operands.enumerated() {
            guard case .packed(let t) = operand else { continue }
            let spanned = padded(t.shape)[..<batchAxes].reduce(1, *)
            guard t.shape.count <= rank, spanned == batch else {
                throw CompilerError.batchDimension(
                    node: node.name,
                    detail: "encrypted operand \(index) of shape \(t.shape) does not hold the batch of \(batch) images in the axes where the output \(outputShape) holds it")
            }
        }
        let indexA = broadcastIndex(shapeOf(operands[0])), indexB = broadcastIndex(shapeOf(operands[1]))
        // The operand's lanes arranged as the output's (a gather where it is broadcast).
        func aligned(_ t: PackedTensor, _ index: (Int, Int) -> Int) throws -> ValueID {
            context.gather([try value(of: t, node: node)], (0..<perImage).map { Int32(index(0, $0)) })
        }
        let op = node.operation
        let result: ValueID
        switch (operands[0], operands[1]) {
        case (.packed(let a), .packed(let b)):
            let x = try aligned(a, indexA), y = try aligned(b, indexB)
            switch op {
            case .add: result = context.add(x, y)
            case .sub: result = context.sub(x, y)
            default: result = context.mul(x, y)
            }
        case (.packed(let a), .plain(let c)), (.plain(let c), .packed(let a)):
            let cipherFirst: Bool
            if case .packed = operands[0] { cipherFirst = true } else { cipherFirst = false }
            let constants = c.floats.map(Double.init)
            let indexC = cipherFirst ? indexB : indexA
            var x = try aligned(a, cipherFirst ? indexA : indexB)
            if op == .sub && !cipherFirst { x = context.negate(x) }
            let sign = op == .sub && cipherFirst ? -1.0 : 1.0
            // perLane[r][n]: the constant of lane r in image n.
            let perLane = (0..<perImage).map { r in (0..<batch).map { sign * constants[indexC($0, r)] } }
            let imagesAgree = perLane.allSatisfy { lane in lane.allSatisfy { $0 == lane[0] } }
            let lanesAgree = imagesAgree && perLane.allSatisfy { $0[0] == perLane[0][0] }
            if lanesAgree {
                let k = perLane[0][0]
                switch op {
                case .add, .sub: result = k == 0 ? x : context.addConst(x, k)
                default: result = context.mulConst(x, k)
                }
            } else if imagesAgree {
                var sparse = SparseRows()
                for r in 0..<perImage {
                    if op == .mul {
                        sparse.add(r, perLane[r][0])
                        sparse.endRow(bias: 0)
                    } else {
                        sparse.add(r, 1)
                        sparse.endRow(bias: perLane[r][0])
                    }
                }
                result = context.linearMap([x], sparse.map(inputLanes: perImage))
            } else {
                // Constants that differ between images: one plaintext per lane.
                let lanes = (0..<perImage).map { r -> ValueID in
                    let lane = context.gather([x], [Int32(r)])
                    return op == .mul ? context.mulPlain(lane, perLane[r]) : context.addPlain(lane, perLane[r])
                }
                result = context.gather(lanes, (0..<perImage).map { Int32($0) })
            }
        case (.plain, .plain):
            throw CompilerError.unsupportedOperation(node: node.name, operation: op.mnemonic, layout: "batch",
                                                     hint: "both operands are constants; run the tensor pipeline (constant folding) first")
        }
        return packed(shape: outputShape, value: result, garbage: true)
    }
}
