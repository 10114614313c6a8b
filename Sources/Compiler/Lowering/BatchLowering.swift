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

    func packed(shape: [Int], values: [ValueID], garbage: Bool = false) -> PackedTensor {
        PackedTensor(shape: shape, values: values,
                     layout: .explicit(Self.positions(shape: shape, batch: batch, slots: context.slots).map { Int32($0) }),
                     slots: context.slots, garbageSlots: garbage)
    }

    /// Reads a graph input.
    func input(name: String, shape: [Int]) -> PackedTensor {
        let perImage = shape.dropFirst().reduce(1, *)
        let tensor = context.input(name: name, shape: shape, positions: Self.positions(shape: shape, batch: batch, slots: context.slots),
                                   ciphertextCount: perImage)
        return tensor
    }

    // MARK: elements that are constants

    /// A per-image element that is either a ciphertext or the same known value in every image.
    enum Element {
        case cipher(ValueID)
        case constant(Double)
    }

    /// Sum of weighted ciphertexts plus a constant: Σ w·x + c; zero weights skipped. Nil terms: a constant element.
    func multiplyAccumulate(_ terms: [(ValueID, Double)], constant: Double) -> Element {
        let products = terms.filter { $0.1 != 0 }.map { context.mulConst($0.0, $0.1) }
        guard var total = context.sum(products) else { return .constant(constant) }
        if constant != 0 { total = context.addConst(total, constant) }
        return .cipher(total)
    }

    /// Turns constant elements into ciphertexts (x·0 + c from a ciphertext of the same tensor, or any input).
    func materialize(_ elements: [Element], node: Node, anchor: ValueID?) throws -> [ValueID] {
        var zero: ValueID? = nil
        return try elements.map { element in
            switch element {
            case .cipher(let value): return value
            case .constant(let c):
                if zero == nil {
                    guard let anchor else {
                        throw CompilerError.unsupportedOperation(node: node.name, operation: node.operation.mnemonic, layout: "batch",
                                                                 hint: "its output does not depend on the encrypted input")
                    }
                    zero = context.mulConst(anchor, 0)
                }
                return c == 0 ? zero! : context.addConst(zero!, c)
            }
        }
    }

    func finish(_ node: Node, shape: [Int], _ elements: [Element], garbage: Bool = false) throws -> PackedTensor {
        let anchor = elements.lazy.compactMap { if case .cipher(let v) = $0 { return v } else { return nil } }.first
        return packed(shape: shape, values: try materialize(elements, node: node, anchor: anchor), garbage: garbage)
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

        switch node.operation {
        case .identity, .dropout, .flatten, .reshape:
            let x = try packedOperand(0)
            return packed(shape: outputShape, values: x.values, garbage: x.garbageSlots)

        case .conv(let a):
            let x = try packedOperand(0)
            guard let w = try plainOperand(1, "weight"), case .plain(let weightTensor) = operands[1] else { throw unsupported("needs a weight") }
            let bias = try plainOperand(2, "bias")
            guard x.shape.count == 4, weightTensor.shape.count == 4 else { throw unsupported("needs NCHW input and a 4-D weight") }
            let (c, h, wd) = (x.shape[1], x.shape[2], x.shape[3])
            let (m, cg, kh, kw) = (weightTensor.shape[0], weightTensor.shape[1], weightTensor.shape[2], weightTensor.shape[3])
            let (oh, ow) = (outputShape[2], outputShape[3])
            let outPerGroup = m / max(a.group, 1)
            var elements: [Element] = []
            elements.reserveCapacity(m * oh * ow)
            for mo in 0..<m {
                let group = mo / max(outPerGroup, 1)
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var terms: [(ValueID, Double)] = []
                        for ci in 0..<cg {
                            let channel = group * cg + ci
                            guard channel < c else { continue }
                            for ky in 0..<kh {
                                let iy = oy * a.strides[0] - a.pads[0] + ky * a.dilations[0]
                                guard iy >= 0 && iy < h else { continue }
                                for kx in 0..<kw {
                                    let ix = ox * a.strides[1] - a.pads[1] + kx * a.dilations[1]
                                    guard ix >= 0 && ix < wd else { continue }
                                    let weight = w[((mo * cg + ci) * kh + ky) * kw + kx]
                                    terms.append((x.values[(channel * h + iy) * wd + ix], weight))
                                }
                            }
                        }
                        elements.append(multiplyAccumulate(terms, constant: bias?[mo] ?? 0))
                    }
                }
            }
            return try finish(node, shape: outputShape, elements, garbage: true)

        case .linear:
            let x = try packedOperand(0)
            guard let w = try plainOperand(1, "weight"), case .plain(let weightTensor) = operands[1], weightTensor.shape.count == 2
            else { throw unsupported("needs a 2-D weight") }
            let bias = try plainOperand(2, "bias")
            let (outputs, depth) = (weightTensor.shape[0], weightTensor.shape[1])
            guard let batchAxes = Self.batchAxisCount(of: x.shape, batch: batch), batchAxes < x.shape.count else {
                throw CompilerError.batchDimension(node: node.name, detail: "linear sums over the last axis of \(x.shape), which holds the batch of \(batch) images")
            }
            let rows = x.values.count / max(depth, 1)
            var elements: [Element] = []
            elements.reserveCapacity(rows * outputs)
            for row in 0..<rows {
                for o in 0..<outputs {
                    let terms = (0..<depth).map { (x.values[row * depth + $0], w[o * depth + $0]) }
                    elements.append(multiplyAccumulate(terms, constant: bias?[o] ?? 0))
                }
            }
            return try finish(node, shape: outputShape, elements, garbage: true)

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
            var values: [ValueID] = []
            values.reserveCapacity(x.values.count)
            for ch in 0..<channels {
                for i in 0..<inner {
                    var v = x.values[ch * inner + i]
                    if multiplier[ch] != 1 { v = context.mulConst(v, multiplier[ch]) }
                    if shift[ch] != 0 { v = context.addConst(v, shift[ch]) }
                    values.append(v)
                }
            }
            return packed(shape: outputShape, values: values, garbage: true)

        case .averagePool(let a):
            let x = try packedOperand(0)
            guard x.shape.count == 4 else { throw unsupported("needs NCHW input") }
            let (c, h, w) = (x.shape[1], x.shape[2], x.shape[3])
            let (oh, ow) = (outputShape[2], outputShape[3])
            var elements: [Element] = []
            for ch in 0..<c {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var inside: [ValueID] = []
                        var rowsPadded = 0, columnsPadded = 0
                        for ky in 0..<a.kernel[0] {
                            let iy = oy * a.strides[0] - a.pads[0] + ky * a.dilations[0]
                            if iy >= -a.pads[0] && iy < h + a.pads[2] { rowsPadded += 1 }
                        }
                        for kx in 0..<a.kernel[1] {
                            let ix = ox * a.strides[1] - a.pads[1] + kx * a.dilations[1]
                            if ix >= -a.pads[1] && ix < w + a.pads[3] { columnsPadded += 1 }
                        }
                        for ky in 0..<a.kernel[0] {
                            let iy = oy * a.strides[0] - a.pads[0] + ky * a.dilations[0]
                            guard iy >= 0 && iy < h else { continue }
                            for kx in 0..<a.kernel[1] {
                                let ix = ox * a.strides[1] - a.pads[1] + kx * a.dilations[1]
                                guard ix >= 0 && ix < w else { continue }
                                inside.append(x.values[(ch * h + iy) * w + ix])
                            }
                        }
                        let divisor = a.countIncludePad ? rowsPadded * columnsPadded : inside.count
                        let weight = divisor > 0 ? 1 / Double(divisor) : 0
                        elements.append(multiplyAccumulate(inside.map { ($0, weight) }, constant: 0))
                    }
                }
            }
            return try finish(node, shape: outputShape, elements)

        case .globalAveragePool:
            let x = try packedOperand(0)
            guard x.shape.count >= 3 else { throw unsupported("needs [N, C, spatial…]") }
            let c = x.shape[1]
            let plane = x.shape.dropFirst(2).reduce(1, *)
            let elements = (0..<c).map { ch in
                multiplyAccumulate((0..<plane).map { (x.values[ch * plane + $0], 1 / Double(plane)) }, constant: 0)
            }
            return try finish(node, shape: outputShape, elements)

        case .maxPool(let a):
            let x = try packedOperand(0)
            guard x.shape.count == 4 else { throw unsupported("needs NCHW input") }
            let (c, h, w) = (x.shape[1], x.shape[2], x.shape[3])
            let (oh, ow) = (outputShape[2], outputShape[3])
            var values: [ValueID] = []
            for ch in 0..<c {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var window: [ValueID] = []
                        for ky in 0..<a.kernel[0] {
                            let iy = oy * a.strides[0] - a.pads[0] + ky * a.dilations[0]
                            guard iy >= 0 && iy < h else { continue }
                            for kx in 0..<a.kernel[1] {
                                let ix = ox * a.strides[1] - a.pads[1] + kx * a.dilations[1]
                                guard ix >= 0 && ix < w else { continue }
                                window.append(x.values[(ch * h + iy) * w + ix])
                            }
                        }
                        guard !window.isEmpty else { throw unsupported("a pooling window lies entirely in the padding") }
                        values.append(try activations.maximum(of: window, node: node))
                    }
                }
            }
            return packed(shape: outputShape, values: values, garbage: true)

        case .add, .sub, .mul:
            return try lowerBinary(node, operands: operands, outputShape: outputShape)

        case .pad(let pads, let value):
            let x = try packedOperand(0)
            let rank = x.shape.count
            guard pads.count == 2 * rank, pads[0] == 0, pads[rank] == 0 else { throw unsupported("padding the batch dimension mixes images") }
            guard pads.allSatisfy({ $0 >= 0 }) else { throw unsupported("negative pads (cropping) are not supported") }
            let inner = Array(outputShape.dropFirst())
            let inputInner = Array(x.shape.dropFirst())
            var elements: [Element] = []
            let count = inner.reduce(1, *)
            elements.reserveCapacity(count)
            for r in 0..<count {
                var remainder = r, sourceIndex = 0, step = 1, inside = true
                for d in stride(from: inner.count - 1, through: 0, by: -1) {
                    let i = remainder % inner[d] - pads[d + 1]
                    remainder /= inner[d]
                    if i < 0 || i >= inputInner[d] { inside = false }
                    sourceIndex += i * step
                    step *= inputInner[d]
                }
                elements.append(inside ? .cipher(x.values[sourceIndex]) : .constant(Double(value)))
            }
            return try finish(node, shape: outputShape, elements, garbage: value != 0 || x.garbageSlots)

        case .concat(let axis):
            let rank = outputShape.count
            let ax = axis < 0 ? axis + rank : axis
            guard ax >= 1 else { throw unsupported("concatenating along the batch axis mixes images") }
            // Constant operands become constant elements (they must be the same for every image).
            var pieces: [(shape: [Int], elements: [Element])] = []
            for operand in operands {
                switch operand {
                case .packed(let t):
                    pieces.append((t.shape, t.values.map { .cipher($0) }))
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
            var elements: [Element] = []
            for o in 0..<outer {
                for piece in pieces {
                    let block = piece.shape[ax...].reduce(1, *)
                    elements.append(contentsOf: piece.elements[(o * block)..<((o + 1) * block)])
                }
            }
            return try finish(node, shape: outputShape, elements, garbage: true)

        case .relu, .clip, .sigmoid:
            let x = try packedOperand(0)
            let values = try x.values.map { try activations.apply(node.operation, to: $0, node: node) }
            return packed(shape: outputShape, values: values, garbage: true)

        case .gemm, .matMul:
            throw unsupported("the tensor passes turn Gemm/MatMul into linear only with a constant weight B, a bias C constant along rows, and a transposed A that is a constant or a vector; run them first, or change the model to meet those conditions")
        case .input, .constant:
            throw unsupported("graph inputs and constants are not lowered as operations")
        }
    }

    /// add/sub/mul with numpy broadcasting; constant operands become addConst/mulConst (or addPlain/mulPlain when they
    /// differ between images).
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
        let op = node.operation
        var values: [ValueID] = []
        values.reserveCapacity(perImage)
        switch (operands[0], operands[1]) {
        case (.packed(let a), .packed(let b)):
            for r in 0..<perImage {
                let x = a.values[indexA(0, r)], y = b.values[indexB(0, r)]
                switch op {
                case .add: values.append(context.add(x, y))
                case .sub: values.append(context.sub(x, y))
                default: values.append(context.mul(x, y))
                }
            }
        case (.packed(let a), .plain(let c)), (.plain(let c), .packed(let a)):
            let cipherFirst: Bool
            if case .packed = operands[0] { cipherFirst = true } else { cipherFirst = false }
            let constants = c.floats.map(Double.init)
            let indexC = cipherFirst ? indexB : indexA
            let indexX = cipherFirst ? indexA : indexB
            for r in 0..<perImage {
                let x = a.values[indexX(0, r)]
                let perSlot = (0..<batch).map { constants[indexC($0, r)] }
                let uniform = perSlot.allSatisfy { $0 == perSlot[0] }
                switch op {
                case .add:
                    values.append(uniform ? (perSlot[0] == 0 ? x : context.addConst(x, perSlot[0])) : context.addPlain(x, perSlot))
                case .sub:
                    if cipherFirst {
                        values.append(uniform ? (perSlot[0] == 0 ? x : context.addConst(x, -perSlot[0])) : context.addPlain(x, perSlot.map { -$0 }))
                    } else {
                        let negated = context.negate(x)
                        values.append(uniform ? context.addConst(negated, perSlot[0]) : context.addPlain(negated, perSlot))
                    }
                default:
                    values.append(uniform ? context.mulConst(x, perSlot[0]) : context.mulPlain(x, perSlot))
                }
            }
        case (.plain, .plain):
            throw CompilerError.unsupportedOperation(node: node.name, operation: op.mnemonic, layout: "batch",
                                                     hint: "both operands are constants; run the tensor pipeline (constant folding) first")
        }
        return packed(shape: outputShape, values: values, garbage: true)
    }
}
