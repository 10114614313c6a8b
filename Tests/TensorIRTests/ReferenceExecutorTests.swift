import Foundation
import Testing
@testable import TensorIR

// Every expected value here is computed independently of the executor: by hand, or by a naive loop
// nest written out in this file.

/// Deterministic pseudo-random values in [-1, 1).
private struct SplitMix {
    var state: UInt64
    mutating func next() -> Float {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Float(z >> 40) / Float(1 << 23) - 1
    }
    mutating func tensor(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, floats: (0..<shape.reduce(1, *)).map { _ in next() })
    }
}

/// Runs one operation whose operands are graph inputs named o0, o1, ...
private func run(_ operation: TensorIR.Operation, _ operands: [Tensor], threads: Int = 2) throws -> Tensor {
    var graph = TensorGraph()
    let inputs = operands.indices.map { graph.append(name: "o\($0)", .input, type: operands[$0].type) }
    graph.outputs = [graph.append(name: "y", operation, inputs: inputs)]
    var feeds: [String: Tensor] = [:]
    for (index, operand) in operands.enumerated() { feeds["o\(index)"] = operand }
    return try ReferenceExecutor(graph: graph, threads: threads).run(inputs: feeds)["y"]!
}

/// Element-by-element closeness relative to the larger magnitude (at least 1).
private func expectClose(_ actual: Tensor, _ expected: Tensor, tolerance: Float = 1e-5,
                         sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.shape == expected.shape, sourceLocation: sourceLocation)
    guard actual.shape == expected.shape else { return }
    let a = actual.floats, e = expected.floats
    var worst: Float = 0
    for index in a.indices { worst = max(worst, abs(a[index] - e[index]) / max(1, abs(e[index]))) }
    #expect(worst <= tolerance, "largest relative error \(worst)", sourceLocation: sourceLocation)
}

// MARK: naive references

/// Row-major index of `index` in `shape`.
private func offset(_ index: [Int], _ shape: [Int]) -> Int {
    zip(index, shape).reduce(0) { $0 * $1.1 + $1.0 }
}

/// The 7-loop convolution in Double.
private func naiveConv(_ x: Tensor, _ w: Tensor, _ b: Tensor?, _ a: ConvAttributes) -> Tensor {
    let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (m, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
    let oh = (h + a.pads[0] + a.pads[2] - a.dilations[0] * (kh - 1) - 1) / a.strides[0] + 1
    let ow = (wd + a.pads[1] + a.pads[3] - a.dilations[1] * (kw - 1) - 1) / a.strides[1] + 1
    let xs = x.floats, ws = w.floats, bs = b?.floats
    var out = [Float]()
    for image in 0..<n {
        for channel in 0..<m {
            let group = channel / (m / a.group)
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var sum = Double(bs?[channel] ?? 0)
                    for ic in 0..<cg {
                        for ky in 0..<kh {
                            for kx in 0..<kw {
                                let iy = oy * a.strides[0] - a.pads[0] + ky * a.dilations[0]
                                let ix = ox * a.strides[1] - a.pads[1] + kx * a.dilations[1]
                                guard iy >= 0, iy < h, ix >= 0, ix < wd else { continue }
                                sum += Double(xs[((image * c + group * cg + ic) * h + iy) * wd + ix])
                                    * Double(ws[((channel * cg + ic) * kh + ky) * kw + kx])
                            }
                        }
                    }
                    out.append(Float(sum))
                }
            }
        }
    }
    return Tensor(shape: [n, m, oh, ow], floats: out)
}

/// C[i, j] = Σ_k A[i, k]·B[k, j] for row-major matrices, in Double.
private func naiveMatrixProduct(_ a: [Float], _ b: [Float], rows: Int, depth: Int, columns: Int) -> [Double] {
    var c = [Double](repeating: 0, count: rows * columns)
    for i in 0..<rows {
        for j in 0..<columns {
            for k in 0..<depth { c[i * columns + j] += Double(a[i * depth + k]) * Double(b[k * columns + j]) }
        }
    }
    return c
}

private func transposed(_ t: Tensor) -> Tensor {
    let (r, c) = (t.shape[0], t.shape[1]), v = t.floats
    return Tensor(shape: [c, r], floats: (0..<(r * c)).map { v[($0 % r) * c + $0 / r] })
}

@Suite struct ReferenceExecutorTests {
    // MARK: convolution

