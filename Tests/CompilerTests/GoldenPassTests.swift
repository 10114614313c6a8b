import CipherIR
import Testing
import TensorIR
@testable import Compiler

/// A golden text-IR test per CipherIR pass of `CipherPipeline.standard`: each pass runs alone (with the verifier
/// after it, as in the pipeline) on a small hand-written program, and its output text is compared with the expected
/// text written here. Plus the instruction structure of the spatial lowering of a tiny convolution.
///
/// Programs whose text would carry constant-pool entries are built with `LoweringContext` and compared by their
/// instruction lines only, so the tests do not depend on how the pool prints its entries.
@Suite struct GoldenPassTests {
    /// Parses `text`, runs `pass` alone (verified afterwards in debug builds) and returns the program.
    static func run(_ pass: any CipherPass, on text: String, state: CompilationState) throws -> Program {
        var program = try Program(parsing: text)
        try CipherPipeline.run(&program, state: state, passes: [pass])
        return program
    }

    static func run(_ pass: any CipherPass, on program: Program, state: CompilationState) throws -> Program {
        var program = program
        try CipherPipeline.run(&program, state: state, passes: [pass])
        return program
    }

    static func state(logN: Int? = 10) -> CompilationState {
        var options = CompilerOptions()
        if let logN { options.security = .insecure(logN: logN) }
        return CompilationState(options: options)
    }

    /// The lines inside the `params { … }` block of a program's text.
    static func parameterLines(_ program: Program) -> [String] {
        let lines = program.text.split(separator: "\n").map(String.init)
        guard let start = lines.firstIndex(of: "params {") else { return [] }
        return Array(lines[(start + 1)...].prefix { $0 != "}" })
    }

    // MARK: eliminate-dead-values

