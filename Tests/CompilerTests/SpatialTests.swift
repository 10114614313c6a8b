import CipherIR
import Foundation
import TensorIR
import Testing
@testable import Compiler

/// Deterministic random values for test tensors.
private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

private func randomTensor(_ shape: [Int], seed: UInt64) -> Tensor {
    var generator = SplitMix64(state: seed)
    let count = shape.reduce(1, *)
    return Tensor(shape: shape, floats: (0..<count).map { _ in Float.random(in: -1...1, using: &generator) })
}

/// Builds a small graph, lowers it node by node with `SpatialLowering`, runs the unleveled program on plain slot
/// vectors and compares with `ReferenceExecutor`.
private struct SpatialCase {
    var graph = TensorGraph(name: "spatial")
    var inputs: [String: Tensor] = [:]
    var seed: UInt64 = 1

    mutating func input(_ name: String, _ shape: [Int]) -> NodeID {
        inputs[name] = randomTensor(shape, seed: seed)
        seed += 1
        return graph.append(name: name, .input, type: TensorType(shape: shape))
    }

    mutating func constant(_ name: String, _ shape: [Int]) -> NodeID {
        let tensor = randomTensor(shape, seed: seed)
        seed += 1
        return graph.append(name: name, .constant(tensor))
    }

    mutating func constant(_ name: String, _ tensor: Tensor) -> NodeID {
        graph.append(name: name, .constant(tensor))
    }

    mutating func node(_ name: String, _ operation: TensorIR.Operation, _ inputs: [NodeID]) -> NodeID {
        graph.append(name: name, operation, inputs: inputs)
    }

    mutating func conv(_ name: String, _ x: NodeID, inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1,
                       pad: Int = 0, dilation: Int = 1, group: Int = 1, bias: Bool = true) -> NodeID {
        let w = constant(name + ".w", [outChannels, inChannels / group, kernel, kernel])
        var operands = [x, w]
        if bias { operands.append(constant(name + ".b", [outChannels])) }
        let attributes = ConvAttributes(kernel: [kernel, kernel], strides: [stride, stride], dilations: [dilation, dilation],
                                        pads: [pad, pad, pad, pad], group: group)
        return node(name, .conv(attributes), operands)
    }

    struct Outcome {
        var program: Program
        var maxError: Double
        var maxReference: Double
        var zeroInvariantHolds: Bool
        var rotations: Int
        var packed: [String: PackedTensor]
    }

    /// Lowers and runs; returns the worst absolute error over all outputs.
    mutating func run(outputs: [NodeID], slots: Int) throws -> Outcome {
        graph.outputs = outputs
        try ShapeInference.run(&graph)
        let context = LoweringContext(slots: slots)
        var packed: [NodeID: PackedTensor] = [:]
        var packedInputs: [[[Double]]] = []
        for node in graph.nodes {
            switch node.operation {
            case .constant: continue
            case .input:
                let shape = node.type!.shape
                let (layout, count) = SpatialLowering.pack(inputShape: shape, slots: slots)
                let positions = flatPositions(of: layout, shape: shape, slots: slots)
                packed[node.id] = context.input(name: node.name, shape: shape, positions: positions, ciphertextCount: count)
                var vectors = [[Double]](repeating: [Double](repeating: 0, count: slots), count: count)
                for (element, value) in inputs[node.name]!.floats.enumerated() {
                    vectors[positions[element] / slots][positions[element] % slots] = Double(value)
                }
                packedInputs.append(vectors)
            default:
                let operands = node.inputs.compactMap { packed[$0] }
                packed[node.id] = try SpatialLowering.lower(node: node, graph: graph, inputs: operands, context: context)
            }
        }
        for output in outputs { context.output(name: graph.node(output).name, packed[output]!) }
        let program = context.finish()
        let slotsOut = try PlainInterpreter(program: program).runSlots(inputs: packedInputs)
        let reference = try ReferenceExecutor(graph: graph, threads: 1).run(inputs: inputs)
        var maxError = 0.0, maxReference = 0.0
        var invariant = true
        for (index, output) in outputs.enumerated() {
            let tensor = packed[output]!
            let positions = tensor.flatPositions()
            let expected = reference[graph.node(output).name]!.floats
            #expect(expected.count == positions.count)
            var used = Set<Int>()
            for (element, position) in positions.enumerated() {
                let value = slotsOut[index][position / slots][position % slots]
                maxError = max(maxError, abs(value - Double(expected[element])))
                maxReference = max(maxReference, abs(Double(expected[element])))
                used.insert(position)
            }
            for (ciphertext, vector) in slotsOut[index].enumerated() {
                for (slot, value) in vector.enumerated() where !used.contains(ciphertext * slots + slot) && value != 0 { invariant = false }
            }
        }
        var rotations = 0
        for instruction in program.instructions where instruction.opcode == .rotate || instruction.opcode == .rotateHoisted {
            rotations += instruction.results.count
        }
        var named: [String: PackedTensor] = [:]
        for (id, tensor) in packed { named[graph.node(id).name] = tensor }
        return Outcome(program: program, maxError: maxError, maxReference: maxReference, zeroInvariantHolds: invariant,
                       rotations: rotations, packed: named)
    }
}

