import CipherIR
import CKKS
import Compiler
import Foundation
import TensorIR
import Testing
@testable import Runtime

/// A program deeper than its modulus chain compiles with bootstrap instructions (the leveling pass places them) and
/// runs through real CKKS bootstraps to the plaintext answer; naive placement needs more of them than optimized.
@Suite struct BootstrapPlacementTests {
    /// y = 0.5·y² + 0.25 applied `rounds` times to x of shape [8, 1] (batch layout, 8 slots): two levels per round,
    /// and a contraction, so bootstrapping errors do not grow.
    static func graph(rounds: Int) throws -> TensorGraph {
        var graph = TensorGraph(name: "chain")
        var y = graph.append(name: "x", .input, type: TensorType(shape: [8, 1]))
        let half = graph.append(name: "half", .constant(Tensor(shape: [1], floats: [0.5])))
        let quarter = graph.append(name: "quarter", .constant(Tensor(shape: [1], floats: [0.25])))
        for round in 0..<rounds {
            let square = graph.append(name: "square\(round)", .mul, inputs: [y, y])
            let scaled = graph.append(name: "scaled\(round)", .mul, inputs: [square, half])
            y = graph.append(name: "y\(round)", .add, inputs: [scaled, quarter])
        }
        graph.outputs = [y]
        try ShapeInference.run(&graph)
        return graph
    }

    static func options(_ placement: BootstrapPlacement) -> CompilerOptions {
        var options = CompilerOptions()
        options.layout = .batch
        options.security = .insecure(logN: 11)
        options.maximumInsecureDepth = 4
        options.insecureBootstrapLevels = 3
        options.bootstrapPlacement = placement
        return options
    }

    static let input: [Double] = (0..<8).map { -0.9 + 1.8 * Double($0) / 7 }

    @Test func chainLongerThanTheModulusRunsThroughBootstraps() throws {
        let graph = try Self.graph(rounds: 4)
        let program = try PlanFile.decode(PlanFile.encode(try ModelCompiler.compile(graph, options: Self.options(.naive)).program))
        let parameters = try #require(program.parameters)
        let bootstrapping = try #require(parameters.bootstrapping)
        #expect(bootstrapping.outputLevel == 3 && parameters.applicationTopLevel == 3)
        #expect(program.keys.bootstrapping)
        let bootstraps = program.opcodeHistogram()[.bootstrap] ?? 0
        #expect(bootstraps >= 2, "\(bootstraps) bootstraps")

        let reference = try ReferenceExecutor(graph: graph, threads: 1).run(inputs: ["x": Tensor(shape: [8, 1], floats: Self.input.map(Float.init))])
        let expected = try #require(reference[program.outputs[0].name]).floats.map(Double.init)
        let plain = try PlainInterpreter(program: program).run(inputs: ["x": Tensor(shape: [8, 1], floats: Self.input.map(Float.init))])
        #expect(maxAbsoluteError(try #require(plain[program.outputs[0].name]).floats.map(Double.init), expected) < 1e-6)

        let session = try PlanSession(program: program, checkSecurity: false)
        let keys = try session.generateKeys(seed: 11)
        #expect(keys.bootstrapKeys != nil)
        let encryptor = CKKSEncryptor(parameters: session.parameters, secretKey: keys.secretKey, seed: 12)
        let ciphertexts = try session.encryptInputs(["x": ([8, 1], Self.input)], encryptor: encryptor)
        let backend = CKKSBackend(parameters: session.parameters, program: program, relinearizationKey: keys.relinearizationKey,
                                  galoisKeys: keys.galoisKeys)
        backend.bootstrapKeys = keys.bootstrapKeys
        let result = try Interpreter(program: program, backend: backend).run { binding, ciphertext in ciphertexts[binding][ciphertext] }
        #expect(backend.bootstrapCount == bootstraps)
        let decrypted = try session.decryptOutputs(result.outputs, decryptor: CKKSDecryptor(parameters: session.parameters, secretKey: keys.secretKey))[0].values
        let error = maxAbsoluteError(decrypted, expected)
        #expect(error < 1e-3, "CKKS \(decrypted) vs \(expected), error \(error)")

        // The cost model charges the bootstraps; the simulator models their error.
        #expect(try PlanRunner.estimate(program: program).millisecondsByOp[.bootstrap, default: 0] > 0)
        let simulated = try PlanRunner.simulate(program: program, inputs: ["x": ([8, 1], Self.input)]).outputs[0].values
        #expect(maxAbsoluteError(simulated, expected) < 1e-3)
    }

    @Test func optimizedPlacementBootstrapsActivationInputsOnce() throws {
        // ReLU by a degree-31 minimax polynomial (depth 5) after a product, with 5 application levels: the polynomial
        // does not fit what the product leaves; optimized placement bootstraps its input once before it (2 in all),
        // naive placement each power that runs out inside it (4).
        var graph = TensorGraph(name: "act")
        let x = graph.append(name: "x", .input, type: TensorType(shape: [8, 1]))
        let square = graph.append(name: "square", .mul, inputs: [x, x])
        let relu = graph.append(name: "relu", .relu, inputs: [square])
        let again = graph.append(name: "again", .mul, inputs: [relu, relu])
        graph.outputs = [again]
        try ShapeInference.run(&graph)
        var counts: [BootstrapPlacement: Int] = [:]
        for placement in [BootstrapPlacement.naive, .optimized] {
            var options = Self.options(placement)
            options.reluDegree = 31
            options.insecureBootstrapLevels = 5
            options.activationBounds = ["relu": 1]
            let program = try ModelCompiler.compile(graph, options: options).program
            try program.verify()
            counts[placement] = program.opcodeHistogram()[.bootstrap] ?? 0
            let plain = try PlainInterpreter(program: program).run(inputs: ["x": Tensor(shape: [8, 1], floats: Self.input.map(Float.init))])
            let got = try #require(plain[program.outputs[0].name]).floats.map(Double.init)
            let want = Self.input.map { pow($0 * $0, 2) }
            #expect(maxAbsoluteError(got, want) < 0.05, "\(placement): \(got)")
        }
        print("VALUE bootstraps by placement: \(counts)")
        #expect(counts[.optimized]! >= 1)
        #expect(counts[.optimized]! < counts[.naive]!, "\(counts)")
    }

