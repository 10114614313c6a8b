/// A map from the lanes of `linearMap` / `gather` operands (concatenated in operand order) to the lanes of the
/// result, stored by its structure: a convolution keeps its geometry and weights (ResNet-50's take 25 M weights, not
/// the 4 G terms they expand to), small maps keep their terms.
///
/// For `linearMap`, result lane j = Σ_i weight(j, i) · operand lane i + bias[j] (weights encoded at the
/// instruction's scale, the bias added at the product scale); for `gather`, result lane j = operand lane
/// `indices[j]` (no arithmetic).
public struct LaneMap: Sendable, Hashable, Codable {
    public enum Kind: Sendable, Hashable, Codable {
        /// Result lane j is operand lane indices[j].
        case gather(indices: [Int32])
        /// Compressed sparse rows: the terms of result lane j are (columns[k], weights[k]) for
        /// rowStarts[j] ≤ k < rowStarts[j + 1]; `bias` is empty or one value per result lane.
        case sparse(rowStarts: [Int32], columns: [Int32], weights: [Double], bias: [Double])
        /// One image's NCHW convolution: operand lanes hold the input tensor [C, H, W] row-major, result lanes the
        /// output tensor [M, OH, OW].
        case convolution(LaneConvolution)
    }

    public var inputLanes: Int
    public var kind: Kind

    public init(inputLanes: Int, kind: Kind) {
        self.inputLanes = inputLanes
        self.kind = kind
    }

    /// Number of result lanes.
    public var outputLanes: Int {
        switch kind {
        case .gather(let indices): return indices.count
        case .sparse(let rowStarts, _, _, _): return max(rowStarts.count - 1, 0)
        case .convolution(let c): return c.outputChannels * c.outputHeight * c.outputWidth
        }
    }

    /// Number of (result lane, operand lane, nonzero weight) terms: the scalar multiplies a `linearMap` costs.
    /// O(weights) for a convolution.
    public var termCount: Int {
        switch kind {
        case .gather: return 0
        case .sparse(_, _, let weights, _): return weights.reduce(0) { $0 + ($1 != 0 ? 1 : 0) }
        case .convolution(let c): return c.termCount
        }
    }

    /// Whether result lane j has a nonzero bias.
    public func bias(_ j: Int) -> Double {
        switch kind {
        case .gather: return 0
        case .sparse(_, _, _, let bias): return bias.isEmpty ? 0 : bias[j]
        case .convolution(let c): return c.bias.isEmpty ? 0 : c.bias[j / (c.outputHeight * c.outputWidth)]
        }
    }

    /// Calls `body(operand lane, weight)` for each nonzero term of result lane `j` (for `gather`, once with weight 1).
    @inline(__always)
    public func forEachTerm(ofLane j: Int, _ body: (Int, Double) throws -> Void) rethrows {
        switch kind {
        case .gather(let indices):
            try body(Int(indices[j]), 1)
        case .sparse(let rowStarts, let columns, let weights, _):
            for k in Int(rowStarts[j])..<Int(rowStarts[j + 1]) where weights[k] != 0 { try body(Int(columns[k]), weights[k]) }
        case .convolution(let c):
            try c.forEachTerm(ofLane: j, body)
        }
    }

    /// Bytes the map takes in a plan file.
    public var storedBytes: Int {
        switch kind {
        case .gather(let indices): return 16 + 4 * indices.count
        case .sparse(let rowStarts, let columns, let weights, let bias): return 16 + 4 * (rowStarts.count + columns.count) + 8 * (weights.count + bias.count)
        case .convolution(let c): return 16 + 4 * LaneConvolution.geometryFieldCount + 8 * (c.weights.count + c.bias.count)
        }
    }

    /// Why the map is invalid (an index or a column outside the operand lanes, rows out of order, a non-finite
    /// weight, inconsistent convolution geometry), or nil.
    public var validationError: String? {
        guard inputLanes >= 1 else { return "the map reads \(inputLanes) operand lanes" }
        switch kind {
        case .gather(let indices):
            guard !indices.isEmpty else { return "a gather needs at least one result lane" }
            if let bad = indices.first(where: { $0 < 0 || Int($0) >= inputLanes }) { return "gather index \(bad) lies outside the \(inputLanes) operand lanes" }
        case .sparse(let rowStarts, let columns, let weights, let bias):
            guard rowStarts.count >= 2, rowStarts.first == 0, Int(rowStarts.last!) == columns.count, columns.count == weights.count else {
                return "the sparse rows (\(rowStarts.count) row starts, \(columns.count) columns, \(weights.count) weights) do not fit together"
            }
            for j in 0..<(rowStarts.count - 1) where rowStarts[j] > rowStarts[j + 1] { return "row \(j) ends before it starts" }
            if let bad = columns.first(where: { $0 < 0 || Int($0) >= inputLanes }) { return "column \(bad) lies outside the \(inputLanes) operand lanes" }
            guard bias.isEmpty || bias.count == rowStarts.count - 1 else { return "\(bias.count) biases for \(rowStarts.count - 1) result lanes" }
            if let bad = (weights + bias).first(where: { !$0.isFinite }) { return "the map holds the non-finite value \(bad)" }
        case .convolution(let c):
            if let error = c.validationError { return error }
            guard c.channels * c.height * c.width == inputLanes else {
                return "the convolution reads [\(c.channels), \(c.height), \(c.width)] but the operands hold \(inputLanes) lanes"
            }
        }
        return nil
    }
}

