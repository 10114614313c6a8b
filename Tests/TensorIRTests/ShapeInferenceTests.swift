import Testing
@testable import TensorIR

private func infer(_ operation: Operation, _ shapes: [[Int]], constants: [Tensor?] = []) throws -> [Int] {
    try ShapeInference.outputType(of: operation, operands: shapes.map { TensorType(shape: $0) },
                                  constantOperands: constants, node: "n").shape
}

/// The `detail` of a shape mismatch thrown by `body`, or nil when it threw something else or nothing.
private func mismatchDetail(_ body: () throws -> Any) -> String? {
    do {
        _ = try body()
        return nil
    } catch let TensorIRError.shapeMismatch(node, _, detail) {
        return node == "n" ? detail : nil
    } catch {
        return nil
    }
}

private func isInvalidGraph(_ body: () throws -> Any) -> Bool {
    do {
        _ = try body()
        return false
    } catch TensorIRError.invalidGraph {
        return true
    } catch {
        return false
    }
}

@Suite struct ShapeInferenceTests {
    @Test func convSamePaddingStridesDilationsAndGroups() throws {
        #expect(try infer(.conv(ConvAttributes(kernel: [3, 3], pads: [1, 1, 1, 1])), [[1, 3, 32, 32], [16, 3, 3, 3], [16]]) == [1, 16, 32, 32])
        #expect(try infer(.conv(ConvAttributes(kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1])), [[2, 3, 32, 31], [8, 3, 3, 3]]) == [2, 8, 16, 16])
        // dilation 2 makes a 3×3 kernel span 5: 7 − 5 + 1 = 3; asymmetric pads on W: 7 + 0 + 2 − 3 + 1 = 7.
        #expect(try infer(.conv(ConvAttributes(kernel: [3, 3], dilations: [2, 1], pads: [0, 0, 0, 2])), [[1, 1, 7, 7], [1, 1, 3, 3]]) == [1, 1, 3, 7])
        #expect(try infer(.conv(ConvAttributes(kernel: [3, 3], pads: [1, 1, 1, 1], group: 2)), [[1, 4, 8, 8], [6, 2, 3, 3]]) == [1, 6, 8, 8])
        #expect(try infer(.conv(ConvAttributes(kernel: [3, 3], pads: [1, 1, 1, 1], group: 4)), [[1, 4, 8, 8], [4, 1, 3, 3]]) == [1, 4, 8, 8])
    }

    @Test func convErrors() {
        let attributes = ConvAttributes(kernel: [3, 3], group: 2)
        #expect(mismatchDetail { try infer(.conv(attributes), [[1, 4, 8, 8], [6, 4, 3, 3]]) }?.contains("4 channels in 2 groups") == true)
        #expect(mismatchDetail { try infer(.conv(attributes), [[1, 3, 8, 8], [6, 1, 3, 3]]) }?.contains("not divisible by group 2") == true)
        #expect(mismatchDetail { try infer(.conv(attributes), [[1, 4, 8, 8], [5, 2, 3, 3]]) }?.contains("output channels 5") == true)
        #expect(mismatchDetail { try infer(.conv(ConvAttributes(kernel: [3, 3])), [[1, 3, 8, 8], [4, 3, 3, 3], [3]]) }?.contains("bias") == true)
        #expect(mismatchDetail { try infer(.conv(ConvAttributes(kernel: [5, 5])), [[1, 3, 8, 8], [4, 3, 3, 3]]) }?.contains("kernel") == true)
        #expect(mismatchDetail { try infer(.conv(ConvAttributes(kernel: [3, 3])), [[1, 3, 2, 8], [4, 3, 3, 3]]) }?.contains("smaller than") == true)
        #expect(mismatchDetail { try infer(.conv(ConvAttributes(kernel: [3, 3])), [[3, 8, 8], [4, 3, 3, 3]]) }?.contains("NCHW") == true)
        #expect(isInvalidGraph { try infer(.conv(ConvAttributes(kernel: [3, 3], strides: [0, 1])), [[1, 3, 8, 8], [4, 3, 3, 3]]) })
        #expect(isInvalidGraph { try infer(.conv(ConvAttributes(kernel: [3, 3])), [[1, 3, 8, 8]]) })
    }