    @Test func deepCompositeActivationIsBootstrappedAtItsCutPoints() throws {
        // Two composite ReLUs (α = 8: three sign stages, depth 14) with 9 application levels: neither fits between two
        // bootstraps, so optimized placement refreshes each where the composite narrows to one value (between stages),
        // a few bootstraps in all; naive placement bootstraps the powers inside the stages one by one.
        var graph = TensorGraph(name: "deep")
        let x = graph.append(name: "x", .input, type: TensorType(shape: [8, 1]))
        let first = graph.append(name: "relu1", .relu, inputs: [x])
        let shifted = graph.append(name: "shifted", .add, inputs: [first, graph.append(name: "minus", .constant(Tensor(shape: [1], floats: [-0.5])))])
        let second = graph.append(name: "relu2", .relu, inputs: [shifted])
        graph.outputs = [second]
        try ShapeInference.run(&graph)
        var counts: [BootstrapPlacement: Int] = [:]
        for placement in [BootstrapPlacement.naive, .optimized] {
            var options = Self.options(placement)
            options.reluAlpha = 8
            options.insecureBootstrapLevels = 9
            options.activationBounds = ["relu1": 1, "relu2": 1]
            let program = try ModelCompiler.compile(graph, options: options).program
            try program.verify()
            counts[placement] = program.opcodeHistogram()[.bootstrap] ?? 0
            let plain = try PlainInterpreter(program: program).run(inputs: ["x": Tensor(shape: [8, 1], floats: Self.input.map(Float.init))])
            let got = try #require(plain[program.outputs[0].name]).floats.map(Double.init)
            let want = Self.input.map { max(0, max(0, $0) - 0.5) }
            #expect(maxAbsoluteError(got, want) < 0.02, "\(placement): \(got) vs \(want)")
        }
        print("VALUE bootstraps of two α=8 ReLUs by placement: \(counts)")
        #expect(counts[.optimized]! >= 2 && counts[.optimized]! <= 4, "\(counts)")
        #expect(counts[.naive]! >= 3 * counts[.optimized]!, "\(counts)")
    }

    @Test func dynamicProgramBootstrapsASharedValueOnceWhereGreedyRefreshesEachBranch() throws {
        // y = relu(x) feeds two branches, each scaled then through its own ReLU (degree-15 minimax, depth 4 after its
        // input scaling), summed. With 5 application levels y arrives at level 1: greedy placement keeps it (it still
        // has the level its own consumer needs) and then bootstraps each branch's activation input (2); the dynamic
        // program sees both branches and bootstraps y once (1). Both compute the same function.
        var graph = TensorGraph(name: "fanout")
        let x = graph.append(name: "x", .input, type: TensorType(shape: [8, 1]))
        let y = graph.append(name: "relu_y", .relu, inputs: [x])
        let a = graph.append(name: "a", .mul, inputs: [y, graph.append(name: "half", .constant(Tensor(shape: [1], floats: [0.5])))])
        let b = graph.append(name: "b", .mul, inputs: [y, graph.append(name: "quarter", .constant(Tensor(shape: [1], floats: [-0.25])))])
        let reluA = graph.append(name: "relu_a", .relu, inputs: [a])
        let reluB = graph.append(name: "relu_b", .relu, inputs: [b])
        graph.outputs = [graph.append(name: "sum", .add, inputs: [reluA, reluB])]
        try ShapeInference.run(&graph)
        var counts: [BootstrapPlacement: Int] = [:]
        for placement in [BootstrapPlacement.naive, .greedy, .optimized] {
            var options = Self.options(placement)
            options.reluDegree = 15
            options.insecureBootstrapLevels = 5
            options.activationBounds = ["relu_y": 1, "relu_a": 1, "relu_b": 1]
            let program = try ModelCompiler.compile(graph, options: options).program
            try program.verify()
            counts[placement] = program.opcodeHistogram()[.bootstrap] ?? 0
            let plain = try PlainInterpreter(program: program).run(inputs: ["x": Tensor(shape: [8, 1], floats: Self.input.map(Float.init))])
            let got = try #require(plain[program.outputs[0].name]).floats.map(Double.init)
            let want = Self.input.map { max(0, 0.5 * max(0, $0)) + max(0, -0.25 * max(0, $0)) }
            #expect(maxAbsoluteError(got, want) < 0.1, "\(placement): \(got) vs \(want)")
        }
        print("VALUE bootstraps of a fan-out by placement: \(counts)")
        #expect(counts[.optimized] == 1 && counts[.greedy] == 2, "\(counts)")
        #expect(counts[.naive]! > counts[.greedy]!, "\(counts)")
    }

    @Test func placementNoneRefusesAProgramTooDeep() throws {
        var options = Self.options(.none)
        options.security = .classical128
        #expect(throws: CompilerError.self) { try ModelCompiler.compile(try Self.graph(rounds: 30), options: options) }
    }
}