/// Results equal the reference up to the reference's Float rounding (inputs and weights are Float, both sides
/// accumulate in Double).
private func expectMatches(_ outcome: SpatialCase.Outcome, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(outcome.maxReference > 0, sourceLocation: sourceLocation)
    #expect(outcome.maxError <= 1e-6 * max(1, outcome.maxReference), "max error \(outcome.maxError)", sourceLocation: sourceLocation)
    #expect(outcome.zeroInvariantHolds, "slots without an element must stay zero", sourceLocation: sourceLocation)
    #expect(throws: Never.self, sourceLocation: sourceLocation) { try outcome.program.verify() }
}

@Suite("Spatial lowering")
struct SpatialTests {
    struct ConvCase: Sendable, CustomStringConvertible {
        var inChannels, outChannels, height, width, kernel, stride, pad, dilation, group, slots: Int
        var description: String {
            "\(inChannels)→\(outChannels) \(height)×\(width) k\(kernel) s\(stride) p\(pad) d\(dilation) g\(group) slots \(slots)"
        }
    }

    static let convCases: [ConvCase] = [
        ConvCase(inChannels: 3, outChannels: 4, height: 6, width: 6, kernel: 3, stride: 1, pad: 1, dilation: 1, group: 1, slots: 256),
        ConvCase(inChannels: 3, outChannels: 4, height: 6, width: 6, kernel: 3, stride: 1, pad: 0, dilation: 1, group: 1, slots: 256),
        ConvCase(inChannels: 4, outChannels: 8, height: 8, width: 8, kernel: 3, stride: 2, pad: 1, dilation: 1, group: 1, slots: 512),
        ConvCase(inChannels: 4, outChannels: 6, height: 7, width: 9, kernel: 3, stride: 2, pad: 0, dilation: 1, group: 1, slots: 512),
        ConvCase(inChannels: 4, outChannels: 8, height: 8, width: 8, kernel: 1, stride: 2, pad: 0, dilation: 1, group: 1, slots: 256),
        ConvCase(inChannels: 5, outChannels: 3, height: 6, width: 5, kernel: 1, stride: 1, pad: 0, dilation: 1, group: 1, slots: 256),
        ConvCase(inChannels: 6, outChannels: 6, height: 8, width: 8, kernel: 3, stride: 1, pad: 1, dilation: 1, group: 6, slots: 512),
        ConvCase(inChannels: 4, outChannels: 6, height: 8, width: 8, kernel: 3, stride: 2, pad: 1, dilation: 1, group: 2, slots: 512),
        ConvCase(inChannels: 3, outChannels: 4, height: 9, width: 9, kernel: 3, stride: 1, pad: 2, dilation: 2, group: 1, slots: 512),
        // Multi-ciphertext: 8 channels of 8×8 in 64-slot ciphertexts.
        ConvCase(inChannels: 8, outChannels: 8, height: 8, width: 8, kernel: 3, stride: 1, pad: 1, dilation: 1, group: 1, slots: 64),
        ConvCase(inChannels: 8, outChannels: 16, height: 8, width: 8, kernel: 3, stride: 2, pad: 1, dilation: 1, group: 1, slots: 128),
        // A plane larger than a ciphertext (16×16 = 256 > 128 slots).
        ConvCase(inChannels: 2, outChannels: 3, height: 16, width: 16, kernel: 3, stride: 2, pad: 1, dilation: 1, group: 1, slots: 128),
    ]

    @Test("convolution matches the reference", arguments: convCases)
    func convolution(_ c: ConvCase) throws {
        var test = SpatialCase()
        let x = test.input("x", [1, c.inChannels, c.height, c.width])
        let y = test.conv("y", x, inChannels: c.inChannels, outChannels: c.outChannels, kernel: c.kernel, stride: c.stride,
                          pad: c.pad, dilation: c.dilation, group: c.group)
        let outcome = try test.run(outputs: [y], slots: c.slots)
        expectMatches(outcome)
        let products = outcome.program.instructions.filter { $0.opcode == .mulPlain || $0.opcode == .mulPlainSum }.count
        #expect(products > 0)
    }

