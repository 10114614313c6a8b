import Foundation
import Testing
@testable import TensorIR

/// A graph that uses every operation once (types are not inferred: it only needs to print).
private func everyOperationGraph() -> TensorGraph {
    var graph = TensorGraph(name: "all_ops")
    let x = graph.append(name: "x", .input, type: TensorType(shape: [1, 2, 4, 4]))
    let w = graph.append(name: "w", .constant(Tensor.zeros([2, 2, 3, 3])))
    let shape = graph.append(name: "shape", .constant(Tensor(shape: [2], int64s: [1, -1])))
    let c = graph.append(name: "c", .conv(ConvAttributes(kernel: [3, 3], strides: [1, 2], dilations: [1, 1], pads: [1, 1, 1, 1], group: 1)), inputs: [x, w])
    let bn = graph.append(name: "bn", .batchNormalization(epsilon: 1e-5), inputs: [c, w, w, w, w])
    let affine = graph.append(name: "affine", .affine, inputs: [bn, w, w])
    let relu = graph.append(name: "relu", .relu, inputs: [affine])
    let clip = graph.append(name: "clip", .clip(min: nil, max: 6), inputs: [relu])
    let sigmoid = graph.append(name: "sigmoid", .sigmoid, inputs: [clip])
    let maxPool = graph.append(name: "max", .maxPool(PoolAttributes(kernel: [2, 2], strides: [2, 2], ceilMode: true)), inputs: [sigmoid])
    let avgPool = graph.append(name: "avg", .averagePool(PoolAttributes(kernel: [3, 3], pads: [1, 1, 1, 1], countIncludePad: true)), inputs: [maxPool])
    let global = graph.append(name: "gap", .globalAveragePool, inputs: [avgPool])
    let add = graph.append(name: "add", .add, inputs: [global, global])
    let sub = graph.append(name: "sub", .sub, inputs: [add, global])
    let mul = graph.append(name: "mul", .mul, inputs: [sub, global])
    let flat = graph.append(name: "flat", .flatten(axis: -1), inputs: [mul])
    let gemm = graph.append(name: "gemm", .gemm(alpha: 0.5, beta: 2, transA: false, transB: true), inputs: [flat, flat])
    let matMul = graph.append(name: "mm", .matMul, inputs: [gemm, gemm])
    let linear = graph.append(name: "linear", .linear, inputs: [matMul, matMul])
    let reshape = graph.append(name: "reshape", .reshape(allowZero: true), inputs: [linear, shape])
    let identity = graph.append(name: "identity", .identity, inputs: [reshape])
    let dropout = graph.append(name: "dropout", .dropout, inputs: [identity])
    let pad = graph.append(name: "pad", .pad(pads: [0, 1, 0, -1], value: -.infinity), inputs: [dropout])
    let concat = graph.append(name: "concat", .concat(axis: -1), inputs: [pad, pad])
    graph.outputs = [concat, x]
    return graph
}