    @Test func eliminateDeadValues() throws {
        // %3 (rotate) and %5 (its product) feed nothing that reaches an output; the relinearized square does.
        let input = """
            cipher_ir version=1

            keys {
              relinearization=true
              conjugation=false
              bootstrapping=false
              rotations=[1]
            }

            input "x" shape=[4] ciphertexts=1 slots=4 layout=contiguous
            output "y" shape=[4] ciphertexts=1 slots=4 layout=contiguous

            %0 = input "x"[0] : ct<slots=4>
            %1 = mul %0, %0 : ct<slots=4>
            %2 = relinearize %1 : ct<slots=4>
            %3 = rotate %0 step=1 : ct<slots=4>
            %4 = addConst %2 value=1.0 : ct<slots=4>
            %5 = mulConst %3 value=2.0 scale=2^0 : ct<slots=4>
            output %4 -> "y"[0]

            """
        let program = try Self.run(EliminateDeadValues(), on: input, state: Self.state())
        #expect(program.text == """
            cipher_ir version=1

            keys {
              relinearization=true
              conjugation=false
              bootstrapping=false
              rotations=[1]
            }

            input "x" shape=[4] ciphertexts=1 slots=4 layout=contiguous
            output "y" shape=[4] ciphertexts=1 slots=4 layout=contiguous

            %0 = input "x"[0] : ct<slots=4>
            %1 = mul %0, %0 : ct<slots=4>
            %2 = relinearize %1 : ct<slots=4>
            %4 = addConst %2 value=1.0 : ct<slots=4>
            output %4 -> "y"[0]

            """)
    }

    // MARK: measure-depth

    /// y = (x²)·(0.5·x) + x: the square and the scalar product run in parallel (one level each), their product one
    /// more, so depth 2; the pass records it and leaves the program unchanged.
    static let depthTwo = """
        cipher_ir version=1

        keys {
          relinearization=true
          conjugation=false
          bootstrapping=false
          rotations=[]
        }

        input "x" shape=[8] ciphertexts=1 slots=8 layout=contiguous
        output "y" shape=[8] ciphertexts=1 slots=8 layout=contiguous

        %0 = input "x"[0] : ct<slots=8>
        %1 = mul %0, %0 : ct<slots=8>
        %2 = relinearize %1 : ct<slots=8>
        %3 = mulConst %0 value=0.5 scale=2^0 : ct<slots=8>
        %4 = mul %2, %3 : ct<slots=8>
        %5 = relinearize %4 : ct<slots=8>
        %6 = add %5, %0 : ct<slots=8>
        output %6 -> "y"[0]

        """

    @Test func measureDepth() throws {
        let state = Self.state()
        let program = try Self.run(MeasureDepth(), on: Self.depthTwo, state: state)
        #expect(state.depth == 2)
        #expect(program.text == Self.depthTwo)
        // One more chained product adds a level.
        let deeper = Self.depthTwo.replacingOccurrences(of: "%6 = add %5, %0 : ct<slots=8>", with: "%6 = mulConst %5 value=3.0 scale=2^0 : ct<slots=8>")
        let deeperState = Self.state()
        _ = try Self.run(MeasureDepth(), on: deeper, state: deeperState)
        #expect(deeperState.depth == 3)
    }

    // MARK: select-parameters

    @Test func selectParametersInsecure() throws {
        let state = Self.state(logN: 10)
        let program = try Self.run(SelectParameters(), on: Self.depthTwo, state: state)
        // Recorded in the state (installed by the leveling pass); the program is unchanged.
        #expect(program.text == Self.depthTwo)
        var shown = Program()
        shown.parameters = try #require(state.parameters)
        // depth 2: q0 of 60 bits and two 40-bit scale primes; digits of two primes (100 bits) need two 51-bit P primes.
        #expect(Self.parameterLines(shown) == [
            "  logN=10",
            "  qBits=[60, 40, 40]",
            "  pBits=[51, 51]",
            "  dnum=2",
            "  secret=uniform_ternary",
            "  errorStdDev=3.2",
            "  log2DefaultScale=40",
            "  security=\"insecure\"",
        ])
        #expect(state.report == ["parameters: N = 2^10, depth 2, log Q = 140, log P = 102 (2 special primes), dnum 2, scale 2^40, insecure"])
    }

    @Test func selectParametersSecure() throws {
        // depth 3 at 128-bit security: log Q = 180; N = 2^13 (218 bits) cannot hold Q plus even one 61-bit P prime,
        // N = 2^14 (438 bits) holds one digit of all four primes with three 61-bit P primes (363 bits).
        let state = Self.state(logN: nil)
        state.depth = 3
        _ = try Self.run(SelectParameters(), on: Self.depthTwo, state: state)
        let parameters = try #require(state.parameters)
        #expect(parameters.logN == 14 && parameters.qBits == [60, 40, 40, 40] && parameters.pBits == [61, 61, 61])
        #expect(parameters.dnum == 1 && parameters.securityPreset == "HE-128-classic")
    }

    // MARK: insert-rescales

    /// y = levelDown-free sum of x·c (a plaintext product, pending until the add) and x² (rescaled before meeting it).
    @Test func insertRescalesAndLevels() throws {
        let context = LoweringContext(slots: 4)
        let x = context.input(name: "x", shape: [4], positions: [0, 1, 2, 3], ciphertextCount: 1)
        let product = context.mulPlain(x.values[0], [0.5, 1, 2, 4])
        let square = context.mul(x.values[0], x.values[0])
        let cube = context.mul(square, x.values[0])
        let sum = context.add(product, cube)
        context.output(name: "y", PackedTensor(shape: [4], values: [sum], layout: .contiguous, slots: 4))
        let state = Self.state()
        state.parameters = PlanParameters(logN: 10, qBits: [60, 40, 40, 40], pBits: [61], log2DefaultScale: 40, securityPreset: "insecure")
        let program = try Self.run(InsertRescalesAndLevels(), on: context.finish(), state: state)
        #expect(PipelineTests.instructionLines(program) == [
            "%0 = input \"x\"[0] : ct<slots=4, level=3, scale=2^40>",
            "%1 = constant @0 : pt<slots=4, level=3, scale=2^40>",
            "%2 = mulPlain %0, %1 : ct<slots=4, level=3, scale=2^80>",
            "%3 = mul %0, %0 : ct<slots=4, level=3, scale=2^80>",
            "%4 = relinearize %3 : ct<slots=4, level=3, scale=2^80>",
            "%5 = rescale %4 : ct<slots=4, level=2, scale=2^40>",
            "%6 = levelDown %0 level=2 : ct<slots=4, level=2, scale=2^40>",
            "%7 = mul %5, %6 : ct<slots=4, level=2, scale=2^80>",
            "%8 = relinearize %7 : ct<slots=4, level=2, scale=2^80>",
            "%9 = rescale %2 : ct<slots=4, level=2, scale=2^40>",
            "%10 = rescale %8 : ct<slots=4, level=1, scale=2^40>",
            "%11 = levelDown %9 level=1 : ct<slots=4, level=1, scale=2^40>",
            "%12 = add %11, %10 : ct<slots=4, level=1, scale=2^40>",
            "output %12 -> \"y\"[0]",
        ])
        #expect(program.parameters?.qBits == [60, 40, 40, 40])
        #expect(program.inputs[0].level == 3 && program.outputs[0].level == 1 && program.outputs[0].scale == 0x1p40)
    }

    // MARK: select-keys

    @Test func selectKeys() throws {
        // The lowering's key record is replaced by exactly what the instructions use: relinearization for the mul,
        // Galois keys for the rotate and the three hoisted steps (sorted, duplicates merged); the stale step 5 goes.
        let input = """
            cipher_ir version=1

            keys {
              relinearization=false
              conjugation=false
              bootstrapping=false
              rotations=[5]
            }

            input "x" shape=[8] ciphertexts=1 slots=8 layout=contiguous
            output "y" shape=[8] ciphertexts=1 slots=8 layout=contiguous

            %0 = input "x"[0] : ct<slots=8>
            %1 = rotate %0 step=3 : ct<slots=8>
            %2, %3, %4 = rotateHoisted %0 steps=[1, -2, 3] : ct<slots=8>, ct<slots=8>, ct<slots=8>
            %5 = add %1, %2 : ct<slots=8>
            %6 = add %3, %4 : ct<slots=8>
            %7 = mul %5, %6 : ct<slots=8>
            %8 = relinearize %7 : ct<slots=8>
            output %8 -> "y"[0]

            """
        let state = Self.state()
        let program = try Self.run(SelectKeys(), on: input, state: state)
        #expect(program.text == input.replacingOccurrences(of: """
              relinearization=false
              conjugation=false
              bootstrapping=false
              rotations=[5]
            """, with: """
              relinearization=true
              conjugation=false
              bootstrapping=false
              rotations=[-2, 1, 3]
            """))
        #expect(state.report == ["keys: relinearization yes, 3 rotation keys -2,1,3"])
    }

    // MARK: annotate-types

    @Test func annotateTypes() throws {
        // A leveled program with most facts left out; the pass writes every inferred (slots, level, scale).
        let input = """
            cipher_ir version=1

            params {
              logN=10
              qBits=[60, 40, 40]
              pBits=[61]
              dnum=1
              secret=uniform_ternary
              errorStdDev=3.2
              log2DefaultScale=40
              security="insecure"
            }

            keys {
              relinearization=true
              conjugation=false
              bootstrapping=false
              rotations=[1]
            }

            input "x" shape=[4] ciphertexts=1 slots=4 level=2 scale=2^40 layout=contiguous
            output "y" shape=[4] ciphertexts=1 slots=4 layout=contiguous

            %0 = input "x"[0]
            %1 = rotate %0 step=1
            %2 = add %0, %1
            %3 = mul %2, %2
            %4 = relinearize %3
            %5 = rescale %4
            %6 = mulConst %5 value=0.25 scale=2^40
            %7 = rescale %6
            output %7 -> "y"[0]

            """
        let program = try Self.run(AnnotateTypes(), on: input, state: Self.state())
        #expect(PipelineTests.instructionLines(program) == [
            "%0 = input \"x\"[0] : ct<slots=4, level=2, scale=2^40>",
            "%1 = rotate %0 step=1 : ct<slots=4, level=2, scale=2^40>",
            "%2 = add %0, %1 : ct<slots=4, level=2, scale=2^40>",
            "%3 = mul %2, %2 : ct<slots=4, level=2, scale=2^80>",
            "%4 = relinearize %3 : ct<slots=4, level=2, scale=2^80>",
            "%5 = rescale %4 : ct<slots=4, level=1, scale=2^40>",
            "%6 = mulConst %5 value=0.25 scale=2^40 : ct<slots=4, level=1, scale=2^80>",
            "%7 = rescale %6 : ct<slots=4, level=0, scale=2^40>",
            "output %7 -> \"y\"[0]",
        ])
        #expect(program.instructions.allSatisfy { $0.results.allSatisfy { program.types[$0].isComplete } })
    }

    // MARK: spatial lowering

    /// conv 3×3 with padding 1 on a [1, 1, 4, 4] image in 16 slots: one diagonal transform by baby-step giant-step —
    /// the baby-step rotations of the input hoisted (steps 1, 2), one fused sum of the diagonals' plaintext products per
    /// giant step (`mulPlainSum`), one rotation per giant step (−6, −3, 3; giant step 0 needs none), adds.
    @Test func spatialConvolutionLowering() throws {
        let graph = try typedGraph { g in
            let x = g.append(name: "x", .input, type: TensorType(shape: [1, 1, 4, 4]))
            let w = g.append(name: "w", .constant(Tensor(shape: [1, 1, 3, 3], floats: [1, 2, 3, 4, 5, 6, 7, 8, 9])))
            let conv = g.append(name: "conv", .conv(ConvAttributes(kernel: [3, 3], pads: [1, 1, 1, 1])), inputs: [x, w])
            g.outputs = [conv]
        }
        var options = CompilerOptions()
        options.layout = .spatial
        options.security = .insecure(logN: 10)
        let state = CompilationState(options: options)
        let program = try GraphLowering.lower(graph, options: options, state: state)
        try program.verify()
        #expect(program.inputs[0].slots == 16)
        #expect(PipelineTests.instructionLines(program) == [
            "%0 = input \"x\"[0] : ct<slots=16>",
            "%1, %2 = rotateHoisted %0 steps=[1, 2] : ct<slots=16>, ct<slots=16>",
            "%3 = constant @0 : pt<slots=16>",
            "%4 = constant @1 : pt<slots=16>",
            "%5 = mulPlainSum %1, %3, %2, %4 : ct<slots=16>",
            "%6 = rotate %5 step=-6 : ct<slots=16>",
            "%7 = constant @2 : pt<slots=16>",
            "%8 = constant @3 : pt<slots=16>",
            "%9 = mulPlainSum %0, %7, %2, %8 : ct<slots=16>",
            "%10 = rotate %9 step=-3 : ct<slots=16>",
            "%11 = constant @4 : pt<slots=16>",
            "%12 = constant @5 : pt<slots=16>",
            "%13 = mulPlainSum %0, %11, %1, %12 : ct<slots=16>",
            "%14 = constant @6 : pt<slots=16>",
            "%15 = constant @7 : pt<slots=16>",
            "%16 = constant @8 : pt<slots=16>",
            "%17 = mulPlainSum %0, %14, %1, %15, %2, %16 : ct<slots=16>",
            "%18 = rotate %17 step=3 : ct<slots=16>",
            "%19 = add %6, %10 : ct<slots=16>",
            "%20 = add %13, %18 : ct<slots=16>",
            "%21 = add %19, %20 : ct<slots=16>",
            "output %21 -> \"conv\"[0]",
        ])
        #expect(program.keys.rotationSteps == [-6, -3, 1, 2, 3])
        var random = TestRandom(seed: 2)
        #expect(try compare(graph, program, inputs: ["x": random.tensor([1, 1, 4, 4])]) < 1e-5)
    }
}
