import Testing
@testable import TensorIR

/// A deliberately naive interpreter (nested loops, Double arithmetic) used by the pass tests to
/// check that a rewritten graph computes what the original did. It shares no code with the
/// passes or their folding kernels.
enum NaiveLoops {
    struct Value {
        var shape: [Int]
        var data: [Double]
        var count: Int { data.count }
    }

    static func value(_ tensor: Tensor) -> Value {
        Value(shape: tensor.shape, data: tensor.floats.map(Double.init))
    }

    /// Deterministic pseudo-random values in [-1, 1) (64-bit LCG), so tests need no fixtures.
    static func pseudoRandom(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed &* 6364136223846793005 &+ 1442695040888963407
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int((state >> 33) % 2000) - 1000) / 1000
        }
    }

    static func run(_ graph: TensorGraph, inputs: [String: Value]) -> [Value] {
        var values: [NodeID: Value] = [:]
        for node in graph.nodes {
            let operands = node.inputs.map { values[$0]! }
            values[node.id] = evaluate(node, operands, inputs: inputs)
        }
        return graph.outputs.map { values[$0]! }
    }

    static func evaluate(_ node: Node, _ x: [Value], inputs: [String: Value]) -> Value {
        switch node.operation {
        case .input: return inputs[node.name]!
        case .constant(let tensor): return value(tensor)
        case .identity, .dropout: return x[0]
        case .relu: return Value(shape: x[0].shape, data: x[0].data.map { $0 > 0 ? $0 : 0 })
        case .sigmoid: return Value(shape: x[0].shape, data: x[0].data.map { 1 / (1 + exp(-$0)) })
        case .clip(let low, let high):
            return Value(shape: x[0].shape, data: x[0].data.map { min(max($0, Double(low ?? -.infinity)), Double(high ?? .infinity)) })
        case .add: return broadcast(x[0], x[1], +)
        case .sub: return broadcast(x[0], x[1], -)
        case .mul: return broadcast(x[0], x[1], *)
        case .reshape, .flatten: return Value(shape: node.type!.shape, data: x[0].data)
        case .conv(let a): return conv(x[0], x[1], x.count > 2 ? x[2] : nil, a)
        case .batchNormalization(let epsilon):
            return channelwise(x[0]) { c, v in (v - x[3].data[c]) / (x[4].data[c] + Double(epsilon)).squareRoot() * x[1].data[c] + x[2].data[c] }
        case .affine:
            return channelwise(x[0]) { c, v in v * x[1].data[c] + x[2].data[c] }
        case .gemm(let alpha, let beta, let transA, let transB):
            let a = transA ? transpose(x[0]) : x[0], b = transB ? transpose(x[1]) : x[1]
            var product = matmul2(a, b)
            product.data = product.data.map { Double(alpha) * $0 }
            if x.count > 2 { product = broadcast(product, Value(shape: x[2].shape, data: x[2].data.map { Double(beta) * $0 }), +) }
            return product
        case .matMul:
            precondition(x[0].shape.count >= 2 && x[1].shape.count == 2, "naive matmul handles [..., M, K] × [K, N] only")
            let k = x[0].shape.last!
            let rows = Value(shape: [x[0].count / k, k], data: x[0].data)
            let product = matmul2(rows, x[1])
            return Value(shape: Array(x[0].shape.dropLast()) + [x[1].shape[1]], data: product.data)
        case .linear:
            let k = x[0].shape.last!, n = x[1].shape[0], rows = x[0].count / k
            var out = [Double](repeating: 0, count: rows * n)
            for r in 0..<rows { for j in 0..<n {
                var sum = x.count > 2 ? x[2].data[j] : 0
                for i in 0..<k { sum += x[0].data[r * k + i] * x[1].data[j * k + i] }
                out[r * n + j] = sum
            } }
            return Value(shape: Array(x[0].shape.dropLast()) + [n], data: out)
        case .maxPool(let a):
            let (n, c, h, w) = (x[0].shape[0], x[0].shape[1], x[0].shape[2], x[0].shape[3])
            let (oh, ow) = (node.type!.shape[2], node.type!.shape[3])
            var out: [Double] = []
            for b in 0..<n { for ch in 0..<c { for i in 0..<oh { for j in 0..<ow {
                var best = -Double.infinity
                for di in 0..<a.kernel[0] { for dj in 0..<a.kernel[1] {
                    let y = i * a.strides[0] - a.pads[0] + di * a.dilations[0], z = j * a.strides[1] - a.pads[1] + dj * a.dilations[1]
                    if y >= 0, y < h, z >= 0, z < w { best = max(best, x[0].data[((b * c + ch) * h + y) * w + z]) }
                } }
                out.append(best)
            } } } }
            return Value(shape: node.type!.shape, data: out)
        case .concat:
            let shape = node.type!.shape
            let axis = (0..<shape.count).first { shape[$0] != x[0].shape[$0] } ?? 0
            let outer = shape[..<axis].reduce(1, *)
            var out: [Double] = []
            for block in 0..<outer {
                for operand in x {
                    let chunk = operand.shape[axis...].reduce(1, *)
                    out += operand.data[(block * chunk)..<((block + 1) * chunk)]
                }
            }
            return Value(shape: shape, data: out)
        case .pad(let pads, let padValue):
            precondition(x[0].shape.count == 2, "naive pad handles matrices only")
            let (rows, columns) = (x[0].shape[0], x[0].shape[1])
            let shape = node.type!.shape
            var out: [Double] = []
            for i in 0..<shape[0] { for j in 0..<shape[1] {
                let (r, c) = (i - pads[0], j - pads[1])
                out.append(r >= 0 && r < rows && c >= 0 && c < columns ? x[0].data[r * columns + c] : Double(padValue))
            } }
            return Value(shape: shape, data: out)
        default:
            preconditionFailure("naive interpreter does not handle \(node.operation.mnemonic)")
        }
    }

    static func broadcast(_ a: Value, _ b: Value, _ op: (Double, Double) -> Double) -> Value {
        let rank = max(a.shape.count, b.shape.count)
        let sa = [Int](repeating: 1, count: rank - a.shape.count) + a.shape
        let sb = [Int](repeating: 1, count: rank - b.shape.count) + b.shape
        let shape = zip(sa, sb).map { max($0, $1) }
        let total = shape.reduce(1, *)
        var out = [Double](repeating: 0, count: total)
        for flat in 0..<total {
            var rest = flat, ia = 0, ib = 0, strideA = 1, strideB = 1
            for axis in (0..<rank).reversed() {
                let coordinate = rest % shape[axis]
                rest /= shape[axis]
                if sa[axis] != 1 { ia += coordinate * strideA }
                if sb[axis] != 1 { ib += coordinate * strideB }
                strideA *= sa[axis]
                strideB *= sb[axis]
            }
            out[flat] = op(a.data[ia], b.data[ib])
        }
        return Value(shape: shape, data: out)
    }

    static func channelwise(_ x: Value, _ f: (Int, Double) -> Double) -> Value {
        let channels = x.shape[1], inner = x.shape[2...].reduce(1, *)
        var out = x.data
        for i in out.indices { out[i] = f((i / inner) % channels, x.data[i]) }
        return Value(shape: x.shape, data: out)
    }

    static func transpose(_ m: Value) -> Value {
        let (r, c) = (m.shape[0], m.shape[1])
        var out = [Double](repeating: 0, count: r * c)
        for i in 0..<r { for j in 0..<c { out[j * r + i] = m.data[i * c + j] } }
        return Value(shape: [c, r], data: out)
    }

    static func matmul2(_ a: Value, _ b: Value) -> Value {
        let (m, k, n) = (a.shape[0], a.shape[1], b.shape[1])
        var out = [Double](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n { for l in 0..<k { out[i * n + j] += a.data[i * k + l] * b.data[l * n + j] } } }
        return Value(shape: [m, n], data: out)
    }

    static func conv(_ x: Value, _ w: Value, _ bias: Value?, _ a: ConvAttributes) -> Value {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (m, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
        let oh = (h + a.pads[0] + a.pads[2] - a.dilations[0] * (kh - 1) - 1) / a.strides[0] + 1
        let ow = (wd + a.pads[1] + a.pads[3] - a.dilations[1] * (kw - 1) - 1) / a.strides[1] + 1
        let perGroup = m / a.group
        var out = [Double](repeating: 0, count: n * m * oh * ow)
        for b in 0..<n { for o in 0..<m { for i in 0..<oh { for j in 0..<ow {
            var sum = bias?.data[o] ?? 0
            let g = o / perGroup
            for ci in 0..<cg { for di in 0..<kh { for dj in 0..<kw {
                let y = i * a.strides[0] - a.pads[0] + di * a.dilations[0]
                let z = j * a.strides[1] - a.pads[1] + dj * a.dilations[1]
                guard y >= 0, y < h, z >= 0, z < wd else { continue }
                sum += x.data[((b * c + g * cg + ci) * h + y) * wd + z] * w.data[((o * cg + ci) * kh + di) * kw + dj]
            } } }
            out[((b * m + o) * oh + i) * ow + j] = sum
        } } } }
        _ = c
        return Value(shape: [n, m, oh, ow], data: out)
    }

    /// Largest |a − b| over all elements; shapes must agree.
    static func maxDifference(_ a: Value, _ b: Value) -> Double {
        precondition(a.shape == b.shape, "shapes \(a.shape) and \(b.shape) differ")
        return zip(a.data, b.data).map { abs($0 - $1) }.max() ?? 0
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The naive loops are themselves checked against values worked out by hand.
@Suite struct PassesReferenceLoopsTests {
    @Test func naiveConvMatchesAHandComputedExample() {
        // x = 1…9 in a 3×3 image, 2×2 kernel of ones, pad 0: each output is the sum of a 2×2 block.
        let x = NaiveLoops.Value(shape: [1, 1, 3, 3], data: (1...9).map(Double.init))
        let w = NaiveLoops.Value(shape: [1, 1, 2, 2], data: [1, 1, 1, 1])
        let y = NaiveLoops.conv(x, w, NaiveLoops.Value(shape: [1], data: [0.5]), ConvAttributes(kernel: [2, 2]))
        #expect(y.shape == [1, 1, 2, 2])
        #expect(y.data == [12.5, 16.5, 24.5, 28.5])
        // stride 2 with pad 1: windows at (−1,−1), (−1,1), (1,−1), (1,1).
        let strided = NaiveLoops.conv(x, w, nil, ConvAttributes(kernel: [2, 2], strides: [2, 2], pads: [1, 1, 1, 1]))
        let expected: [Double] = [1, 5, 11, 28]  // [1], [2+3], [4+7], [5+6+8+9]
        #expect(strided.data == expected)
    }

    @Test func naiveBroadcastAndMatmul() {
        let a = NaiveLoops.Value(shape: [2, 1], data: [1, 2])
        let b = NaiveLoops.Value(shape: [3], data: [10, 20, 30])
        #expect(NaiveLoops.broadcast(a, b, +).data == [11, 21, 31, 12, 22, 32])
        let m = NaiveLoops.Value(shape: [2, 2], data: [1, 2, 3, 4])
        #expect(NaiveLoops.matmul2(m, m).data == [7, 10, 15, 22])
        #expect(NaiveLoops.transpose(m).data == [1, 3, 2, 4])
    }
}