    @Test("a strided convolution writes a multiplexed layout on the input's grid")
    func stridedLayoutIsMultiplexed() throws {
        var test = SpatialCase()
        let x = test.input("x", [1, 4, 8, 8])
        let y = test.conv("y", x, inChannels: 4, outChannels: 8, kernel: 3, stride: 2, pad: 1)
        let outcome = try test.run(outputs: [y], slots: 512)
        let tensor = outcome.packed["y"]!
        let layout = try #require(SpatialLayout.recognize(shape: tensor.shape, positions: tensor.flatPositions(), slots: 512))
        #expect(layout.gap == 2)
        #expect(layout.gridWidth == 8)
        #expect(layout.planeStride == 64)
        // 8 channels of 4×4 fill two 8×8 planes completely: no slot wasted.
        #expect(layout.planeCount == 2)
        #expect(Set(tensor.flatPositions()) == Set(0..<128))
    }

    @Test("average pooling matches the reference", arguments: [
        PoolAttributes(kernel: [2, 2], strides: [2, 2]),
        PoolAttributes(kernel: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1]),
        PoolAttributes(kernel: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1], countIncludePad: true),
        PoolAttributes(kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceilMode: true),
    ])
    func averagePool(_ attributes: PoolAttributes) throws {
        var test = SpatialCase()
        let x = test.input("x", [1, 3, 8, 8])
        let y = test.node("y", .averagePool(attributes), [x])
        expectMatches(try test.run(outputs: [y], slots: 256))
    }

    @Test("pooling keeps each channel on its sub-position: one offset per window tap")
    func poolingOffsets() throws {
        var test = SpatialCase()
        let x = test.input("x", [1, 6, 8, 8])
        let c = test.conv("c", x, inChannels: 6, outChannels: 8, kernel: 3, stride: 2, pad: 1)
        let p = test.node("p", .averagePool(PoolAttributes(kernel: [2, 2], strides: [2, 2])), [c])
        let d = test.conv("d", p, inChannels: 8, outChannels: 8, kernel: 3, pad: 1, group: 8)
        let outcome = try test.run(outputs: [d], slots: 512)
        expectMatches(outcome)
        let node = test.graph.nodes.first { $0.name == "p" }!
        let layer = try SpatialLowering.linearLayer(node: node, graph: test.graph, input: outcome.packed["c"]!)
        #expect(layer.transform.offsetCountPerInput == [4])
        let pooled = try #require(SpatialLayout.recognize(shape: [1, 8, 2, 2], positions: layer.outputPositions, slots: 512))
        #expect(pooled.gap == 4 && pooled.multiplex == 2)
        // The depthwise convolution keeps the packing too.
        #expect(outcome.packed["d"]!.flatPositions() == outcome.packed["p"]!.flatPositions())
    }

    @Test("max pooling taps gathered into the output packing", arguments: [
        PoolAttributes(kernel: [2, 2], strides: [2, 2]),
        PoolAttributes(kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1]),
        PoolAttributes(kernel: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1]),
        PoolAttributes(kernel: [3, 3], strides: [2, 2], pads: [0, 0, 1, 1], ceilMode: true),
    ])
    func maxPoolTaps(_ attributes: PoolAttributes) throws {
        let slots = 128
        var graph = TensorGraph()
        let x = graph.append(name: "x", .input, type: TensorType(shape: [1, 3, 8, 8]))
        let w = graph.append(name: "w", .constant(randomTensor([4, 3, 3, 3], seed: 5)))
        let c = graph.append(name: "c", .conv(ConvAttributes(kernel: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1])), inputs: [x, w])
        let m = graph.append(name: "m", .maxPool(attributes), inputs: [c])
        graph.outputs = [m]
        try ShapeInference.run(&graph)
        let input = randomTensor([1, 3, 8, 8], seed: 6)
        let context = LoweringContext(slots: slots)
        let (layout, count) = SpatialLowering.pack(inputShape: [1, 3, 8, 8], slots: slots)
        let positions = flatPositions(of: layout, shape: [1, 3, 8, 8], slots: slots)
        let packed = context.input(name: "x", shape: [1, 3, 8, 8], positions: positions, ciphertextCount: count)
        let conv = try SpatialLowering.lower(node: graph.node(c), graph: graph, inputs: [packed], context: context)
        let taps = try SpatialLowering.maxPoolTaps(node: graph.node(m), graph: graph, inputs: [conv], context: context)
        #expect(taps.count == attributes.kernel[0] * attributes.kernel[1])
        for (index, tap) in taps.enumerated() { context.output(name: "t\(index)", tap) }
        let result = try PlainInterpreter(program: context.finish()).run(inputs: ["x": input])
        let reference = try ReferenceExecutor(graph: graph, threads: 1).run(inputs: ["x": input])["m"]!
        var worst = 0.0
        for element in 0..<reference.count {
            let best = (0..<taps.count).map { Double(result["t\($0)"]!.floats[element]) }.max()!
            worst = max(worst, abs(best - Double(reference.floats[element])))
        }
        #expect(worst <= 1e-5)
    }

    @Test("global average pooling, flatten and linear read the gapped layout")
    func poolFlattenLinear() throws {
        var test = SpatialCase()
        let x = test.input("x", [1, 4, 8, 8])
        let c = test.conv("c", x, inChannels: 4, outChannels: 8, kernel: 3, stride: 2, pad: 1)
        let g = test.node("g", .globalAveragePool, [c])
        let f = test.node("f", .flatten(axis: 1), [g])
        let w = test.constant("fc.w", [5, 8])
        let b = test.constant("fc.b", [5])
        let y = test.node("y", .linear, [f, w, b])
        expectMatches(try test.run(outputs: [y, g], slots: 256))
    }

    @Test("flatten of a strided convolution into a linear layer needs no compaction")
    func flattenLinear() throws {
        var test = SpatialCase()
        let x = test.input("x", [1, 2, 6, 6])
        let c = test.conv("c", x, inChannels: 2, outChannels: 3, kernel: 3, stride: 2, pad: 1)
        let f = test.node("f", .flatten(axis: 1), [c])
        let w = test.constant("fc.w", [7, 27])
        let b = test.constant("fc.b", [7])
        let y = test.node("y", .linear, [f, w, b])
        expectMatches(try test.run(outputs: [y], slots: 128))
    }

    @Test("a linear layer wider than its input and a reshape")
    func wideLinearReshape() throws {
        var test = SpatialCase()
        let x = test.input("x", [1, 12])
        let w = test.constant("fc.w", [40, 12])
        let b = test.constant("fc.b", [40])
        let h = test.node("h", .linear, [x, w, b])
        let shape = test.constant("shape", Tensor(shape: [4], int64s: [1, 4, 2, 5]))
        let r = test.node("r", .reshape(allowZero: false), [h, shape])
        let scale = test.constant("s", [4])
        let shift = test.constant("t", [4])
        let a = test.node("a", .affine, [r, scale, shift])
        // 40 outputs in 16-slot ciphertexts: three output ciphertexts.
        expectMatches(try test.run(outputs: [a], slots: 16))
    }

    @Test("affine and elementwise products with a constant use the offset-0 diagonal only")
    func affineAndScale() throws {
        var test = SpatialCase()
        let x = test.input("x", [1, 3, 5, 4])
        let s = test.constant("s", [3])
        let t = test.constant("t", [3])
        let a = test.node("a", .affine, [x, s, t])
        let k = test.constant("k", [3, 1, 4])
        let m = test.node("m", .mul, [a, k])
        let outcome = try test.run(outputs: [m], slots: 64)
        expectMatches(outcome)
        #expect(outcome.rotations == 0)
    }

    @Test("a residual add aligns two different layouts with a layout-change transform")
    func residualAddOfDifferentLayouts() throws {
        var test = SpatialCase()
        let x = test.input("x", [1, 4, 8, 8])
        let r = test.input("r", [1, 8, 4, 4])
        let a = test.conv("a", x, inChannels: 4, outChannels: 8, kernel: 1, stride: 2)
        let y = test.node("y", .add, [r, a])
        let z = test.node("z", .sub, [a, r])
        let bias = test.constant("bias", [8, 1, 1])
        let u = test.node("u", .add, [z, bias])
        let v = test.node("v", .sub, [bias, u])
        let outcome = try test.run(outputs: [y, v], slots: 128)
        expectMatches(outcome)
        // Both layouts are spatial and equally dense: the first operand's is kept, the second is moved.
        let conv = outcome.packed["a"]!, dense = outcome.packed["r"]!
        #expect(conv.flatPositions() != dense.flatPositions())
        #expect(outcome.packed["y"]!.flatPositions() == dense.flatPositions())
        #expect(outcome.packed["v"]!.flatPositions() == conv.flatPositions())
    }

    @Test("a small ResNet-like chain across several ciphertexts")
    func resnetLikeChain() throws {
        var test = SpatialCase()
        let x = test.input("x", [1, 3, 16, 16])
        let c1 = test.conv("c1", x, inChannels: 3, outChannels: 8, kernel: 3, pad: 1)
        let c2 = test.conv("c2", c1, inChannels: 8, outChannels: 8, kernel: 3, pad: 1)
        let r1 = test.node("r1", .add, [c1, c2])
        let c3 = test.conv("c3", r1, inChannels: 8, outChannels: 16, kernel: 3, stride: 2, pad: 1)
        let s3 = test.conv("s3", r1, inChannels: 8, outChannels: 16, kernel: 1, stride: 2, bias: false)
        let r2 = test.node("r2", .add, [c3, s3])
        let c4 = test.conv("c4", r2, inChannels: 16, outChannels: 16, kernel: 3, stride: 2, pad: 1)
        let p = test.node("p", .averagePool(PoolAttributes(kernel: [2, 2], strides: [2, 2])), [c4])
        let g = test.node("g", .globalAveragePool, [p])
        let f = test.node("f", .flatten(axis: 1), [g])
        let w = test.constant("fc.w", [10, 16])
        let b = test.constant("fc.b", [10])
        let y = test.node("y", .linear, [f, w, b])
        let outcome = try test.run(outputs: [y], slots: 256)
        expectMatches(outcome)
        // Layers that keep the grid keep the packing: the residual adds need no layout change.
        #expect(outcome.packed["c1"]!.flatPositions() == outcome.packed["c2"]!.flatPositions())
        #expect(outcome.packed["c3"]!.flatPositions() == outcome.packed["s3"]!.flatPositions())
        // 8 channels of 16×16 in 256-slot ciphertexts: 8 ciphertexts; after two stride-2 layers still dense.
        #expect(outcome.packed["c1"]!.values.count == 8)
        #expect(outcome.packed["c3"]!.values.count == 4)
        #expect(outcome.packed["c4"]!.values.count == 1)
    }

    @Test("baby-step giant-step rotations grow like the square root of the offsets, one plaintext level")
    func rotationCount() throws {
        var test = SpatialCase()
        let x = test.input("x", [1, 8, 16, 16])
        let y = test.conv("y", x, inChannels: 8, outChannels: 8, kernel: 3, pad: 1)
        let outcome = try test.run(outputs: [y], slots: 2048)
        expectMatches(outcome)
        let graph = test.graph
        let node = graph.nodes.first { $0.name == "y" }!
        let input = outcome.packed["x"]!
        let layer = try SpatialLowering.linearLayer(node: node, graph: graph, input: input)
        let offsets = layer.transform.offsetCountPerInput[0]
        let plan = layer.transform.bestPlan()
        // Offsets (c_in − c_out)·256 + dy·16 + dx modulo 2048 slots: 8·9 = 72; BSGS needs about 2·√72 ≈ 17 rotations.
        #expect(offsets == 72)
        #expect(outcome.rotations == plan.rotationCount)
        #expect(Double(outcome.rotations) <= 2.5 * Double(offsets).squareRoot())
        // One plaintext product per diagonal (fused into one mulPlainSum per giant step), and every path from input to
        // output crosses exactly one of them.
        let products = outcome.program.instructions.reduce(0) { count, instruction in
            switch instruction.opcode {
            case .mulPlain: return count + 1
            case .mulPlainSum: return count + instruction.operands.count / 2
            default: return count
            }
        }
        #expect(products == layer.transform.diagonalCount)
        let sums = outcome.program.instructions.filter { $0.opcode == .mulPlainSum }.count
        #expect(sums > 0 && sums <= plan.giantSteps.joined().count)
        #expect(multiplicativeDepth(outcome.program) == 1)
        #expect(outcome.program.instructions.contains { $0.opcode == .rotateHoisted })
    }

    @Test("diagonals come from the layer's structure: a 64-channel 32×32 convolution")
    func largeConvolutionIsSparse() throws {
        let slots = 1 << 15
        var graph = TensorGraph()
        let x = graph.append(name: "x", .input, type: TensorType(shape: [1, 64, 32, 32]))
        let w = graph.append(name: "w", .constant(randomTensor([64, 64, 3, 3], seed: 9)))
        let y = graph.append(name: "y", .conv(ConvAttributes(kernel: [3, 3], pads: [1, 1, 1, 1])), inputs: [x, w])
        graph.outputs = [y]
        try ShapeInference.run(&graph)
        let (layout, count) = SpatialLowering.pack(inputShape: [1, 64, 32, 32], slots: slots)
        #expect(count == 2)
        let input = PackedTensor(shape: [1, 64, 32, 32], values: [ValueID(0), ValueID(1)], layout: layout, slots: slots)
        let start = Date()
        let layer = try SpatialLowering.linearLayer(node: graph.node(y), graph: graph, input: input)
        let seconds = Date().timeIntervalSince(start)
        // A dense A would be 65536² entries; per (output, input) block the offsets are (c_in − c_out)·1024 + dy·32 + dx
        // modulo 32768: at most 32·9 + wrap-arounds per block.
        let transform = layer.transform
        #expect(transform.outputCiphertexts == 2 && transform.inputCiphertexts == 2)
        #expect(transform.diagonalCount <= 4 * 33 * 9)
        let plan = transform.bestPlan()
        print("64×32×32 3×3 conv, slots \(slots): \(transform.diagonalCount) diagonals, offsets per input \(transform.offsetCountPerInput), baby step \(plan.babyStepSize), \(plan.rotationCount) rotations, built in \(String(format: "%.3f", seconds)) s")
        #expect(plan.rotationCount < transform.diagonalCount / 4)
    }

    @Test("ResNet-20 layer shapes: diagonals and rotations per layer", arguments: [1 << 14, 1 << 15])
    func resnet20Statistics(slots: Int) throws {
        // conv1, stage 1 (16ch 32×32), stage 2 entry (stride 2) and body, stage 3 entry and body, shortcut, GAP, FC.
        var graph = TensorGraph()
        var seed: UInt64 = 100
        func conv(_ name: String, _ x: NodeID, _ cin: Int, _ cout: Int, _ k: Int, _ s: Int) -> NodeID {
            seed += 1
            let w = graph.append(name: name + ".w", .constant(randomTensor([cout, cin, k, k], seed: seed)))
            let p = k / 2
            return graph.append(name: name, .conv(ConvAttributes(kernel: [k, k], strides: [s, s], pads: [p, p, p, p])), inputs: [x, w])
        }
        let x = graph.append(name: "x", .input, type: TensorType(shape: [1, 3, 32, 32]))
        let c1 = conv("conv1 3→16", x, 3, 16, 3, 1)
        let c2 = conv("stage1 16→16", c1, 16, 16, 3, 1)
        let c3 = conv("stage2 16→32 s2", c2, 16, 32, 3, 2)
        let sc = conv("shortcut 16→32 1×1 s2", c2, 16, 32, 1, 2)
        let c4 = conv("stage2 32→32", c3, 32, 32, 3, 1)
        let c5 = conv("stage3 32→64 s2", c4, 32, 64, 3, 2)
        let c6 = conv("stage3 64→64", c5, 64, 64, 3, 1)
        let g = graph.append(name: "gap", .globalAveragePool, inputs: [c6])
        let f = graph.append(name: "flatten", .flatten(axis: 1), inputs: [g])
        let w = graph.append(name: "fc.w", .constant(randomTensor([10, 64], seed: 7)))
        let y = graph.append(name: "fc 64→10", .linear, inputs: [f, w])
        graph.outputs = [y, sc]
        try ShapeInference.run(&graph)
        let (layout, count) = SpatialLowering.pack(inputShape: [1, 3, 32, 32], slots: slots)
        var packed: [NodeID: PackedTensor] = [x: PackedTensor(shape: [1, 3, 32, 32], values: (0..<count).map { ValueID($0) }, layout: layout, slots: slots)]
        var lines: [String] = []
        var keys = Set<Int>(), greedyKeys = Set<Int>()
        var rotations = 0, greedyRotations = 0
        for node in graph.nodes {
            guard let input = node.inputs.first.flatMap({ packed[$0] }) else { continue }
            if case .flatten = node.operation {
                packed[node.id] = try SpatialLowering.relayout(node, input)
                continue
            }
            let start = Date()
            let layer = try SpatialLowering.linearLayer(node: node, graph: graph, input: input)
            let plan = layer.transform.bestPlan(existingKeys: keys)
            let seconds = Date().timeIntervalSince(start)
            let greedy = layer.transform.bestPlan()
            keys.formUnion(plan.rotationKeys(slots: slots))
            greedyKeys.formUnion(greedy.rotationKeys(slots: slots))
            rotations += plan.rotationCount
            greedyRotations += greedy.rotationCount
            packed[node.id] = PackedTensor(shape: layer.outputShape, values: (0..<layer.outputCiphertexts).map { ValueID($0) },
                                           layout: .explicit(layer.outputPositions.map { Int32($0) }), slots: slots)
            let gap = SpatialLayout.recognize(shape: layer.outputShape, positions: layer.outputPositions, slots: slots)?.gap
            lines.append("\(node.name): \(input.values.count)→\(layer.outputCiphertexts) ct, out gap \(gap.map(String.init) ?? "-"), \(layer.transform.diagonalCount) diagonals (= mulPlain), offsets/input \(layer.transform.offsetCountPerInput), baby step \(plan.babyStepSize), rotations \(plan.rotationCount), keys \(plan.rotationKeys(slots: slots).count), \(String(format: "%.3f", seconds)) s")
            #expect(plan.rotationCount <= max(2, layer.transform.diagonalCount))
        }
        print("ResNet-20 layers at \(slots) slots:\n  " + lines.joined(separator: "\n  "))
        print("  reusing keys: \(rotations) rotations, \(keys.count) keys; per-layer best: \(greedyRotations) rotations, \(greedyKeys.count) keys")
        #expect(keys.count <= greedyKeys.count)
        // Multiplexing keeps everything in one ciphertext at 2^15 slots (16·1024 = 32·256 = 64·64 = 16384 elements).
        if slots == 1 << 15 { #expect(packed.values.allSatisfy { $0.values.count == 1 }) }
    }

    @Test("end to end through the compiler: spatial layout, client-aided ReLU, leveled program")
    func compiledSpatialNetwork() throws {
        var test = SpatialCase()
        let x = test.input("x", [1, 2, 8, 6])
        let c1 = test.conv("c1", x, inChannels: 2, outChannels: 4, kernel: 3, stride: 2)
        let r1 = test.node("r1", .relu, [c1])
        let c2 = test.conv("c2", r1, inChannels: 4, outChannels: 4, kernel: 3, pad: 1)
        let r2 = test.node("r2", .relu, [c2])
        let sum = test.node("sum", .add, [r1, r2])
        let p = test.node("p", .averagePool(PoolAttributes(kernel: [2, 2], strides: [1, 1])), [sum])
        let shape = test.constant("shape", Tensor(shape: [2], int64s: [1, -1]))
        let f = test.node("f", .reshape(allowZero: false), [p, shape])
        let w = test.constant("fc.w", [3, 8])
        let b = test.constant("fc.b", [3])
        let y = test.node("y", .linear, [f, w, b])
        test.graph.outputs = [y]
        try ShapeInference.run(&test.graph)
        var options = CompilerOptions()
        options.layout = .spatial
        options.activations = .client
        options.security = .insecure(logN: 10)
        let result = try ModelCompiler.compile(test.graph, options: options)
        let expected = try ReferenceExecutor(graph: test.graph, threads: 1).run(inputs: test.inputs)["y"]!
        let actual = try #require(try PlainInterpreter(program: result.program).run(inputs: test.inputs)["y"])
        #expect(actual.shape == expected.shape)
        let scale = expected.floats.map { abs(Double($0)) }.max()!
        #expect(scale > 0)
        #expect(zip(actual.floats, expected.floats).allSatisfy { abs(Double($0) - Double($1)) <= 1e-5 * max(1, scale) })
    }

    @Test("layout recognition round-trips dense and multiplexed layouts")
    func layoutRecognition() {
        let slots = 1024
        let layouts = [
            SpatialLayout.dense(channels: 5, height: 6, width: 7, slots: slots),
            SpatialLayout(channels: 16, height: 4, width: 4, gap: 2, gridWidth: 8, planeStride: 64, slots: slots),
            SpatialLayout(channels: 3, height: 4, width: 1, gap: 2, gridWidth: 8, planeStride: 64, slots: slots),
            SpatialLayout(channels: 40, height: 5, width: 5, gap: 2, gridWidth: 10, planeStride: 100, slots: slots),
            SpatialLayout(channels: 10, height: 3, width: 3, gap: 4, multiplex: 2, gridWidth: 12, planeStride: 144, slots: slots),
            SpatialLayout(channels: 3, height: 3, width: 3, gap: 4, multiplex: 2, gridWidth: 12, planeStride: 144, slots: slots),
            SpatialLayout(channels: 9, height: 1, width: 1, gap: 4, multiplex: 2, gridWidth: 12, planeStride: 144, slots: slots),
            SpatialLayout.dense(channels: 2, height: 40, width: 40, slots: slots),
        ]
        for layout in layouts {
            let shape = [1, layout.channels, layout.height, layout.width]
            let recognized = SpatialLayout.recognize(shape: shape, positions: layout.positions(), slots: slots)
            #expect(recognized?.positions() == layout.positions(), "\(layout)")
            #expect(Set(layout.positions()).count == layout.channels * layout.height * layout.width)
        }
        #expect(SpatialLayout.recognize(shape: [1, 2, 2, 2], positions: [0, 1, 2, 3, 5, 4, 6, 7], slots: slots) == nil)
    }

    @Test("a 40×40 plane larger than a ciphertext starts on a ciphertext boundary")
    func planeLargerThanCiphertext() {
        let layout = SpatialLayout.dense(channels: 3, height: 40, width: 40, slots: 1024)
        #expect(layout.planeStride == 2048)
        #expect(layout.ciphertextCount == 6)
        #expect(layout.position(channel: 1, row: 0, column: 0) == 2048)
    }

    @Test("a transform past the diagonal memory budget throws instead of exhausting memory")
    func diagonalBudget() throws {
        // Room for exactly four diagonals of one placement each.
        let perDiagonal = DiagonalTransformBuilder.diagonalOverheadBytes + DiagonalTransformBuilder.placementBytes
        var builder = DiagonalTransformBuilder(slots: 64, inputCiphertexts: 1, outputCiphertexts: 1, budgetBytes: 4 * perDiagonal)
        for offset in 0..<4 { builder.accumulate(outputPosition: 0, inputPosition: offset, value: 1) }
        #expect(!builder.exceededBudget)
        builder.accumulate(outputPosition: 0, inputPosition: 4, value: 1)
        #expect(builder.exceededBudget)
        #expect(builder.diagonalCount == 4)
    }

    @Test("a convolution tap's diagonal is one grid placement per channel pair, split only at ciphertext boundaries")
    func rectanglePlacements() throws {
        // Rows of 8 slots, 64-slot ciphertexts: a 4×8 rectangle whose rows 0…1 sit in ciphertext 0 and rows 2…3 in 1.
        var builder = DiagonalTransformBuilder(slots: 64, inputCiphertexts: 2, outputCiphertexts: 2)
        builder.accumulate(outputStart: 48, inputStart: 49, rows: 4, outputRowStride: 8, inputRowStride: 8,
                           columns: 6, outputColumnStride: 1, inputColumnStride: 1, value: 0.5)
        let transform = builder.finish()
        // Rows 0–1 in ciphertext 0 (block 0→0, offset 1), rows 2–3 in ciphertext 1 (block 1→1, offset 1).
        #expect(transform.keys == [DiagonalKey(output: 0, input: 0, offset: 1), DiagonalKey(output: 1, input: 1, offset: 1)])
        #expect(transform.placementCount == 2)
        #expect(transform.patterns[0].grids == [SlotGrid(rows: 2, rowStride: 8, columns: 6, columnStride: 1, starts: [48], values: [0.5])])
        #expect(transform.patterns[1].grids == [SlotGrid(rows: 2, rowStride: 8, columns: 6, columnStride: 1, starts: [0], values: [0.5])])
        // The same entries one by one give the same matrix.
        var reference = DiagonalTransformBuilder(slots: 64, inputCiphertexts: 2, outputCiphertexts: 2)
        for r in 0..<4 { for c in 0..<6 { reference.accumulate(outputPosition: 48 + 8 * r + c, inputPosition: 49 + 8 * r + c, value: 0.5) } }
        let x = (0..<2).map { ct in (0..<64).map { Double(ct * 64 + $0) } }
        #expect(transform.apply(to: x) == reference.finish().apply(to: x))
    }

    @Test("bad input throws a typed error")
    func errors() throws {
        var graph = TensorGraph()
        let x = graph.append(name: "x", .input, type: TensorType(shape: [2, 3, 4, 4]))
        let w = graph.append(name: "w", .constant(randomTensor([3, 3, 1, 1], seed: 3)))
        let y = graph.append(name: "y", .conv(ConvAttributes(kernel: [1, 1])), inputs: [x, w])
        let r = graph.append(name: "r", .relu, inputs: [x])
        graph.outputs = [y, r]
        try ShapeInference.run(&graph)
        let context = LoweringContext(slots: 256)
        let packed = context.input(name: "x", shape: [2, 3, 4, 4], positions: Array(0..<96), ciphertextCount: 1)
        #expect(throws: SpatialLoweringError.batchNotOne(node: "y", shape: [2, 3, 4, 4])) {
            try SpatialLowering.lower(node: graph.node(y), graph: graph, inputs: [packed], context: context)
        }
        #expect(throws: SpatialLoweringError.unsupportedOperation(node: "r", operation: "relu")) {
            try SpatialLowering.lower(node: graph.node(r), graph: graph, inputs: [packed], context: context)
        }
        #expect(throws: SpatialLoweringError.operandCount(node: "y", expected: 1, got: 0)) {
            try SpatialLowering.lower(node: graph.node(y), graph: graph, inputs: [], context: context)
        }
    }
}

/// The largest number of mulPlain/mul/mulConst ops on any path from an input to an output.
private func multiplicativeDepth(_ program: Program) -> Int {
    var depth: [ValueID: Int] = [:]
    var worst = 0
    for instruction in program.instructions {
        let base = instruction.operands.map { depth[$0] ?? 0 }.max() ?? 0
        let own = instruction.opcode.traits.scaleRule == .product || instruction.opcode.traits.scaleRule == .productWithImmediate ? 1 : 0
        for result in instruction.results { depth[result] = base + own }
        if instruction.opcode == .output { worst = max(worst, base) }
    }
    return worst
}