    struct ConvCase: Sendable, CustomStringConvertible {
        var input: [Int]            // N, C, H, W
        var outputChannels: Int
        var kernel: [Int]
        var strides = [1, 1]
        var dilations = [1, 1]
        var pads = [0, 0, 0, 0]
        var group = 1
        var bias = true
        var description: String { "x\(input) M\(outputChannels) k\(kernel) s\(strides) d\(dilations) p\(pads) g\(group)" }
    }

    static let convCases: [ConvCase] = [
        ConvCase(input: [1, 5, 6, 7], outputChannels: 6, kernel: [1, 1]),                          // pointwise fast path
        ConvCase(input: [1, 3, 9, 9], outputChannels: 5, kernel: [3, 3], pads: [1, 1, 1, 1]),
        ConvCase(input: [2, 4, 10, 9], outputChannels: 7, kernel: [3, 2], strides: [2, 3], pads: [2, 0, 1, 1], bias: false),
        ConvCase(input: [1, 3, 11, 11], outputChannels: 4, kernel: [3, 3], dilations: [2, 3], pads: [1, 2, 0, 3]),
        ConvCase(input: [1, 6, 8, 8], outputChannels: 9, kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], group: 3),
        ConvCase(input: [2, 5, 7, 6], outputChannels: 5, kernel: [3, 3], strides: [1, 2], pads: [1, 1, 1, 1], group: 5), // depthwise
        ConvCase(input: [1, 3, 7, 7], outputChannels: 6, kernel: [3, 3], dilations: [2, 2], pads: [2, 2, 2, 2], group: 3), // multiplier 2
        ConvCase(input: [1, 8, 5, 5], outputChannels: 3, kernel: [1, 1], strides: [2, 2]),        // strided 1×1
        ConvCase(input: [1, 2, 4, 4], outputChannels: 2, kernel: [5, 5], pads: [1, 1, 1, 1]),      // kernel larger than input
        ConvCase(input: [1, 3, 12, 12], outputChannels: 70, kernel: [3, 3], pads: [1, 1, 1, 1]),   // several GEMM tiles
    ]

    @Test(arguments: convCases)
    func convMatchesNaiveLoops(_ c: ConvCase) throws {
        var random = SplitMix(state: UInt64(c.description.utf8.count * 7919 + c.outputChannels))
        let attributes = ConvAttributes(kernel: c.kernel, strides: c.strides, dilations: c.dilations, pads: c.pads, group: c.group)
        let x = random.tensor(c.input)
        let w = random.tensor([c.outputChannels, c.input[1] / c.group] + c.kernel)
        let b = c.bias ? random.tensor([c.outputChannels]) : nil
        let expected = naiveConv(x, w, b, attributes)
        for threads in [1, 3] {
            let y = try run(.conv(attributes), [x, w] + (b.map { [$0] } ?? []), threads: threads)
            expectClose(y, expected, tolerance: 1e-6)
        }
    }

    @Test func convHandComputed() throws {
        // 1 channel 3×3 input, 2×2 kernel of ones, bias 10: each output is its window sum + 10.
        let x = Tensor(shape: [1, 1, 3, 3], floats: [1, 2, 3, 4, 5, 6, 7, 8, 9])
        let w = Tensor(shape: [1, 1, 2, 2], floats: [1, 1, 1, 1])
        let y = try run(.conv(ConvAttributes(kernel: [2, 2])), [x, w, Tensor(shape: [1], floats: [10])])
        #expect(y == Tensor(shape: [1, 1, 2, 2], floats: [22, 26, 34, 38]))
    }

    @Test func convRejectsChannelMismatch() {
        let x = Tensor.zeros([1, 4, 5, 5]), w = Tensor.zeros([2, 3, 3, 3])
        #expect(throws: TensorIRError.self) { try run(.conv(ConvAttributes(kernel: [3, 3])), [x, w]) }
    }

    @Test func convAccumulatesInDouble() throws {
        // 1e8 + 1 − 1e8 in Float would be 0; summed in Double before rounding it is 1.
        let x = Tensor(shape: [1, 3, 1, 1], floats: [1e8, 1, -1e8])
        let w = Tensor(shape: [1, 3, 1, 1], floats: [1, 1, 1])
        #expect(try run(.conv(ConvAttributes(kernel: [1, 1])), [x, w]).floats == [1])
    }

    // MARK: gemm, matmul, linear

    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func gemmMatchesNaive(transA: Bool, transB: Bool) throws {
        var random = SplitMix(state: 11)
        let (m, k, n) = (5, 7, 6)
        let a = random.tensor([m, k]), b = random.tensor([k, n])
        let alpha: Float = 0.75, beta: Float = -2
        let product = naiveMatrixProduct(a.floats, b.floats, rows: m, depth: k, columns: n)
        for cShape in [[n], [m, 1], [1], [m, n], []] {
            let c = random.tensor(cShape)
            let cv = c.floats
            var expected = [Float]()
            for i in 0..<m {
                for j in 0..<n {
                    let ci = cShape == [n] ? j : cShape == [m, 1] ? i : cShape == [m, n] ? i * n + j : 0
                    expected.append(Float(Double(alpha) * product[i * n + j] + Double(beta) * Double(cv[ci])))
                }
            }
            let y = try run(.gemm(alpha: alpha, beta: beta, transA: transA, transB: transB),
                            [transA ? transposed(a) : a, transB ? transposed(b) : b, c])
            expectClose(y, Tensor(shape: [m, n], floats: expected), tolerance: 1e-6)
        }
        let withoutC = try run(.gemm(alpha: 1, beta: 1, transA: transA, transB: transB),
                               [transA ? transposed(a) : a, transB ? transposed(b) : b])
        expectClose(withoutC, Tensor(shape: [m, n], floats: product.map { Float($0) }), tolerance: 1e-6)
    }

    @Test func gemmHandComputed() throws {
        let a = Tensor(shape: [2, 2], floats: [1, 2, 3, 4])
        let b = Tensor(shape: [2, 2], floats: [5, 6, 7, 8])
        let c = Tensor(shape: [2], floats: [1, -1])
        // A·Bᵀ = [[17, 23], [39, 53]]; 2·that + 0.5·c.
        let y = try run(.gemm(alpha: 2, beta: 0.5, transA: false, transB: true), [a, b, c])
        #expect(y == Tensor(shape: [2, 2], floats: [34.5, 45.5, 78.5, 105.5]))
    }

    @Test func gemmRejectsInnerMismatch() {
        #expect(throws: TensorIRError.self) {
            try run(.gemm(alpha: 1, beta: 1, transA: false, transB: false), [Tensor.zeros([2, 3]), Tensor.zeros([2, 3])])
        }
    }

    /// numpy matmul over explicit batch loops: a[..., M, K] × b[..., K, N] with broadcast batches.
    private func naiveMatMul(_ a: Tensor, _ b: Tensor) -> Tensor {
        let aShape = a.rank == 1 ? [1, a.shape[0]] : a.shape
        let bShape = b.rank == 1 ? [b.shape[0], 1] : b.shape
        let (m, k, n) = (aShape[aShape.count - 2], aShape[aShape.count - 1], bShape[bShape.count - 1])
        let aBatch = Array(aShape.dropLast(2)), bBatch = Array(bShape.dropLast(2))
        let rank = max(aBatch.count, bBatch.count)
        let aPadded = [Int](repeating: 1, count: rank - aBatch.count) + aBatch
        let bPadded = [Int](repeating: 1, count: rank - bBatch.count) + bBatch
        let batch = zip(aPadded, bPadded).map { max($0, $1) }
        var values = [Float]()
        let batches = batch.reduce(1, *)
        for flat in 0..<batches {
            var index = [Int](repeating: 0, count: rank), rest = flat
            for axis in stride(from: rank - 1, through: 0, by: -1) { index[axis] = rest % batch[axis]; rest /= batch[axis] }
            let aIndex = zip(index, aPadded).map { $1 == 1 ? 0 : $0 }, bIndex = zip(index, bPadded).map { $1 == 1 ? 0 : $0 }
            let aStart = offset(aIndex, aPadded) * m * k, bStart = offset(bIndex, bPadded) * k * n
            let product = naiveMatrixProduct(Array(a.floats[aStart..<(aStart + m * k)]), Array(b.floats[bStart..<(bStart + k * n)]),
                                             rows: m, depth: k, columns: n)
            values += product.map { Float($0) }
        }
        var shape = batch
        if a.rank > 1 { shape.append(m) }
        if b.rank > 1 { shape.append(n) }
        return Tensor(shape: shape, floats: values)
    }

    @Test(arguments: [
        ([3, 4], [4, 5]), ([4], [4, 5]), ([3, 4], [4]), ([6], [6]), ([2, 3, 4], [4, 5]), ([4], [2, 4, 3]),
        ([2, 1, 3, 4], [3, 4, 2]), ([3, 4], [2, 4, 5]), ([1, 2, 3], [2, 3, 2]),
    ])
    func matMulFollowsNumpy(aShape: [Int], bShape: [Int]) throws {
        var random = SplitMix(state: UInt64(aShape.count * 10 + bShape.count))
        let a = random.tensor(aShape), b = random.tensor(bShape)
        expectClose(try run(.matMul, [a, b]), naiveMatMul(a, b), tolerance: 1e-6)
    }

    @Test func matMulShapesByHand() throws {
        let v = Tensor(shape: [3], floats: [1, 2, 3])
        #expect(try run(.matMul, [v, v]) == Tensor(shape: [], floats: [14]))
        let m = Tensor(shape: [2, 3], floats: [1, 0, 0, 0, 1, 1])
        #expect(try run(.matMul, [m, v]) == Tensor(shape: [2], floats: [1, 5]))
        #expect(throws: TensorIRError.self) { try run(.matMul, [m, m]) }
        #expect(throws: TensorIRError.self) { try run(.matMul, [Tensor.zeros([2, 2, 3]), Tensor.zeros([3, 3, 1])]) }
    }

    @Test func linearMatchesNaive() throws {
        var random = SplitMix(state: 5)
        let x = random.tensor([2, 3, 5]), w = random.tensor([4, 5]), bias = random.tensor([4])
        let product = naiveMatrixProduct(x.floats, transposed(w).floats, rows: 6, depth: 5, columns: 4)
        let bv = bias.floats
        let expected = Tensor(shape: [2, 3, 4], floats: product.enumerated().map { Float($0.element + Double(bv[$0.offset % 4])) })
        expectClose(try run(.linear, [x, w, bias]), expected, tolerance: 1e-6)
        expectClose(try run(.linear, [x, w]), Tensor(shape: [2, 3, 4], floats: product.map { Float($0) }), tolerance: 1e-6)
        #expect(throws: TensorIRError.self) { try run(.linear, [x, random.tensor([4, 3])]) }
    }

    // MARK: normalization and elementwise

    @Test func batchNormalizationByHand() throws {
        let x = Tensor(shape: [1, 2, 1, 2], floats: [1, 2, 3, 4])
        let scale = Tensor(shape: [2], floats: [2, 1]), bias = Tensor(shape: [2], floats: [0, 1])
        let mean = Tensor(shape: [2], floats: [1, 3]), variance = Tensor(shape: [2], floats: [4, 0.25])
        // channel 0: (x − 1)/2·2 + 0 = x − 1; channel 1: (x − 3)/0.5 + 1 = 2x − 5 (ε = 0).
        let y = try run(.batchNormalization(epsilon: 0), [x, scale, bias, mean, variance])
        #expect(y == Tensor(shape: [1, 2, 1, 2], floats: [0, 1, 1, 3]))
        let withEpsilon = try run(.batchNormalization(epsilon: 5), [x, scale, bias, mean, variance])
        expectClose(withEpsilon, Tensor(shape: [1, 2, 1, 2], floats: [0, 2.0 / 3.0, 1, 1 + 1 / Float(5.25).squareRoot()]))
    }

    @Test func affineByHand() throws {
        let x = Tensor(shape: [2, 3], floats: [1, 2, 3, 4, 5, 6])
        let y = try run(.affine, [x, Tensor(shape: [3], floats: [1, 10, -1]), Tensor(shape: [3], floats: [0, 1, 2])])
        #expect(y == Tensor(shape: [2, 3], floats: [1, 21, -1, 4, 51, -4]))
        #expect(throws: TensorIRError.self) {
            try run(.affine, [x, Tensor(shape: [2], floats: [1, 1]), Tensor(shape: [2], floats: [0, 0])])
        }
    }

    @Test func broadcastingArithmetic() throws {
        let a = Tensor(shape: [2, 3], floats: [1, 2, 3, 4, 5, 6])
        #expect(try run(.add, [a, Tensor(shape: [3], floats: [10, 20, 30])]) == Tensor(shape: [2, 3], floats: [11, 22, 33, 14, 25, 36]))
        #expect(try run(.sub, [a, Tensor(shape: [2, 1], floats: [1, 2])]) == Tensor(shape: [2, 3], floats: [0, 1, 2, 2, 3, 4]))
        #expect(try run(.mul, [Tensor(shape: [], floats: [2]), a]) == Tensor(shape: [2, 3], floats: [2, 4, 6, 8, 10, 12]))
        // [2, 1, 3] × [4, 1] → [2, 4, 3]
        let p = Tensor(shape: [2, 1, 3], floats: [1, 2, 3, 4, 5, 6]), q = Tensor(shape: [4, 1], floats: [1, 2, 3, 4])
        var expected = [Float]()
        for i in 0..<2 { for j in 0..<4 { for k in 0..<3 { expected.append(Float(i * 3 + k + 1) * Float(j + 1)) } } }
        #expect(try run(.mul, [p, q]) == Tensor(shape: [2, 4, 3], floats: expected))
        // [1, 3, 1, 2] − [2, 1, 2, 1] → [2, 3, 2, 2]
        let r = Tensor(shape: [1, 3, 1, 2], floats: [1, 2, 3, 4, 5, 6]), s = Tensor(shape: [2, 1, 2, 1], floats: [10, 20, 30, 40])
        var difference = [Float]()
        for i in 0..<2 { for j in 0..<3 { for k in 0..<2 { for l in 0..<2 {
            difference.append(Float(j * 2 + l + 1) - Float((i * 2 + k + 1) * 10))
        } } } }
        #expect(try run(.sub, [r, s]) == Tensor(shape: [2, 3, 2, 2], floats: difference))
        #expect(throws: TensorIRError.self) { try run(.add, [a, Tensor.zeros([2])]) }
    }

    @Test func integerArithmeticStaysInteger() throws {
        let a = Tensor(shape: [3], int64s: [1, 2, 3]), b = Tensor(shape: [1], int64s: [10])
        #expect(try run(.add, [a, b]) == Tensor(shape: [3], int64s: [11, 12, 13]))
        #expect(try run(.mul, [a, b]) == Tensor(shape: [3], int64s: [10, 20, 30]))
    }

    @Test func activations() throws {
        let x = Tensor(shape: [5], floats: [-2, -0.5, 0, 0.5, 3])
        #expect(try run(.relu, [x]).floats == [0, 0, 0, 0.5, 3])
        #expect(try run(.clip(min: -1, max: 1), [x]).floats == [-1, -0.5, 0, 0.5, 1])
        #expect(try run(.clip(min: 0, max: nil), [x]).floats == [0, 0, 0, 0.5, 3])
        #expect(try run(.clip(min: nil, max: 0.25), [x]).floats == [-2, -0.5, 0, 0.25, 0.25])
        let sigmoid = try run(.sigmoid, [x]).floats
        let expected: [Double] = [0.11920292202211755, 0.3775406687981454, 0.5, 0.6224593312018546, 0.9525741268224334]
        for (value, reference) in zip(sigmoid, expected) { #expect(abs(Double(value) - reference) < 1e-7) }
    }

    // MARK: pooling (values checked against onnxruntime 1.x by hand; x = 1...25 as a 5×5 image)

    private static let grid = Tensor(shape: [1, 1, 5, 5], floats: (1...25).map(Float.init))

    @Test func maxPoolWithPaddingAndCeilMode() throws {
        let floor = try run(.maxPool(PoolAttributes(kernel: [2, 2], strides: [2, 2])), [Self.grid])
        #expect(floor == Tensor(shape: [1, 1, 2, 2], floats: [7, 9, 17, 19]))
        let ceil = try run(.maxPool(PoolAttributes(kernel: [2, 2], strides: [2, 2], ceilMode: true)), [Self.grid])
        #expect(ceil == Tensor(shape: [1, 1, 3, 3], floats: [7, 9, 10, 17, 19, 20, 22, 24, 25]))
        let negated = Tensor(shape: [1, 1, 5, 5], floats: (1...25).map { -Float($0) })
        let padded = try run(.maxPool(PoolAttributes(kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1])), [negated])
        // Windows over −x: the maximum is the smallest x in the window (padding never wins).
        #expect(padded == Tensor(shape: [1, 1, 3, 3], floats: [-1, -2, -4, -6, -7, -9, -16, -17, -19]))
    }

    @Test func maxPoolWithDilation() throws {
        // taps (oy + 2i, ox + 2j), i, j ∈ {0, 1}: the maximum is the bottom-right tap.
        let y = try run(.maxPool(PoolAttributes(kernel: [2, 2], dilations: [2, 2])), [Self.grid])
        #expect(y == Tensor(shape: [1, 1, 3, 3], floats: [13, 14, 15, 18, 19, 20, 23, 24, 25]))
    }

    @Test func averagePoolCeilModeAndCountIncludePad() throws {
        // Ceil mode adds a last window that hangs past the input; it never counts those taps.
        for include in [false, true] {
            let y = try run(.averagePool(PoolAttributes(kernel: [2, 2], strides: [2, 2], ceilMode: true, countIncludePad: include)), [Self.grid])
            #expect(y == Tensor(shape: [1, 1, 3, 3], floats: [4, 6, 7.5, 14, 16, 17.5, 21.5, 23.5, 25]))
        }
        // Declared padding counts in the divisor with countIncludePad: corner (0, 0) = (1+2+6+7)/9.
        let included = try run(.averagePool(PoolAttributes(kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1],
                                                           ceilMode: true, countIncludePad: true)), [Self.grid])
        expectClose(included, Tensor(shape: [1, 1, 3, 3], floats: [16.0 / 9, 33.0 / 9, 28.0 / 9, 69.0 / 9, 117.0 / 9, 87.0 / 9,
                                                                  76.0 / 9, 123.0 / 9, 88.0 / 9]), tolerance: 1e-6)
        let excluded = try run(.averagePool(PoolAttributes(kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1],
                                                           countIncludePad: false)), [Self.grid])
        expectClose(excluded, Tensor(shape: [1, 1, 3, 3], floats: [4, 5.5, 7, 11.5, 13, 14.5, 19, 20.5, 22]), tolerance: 1e-6)
        // Only begin padding declared: the ceil-mode window past the end counts 3×2 taps.
        let asymmetric = try run(.averagePool(PoolAttributes(kernel: [3, 3], strides: [2, 2], pads: [1, 1, 0, 0],
                                                             ceilMode: true, countIncludePad: true)), [Self.grid])
        expectClose(asymmetric, Tensor(shape: [1, 1, 3, 3], floats: [16.0 / 9, 33.0 / 9, 28.0 / 6, 69.0 / 9, 117.0 / 9, 87.0 / 6,
                                                                    76.0 / 6, 123.0 / 6, 88.0 / 4]), tolerance: 1e-6)
    }

    @Test func averagePoolWithDilationAndPadding() throws {
        let attributes = PoolAttributes(kernel: [2, 2], dilations: [2, 2], pads: [1, 1, 1, 1])
        let included = try run(.averagePool({ var a = attributes; a.countIncludePad = true; return a }()), [Self.grid])
        #expect(included.floats.prefix(5) == [1.75, 3.5, 4, 4.5, 2.25])
        let excluded = try run(.averagePool(attributes), [Self.grid])
        #expect(excluded.floats.prefix(5) == [7, 7, 8, 9, 9])
    }

    @Test func globalAveragePool() throws {
        let x = Tensor(shape: [2, 2, 1, 3], floats: [1, 2, 3, 4, 5, 9, -1, -1, -1, 0, 0, 1.5])
        #expect(try run(.globalAveragePool, [x]) == Tensor(shape: [2, 2, 1, 1], floats: [2, 6, -1, 0.5]))
    }

    // MARK: layout

    @Test func flattenAndReshape() throws {
        let x = Tensor(shape: [2, 3, 4], floats: (0..<24).map(Float.init))
        #expect(try run(.flatten(axis: 1), [x]).shape == [2, 12])
        #expect(try run(.flatten(axis: 0), [x]).shape == [1, 24])
        #expect(try run(.flatten(axis: -1), [x]).shape == [6, 4])
        #expect(try run(.flatten(axis: 3), [x]).shape == [24, 1])
        #expect(try run(.flatten(axis: 1), [x]).floats == x.floats)
        func reshaped(_ target: [Int64], allowZero: Bool = false) throws -> [Int] {
            try run(.reshape(allowZero: allowZero), [x, Tensor(shape: [target.count], int64s: target)]).shape
        }
        #expect(try reshaped([0, -1]) == [2, 12])
        #expect(try reshaped([-1, 0, 2]) == [4, 3, 2])
        #expect(try reshaped([4, 6]) == [4, 6])
        #expect(throws: TensorIRError.self) { try reshaped([5, -1]) }
        #expect(throws: TensorIRError.self) { try reshaped([-1, -1]) }
        #expect(throws: TensorIRError.self) { try reshaped([0, 4], allowZero: true) }
        let empty = Tensor(shape: [0, 3], floats: [])
        #expect(try run(.reshape(allowZero: true), [empty, Tensor(shape: [2], int64s: [3, 0])]).shape == [3, 0])
    }

    @Test func identityAndDropoutPassThrough() throws {
        let x = Tensor(shape: [2], floats: [1, -1])
        #expect(try run(.identity, [x]) == x)
        #expect(try run(.dropout, [x]) == x)
    }

    @Test func padAndCrop() throws {
        let x = Tensor(shape: [2, 3], floats: [1, 2, 3, 4, 5, 6])
        #expect(try run(.pad(pads: [1, 0, 0, 2], value: 9), [x])
            == Tensor(shape: [3, 5], floats: [9, 9, 9, 9, 9, 1, 2, 3, 9, 9, 4, 5, 6, 9, 9]))
        // Negative pads crop: drop the first row and the last column, add one column in front.
        #expect(try run(.pad(pads: [-1, 1, 0, -1], value: 0), [x]) == Tensor(shape: [1, 3], floats: [0, 4, 5]))
        #expect(try run(.pad(pads: [0, -3, 0, 0], value: 0), [x]).shape == [2, 0])
        let nchw = Tensor(shape: [1, 1, 2, 2], floats: [1, 2, 3, 4])
        #expect(try run(.pad(pads: [0, 0, 1, 1, 0, 0, 0, 0], value: 0), [nchw])
            == Tensor(shape: [1, 1, 3, 3], floats: [0, 0, 0, 0, 1, 2, 0, 3, 4]))
        #expect(try run(.pad(pads: [1, 0], value: 0), [Tensor(shape: [2], int64s: [7, 8])]) == Tensor(shape: [3], int64s: [0, 7, 8]))
        #expect(throws: TensorIRError.self) { try run(.pad(pads: [0, 0, -3, 0], value: 0), [x]) }
        #expect(throws: TensorIRError.self) { try run(.pad(pads: [1, 1], value: 0), [x]) }
    }

    @Test func concat() throws {
        let a = Tensor(shape: [2, 1], floats: [1, 2]), b = Tensor(shape: [2, 2], floats: [3, 4, 5, 6])
        #expect(try run(.concat(axis: 1), [a, b]) == Tensor(shape: [2, 3], floats: [1, 3, 4, 2, 5, 6]))
        #expect(try run(.concat(axis: -1), [b, a]) == Tensor(shape: [2, 3], floats: [3, 4, 1, 5, 6, 2]))
        #expect(try run(.concat(axis: 0), [b, b]) == Tensor(shape: [4, 2], floats: [3, 4, 5, 6, 3, 4, 5, 6]))
        #expect(try run(.concat(axis: 0), [Tensor(shape: [1], int64s: [1]), Tensor(shape: [2], int64s: [2, 3])])
            == Tensor(shape: [3], int64s: [1, 2, 3]))
        #expect(throws: TensorIRError.self) { try run(.concat(axis: 0), [a, b]) }
    }

    // MARK: graph-level behaviour

    @Test func constantsInputsAndObservation() throws {
        // y = relu(x + c) · x, with x used twice: values are released only after their last use.
        var graph = TensorGraph()
        let x = graph.append(name: "x", .input, type: TensorType(shape: [3]))
        let c = graph.append(name: "c", .constant(Tensor(shape: [3], floats: [1, -5, 0])))
        let sum = graph.append(name: "sum", .add, inputs: [x, c])
        let rectified = graph.append(name: "rectified", .relu, inputs: [sum])
        let product = graph.append(name: "y", .mul, inputs: [rectified, x])
        graph.outputs = [product, sum]
        var seen: [String] = []
        let results = try ReferenceExecutor(graph: graph, threads: 1).run(inputs: ["x": Tensor(shape: [3], floats: [1, 2, -3])]) { node, value in
            seen.append("\(node.name)=\(value.floats)")
        }
        #expect(seen == ["x=[1.0, 2.0, -3.0]", "c=[1.0, -5.0, 0.0]", "sum=[2.0, -3.0, -3.0]", "rectified=[2.0, 0.0, 0.0]", "y=[2.0, 0.0, -0.0]"])
        #expect(results.count == 2)
        #expect(results["y"]?.floats == [2, 0, 0])
        #expect(results["sum"]?.floats == [2, -3, -3])
    }

    @Test func rejectsMissingAndMismatchedInputs() throws {
        var graph = TensorGraph()
        let x = graph.append(name: "image", .input, type: TensorType(shape: [1, 3]))
        graph.outputs = [graph.append(name: "y", .relu, inputs: [x])]
        let executor = ReferenceExecutor(graph: graph)
        #expect(throws: TensorIRError.missingInput(name: "image")) { try executor.run(inputs: [:]) }
        #expect(throws: TensorIRError.inputMismatch(name: "image", expected: TensorType(shape: [1, 3]), got: TensorType(shape: [3]))) {
            try executor.run(inputs: ["image": Tensor.zeros([3])])
        }
        #expect(throws: TensorIRError.inputMismatch(name: "image", expected: TensorType(shape: [1, 3]),
                                                    got: TensorType(elementType: .int64, shape: [1, 3]))) {
            try executor.run(inputs: ["image": Tensor(shape: [1, 3], int64s: [1, 2, 3])])
        }
        #expect(try executor.run(inputs: ["image": Tensor(shape: [1, 3], floats: [-1, 0, 1])])["y"]?.floats == [0, 0, 1])
    }

    @Test func rejectsAValueOfAnotherTypeThanRecorded() {
        var graph = TensorGraph()
        let x = graph.append(name: "x", .input, type: TensorType(shape: [2, 2]))
        graph.outputs = [graph.append(name: "y", .flatten(axis: 0), inputs: [x], type: TensorType(shape: [2, 2]))]
        #expect(throws: TensorIRError.self) { try ReferenceExecutor(graph: graph).run(inputs: ["x": Tensor.zeros([2, 2])]) }
    }

    @Test func smallResidualNetworkMatchesNaiveComposition() throws {
        // conv → batch norm → relu → max pool → conv + shortcut → global average pool → flatten → gemm
        var random = SplitMix(state: 99)
        let image = random.tensor([1, 2, 8, 8])
        let w1 = random.tensor([4, 2, 3, 3]), w2 = random.tensor([4, 4, 3, 3]), fc = random.tensor([3, 4])
        let bn = (0..<4).map { _ in random.tensor([4]) }
        var graph = TensorGraph()
        let x = graph.append(name: "x", .input, type: image.type)
        let c1 = graph.append(name: "c1", .conv(ConvAttributes(kernel: [3, 3], pads: [1, 1, 1, 1])), inputs: [x, graph.append(name: "w1", .constant(w1))])
        let variance = Tensor(shape: [4], floats: bn[3].floats.map { abs($0) + 0.5 })
        let norm = graph.append(name: "bn", .batchNormalization(epsilon: 1e-5), inputs: [
            c1, graph.append(name: "s", .constant(bn[0])), graph.append(name: "b", .constant(bn[1])),
            graph.append(name: "m", .constant(bn[2])), graph.append(name: "v", .constant(variance)),
        ])
        let r1 = graph.append(name: "r1", .relu, inputs: [norm])
        let p1 = graph.append(name: "p1", .maxPool(PoolAttributes(kernel: [2, 2], strides: [2, 2])), inputs: [r1])
        let c2 = graph.append(name: "c2", .conv(ConvAttributes(kernel: [3, 3], pads: [1, 1, 1, 1])), inputs: [p1, graph.append(name: "w2", .constant(w2))])
        let residual = graph.append(name: "res", .add, inputs: [c2, p1])
        let pooled = graph.append(name: "gap", .globalAveragePool, inputs: [residual])
        let flat = graph.append(name: "flat", .flatten(axis: 1), inputs: [pooled])
        graph.outputs = [graph.append(name: "logits", .gemm(alpha: 1, beta: 1, transA: false, transB: true), inputs: [flat, graph.append(name: "fc", .constant(fc))])]
        let logits = try ReferenceExecutor(graph: graph).run(inputs: ["x": image])["logits"]!

        // The same network by hand.
        var h = naiveConv(image, w1, nil, ConvAttributes(kernel: [3, 3], pads: [1, 1, 1, 1])).floats
        for index in h.indices {
            let channel = (index / 64) % 4
            let normalized = (Double(h[index]) - Double(bn[2].floats[channel])) / (Double(variance.floats[channel]) + 1e-5).squareRoot()
            h[index] = max(0, Float(normalized * Double(bn[0].floats[channel]) + Double(bn[1].floats[channel])))
        }
        var pooledValues = [Float]()
        for channel in 0..<4 { for oy in 0..<4 { for ox in 0..<4 {
            pooledValues.append([0, 1, 8, 9].map { h[channel * 64 + oy * 16 + ox * 2 + $0] }.max()!)
        } } }
        let p = Tensor(shape: [1, 4, 4, 4], floats: pooledValues)
        let c = naiveConv(p, w2, nil, ConvAttributes(kernel: [3, 3], pads: [1, 1, 1, 1])).floats
        let means = (0..<4).map { channel in (0..<16).reduce(0.0) { $0 + Double(c[channel * 16 + $1] + pooledValues[channel * 16 + $1]) } / 16 }
        let expected = (0..<3).map { row in Float((0..<4).reduce(0.0) { $0 + means[$1] * Double(fc.floats[row * 4 + $1]) }) }
        expectClose(logits, Tensor(shape: [1, 3], floats: expected), tolerance: 1e-5)
    }
}
