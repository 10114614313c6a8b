import Foundation
import Testing
@testable import ONNXFrontend
import TensorIR

@Suite("ONNX import")
struct ImportTests {
    @Test("every fixture imports, types its inputs and constants, and passes shape inference", arguments: Fixtures.referenceModels)
    func importsAndInfersShapes(name: String) throws {
        let batch = name == "symbolic_batch" ? Fixtures.symbolicBatch : 1
        var graph = try Fixtures.graph(name, batchSize: batch)
        #expect(graph.inputs.count == 1)
        for node in graph.nodes {
            switch node.operation {
            case .input, .constant: #expect(node.type != nil, "node \(node.name) must be typed by the importer")
            default: break
            }
        }
        try ShapeInference.run(&graph)
        let expected = try NPY.read(path: Fixtures.path("\(name).expected.npy"))
        #expect(graph.outputs.count == 1)
        #expect(graph[graph.outputs[0]].type?.shape == expected.shape)
        let input = try NPY.read(path: Fixtures.path("\(name).input.npy"))
        #expect(graph[graph.inputs[0]].type == TensorType(elementType: .float32, shape: input.shape))
    }

    @Test("raw_data, typed fields and external data give identical graphs", arguments: Fixtures.smallModels)
    func storageFormsAgree(name: String) throws {
        let raw = try Fixtures.graph(name)
        let typed = try Fixtures.graph(name, variant: "typed")
        let external = try Fixtures.graph(name, variant: "external")
        #expect(raw == typed)
        #expect(raw == external)
        // The comparison must cover real weights: every model but pooling has constants.
        if name != "pooling" { #expect(!raw.nodes("constant").isEmpty) }
    }

    @Test func resnet20Info() throws {
        let info = try Fixtures.load("resnet20").info
        #expect(info.producerName == "tessera-make-models")
        #expect(info.producerVersion == "1.0")
        #expect(info.irVersion == 8)
        #expect(info.opsetImports == ["": 17])
        #expect(info.graphName == "resnet20")
        #expect(info.inputs == [ONNXValueInfo(name: "input", elementType: "float32", dims: ["1", "3", "32", "32"])])
        #expect(info.outputs == [ONNXValueInfo(name: "logits", elementType: "float32", dims: ["1", "10"])])
        #expect(info.operatorCounts == ["Conv": 21, "BatchNormalization": 21, "Relu": 19, "Add": 9,
                                        "GlobalAveragePool": 1, "Flatten": 1, "Gemm": 1])
        // conv weights 16·3·9 + 6·(16·16·9) + (32·16·9 + 32·32·9·5) + (64·32·9 + 64·64·9·5) + 1x1 shortcuts
        // 32·16 + 64·32; BN 4 vectors per conv; fc 64·10 + 10.
        let convWeights = 16 * 3 * 9 + 6 * 16 * 16 * 9 + 32 * 16 * 9 + 5 * 32 * 32 * 9 + 64 * 32 * 9 + 5 * 64 * 64 * 9
            + 32 * 16 + 64 * 32
        let batchNormChannels = 16 + 6 * 16 + 7 * 32 + 7 * 64
        #expect(info.parameterCount == convWeights + 4 * batchNormChannels + 64 * 10 + 10)
        #expect(info.unsupported.isEmpty)
    }

    @Test func resnet20Graph() throws {
        let graph = try Fixtures.graph("resnet20")
        #expect(graph.nodes("conv").count == 21)
        #expect(graph.nodes("batch_norm").count == 21)
        #expect(graph.nodes("relu").count == 19)
        #expect(graph.nodes("add").count == 9)
        #expect(graph.nodes("gemm").count == 1)
        // 21 conv weights + 4·21 BN vectors + fc weight and bias
        #expect(graph.nodes("constant").count == 21 + 84 + 2)
        let stem = try #require(graph.nodes("conv").first)
        #expect(stem.operation == .conv(ConvAttributes(kernel: [3, 3], pads: [1, 1, 1, 1])))
        #expect(stem.sourceNode == "conv1")
        #expect(graph[stem.inputs[1]].type == TensorType(shape: [16, 3, 3, 3]))
        let shortcut = try #require(graph.nodes.first { $0.sourceNode == "layer2.0.shortcut.0" })
        #expect(shortcut.operation == .conv(ConvAttributes(kernel: [1, 1], strides: [2, 2])))
        #expect(graph[graph.outputs[0]].name == "logits")
        #expect(graph[graph.outputs[0]].operation == .gemm(alpha: 1, beta: 1, transA: false, transB: true))
    }

    @Test("conv attributes and auto_pad resolved to explicit pads")
    func convAttributes() throws {
        let convs = try Fixtures.graph("conv_variants").nodes("conv").map(\.operation)
        #expect(convs == [
            .conv(ConvAttributes(kernel: [3, 3], pads: [1, 1, 1, 1])),
            .conv(ConvAttributes(kernel: [3, 3], strides: [2, 2], pads: [1, 0, 0, 1], group: 8)),
            .conv(ConvAttributes(kernel: [3, 3], dilations: [2, 2], pads: [2, 2, 2, 2], group: 2)),
            // SAME_UPPER, 5 → 3 with stride 2: total padding (3-1)·2 + 3 - 5 = 2 → 1 each side
            .conv(ConvAttributes(kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1])),
            // SAME_LOWER, kernel 2 on 3x3: total 1, the odd unit at the beginning
            .conv(ConvAttributes(kernel: [2, 2], pads: [1, 1, 0, 0])),
            .conv(ConvAttributes(kernel: [2, 1], strides: [1, 2])),
        ])
    }

    @Test func poolingAttributes() throws {
        let graph = try Fixtures.graph("pooling")
        #expect(graph.nodes("max_pool").map(\.operation) == [
            .maxPool(PoolAttributes(kernel: [3, 3], strides: [2, 2], ceilMode: true)),
            .maxPool(PoolAttributes(kernel: [2, 2], strides: [2, 2], pads: [1, 1, 0, 0])),
            // SAME_UPPER on 10 with kernel 3, stride 2: output 5, total padding 4·2 + 3 - 10 = 1, at the end
            .maxPool(PoolAttributes(kernel: [3, 3], strides: [2, 2], pads: [0, 0, 1, 1])),
        ])
        #expect(graph.nodes("average_pool").map(\.operation) == [
            .averagePool(PoolAttributes(kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], countIncludePad: true)),
            .averagePool(PoolAttributes(kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], countIncludePad: false)),
            .averagePool(PoolAttributes(kernel: [2, 2], strides: [2, 2], pads: [0, 0, 1, 1], ceilMode: true)),
        ])
        #expect(graph.nodes("concat").map(\.operation) == [.concat(axis: 1), .concat(axis: 1)])
        #expect(graph.nodes("global_average_pool").count == 3)
    }

    @Test("opset 7: Clip and Pad attributes, initializers listed as graph inputs become constants")
    func legacyOpset() throws {
        let model = try Fixtures.load("legacy_opset7")
        #expect(model.info.inputs.map(\.name) == ["x"])
        let graph = try model.makeGraph()
        #expect(graph.inputs.count == 1)
        #expect(graph.nodes("clip").map(\.operation) == [.clip(min: 0, max: 6), .clip(min: nil, max: 0.7)])
        #expect(graph.nodes("pad").map(\.operation) == [.pad(pads: [0, 0, 1, 2, 0, 0, 2, 1], value: 0.25)])
        #expect(graph.nodes("dropout").count == 1)
        #expect(graph.nodes("batch_norm").map(\.operation) == [.batchNormalization(epsilon: 1e-5)])
    }

    @Test("opset 6: Clip-6 bounds are attributes")
    func clipOpset6() throws {
        let model = try Fixtures.load("clip_opset6")
        #expect(model.info.opsetImports == ["": 6])
        #expect(try model.makeGraph().nodes("clip").map(\.operation) == [.clip(min: 0, max: 6)])
    }

    @Test("opset 13: Clip bounds from an initializer and a Constant node, one omitted")
    func clipInputs() throws {
        let graph = try Fixtures.graph("clip_inputs")
        #expect(graph.nodes("clip").map(\.operation) == [.clip(min: 0, max: 6), .clip(min: nil, max: 0.6)])
        #expect(graph.nodes("clip").map(\.inputs.count) == [1, 1])
    }

    @Test func gemmAttributes() throws {
        let graph = try Fixtures.graph("gemm")
        #expect(graph.nodes("gemm").map(\.operation) == [
            .gemm(alpha: 0.5, beta: 2, transA: false, transB: true),
            .gemm(alpha: 1.5, beta: 1, transA: true, transB: false),
            .gemm(alpha: 1, beta: 1, transA: false, transB: false),
        ])
        #expect(graph.nodes("gemm").map(\.inputs.count) == [3, 3, 2])
        #expect(graph.nodes("flatten").map(\.operation) == [.flatten(axis: 1)])
        let reshape = try #require(graph.nodes("reshape").first)
        #expect(graph[reshape.inputs[1]].operation == .constant(Tensor(shape: [2], int64s: [-1, 1])))
    }

    @Test("Reshape with 0 and -1, negative Flatten axis normalized, Identity and Dropout kept")
    func matmulModel() throws {
        let graph = try Fixtures.graph("matmul")
        let reshape = try #require(graph.nodes("reshape").first)
        #expect(reshape.operation == .reshape(allowZero: false))
        #expect(graph[reshape.inputs[1]].operation == .constant(Tensor(shape: [3], int64s: [0, 3, -1])))
        #expect(graph.nodes("flatten").map(\.operation) == [.flatten(axis: 2)])
        #expect(graph.nodes("matmul").count == 2)
        #expect(graph.nodes("identity").count == 1)
        #expect(graph.nodes("dropout").count == 1)
    }

    @Test("Constant value / value_float / value_floats / value_ints, Pad inputs, Concat negative axis")
    func shapeOps() throws {
        let graph = try Fixtures.graph("shape_ops")
        #expect(graph.nodes("pad").map(\.operation) == [
            .pad(pads: [0, 0, 1, 2, 0, 0, 2, 1], value: 0.5),
            .pad(pads: [0, 0, 0, 0, 1, 0], value: 0),
        ])
        #expect(graph.nodes("concat").map(\.operation) == [.concat(axis: 1)])
        let constants = graph.nodes("constant").map(\.operation)
        #expect(constants.contains(.constant(Tensor(shape: [3], int64s: [1, -1, 16]))))
        #expect(constants.contains(.constant(Tensor(shape: [], floats: [2]))))
        #expect(constants.contains(.constant(Tensor(shape: [16], floats: (0..<16).map(Float.init)))))
        let block = try #require(graph.named("constant_0_out"))
        #expect(block.type == TensorType(shape: [1, 3, 8, 8]))
    }

    @Test("opset 18 Pad axes expand to pads over every axis")
    func padAxes() throws {
        let graph = try Fixtures.graph("pad_axes")
        #expect(graph.nodes("pad").map(\.operation) == [.pad(pads: [0, 0, 1, 2, 0, 0, 3, 0], value: -1)])
    }

    @Test func batchNormalizationAndDropoutInputs() throws {
        let graph = try Fixtures.graph("batchnorm_dropout")
        let batchNorm = try #require(graph.nodes("batch_norm").first)
        #expect(batchNorm.operation == .batchNormalization(epsilon: 1e-3))
        #expect(batchNorm.inputs.count == 5)
        #expect(graph.nodes("dropout").map(\.inputs.count) == [1])
    }

    @Test("a symbolic batch dimension is bound to the requested batch size")
    func symbolicBatch() throws {
        let model = try Fixtures.load("symbolic_batch")
        #expect(model.info.inputs.first?.dims == ["N", "3", "6", "6"])
        for batch in [1, 3] {
            let graph = try model.makeGraph(batchSize: batch)
            #expect(graph[graph.inputs[0]].type == TensorType(shape: [batch, 3, 6, 6]))
        }
    }

    @Test func elementwiseBroadcasting() throws {
        let graph = try Fixtures.graph("elementwise")
        #expect(graph.nodes("sub").count == 2)
        #expect(graph.nodes("mul").count == 2)
        #expect(graph.nodes("add").count == 2)
        // constant on the left-hand side keeps operand order
        let last = try #require(graph.nodes("sub").last)
        #expect(graph[last.inputs[0]].operation.mnemonic == "constant")
    }

    @Test("float16 bit patterns convert exactly", arguments: [
        (UInt16(0x3C00), Float(1)), (0xC000, -2), (0x7BFF, 65504), (0x0001, 0x1p-24), (0x8000, -0.0),
        (0x3555, 0.333251953125), (0x7C00, .infinity),
    ])
    func halfConversion(bits: UInt16, value: Float) {
        #expect(floatFromHalf(bits) == value)
    }
}