/// The geometry and weights of one convolution over an image's lanes (ONNX Conv semantics, 2-D, groups).
public struct LaneConvolution: Sendable, Hashable, Codable {
    public var channels: Int, height: Int, width: Int
    public var outputChannels: Int, outputHeight: Int, outputWidth: Int
    public var groups: Int
    public var kernelHeight: Int, kernelWidth: Int
    public var strideY: Int, strideX: Int
    public var padTop: Int, padLeft: Int
    public var dilationY: Int, dilationX: Int
    /// [outputChannels, channels / groups, kernelHeight, kernelWidth] row-major.
    public var weights: [Double]
    /// Empty, or one value per output channel.
    public var bias: [Double]

    /// The integer fields a plan file stores.
    static let geometryFieldCount = 15

    public init(
        channels: Int, height: Int, width: Int, outputChannels: Int, outputHeight: Int, outputWidth: Int, groups: Int,
        kernelHeight: Int, kernelWidth: Int, strideY: Int, strideX: Int, padTop: Int, padLeft: Int, dilationY: Int, dilationX: Int,
        weights: [Double], bias: [Double]
    ) {
        self.channels = channels
        self.height = height
        self.width = width
        self.outputChannels = outputChannels
        self.outputHeight = outputHeight
        self.outputWidth = outputWidth
        self.groups = groups
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        self.strideY = strideY
        self.strideX = strideX
        self.padTop = padTop
        self.padLeft = padLeft
        self.dilationY = dilationY
        self.dilationX = dilationX
        self.weights = weights
        self.bias = bias
    }

    /// The integer fields in plan-file order.
    var geometry: [Int] {
        [channels, height, width, outputChannels, outputHeight, outputWidth, groups, kernelHeight, kernelWidth,
         strideY, strideX, padTop, padLeft, dilationY, dilationX]
    }

    init(geometry g: [Int], weights: [Double], bias: [Double]) {
        self.init(channels: g[0], height: g[1], width: g[2], outputChannels: g[3], outputHeight: g[4], outputWidth: g[5],
                  groups: g[6], kernelHeight: g[7], kernelWidth: g[8], strideY: g[9], strideX: g[10], padTop: g[11],
                  padLeft: g[12], dilationY: g[13], dilationX: g[14], weights: weights, bias: bias)
    }

    var channelsPerGroup: Int { channels / groups }

    /// The weight count the geometry implies.
    var expectedWeightCount: Int { outputChannels * channelsPerGroup * kernelHeight * kernelWidth }

    var validationError: String? {
        let g = geometry
        guard g.allSatisfy({ $0 >= 0 }), channels >= 1, height >= 1, width >= 1, outputChannels >= 1, outputHeight >= 1,
              outputWidth >= 1, groups >= 1, kernelHeight >= 1, kernelWidth >= 1, strideY >= 1, strideX >= 1,
              dilationY >= 1, dilationX >= 1
        else { return "convolution geometry \(g) has a size, stride or dilation below 1 or a negative pad" }
        guard g.allSatisfy({ $0 < 1 << 24 }),
              Double(channels) * Double(height) * Double(width) < 0x1p40,
              Double(outputChannels) * Double(outputHeight) * Double(outputWidth) < 0x1p40,
              Double(outputChannels) * Double(channels) * Double(kernelHeight) * Double(kernelWidth) < 0x1p40
        else { return "convolution geometry \(g) is out of range" }
        guard channels % groups == 0, outputChannels % groups == 0 else {
            return "\(channels) input and \(outputChannels) output channels do not split into \(groups) groups"
        }
        guard weights.count == expectedWeightCount else {
            return "the convolution has \(weights.count) weights; its geometry needs \(expectedWeightCount)"
        }
        guard bias.isEmpty || bias.count == outputChannels else { return "\(bias.count) biases for \(outputChannels) output channels" }
        if let bad = (weights + bias).first(where: { !$0.isFinite }) { return "the convolution holds the non-finite value \(bad)" }
        return nil
    }

    /// Output rows (or columns) whose tap `k` lands inside the input.
    private static func validOutputs(count: Int, stride: Int, pad: Int, dilation: Int, tap: Int, extent: Int) -> Int {
        var valid = 0
        for o in 0..<count {
            let i = o * stride - pad + tap * dilation
            if i >= 0 && i < extent { valid += 1 }
        }
        return valid
    }

    /// Σ over nonzero weights of the output positions where their tap lands inside the input.
    var termCount: Int {
        let rows = (0..<kernelHeight).map { Self.validOutputs(count: outputHeight, stride: strideY, pad: padTop, dilation: dilationY, tap: $0, extent: height) }
        let columns = (0..<kernelWidth).map { Self.validOutputs(count: outputWidth, stride: strideX, pad: padLeft, dilation: dilationX, tap: $0, extent: width) }
        var total = 0
        var index = 0
        for _ in 0..<(outputChannels * channelsPerGroup) {
            for ky in 0..<kernelHeight {
                for kx in 0..<kernelWidth {
                    if weights[index] != 0 { total += rows[ky] * columns[kx] }
                    index += 1
                }
            }
        }
        return total
    }

    @inline(__always)
    func forEachTerm(ofLane j: Int, _ body: (Int, Double) throws -> Void) rethrows {
        let plane = outputHeight * outputWidth
        let mo = j / plane
        let oy = (j % plane) / outputWidth
        let ox = j % outputWidth
        let cg = channelsPerGroup
        let group = mo / (outputChannels / groups)
        for ci in 0..<cg {
            let channel = group * cg + ci
            for ky in 0..<kernelHeight {
                let iy = oy * strideY - padTop + ky * dilationY
                guard iy >= 0 && iy < height else { continue }
                for kx in 0..<kernelWidth {
                    let ix = ox * strideX - padLeft + kx * dilationX
                    guard ix >= 0 && ix < width else { continue }
                    let weight = weights[((mo * cg + ci) * kernelHeight + ky) * kernelWidth + kx]
                    if weight != 0 { try body((channel * height + iy) * width + ix, weight) }
                }
            }
        }
    }
}