@Suite struct PrinterTests {
    @Test func textPrintsEveryOperationWithStableAttributes() {
        #expect(TensorGraphPrinter.text(everyOperationGraph()) == """
            graph all_ops(%0: f32[1,2,4,4] "x") {
              %1 = constant f32[2,2,3,3] "w"
              %2 = constant i64[2] [1, -1] "shape"
              %3 = conv(%0, %1) {kernel=[3,3], strides=[1,2], pads=[1,1,1,1], dilations=[1,1], group=1} : ? "c"
              %4 = batch_norm(%3, %1, %1, %1, %1) {epsilon=1e-05} : ? "bn"
              %5 = affine(%4, %1, %1) : ? "affine"
              %6 = relu(%5) : ? "relu"
              %7 = clip(%6) {max=6.0} : ? "clip"
              %8 = sigmoid(%7) : ? "sigmoid"
              %9 = max_pool(%8) {kernel=[2,2], strides=[2,2], pads=[0,0,0,0], dilations=[1,1], ceil_mode=true} : ? "max"
              %10 = average_pool(%9) {kernel=[3,3], strides=[1,1], pads=[1,1,1,1], dilations=[1,1], ceil_mode=false, count_include_pad=true} : ? "avg"
              %11 = global_average_pool(%10) : ? "gap"
              %12 = add(%11, %11) : ? "add"
              %13 = sub(%12, %11) : ? "sub"
              %14 = mul(%13, %11) : ? "mul"
              %15 = flatten(%14) {axis=-1} : ? "flat"
              %16 = gemm(%15, %15) {alpha=0.5, beta=2.0, trans_a=false, trans_b=true} : ? "gemm"
              %17 = matmul(%16, %16) : ? "mm"
              %18 = linear(%17, %17) : ? "linear"
              %19 = reshape(%18, %2) {allow_zero=true} : ? "reshape"
              %20 = identity(%19) : ? "identity"
              %21 = dropout(%20) : ? "dropout"
              %22 = pad(%21) {pads=[0,1,0,-1], value=-inf} : ? "pad"
              %23 = concat(%22, %22) {axis=-1} : ? "concat"
              return %23 "concat", %0 "x"
            }

            """)
    }

    @Test func textIsDeterministicAndEscapesNames() {
        var graph = TensorGraph()
        let x = graph.append(name: "in \"quoted\"\\path\n", .input, type: TensorType(shape: [3]))
        let small = graph.append(name: "small", .constant(Tensor(shape: [2, 2], floats: [0.1, -0.0, 1e-7, 3])))
        let large = graph.append(name: "large", .constant(Tensor.zeros([3, 3])))
        graph.outputs = [graph.append(name: "y", .add, inputs: [x, small]), large]
        let text = TensorGraphPrinter.text(graph)
        #expect(text == TensorGraphPrinter.text(graph))
        #expect(text == """
            graph main(%0: f32[3] "in \\"quoted\\"\\\\path\\n") {
              %1 = constant f32[2,2] [0.1, -0.0, 1e-07, 3.0] "small"
              %2 = constant f32[3,3] "large"
              %3 = add(%0, %1) : ? "y"
              return %3 "y", %2 "large"
            }

            """)
    }

    @Test func jsonIsOneParseableObjectWithSortedKeys() throws {
        var graph = everyOperationGraph()
        graph.outputs = [NodeID(4)]
        let json = TensorGraphPrinter.json(graph)
        #expect(json == TensorGraphPrinter.json(graph))
        let root = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(root["name"] as? String == "all_ops")
        let inputs = try #require(root["inputs"] as? [[String: Any]])
        #expect(inputs.count == 1 && inputs[0]["name"] as? String == "x" && inputs[0]["id"] as? Int == 0)
        let outputs = try #require(root["outputs"] as? [[String: Any]])
        #expect(outputs.count == 1 && outputs[0]["name"] as? String == "bn")
        let nodes = try #require(root["nodes"] as? [[String: Any]])
        #expect(nodes.count == graph.nodes.count)
        #expect(nodes.map { $0["op"] as? String } == graph.nodes.map(\.operation.mnemonic))
        let conv = nodes[3]
        #expect(conv["inputs"] as? [Int] == [0, 1])
        let attributes = try #require(conv["attributes"] as? [String: Any])
        #expect(attributes["strides"] as? [Int] == [1, 2])
        #expect(attributes["group"] as? Int == 1)
        let input = nodes[0]
        let type = try #require(input["type"] as? [String: Any])
        #expect(type["elementType"] as? String == "float32" && type["shape"] as? [Int] == [1, 2, 4, 4])
        #expect(conv["type"] is NSNull)
        let shapeConstant = try #require(nodes[2]["attributes"] as? [String: Any])
        #expect(shapeConstant["value"] as? [Int] == [1, -1])
        let pad = try #require(nodes[22]["attributes"] as? [String: Any])
        #expect(pad["value"] as? String == "-inf")
        // Keys of every object appear in sorted order.
        let keyLines = json.split(separator: "\n").filter { $0.hasPrefix("  \"") }.map { String($0.split(separator: ":")[0]) }
        #expect(keyLines == keyLines.sorted())
    }

    @Test func dotIsADigraphWithOneEdgePerOperand() throws {
        let graph = everyOperationGraph()
        let dot = TensorGraphPrinter.dot(graph)
        #expect(dot.hasPrefix("digraph \"all_ops\" {\n"))
        #expect(dot.hasSuffix("}\n"))
        let edges = dot.split(separator: "\n").filter { $0.contains(" -> ") }
        #expect(edges.count == graph.nodes.reduce(0) { $0 + $1.inputs.count } + graph.outputs.count)
        #expect(dot.contains("n3 -> n4 [label=\"0\"];"))
        #expect(dot.contains("n23 -> out0;"))

        // Optional: when Graphviz is installed, it must accept the file.
        let dotPath = ["/usr/bin/dot", "/usr/local/bin/dot", "/opt/homebrew/bin/dot"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let dotPath else { return }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: dotPath)
        process.arguments = ["-Tsvg"]
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        input.fileHandleForWriting.write(Data(dot.utf8))
        try input.fileHandleForWriting.close()
        let svg = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(String(decoding: svg, as: UTF8.self).contains("<svg"))
    }
}
