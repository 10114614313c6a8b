import CipherIR
import Testing
import TensorIR
@testable import Compiler

@Suite struct PipelineTests {
    /// y = (s·x + t)², x of shape [2, 2] (batch 2, two ciphertexts).
    static func tinyGraph() throws -> TensorGraph {
        try typedGraph { g in
            let x = g.append(name: "x", .input, type: TensorType(shape: [2, 2]))
            let s = g.append(name: "s", .constant(Tensor(shape: [2], floats: [2, 3])))
            let t = g.append(name: "t", .constant(Tensor(shape: [2], floats: [1, 0])))
            let a = g.append(name: "a", .affine, inputs: [x, s, t])
            let y = g.append(name: "y", .mul, inputs: [a, a])
            g.outputs = [y]
        }
    }

    static func insecureOptions() -> CompilerOptions {
        var options = CompilerOptions()
        options.layout = .batch
        options.security = .insecure(logN: 10)
        return options
    }

    /// The instruction lines of a program's text (parameters and bindings are checked separately).
    static func instructionLines(_ program: Program) -> [String] {
        program.text.split(separator: "\n").map(String.init).filter { $0.hasPrefix("%") || $0.hasPrefix("output %") }
    }

    static func stages() throws -> [String: Program] {
        var stages: [String: Program] = [:]
        _ = try ModelCompiler.compile(tinyGraph(), options: insecureOptions()) { name, program in stages[name] = program }
        return stages
    }