    /// Expected sizes from onnx.reference's get_output_shape_explicit_padding (onnx 1.23).
    @Test(arguments: [
        (PoolAttributes(kernel: [2, 2], strides: [2, 2], ceilMode: true), [5, 5], [3, 3]),
        (PoolAttributes(kernel: [2, 2], strides: [2, 2], ceilMode: false), [5, 5], [2, 2]),
        (PoolAttributes(kernel: [2, 2], strides: [2, 2], pads: [1, 1, 1, 1], ceilMode: true), [5, 5], [3, 3]),
        (PoolAttributes(kernel: [2, 2], strides: [2, 2], pads: [1, 1, 1, 1], ceilMode: false), [5, 5], [3, 3]),
        (PoolAttributes(kernel: [1, 3], strides: [2, 2], ceilMode: true), [6, 7], [3, 3]),
        (PoolAttributes(kernel: [3, 3], strides: [2, 2], dilations: [2, 1], pads: [1, 0, 1, 0], ceilMode: true), [6, 7], [3, 3]),
        (PoolAttributes(kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1]), [112, 112], [56, 56]),
    ])
    func poolOutputSize(attributes: PoolAttributes, spatial: [Int], expected: [Int]) throws {
        #expect(try infer(.maxPool(attributes), [[1, 2] + spatial]) == [1, 2] + expected)
        #expect(try infer(.averagePool(attributes), [[1, 2] + spatial]) == [1, 2] + expected)
    }

    @Test func ceilModeDropsAWindowStartingInTheEndPadding() {
        // in 5, pads 1+1, kernel 2, stride 2: ⌈5/2⌉+1 = 4 windows, but the 4th starts at 6 ≥ 5 + 1 (in the end padding).
        #expect(ShapeInference.windowOutputLength(input: 5, kernel: 2, stride: 2, dilation: 1, padBegin: 1, padEnd: 1, ceilMode: true) == 3)
        #expect(ShapeInference.windowOutputLength(input: 5, kernel: 2, stride: 2, dilation: 1, padBegin: 0, padEnd: 1, ceilMode: true) == 3)
        #expect(ShapeInference.windowOutputLength(input: 6, kernel: 3, stride: 2, dilation: 1, padBegin: 0, padEnd: 0, ceilMode: true) == 3)
        #expect(ShapeInference.windowOutputLength(input: 6, kernel: 3, stride: 2, dilation: 1, padBegin: 0, padEnd: 0, ceilMode: false) == 2)
    }

    @Test func poolsAndGlobalPool() throws {
        #expect(try infer(.globalAveragePool, [[2, 7, 5, 3]]) == [2, 7, 1, 1])
        #expect(mismatchDetail { try infer(.globalAveragePool, [[2, 7]]) } != nil)
        #expect(mismatchDetail { try infer(.maxPool(PoolAttributes(kernel: [3, 3])), [[1, 1, 2, 2]]) } != nil)
        #expect(isInvalidGraph { try infer(.maxPool(PoolAttributes(kernel: [3])), [[1, 1, 4, 4]]) })
    }

    @Test func gemmTranspositionsAndCBroadcast() throws {
        let plain = Operation.gemm(alpha: 1, beta: 1, transA: false, transB: false)
        #expect(try infer(plain, [[4, 5], [5, 3]]) == [4, 3])
        #expect(try infer(.gemm(alpha: 1, beta: 1, transA: true, transB: true), [[5, 4], [3, 5], [3]]) == [4, 3])
        #expect(try infer(.gemm(alpha: 1, beta: 1, transA: false, transB: true), [[4, 5], [3, 5], [4, 1]]) == [4, 3])
        #expect(try infer(plain, [[4, 5], [5, 3], []]) == [4, 3])
        #expect(mismatchDetail { try infer(plain, [[4, 5], [5, 3], [2, 3]]) }?.contains("does not broadcast") == true)
        #expect(mismatchDetail { try infer(plain, [[4, 5], [4, 3]]) }?.contains("inner dimensions") == true)
        #expect(mismatchDetail { try infer(plain, [[2, 4, 5], [5, 3]]) } != nil)
    }

    @Test func matMulPromotionAndBatchBroadcast() throws {
        #expect(try infer(.matMul, [[3], [3]]) == [])
        #expect(try infer(.matMul, [[2, 3], [3]]) == [2])
        #expect(try infer(.matMul, [[3], [3, 4]]) == [4])
        #expect(try infer(.matMul, [[5, 1, 2, 3], [4, 3, 6]]) == [5, 4, 2, 6])
        #expect(try infer(.matMul, [[3], [7, 3, 4]]) == [7, 4])
        #expect(mismatchDetail { try infer(.matMul, [[2, 3], [4, 5]]) }?.contains("K=3") == true)
        #expect(mismatchDetail { try infer(.matMul, [[2, 2, 3], [3, 3, 5]]) }?.contains("batch") == true)
    }

    @Test func linear() throws {
        #expect(try infer(.linear, [[2, 7, 5], [3, 5], [3]]) == [2, 7, 3])
        #expect(try infer(.linear, [[5], [3, 5]]) == [3])
        #expect(mismatchDetail { try infer(.linear, [[2, 4], [3, 5]]) }?.contains("K=5") == true)
        #expect(mismatchDetail { try infer(.linear, [[2, 5], [3, 5], [5]]) }?.contains("bias") == true)
    }

    @Test func elementwiseBroadcasting() throws {
        #expect(try infer(.add, [[2, 1, 3], [4, 1]]) == [2, 4, 3])
        #expect(try infer(.mul, [[], [4, 1]]) == [4, 1])
        #expect(try infer(.sub, [[1, 16, 8, 8], [16, 1, 1]]) == [1, 16, 8, 8])
        #expect(mismatchDetail { try infer(.add, [[2, 3], [4]]) }?.contains("not broadcastable") == true)
        let mixed = { try ShapeInference.outputType(of: .add, operands: [TensorType(shape: [2]), TensorType(elementType: .int64, shape: [2])], constantOperands: [], node: "n") }
        #expect(mismatchDetail(mixed)?.contains("element types") == true)
    }

    @Test func unaryAndPerChannel() throws {
        #expect(try infer(.relu, [[2, 3]]) == [2, 3])
        #expect(try infer(.clip(min: 0, max: 6), [[2, 3]]) == [2, 3])
        #expect(try infer(.dropout, [[2, 3], []]) == [2, 3])
        #expect(isInvalidGraph { try infer(.clip(min: 6, max: 0), [[2, 3]]) })
        #expect(try infer(.batchNormalization(epsilon: 1e-5), [[1, 4, 3, 3], [4], [4], [4], [4]]) == [1, 4, 3, 3])
        #expect(mismatchDetail { try infer(.batchNormalization(epsilon: 1e-5), [[1, 4, 3, 3], [4], [4], [3], [4]]) }?.contains("mean") == true)
        #expect(try infer(.affine, [[2, 5], [5], [5]]) == [2, 5])
        #expect(isInvalidGraph { try infer(.affine, [[2, 5], [5]]) })
    }

    @Test func flatten() throws {
        #expect(try infer(.flatten(axis: 1), [[2, 3, 4, 5]]) == [2, 60])
        #expect(try infer(.flatten(axis: 0), [[2, 3, 4]]) == [1, 24])
        #expect(try infer(.flatten(axis: -1), [[2, 3, 4]]) == [6, 4])
        #expect(try infer(.flatten(axis: 3), [[2, 3, 4]]) == [24, 1])
        #expect(isInvalidGraph { try infer(.flatten(axis: 4), [[2, 3, 4]]) })
        #expect(isInvalidGraph { try infer(.flatten(axis: -4), [[2, 3, 4]]) })
    }

    @Test func reshape() throws {
        func target(_ values: [Int64]) -> Tensor { Tensor(shape: [values.count], int64s: values) }
        func reshape(_ data: [Int], _ values: [Int64], allowZero: Bool = false) throws -> [Int] {
            try ShapeInference.outputType(of: .reshape(allowZero: allowZero),
                                          operands: [TensorType(shape: data), TensorType(elementType: .int64, shape: [values.count])],
                                          constantOperands: [nil, target(values)], node: "n").shape
        }
        #expect(try reshape([2, 3, 4], [0, -1]) == [2, 12])
        #expect(try reshape([2, 3, 4], [-1]) == [24])
        #expect(try reshape([2, 3, 4], [4, 0, 2]) == [4, 3, 2])
        #expect(try reshape([2, 3, 4], [1, 24], allowZero: true) == [1, 24])
        #expect(mismatchDetail { try reshape([2, 3, 4], [-1, -1]) }?.contains("more than one -1") == true)
        #expect(mismatchDetail { try reshape([2, 3, 4], [5, -1]) }?.contains("not a multiple") == true)
        #expect(mismatchDetail { try reshape([2, 3, 4], [2, 3]) }?.contains("6 elements") == true)
        #expect(mismatchDetail { try reshape([2, 3], [0, 3, 0]) }?.contains("rank 2") == true)
        #expect(mismatchDetail { try reshape([2, 3, 4], [0, -1], allowZero: true) }?.contains("allowzero") == true)
        #expect(isInvalidGraph {
            try ShapeInference.outputType(of: .reshape(allowZero: false),
                                          operands: [TensorType(shape: [4]), TensorType(elementType: .int64, shape: [1])],
                                          constantOperands: [nil, nil], node: "n")
        })
    }

    @Test func padAndCrop() throws {
        #expect(try infer(.pad(pads: [0, 0, 1, -1, 0, 0, 2, -1], value: 0), [[1, 3, 4, 4]]) == [1, 3, 7, 2])
        #expect(mismatchDetail { try infer(.pad(pads: [0, -2, 0, -3], value: 0), [[1, 4]]) }?.contains("negative size") == true)
        #expect(isInvalidGraph { try infer(.pad(pads: [1, 1], value: 0), [[1, 4]]) })
    }

    @Test func concat() throws {
        #expect(try infer(.concat(axis: 1), [[1, 2, 4], [1, 3, 4], [1, 1, 4]]) == [1, 6, 4])
        #expect(try infer(.concat(axis: -1), [[2, 2], [2, 5]]) == [2, 7])
        #expect(mismatchDetail { try infer(.concat(axis: 1), [[1, 2, 4], [2, 3, 4]]) }?.contains("axis 0") == true)
        #expect(mismatchDetail { try infer(.concat(axis: 0), [[1, 2], [1, 2, 3]]) }?.contains("rank") == true)
        #expect(isInvalidGraph { try infer(.concat(axis: 2), [[1, 2], [1, 2]]) })
    }

    @Test func runTypesAWholeGraph() throws {
        var graph = TensorGraph()
        let x = graph.append(name: "x", .input, type: TensorType(shape: [1, 3, 8, 8]))
        let w = graph.append(name: "w", .constant(Tensor.zeros([4, 3, 3, 3])))
        let conv = graph.append(name: "c", .conv(ConvAttributes(kernel: [3, 3], strides: [2, 2])), inputs: [x, w])
        let shape = graph.append(name: "s", .constant(Tensor(shape: [2], int64s: [1, -1])))
        let reshaped = graph.append(name: "r", .reshape(allowZero: false), inputs: [conv, shape])
        graph.outputs = [reshaped]
        try ShapeInference.run(&graph)
        #expect(graph[w].type == TensorType(shape: [4, 3, 3, 3]))
        #expect(graph[conv].type == TensorType(shape: [1, 4, 3, 3]))
        #expect(graph[shape].type == TensorType(elementType: .int64, shape: [2]))
        #expect(graph[reshaped].type == TensorType(shape: [1, 36]))
    }

    @Test func runRejectsAnUntypedInputAndNamesTheFailingNode() {
        var untyped = TensorGraph()
        untyped.append(name: "x", .input)
        #expect(throws: TensorIRError.invalidGraph(node: "x", detail: "graph input has no type; bind every dimension when importing")) {
            try ShapeInference.run(&untyped)
        }
        var bad = TensorGraph()
        let a = bad.append(name: "a", .input, type: TensorType(shape: [2, 3]))
        let b = bad.append(name: "b", .input, type: TensorType(shape: [3, 2]))
        bad.outputs = [bad.append(name: "sum", .add, inputs: [a, b])]
        #expect(throws: TensorIRError.shapeMismatch(node: "sum", operation: "add", detail: "shapes [2, 3] and [3, 2] are not broadcastable (numpy rules: trailing dimensions must be equal or 1)")) {
            try ShapeInference.run(&bad)
        }
    }
}
