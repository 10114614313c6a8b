import Testing
@testable import TensorIR

private typealias Value = NaiveLoops.Value

private func constant(_ shape: [Int], seed: UInt64) -> Tensor {
    Tensor(shape: shape, floats: NaiveLoops.pseudoRandom(shape.reduce(1, *), seed: seed))
}

/// Positive values (variances).
private func positive(_ shape: [Int], seed: UInt64) -> Tensor {
    Tensor(shape: shape, floats: NaiveLoops.pseudoRandom(shape.reduce(1, *), seed: seed).map { abs($0) + 0.1 })
}

private func input(_ graph: TensorGraph, _ seed: UInt64) -> [String: Value] {
    var result: [String: Value] = [:]
    for id in graph.inputs {
        let node = graph[id]
        result[node.name] = Value(shape: node.type!.shape, data: NaiveLoops.pseudoRandom(node.type!.count, seed: seed &+ UInt64(id.raw)).map(Double.init))
    }
    return result
}

/// Runs `pass` (after shape inference) and checks the rewritten graph computes the same outputs
/// as the original on pseudo-random inputs, by the naive loops. Returns the rewritten graph.
@discardableResult
private func runAndCompare(_ pass: any TensorPass, _ original: TensorGraph, tolerance: Double = 1e-5,
                           sourceLocation: SourceLocation = #_sourceLocation) throws -> TensorGraph {
    var typed = original
    try ShapeInference.run(&typed)
    var rewritten = typed
    try pass.run(&rewritten)
    let inputs = input(typed, 7)
    let before = NaiveLoops.run(typed, inputs: inputs)
    let after = NaiveLoops.run(rewritten, inputs: inputs)
    #expect(before.count == after.count, sourceLocation: sourceLocation)
    for (b, a) in zip(before, after) {
        #expect(b.shape == a.shape, sourceLocation: sourceLocation)
        if b.shape == a.shape {
            #expect(NaiveLoops.maxDifference(b, a) <= tolerance, sourceLocation: sourceLocation)
        }
    }
    // The rewritten graph stays well typed: shape inference agrees with the types the pass left.
    var retyped = rewritten
    try ShapeInference.run(&retyped)
    #expect(retyped == rewritten, sourceLocation: sourceLocation)
    return rewritten
}

private func ops(_ graph: TensorGraph) -> [String] {
    graph.nodes.map(\.operation.mnemonic)
}

@Suite struct PassesTests {
    // MARK: identities