    @Test func goldenLowering() throws {
        let lowered = try #require(try Self.stages()["lower"])
        // The batch layout's tensors are lane values: x's two ciphertexts are the two lanes of %0, and the
        // per-channel affine is one linearMap.
        #expect(Self.instructionLines(lowered) == [
            "%0 = input \"x\"[0] : ct<slots=2, lanes=2>",
            "%1 = linearMap %0 map=#0 scale=2^0 : ct<slots=2, lanes=2>",
            "%2 = mul %1, %1 : ct<slots=2, lanes=2>",
            "%3 = relinearize %2 : ct<slots=2, lanes=2>",
            "output %3 -> \"y\"[0]",
        ])
        #expect(lowered.laneMaps == [LaneMap(inputLanes: 2, kind: .sparse(rowStarts: [0, 1, 2], columns: [0, 1], weights: [2, 3], bias: [1, 0]))])
        #expect(lowered.parameters == nil)
    }

    @Test func goldenLeveling() throws {
        let stages = try Self.stages()
        let leveled = try #require(stages["insert-rescales"])
        #expect(Self.instructionLines(leveled) == [
            "%0 = input \"x\"[0] : ct<slots=2, level=2, scale=2^40, lanes=2>",
            "%1 = linearMap %0 map=#0 scale=2^40 : ct<slots=2, level=2, scale=2^80, lanes=2>",
            "%2 = rescale %1 : ct<slots=2, level=1, scale=2^40, lanes=2>",
            "%3 = mul %2, %2 : ct<slots=2, level=1, scale=2^80, lanes=2>",
            "%4 = relinearize %3 : ct<slots=2, level=1, scale=2^80, lanes=2>",
            "%5 = rescale %4 : ct<slots=2, level=0, scale=2^40, lanes=2>",
            "output %5 -> \"y\"[0]",
        ])
        #expect(leveled.inputs[0].level == 2 && leveled.inputs[0].scale == 0x1p40)
        #expect(stages["measure-depth"] == stages["eliminate-dead-values"])
        let parameters = try #require(leveled.parameters)
        #expect(parameters.qBits == [60, 40, 40] && parameters.logN == 10 && parameters.securityPreset == "insecure")
    }

    @Test func levelDownBeforeAddAndPlaintextEncodingLevels() throws {
        // x + x²·c: the add meets a level-L value and a level-(L−2) value; the constant vector differs per image.
        let graph = try typedGraph { g in
            let x = g.append(name: "x", .input, type: TensorType(shape: [2, 1]))
            let sq = g.append(name: "sq", .mul, inputs: [x, x])
            let c = g.append(name: "c", .constant(Tensor(shape: [2, 1], floats: [0.5, -2])))
            let m = g.append(name: "m", .mul, inputs: [sq, c])
            let y = g.append(name: "y", .add, inputs: [m, x])
            g.outputs = [y]
        }
        let result = try ModelCompiler.compile(graph, options: Self.insecureOptions())
        let program = result.program
        try program.verify()
        #expect(program.parameters?.qBits.count == 3)
        let lines = Self.instructionLines(program)
        #expect(lines.contains { $0.contains("levelDown %0 level=0") })
        // mulPlain at level 1 with a plaintext encoded at level 1 and scale q_1·Δ/Δ = 2^40.
        #expect(program.constants.count == 1 && program.constants[0].level == 1 && program.constants[0].scale == 0x1p40)
        let input = Tensor(shape: [2, 1], floats: [1.5, -0.75])
        #expect(try compare(graph, program, inputs: ["x": input]) < 1e-6)
    }

    @Test func multiplyAccumulateRescalesOnce() throws {
        let graph = try BatchLoweringTests.convNet()
        var options = Self.insecureOptions()
        options.security = .insecure(logN: 12)
        let program = try ModelCompiler.compile(graph, options: options).program
        try program.verify()
        let histogram = program.opcodeHistogram()
        // One rescale per layer: conv, affine, square, pool and linear each produce one lane value.
        #expect(histogram[.rescale] == 5)
        #expect(histogram[.linearMap] == 4)
        #expect(program.parameters?.qBits.count == 6)
        var random = TestRandom(seed: 11)
        #expect(try compare(graph, program, inputs: ["x": random.tensor([3, 2, 6, 5])]) < 1e-5)
    }

    @Test func clientRefreshResetsToTheTopLevel() throws {
        let graph = try typedGraph { g in
            let x = g.append(name: "x", .input, type: TensorType(shape: [4, 3]))
            let a = g.append(name: "a", .mul, inputs: [x, x])
            let r = g.append(name: "r", .relu, inputs: [a])
            let b = g.append(name: "b", .mul, inputs: [r, r])
            g.outputs = [b]
        }
        var options = Self.insecureOptions()
        options.activations = .client
        let program = try ModelCompiler.compile(graph, options: options).program
        #expect(program.parameters?.maxLevel == 1)
        let refreshes = program.instructions.filter { $0.opcode == .refresh }
        #expect(refreshes.count == 1 && refreshes.allSatisfy { $0.targetLevel == 1 && program.lanes(of: $0.result) == 3 })
        let input = Tensor(shape: [4, 3], floats: (0..<12).map { Float($0) / 4 - 1.5 })
        #expect(try compare(graph, program, inputs: ["x": input]) < 1e-6)
    }

    @Test func parameterSelectionIsSecure() throws {
        let options = CompilerOptions()
        for depth in [1, 5, 9, 18, 30] {
            let p = try ParameterSelection.select(depth: depth, slots: 64, options: options)
            let bound = try #require(ParameterSelection.maximumLogQP128[p.logN])
            #expect(p.qBits.reduce(0, +) + p.pBits.reduce(0, +) <= bound)
            #expect(p.qBits.count == depth + 1 && p.securityPreset == "HE-128-classic")
            // P covers every key-switching digit.
            let alpha = (p.qBits.count + p.dnum - 1) / p.dnum
            #expect(p.pBits.reduce(0, +) >= ParameterSelection.largestDigitBits(p.qBits, alpha: alpha))
            // The smallest secure ring: the next smaller one cannot hold Q plus one 61-bit prime.
            if p.logN > 13 {
                #expect(p.qBits.reduce(0, +) + 61 > ParameterSelection.maximumLogQP128[p.logN - 1]!)
            }
        }
        #expect(try ParameterSelection.select(depth: 5, slots: 64, options: options).logN == 14)
        #expect(try ParameterSelection.select(depth: 18, slots: 64, options: options).logN == 15)
        // slots force a larger ring
        #expect(try ParameterSelection.select(depth: 1, slots: 1 << 14, options: options).logN == 15)
    }

    @Test func tooDeepSuggestsClientActivations() throws {
        let error = #expect(throws: CompilerError.self) {
            _ = try ParameterSelection.select(depth: 60, slots: 8, options: CompilerOptions())
        }
        if case .tooDeep(let depth, let maxDepth, _)? = error {
            #expect(depth == 60 && maxDepth < 60)
        } else {
            Issue.record("expected tooDeep, got \(String(describing: error))")
        }
        #expect(error?.description.contains("--activations client") == true)
        // A whole model: 45 chained squarings.
        let graph = try typedGraph { g in
            var v = g.append(name: "x", .input, type: TensorType(shape: [1, 1]))
            for i in 0..<45 { v = g.append(name: "sq\(i)", .mul, inputs: [v, v]) }
            g.outputs = [v]
        }
        var options = CompilerOptions()
        options.layout = .batch
        options.bootstrapPlacement = .none
        #expect(throws: CompilerError.self) { try ModelCompiler.compile(graph, options: options) }
        // With bootstrapping allowed (the default) it compiles to the bootstrappable N = 2^16 set instead.
        options.bootstrapPlacement = .optimized
        let program = try ModelCompiler.compile(graph, options: options).program
        #expect(program.parameters?.bootstrapping?.outputLevel == 9 && program.parameters?.logN == 16)
        // 9 squarings from the input level, then 9 after each bootstrap.
        #expect(program.opcodeHistogram()[.bootstrap] == (45 - 9) / 9)
        #expect(program.keys.bootstrapping)
    }

    /// The digits-like CNN in the spatial layout: conv → x² → avgpool → flatten → linear, batch 1.
    @Test func spatialDriverMatchesReference() throws {
        var random = TestRandom(seed: 21)
        let graph = try typedGraph { g in
            let x = g.append(name: "x", .input, type: TensorType(shape: [1, 1, 8, 8]))
            let w = g.append(name: "w", .constant(random.tensor([3, 1, 3, 3])))
            let b = g.append(name: "b", .constant(random.tensor([3])))
            let conv = g.append(name: "conv", .conv(ConvAttributes(kernel: [3, 3], pads: [1, 1, 1, 1])), inputs: [x, w, b])
            let square = g.append(name: "square", .mul, inputs: [conv, conv])
            let pool = g.append(name: "pool", .averagePool(PoolAttributes(kernel: [2, 2], strides: [2, 2])), inputs: [square])
            let relu = g.append(name: "relu", .relu, inputs: [pool])
            let flat = g.append(name: "flat", .flatten(axis: 1), inputs: [relu])
            let lw = g.append(name: "lw", .constant(random.tensor([10, 48])))
            let lb = g.append(name: "lb", .constant(random.tensor([10])))
            let logits = g.append(name: "logits", .linear, inputs: [flat, lw, lb])
            g.outputs = [logits]
        }
        var options = Self.insecureOptions()
        options.security = .insecure(logN: 12)
        options.layout = .spatial
        options.activations = .client
        let input = random.tensor([1, 1, 8, 8])
        let program = try ModelCompiler.compile(graph, options: options).program
        try program.verify()
        #expect(program.instructions.contains { $0.opcode == .rotate || $0.opcode == .rotateHoisted })
        #expect(program.inputs[0].slots == 256)  // the largest tensor (3·8·8) rounded up
        #expect(try compare(graph, program, inputs: ["x": input]) < 1e-4)
        options.activations = .poly
        options.activationBounds = try Calibration.activationBounds(graph: graph, samples: input)
        let poly = try ModelCompiler.compile(graph, options: options).program
        #expect(!poly.instructions.contains { $0.opcode == .refresh })
        #expect(try compare(graph, poly, inputs: ["x": input]) < 5e-3)
    }

    /// MaxPool 3×3 stride 2 with padding on a non-square input with negative values (padding must not win).
    static func maxPoolGraph(batch: Int) throws -> TensorGraph {
        try typedGraph { g in
            let x = g.append(name: "x", .input, type: TensorType(shape: [batch, 2, 5, 6]))
            let m = g.append(name: "pool", .maxPool(PoolAttributes(kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1])), inputs: [x])
            g.outputs = [m]
        }
    }

    @Test(arguments: [PackingLayout.spatial, .batch], [ActivationMode.client, .poly])
    func maxPoolMatchesReference(layout: PackingLayout, activations: ActivationMode) throws {
        let graph = try Self.maxPoolGraph(batch: 1)
        var options = Self.insecureOptions()
        options.security = .insecure(logN: 13)
        options.layout = layout
        options.activations = activations
        var random = TestRandom(seed: 17)
        let input = Tensor(shape: [1, 2, 5, 6], floats: random.tensor([1, 2, 5, 6]).floats.map { $0 - 0.5 })
        options.activationBounds = try Calibration.activationBounds(graph: graph, samples: input)
        let program = try ModelCompiler.compile(graph, options: options).program
        try program.verify()
        let error = try compare(graph, program, inputs: ["x": input])
        // client: exact; poly: composite sign α = 13 on differences of up to 2·1.1·1.5
        #expect(error < (activations == .client ? 1e-6 : 2e-3), "error \(error)")
    }

    /// Pad (non-zero value), conv, concat with itself and with a constant, on a non-square input, in both layouts.
    @Test(arguments: [PackingLayout.spatial, .batch])
    func padAndConcatMatchReference(layout: PackingLayout) throws {
        var random = TestRandom(seed: 5)
        let graph = try typedGraph { g in
            let x = g.append(name: "x", .input, type: TensorType(shape: [1, 1, 3, 5]))
            let padded = g.append(name: "pad", .pad(pads: [0, 0, 1, 0, 0, 0, 0, 2], value: 0.5), inputs: [x])
            let w = g.append(name: "w", .constant(random.tensor([2, 1, 2, 2])))
            let conv = g.append(name: "conv", .conv(ConvAttributes(kernel: [2, 2])), inputs: [padded, w])
            let c = g.append(name: "c", .constant(random.tensor([1, 1, 3, 6])))
            let both = g.append(name: "cat", .concat(axis: 1), inputs: [conv, c, conv])
            let square = g.append(name: "square", .mul, inputs: [both, both])
            g.outputs = [square]
        }
        var options = Self.insecureOptions()
        options.security = .insecure(logN: 11)
        options.layout = layout
        let program = try ModelCompiler.compile(graph, options: options).program
        try program.verify()
        #expect(try compare(graph, program, inputs: ["x": random.tensor([1, 1, 3, 5])]) < 1e-5)
    }

    /// x · GAP(x) (channel attention): a broadcast product of two encrypted tensors with different packings.
    @Test(arguments: [PackingLayout.spatial, .batch])
    func broadcastProductMatchesReference(layout: PackingLayout) throws {
        var random = TestRandom(seed: 8)
        let graph = try typedGraph { g in
            let x = g.append(name: "x", .input, type: TensorType(shape: [1, 2, 3, 4]))
            let gap = g.append(name: "gap", .globalAveragePool, inputs: [x])
            let y = g.append(name: "y", .mul, inputs: [gap, x])
            // a constant that expands the encrypted [1, 2, 1, 1] operand to [1, 2, 3, 4], then add/sub/mul with it
            let c = g.append(name: "c", .constant(random.tensor([1, 1, 3, 4])))
            let expanded = g.append(name: "expanded", .sub, inputs: [c, gap])
            let scaled = g.append(name: "scaled", .mul, inputs: [gap, c])
            let sum = g.append(name: "sum", .add, inputs: [expanded, scaled])
            let both = g.append(name: "both", .add, inputs: [gap, sum])
            let z = g.append(name: "z", .add, inputs: [y, both])
            g.outputs = [z]
        }
        var options = Self.insecureOptions()
        options.security = .insecure(logN: 11)
        options.layout = layout
        let program = try ModelCompiler.compile(graph, options: options).program
        #expect(try compare(graph, program, inputs: ["x": random.tensor([1, 2, 3, 4])]) < 1e-5)
    }

    @Test func deadValuesAreRemoved() throws {
        let context = LoweringContext(slots: 4)
        let x = context.input(name: "x", shape: [1], positions: [0], ciphertextCount: 1)
        _ = context.mulConst(x.values[0], 3)  // unused
        let used = context.addConst(x.values[0], 1)
        context.output(name: "y", PackedTensor(shape: [1], values: [used], layout: .explicit([0]), slots: 4))
        var program = context.finish()
        try EliminateDeadValues().run(&program, state: CompilationState(options: CompilerOptions()))
        #expect(!program.instructions.contains { $0.opcode == .mulConst })
        #expect(program.instructions.count == 3)
    }
}