    @Test func removeIdentitiesForwardsOperandsAndKeepsOutputNames() throws {
        var graph = TensorGraph()
        let x = graph.append(name: "x", .input, type: TensorType(shape: [2, 3]))
        let i1 = graph.append(name: "id1", .identity, inputs: [x])
        let r = graph.append(name: "r", .relu, inputs: [i1])
        let d = graph.append(name: "out", .dropout, inputs: [r])
        let passthrough = graph.append(name: "same", .identity, inputs: [x])
        graph.outputs = [d, passthrough]
        let after = try runAndCompare(RemoveIdentities(), graph)
        #expect(TensorGraphPrinter.text(after) == """
            graph main(%0: f32[2,3] "x") {
              %1 = relu(%0) : f32[2,3] "out"
              %2 = identity(%0) : f32[2,3] "same"
              return %1 "out", %2 "same"
            }

            """)
    }

    @Test func chainedIdentitiesEndingInAnOutput() throws {
        var graph = TensorGraph(name: "two words")
        let x = graph.append(name: "x", .input, type: TensorType(shape: [4]))
        let y = graph.append(name: "y", .sigmoid, inputs: [x])
        let inner = graph.append(name: "inner", .identity, inputs: [y])
        graph.outputs = [graph.append(name: "out", .dropout, inputs: [inner])]
        let after = try runAndCompare(RemoveIdentities(), graph)
        #expect(TensorGraphPrinter.text(after) == """
            graph "two words"(%0: f32[4] "x") {
              %1 = sigmoid(%0) : f32[4] "out"
              return %1 "out"
            }

            """)
    }

    // MARK: constant folding

    @Test func foldConstantsEvaluatesShapeAndElementwiseChains() throws {
        var graph = TensorGraph()
        let x = graph.append(name: "x", .input, type: TensorType(shape: [2, 6]))
        let a = graph.append(name: "a", .constant(Tensor(shape: [2, 3], floats: [1, -2, 3, -4, 5, -6])))
        let b = graph.append(name: "b", .constant(Tensor(shape: [3], floats: [10, 20, 30])))
        let sum = graph.append(name: "sum", .add, inputs: [a, b])           // [[11,18,33],[6,25,24]]
        let clipped = graph.append(name: "clipped", .clip(min: 0, max: 20), inputs: [sum])  // [[11,18,20],[6,20,20]]
        let head = graph.append(name: "head", .constant(Tensor(shape: [1], int64s: [2])))
        let tail = graph.append(name: "tail", .constant(Tensor(shape: [1], int64s: [-1])))
        let shape = graph.append(name: "shape", .concat(axis: 0), inputs: [head, tail])
        let flat = graph.append(name: "flat", .reshape(allowZero: false), inputs: [clipped, shape])  // [2,3]
        let relu = graph.append(name: "relu", .relu, inputs: [a])                   // [[1,0,3],[0,5,0]]
        let joined = graph.append(name: "joined", .concat(axis: 1), inputs: [flat, relu])  // [2,6]
        let y = graph.append(name: "y", .mul, inputs: [x, joined])
        graph.outputs = [y]
        let after = try runAndCompare(FoldConstants(), graph)
        #expect(TensorGraphPrinter.text(after) == """
            graph main(%0: f32[2,6] "x") {
              %1 = constant f32[2,6] "joined"
              %2 = mul(%0, %1) : f32[2,6] "y"
              return %2 "y"
            }

            """)
        #expect(after.constantValue(NodeID(1)) == Tensor(shape: [2, 6], floats: [11, 18, 20, 1, 0, 3, 6, 20, 20, 0, 5, 0]))
    }

    @Test func foldConstantsHandlesInt64PadSigmoidAndSkipsLargeBroadcasts() throws {
        var graph = TensorGraph()
        let x = graph.append(name: "x", .input, type: TensorType(shape: [1, 4]))
        let i = graph.append(name: "i", .constant(Tensor(shape: [2], int64s: [3, 4])))
        let j = graph.append(name: "j", .constant(Tensor(shape: [1], int64s: [2])))
        let product = graph.append(name: "product", .mul, inputs: [i, j])      // [6, 8]
        let v = graph.append(name: "v", .constant(Tensor(shape: [1, 2], floats: [0, 1])))
        let padded = graph.append(name: "padded", .pad(pads: [0, 1, 0, 1], value: -1), inputs: [v])  // [[-1,0,1,-1]]
        let sig = graph.append(name: "sig", .sigmoid, inputs: [padded])
        let y = graph.append(name: "y", .add, inputs: [x, sig])
        let column = graph.append(name: "column", .constant(Tensor.zeros([100, 1])))
        let row = graph.append(name: "row", .constant(Tensor.zeros([1, 100])))
        let outer = graph.append(name: "outer", .add, inputs: [column, row])   // 10 000 elements from 200: not folded
        graph.outputs = [y, product, outer]
        var folded = graph
        try ShapeInference.run(&folded)
        try FoldConstants().run(&folded)
        #expect(ops(folded) == ["input", "constant", "constant", "add", "constant", "constant", "add"])
        #expect(folded.constantValue(folded.outputs[1]) == Tensor(shape: [2], int64s: [6, 8]))
        let sigmoid = folded.constantValue(folded[folded.outputs[0]].inputs[1])!.floats
        let expected: [Float] = [-1, 0, 1, -1].map { Float(1 / (1 + exp(-Double($0)))) }
        #expect(zip(sigmoid, expected).allSatisfy { abs($0 - $1) < 1e-7 })
        #expect(folded[folded.outputs[2]].operation == .add)
    }

    @Test func foldConstantsRunsContractingOperationsOnTheExecutor() throws {
        var graph = TensorGraph()
        let x = graph.append(name: "x", .input, type: TensorType(shape: [2, 2]))
        let a = graph.append(name: "a", .constant(Tensor(shape: [2, 2], floats: [1, 2, 3, 4])))
        let b = graph.append(name: "b", .constant(Tensor(shape: [2, 2], floats: [0, 1, 1, 0])))
        let product = graph.append(name: "ab", .matMul, inputs: [a, b])  // [[2,1],[4,3]]
        graph.outputs = [graph.append(name: "y", .mul, inputs: [x, product])]
        let after = try runAndCompare(FoldConstants(), graph)
        #expect(after.constantValue(after[after.outputs[0]].inputs[1]) == Tensor(shape: [2, 2], floats: [2, 1, 4, 3]))
    }

    // MARK: BatchNormalization

    private static func convBatchNormGraph(convBias: Bool, group: Int = 1, extraUse: Bool = false) -> TensorGraph {
        var graph = TensorGraph()
        let x = graph.append(name: "x", .input, type: TensorType(shape: [1, 4, 5, 5]))
        let w = graph.append(name: "conv.w", .constant(constant([6, 4 / group, 3, 3], seed: 1)))
        var operands = [x, w]
        if convBias { operands.append(graph.append(name: "conv.b", .constant(constant([6], seed: 2)))) }
        let conv = graph.append(name: "conv", .conv(ConvAttributes(kernel: [3, 3], strides: [2, 1], pads: [1, 1, 1, 0], group: group)), inputs: operands)
        let gamma = graph.append(name: "bn.gamma", .constant(constant([6], seed: 3)))
        let beta = graph.append(name: "bn.beta", .constant(constant([6], seed: 4)))
        let mean = graph.append(name: "bn.mean", .constant(constant([6], seed: 5)))
        let variance = graph.append(name: "bn.var", .constant(positive([6], seed: 6)))
        let bn = graph.append(name: "bn", .batchNormalization(epsilon: 1e-3), inputs: [conv, gamma, beta, mean, variance])
        graph.outputs = [bn]
        if extraUse { graph.outputs.append(graph.append(name: "side", .relu, inputs: [conv])) }
        return graph
    }

    @Test(arguments: [(true, 1), (false, 1), (true, 2)])
    func batchNormFoldsIntoConv(convBias: Bool, group: Int) throws {
        let after = try runAndCompare(FoldBatchNormalization(), Self.convBatchNormGraph(convBias: convBias, group: group))
        #expect(ops(after) == ["input", "constant", "constant", "conv"])
        #expect(after[after.outputs[0]].name == "bn")
    }

    @Test func batchNormFoldGoldenText() throws {
        var graph = Self.convBatchNormGraph(convBias: true)
        try ShapeInference.run(&graph)
        #expect(TensorGraphPrinter.text(graph) == """
            graph main(%0: f32[1,4,5,5] "x") {
              %1 = constant f32[6,4,3,3] "conv.w"
              %2 = constant f32[6] [0.882, -0.544, -0.496, -0.705, -0.301, -0.572] "conv.b"
              %3 = conv(%0, %1, %2) {kernel=[3,3], strides=[2,1], pads=[1,1,1,0], dilations=[1,1], group=1} : f32[1,6,3,4] "conv"
              %4 = constant f32[6] [0.963, 0.715, -0.862, 0.204, 0.603, 0.375] "bn.gamma"
              %5 = constant f32[6] [0.692, -0.026, 0.771, -0.535, -0.493, -0.679] "bn.beta"
              %6 = constant f32[6] [0.773, -0.766, 0.405, 0.375, 0.411, 0.619] "bn.mean"
              %7 = constant f32[6] [0.602, 0.593, 0.139, 0.81600004, 0.785, 0.534] "bn.var"
              %8 = batch_norm(%3, %4, %5, %6, %7) {epsilon=0.001} : f32[1,6,3,4] "bn"
              return %8 "bn"
            }

            """)
        let parameters = (2...7).map { graph.constantValue(NodeID($0))?.floats ?? [] }
        try FoldBatchNormalization().run(&graph)
        #expect(TensorGraphPrinter.text(graph) == """
            graph main(%0: f32[1,4,5,5] "x") {
              %1 = constant f32[6,4,3,3] "bn.weight"
              %2 = constant f32[6] [0.8271743, 0.17995183, 2.8467164, -0.77874905, -0.9772683, -1.2896131] "bn.bias"
              %3 = conv(%0, %1, %2) {kernel=[3,3], strides=[2,1], pads=[1,1,1,0], dilations=[1,1], group=1} : f32[1,6,3,4] "bn"
              return %3 "bn"
            }

            """)
        // The folded bias, channel by channel: (b − μ)·γ/√(σ²+ε) + β.
        let (b, gamma, beta, mean, variance) = (parameters[0], parameters[2], parameters[3], parameters[4], parameters[5])
        let folded = graph.constantValue(NodeID(2))?.floats ?? []
        #expect(folded.count == 6)
        for c in folded.indices {
            let expected = (Double(b[c]) - Double(mean[c])) * Double(gamma[c]) / (Double(variance[c]) + 0.001).squareRoot() + Double(beta[c])
            #expect(abs(Double(folded[c]) - expected) < 1e-6)
        }
    }

    @Test func batchNormBecomesAffineWhenConvHasAnotherUseOrThereIsNoProducer() throws {
        let shared = try runAndCompare(FoldBatchNormalization(), Self.convBatchNormGraph(convBias: true, extraUse: true))
        #expect(ops(shared) == ["input", "constant", "constant", "conv", "constant", "constant", "affine", "relu"])

        var graph = TensorGraph()
        let x = graph.append(name: "x", .input, type: TensorType(shape: [2, 3, 2, 2]))
        let p = (0..<4).map { graph.append(name: "p\($0)", .constant($0 == 3 ? positive([3], seed: 9) : constant([3], seed: UInt64(10 + $0)))) }
        graph.outputs = [graph.append(name: "bn", .batchNormalization(epsilon: 1e-5), inputs: [x] + p)]
        let alone = try runAndCompare(FoldBatchNormalization(), graph)
        #expect(TensorGraphPrinter.text(alone).contains("affine(%0, %1, %2) : f32[2,3,2,2] \"bn\""))
    }

    @Test func batchNormWithComputedParametersStays() throws {
        var graph = TensorGraph()
        let x = graph.append(name: "x", .input, type: TensorType(shape: [1, 2, 2, 2]))
        let gamma = graph.append(name: "gamma", .input, type: TensorType(shape: [2]))
        let p = (0..<3).map { graph.append(name: "p\($0)", .constant(positive([2], seed: UInt64($0)))) }
        graph.outputs = [graph.append(name: "bn", .batchNormalization(epsilon: 1e-5), inputs: [x, gamma] + p)]
        try ShapeInference.run(&graph)
        let before = graph
        try FoldBatchNormalization().run(&graph)
        #expect(graph == before)
    }

    @Test(arguments: [false, true])
    func batchNormFoldsIntoGemmAndLinear(transB: Bool) throws {
        // Gemm with a computed A and transA stays Gemm; BN folds into B and C.
        var graph = TensorGraph()
        let a = graph.append(name: "a", .input, type: TensorType(shape: [5, 3]))
        let b = graph.append(name: "b", .constant(constant(transB ? [4, 5] : [5, 4], seed: 21)))
        let c = graph.append(name: "c", .constant(constant([3, 1], seed: 22)))
        let gemm = graph.append(name: "gemm", .gemm(alpha: 0.5, beta: 2, transA: true, transB: transB), inputs: [a, b, c])
        let p = (0..<4).map { graph.append(name: "p\($0)", .constant($0 == 3 ? positive([4], seed: 23) : constant([4], seed: UInt64(24 + $0)))) }
        graph.outputs = [graph.append(name: "bn", .batchNormalization(epsilon: 1e-5), inputs: [gemm] + p)]
        let folded = try runAndCompare(FoldBatchNormalization(), graph)
        #expect(ops(folded) == ["input", "constant", "constant", "gemm"])
        #expect(folded[folded.outputs[0]].operation == .gemm(alpha: 0.5, beta: 1, transA: true, transB: transB))

        var linearGraph = TensorGraph()
        let x = linearGraph.append(name: "x", .input, type: TensorType(shape: [3, 5]))
        let w = linearGraph.append(name: "w", .constant(constant([4, 5], seed: 31)))
        let linear = linearGraph.append(name: "fc", .linear, inputs: [x, w])
        let q = (0..<4).map { linearGraph.append(name: "q\($0)", .constant($0 == 3 ? positive([4], seed: 33) : constant([4], seed: UInt64(34 + $0)))) }
        linearGraph.outputs = [linearGraph.append(name: "bn", .batchNormalization(epsilon: 1e-5), inputs: [linear] + q)]
        let foldedLinear = try runAndCompare(FoldBatchNormalization(), linearGraph)
        #expect(ops(foldedLinear) == ["input", "constant", "constant", "linear"])
    }

    // MARK: Gemm and MatMul to linear

    private static func gemmGraph(alpha: Float, beta: Float, transA: Bool, transB: Bool, cShape: [Int]?, constantA: Bool = false) -> TensorGraph {
        var graph = TensorGraph()
        let (m, k, n) = (3, 4, 5)
        let aShape = transA ? [k, m] : [m, k]
        let a = constantA ? graph.append(name: "a", .constant(constant(aShape, seed: 40))) : graph.append(name: "a", .input, type: TensorType(shape: aShape))
        let b = graph.append(name: "b", .constant(constant(transB ? [n, k] : [k, n], seed: 41)))
        var operands = [a, b]
        if let cShape { operands.append(graph.append(name: "c", .constant(constant(cShape, seed: 42)))) }
        graph.outputs = [graph.append(name: "y", .gemm(alpha: alpha, beta: beta, transA: transA, transB: transB), inputs: operands)]
        if constantA { graph.outputs.append(graph.append(name: "z", .input, type: TensorType(shape: [1]))) }
        return graph
    }

    @Test(arguments: [
        (Float(1), Float(1), false, true, [5] as [Int]?),
        (1, 1, false, false, [1, 5]),
        (0.25, 3, false, true, []),
        (2, 0.5, false, false, [1]),
        (1, 1, false, true, nil),
        (1.5, 1, false, false, [1, 1]),
    ])
    func gemmBecomesLinear(alpha: Float, beta: Float, transA: Bool, transB: Bool, cShape: [Int]?) throws {
        let after = try runAndCompare(GemmToLinear(), Self.gemmGraph(alpha: alpha, beta: beta, transA: transA, transB: transB, cShape: cShape))
        #expect(after[after.outputs[0]].operation == .linear)
        #expect(after[after.outputs[0]].inputs.count == (cShape == nil ? 2 : 3))
    }

    @Test func gemmGoldenTextWithTransBAndVectorCKeepsOperands() throws {
        var graph = Self.gemmGraph(alpha: 1, beta: 1, transA: false, transB: true, cShape: [5])
        try ShapeInference.run(&graph)
        try GemmToLinear().run(&graph)
        #expect(TensorGraphPrinter.text(graph) == """
            graph main(%0: f32[3,4] "a") {
              %1 = constant f32[5,4] "b"
              %2 = constant f32[5] [0.026, 0.538, 0.503, -0.706, -0.844] "c"
              %3 = linear(%0, %1, %2) : f32[3,5] "y"
              return %3 "y"
            }

            """)
    }

    @Test func gemmWithConstantTransposedAIsLinearizedOtherwiseKept() throws {
        let constantA = try runAndCompare(GemmToLinear(), Self.gemmGraph(alpha: 1, beta: 1, transA: true, transB: false, cShape: [5], constantA: true))
        #expect(constantA[constantA.outputs[0]].operation == .linear)
        for graph in [Self.gemmGraph(alpha: 1, beta: 1, transA: true, transB: false, cShape: [5]),
                      Self.gemmGraph(alpha: 1, beta: 1, transA: false, transB: false, cShape: [3, 1]),
                      Self.gemmGraph(alpha: 1, beta: 1, transA: false, transB: false, cShape: [3, 5])] {
            let kept = try runAndCompare(GemmToLinear(), graph)
            #expect(kept[kept.outputs[0]].operation.mnemonic == "gemm")
        }
    }

    @Test func gemmWithComputedTransposedColumnVectorBecomesReshapeAndLinear() throws {
        // A computed [K,1] operand with transA: its transpose [1,K] has the same row-major order, so a reshape.
        var graph = TensorGraph()
        let a = graph.append(name: "a", .input, type: TensorType(shape: [4, 1]))
        let b = graph.append(name: "b", .constant(constant([4, 5], seed: 41)))
        let c = graph.append(name: "c", .constant(constant([1, 5], seed: 42)))
        graph.outputs = [graph.append(name: "y", .gemm(alpha: 1.5, beta: 1, transA: true, transB: false), inputs: [a, b, c])]
        let after = try runAndCompare(GemmToLinear(), graph)
        #expect(ops(after) == ["input", "constant", "reshape", "constant", "constant", "linear"])
        #expect(after[after.outputs[0]].type == TensorType(shape: [1, 5]))
        // A computed [K,M] operand with M > 1 still keeps the Gemm.
        let kept = try runAndCompare(GemmToLinear(), Self.gemmGraph(alpha: 1, beta: 1, transA: true, transB: false, cShape: [5]))
        #expect(kept[kept.outputs[0]].operation.mnemonic == "gemm")
    }

    @Test func matMulPlusBiasBecomesLinear() throws {
        var graph = TensorGraph()
        let x = graph.append(name: "x", .input, type: TensorType(shape: [2, 3, 4]))
        let w = graph.append(name: "w", .constant(Tensor(shape: [4, 2], floats: [1, 2, 3, 4, 5, 6, 7, 8])))
        let product = graph.append(name: "xw", .matMul, inputs: [x, w])
        let bias = graph.append(name: "bias", .constant(Tensor(shape: [1, 2], floats: [0.5, -0.5])))
        graph.outputs = [graph.append(name: "y", .add, inputs: [bias, product])]
        let after = try runAndCompare(MatMulToLinear(), graph)
        #expect(TensorGraphPrinter.text(after) == """
            graph main(%0: f32[2,3,4] "x") {
              %1 = constant f32[2,4] [1.0, 3.0, 5.0, 7.0, 2.0, 4.0, 6.0, 8.0] "xw.weight"
              %2 = constant f32[2] [0.5, -0.5] "y.bias"
              %3 = linear(%0, %1, %2) : f32[2,3,2] "y"
              return %3 "y"
            }

            """)
    }

    @Test func matMulAloneSubOfScalarAndSharedResults() throws {
        var graph = TensorGraph()
        let x = graph.append(name: "x", .input, type: TensorType(shape: [3, 4]))
        let w = graph.append(name: "w", .constant(constant([4, 2], seed: 50)))
        let alone = graph.append(name: "alone", .matMul, inputs: [x, w])
        let second = graph.append(name: "second", .matMul, inputs: [x, w])
        let scalar = graph.append(name: "s", .constant(Tensor(shape: [], floats: [0.75])))
        let minus = graph.append(name: "minus", .sub, inputs: [second, scalar])
        let third = graph.append(name: "third", .matMul, inputs: [x, w])
        let shared = graph.append(name: "shared", .add, inputs: [third, scalar])
        let wide = graph.append(name: "wide", .constant(constant([3, 2], seed: 51)))
        let notBias = graph.append(name: "notBias", .add, inputs: [alone, wide])  // varies along rows: not a bias
        graph.outputs = [notBias, minus, shared, third]
        let after = try runAndCompare(MatMulToLinear(), graph)
        #expect(after[after.outputs[0]].operation == .add)
        #expect(after[after.outputs[1]].operation == .linear)
        #expect(after[after.outputs[1]].inputs.count == 3)
        #expect(after[after.outputs[2]].operation == .add)  // `third` is also an output, so its add stays
        #expect(after[after.outputs[3]].operation == .linear)
    }

    // MARK: dead nodes and the pipeline

    @Test func removeDeadNodesRenumbers() throws {
        var graph = TensorGraph()
        let x = graph.append(name: "x", .input, type: TensorType(shape: [2]))
        let unusedInput = graph.append(name: "unused", .input, type: TensorType(shape: [1]))
        _ = graph.append(name: "dead", .relu, inputs: [x])
        let live = graph.append(name: "live", .sigmoid, inputs: [x])
        graph.outputs = [live]
        _ = unusedInput
        try ShapeInference.run(&graph)
        try RemoveDeadNodes().run(&graph)
        #expect(TensorGraphPrinter.text(graph) == """
            graph main(%0: f32[2] "x", %1: f32[1] "unused") {
              %2 = sigmoid(%0) : f32[2] "live"
              return %2 "live"
            }

            """)
    }

    @Test func standardPipelineOnASmallNetwork() throws {
        var graph = TensorGraph(name: "net")
        let x = graph.append(name: "image", .input, type: TensorType(shape: [2, 3, 6, 6]))
        let w = graph.append(name: "conv1.weight", .constant(constant([4, 3, 3, 3], seed: 60)))
        let conv = graph.append(name: "conv1_out", sourceNode: "Conv_0", .conv(ConvAttributes(kernel: [3, 3], pads: [1, 1, 1, 1])), inputs: [x, w])
        let p = (0..<4).map { graph.append(name: "bn1.\($0)", .constant($0 == 3 ? positive([4], seed: 61) : constant([4], seed: UInt64(62 + $0)))) }
        let bn = graph.append(name: "bn1_out", .batchNormalization(epsilon: 1e-5), inputs: [conv] + p)
        let relu = graph.append(name: "relu1_out", .relu, inputs: [bn])
        let pool = graph.append(name: "pool1_out", .maxPool(PoolAttributes(kernel: [2, 2], strides: [2, 2])), inputs: [relu])
        let dropped = graph.append(name: "drop_out", .dropout, inputs: [pool])
        let flat = graph.append(name: "flat", .flatten(axis: 1), inputs: [dropped])
        let fcShape = graph.append(name: "fc.shape", .constant(Tensor(shape: [2], int64s: [5, -1])))
        let fcRaw = graph.append(name: "fc.raw", .constant(constant([5, 36], seed: 70)))
        let fcWeight = graph.append(name: "fc.weight", .reshape(allowZero: false), inputs: [fcRaw, fcShape])
        let fcBias = graph.append(name: "fc.bias", .constant(constant([5], seed: 71)))
        let gemm = graph.append(name: "fc_out", .gemm(alpha: 1, beta: 1, transA: false, transB: true), inputs: [flat, fcWeight, fcBias])
        graph.outputs = [graph.append(name: "logits", .identity, inputs: [gemm])]

        var seen: [String] = []
        var optimized = graph
        try TensorPipeline.run(&optimized) { name, _ in seen.append(name) }
        #expect(seen == TensorPipeline.standard.map(\.name))
        #expect(seen == ["infer-shapes", "remove-identities", "fold-constants", "gemm-to-linear", "matmul-to-linear",
                         "fold-batch-norm", "remove-dead-nodes", "infer-shapes"])
        #expect(TensorGraphPrinter.text(optimized) == """
            graph net(%0: f32[2,3,6,6] "image") {
              %1 = constant f32[4,3,3,3] "bn1_out.weight"
              %2 = constant f32[4] [-1.3585248, -0.7109598, 1.3056066, -0.6063205] "bn1_out.bias"
              %3 = conv(%0, %1, %2) {kernel=[3,3], strides=[1,1], pads=[1,1,1,1], dilations=[1,1], group=1} : f32[2,4,6,6] "bn1_out"
              %4 = relu(%3) : f32[2,4,6,6] "relu1_out"
              %5 = max_pool(%4) {kernel=[2,2], strides=[2,2], pads=[0,0,0,0], dilations=[1,1], ceil_mode=false} : f32[2,4,3,3] "pool1_out"
              %6 = flatten(%5) {axis=1} : f32[2,36] "flat"
              %7 = constant f32[5,36] "fc.weight"
              %8 = constant f32[5] [0.391, -0.585, -0.117, -0.116, 0.669] "fc.bias"
              %9 = linear(%6, %7, %8) : f32[2,5] "logits"
              return %9 "logits"
            }

            """)
        var typed = graph
        try ShapeInference.run(&typed)
        let inputs = input(typed, 3)
        let before = NaiveLoops.run(typed, inputs: inputs)[0]
        let after = NaiveLoops.run(optimized, inputs: inputs)[0]
        #expect(NaiveLoops.maxDifference(before, after) < 1e-5)
    }

    @Test func verifierRejectsAPassThatLeavesAWrongType() throws {
        struct Mistyping: TensorPass {
            var name: String { "mistype" }
            func run(_ graph: inout TensorGraph) throws {
                var node = graph[NodeID(1)]
                node.type = TensorType(shape: [99])
                graph[NodeID(1)] = node
            }
        }
        var graph = TensorGraph()
        let x = graph.append(name: "x", .input, type: TensorType(shape: [3]))
        graph.outputs = [graph.append(name: "r", .relu, inputs: [x])]
        #expect(throws: TensorIRError.invalidGraph(node: "r", detail: "after pass 'mistype': recorded type f32[99] but shape inference gives f32[3]")) {
            try TensorPipeline.verify({ var g = graph; try ShapeInference.run(&g); try Mistyping().run(&g); return g }(), after: "mistype")
        }
    }

    @Test func aFailingPassLeavesTheGraphAsThePreviousPassLeftIt() throws {
        var graph = TensorGraph()
        let a = graph.append(name: "a", .input, type: TensorType(shape: [2, 3]))
        let b = graph.append(name: "b", .input, type: TensorType(shape: [4]))
        graph.outputs = [graph.append(name: "bad", .add, inputs: [a, b])]
        let before = graph
        #expect(throws: TensorIRError.self) { try TensorPipeline.run(&graph) }
        #expect(graph == before)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
