import CipherIR
import CKKS
import Foundation
import PersistentMemory

/// The three ways to run a plan, as the `tessera run`, `simulate` and `estimate` commands use them.
public enum PlanRunner {
    /// Runs a plan on CKKS ciphertexts (`inputs[binding][ciphertext]`).
    /// - Parameter refreshSecretKey: makes this process the key holder of `refresh` instructions.
    public static func runCKKS(
        session: PlanSession, inputs: [[Ciphertext]], relinearizationKey: RelinearizationKey?, galoisKeys: GaloisKeys?,
        store: TieredStore = TieredStore(), threads: Int = 1, refreshSecretKey: SecretKey? = nil,
        checkpoint: CheckpointPolicy? = nil, resume: Checkpoint? = nil, bootstrapKeys: BootstrapKeys? = nil,
        observer: ((InstructionEvent) -> Void)? = nil
    ) throws -> RunResult<Ciphertext> {
        let backend = CKKSBackend(parameters: session.parameters, program: session.program, relinearizationKey: relinearizationKey,
                                  galoisKeys: galoisKeys, threads: threads)
        backend.bootstrapKeys = bootstrapKeys
        if let refreshSecretKey { backend.refreshHandler = backend.keyHolder(secretKey: refreshSecretKey) }
        let interpreter = try Interpreter(program: session.program, backend: backend, store: store)
        interpreter.observer = observer
        interpreter.checkpoint = checkpoint
        interpreter.resume = resume
        try checkInputs(session.program, counts: inputs.map(\.count))
        return try interpreter.run { binding, ciphertext in inputs[binding][ciphertext] }
    }

    static func checkInputs(_ program: Program, counts: [Int]) throws {
        guard counts.count == program.inputs.count else {
            throw RuntimeError.missingTensor("the plan has \(program.inputs.count) inputs, \(counts.count) were given")
        }
        for (binding, count) in zip(program.inputs, counts) where count != binding.ciphertextCount {
            throw RuntimeError.missingTensor("input '\(binding.name)' needs \(binding.ciphertextCount) ciphertexts, \(count) were given")
        }
    }

    /// The simulator's outcome for one output binding.
    public struct SimulatedOutput {
        public var binding: TensorBinding
        /// What CKKS would decrypt without noise (row-major, the binding's shape).
        public var values: [Double]
        /// The exact answer.
        public var ideal: [Double]
        /// Predicted root-mean-square error per element against the exact answer.
        public var predictedError: [Double]
        /// log2 of the predicted root-mean-square error over the binding's elements.
        public var predictedErrorBits: Double
        /// The output ciphertexts as simulated (all slots).
        public var ciphertexts: [SimulatedCiphertext]
    }

    /// Runs a plan on plaintext tensors (by input name) with the CKKS noise model.
    public static func simulate(
        program: Program, inputs: [String: (shape: [Int], values: [Double])], store: TieredStore = TieredStore(),
        publicKeyEncryption: Bool = false, observer: ((InstructionEvent) -> Void)? = nil
    ) throws -> (outputs: [SimulatedOutput], statistics: RunStatistics) {
        let parameters = try program.requireParameters()
        let backend = SimulatorBackend(parameters: try program.ckksParameters(checkSecurity: false), publicKeyEncryption: publicKeyEncryption)
        var packed: [[SimulatedCiphertext]] = []
        for binding in program.inputs {
            guard let tensor = inputs[binding.name] else {
                throw RuntimeError.missingTensor("no array given for plan input '\(binding.name)' (shape \(binding.shape))")
            }
            let level = binding.level ?? parameters.maxLevel
            let scale = backend.schedule.encodingScale(requested: binding.scale ?? parameters.defaultScale, level: level)
            packed.append(try Packing.pack(tensor.values, shape: tensor.shape, into: binding).map {
                backend.encrypt($0, level: level, scale: scale)
            })
        }
        let interpreter = try Interpreter(program: program, backend: backend, store: store)
        interpreter.observer = observer
        let result = try interpreter.run { binding, ciphertext in packed[binding][ciphertext] }
        let outputs = try zip(program.outputs, result.outputs).map { binding, ciphertexts -> SimulatedOutput in
            let values = try Packing.unpack(ciphertexts.map(\.values), from: binding)
            let ideal = try Packing.unpack(ciphertexts.map(\.ideal), from: binding)
            let meanSquare = try Packing.unpack(ciphertexts.map(\.meanSquareError), from: binding)
            let mean = meanSquare.reduce(0, +) / Double(max(meanSquare.count, 1))
            return SimulatedOutput(binding: binding, values: values, ideal: ideal, predictedError: meanSquare.map { $0.squareRoot() },
                                   predictedErrorBits: 0.5 * Foundation.log2(max(mean, 1e-300)), ciphertexts: ciphertexts)
        }
        return (outputs, result.statistics)
    }

    /// What `tessera estimate` prints.
    public struct Estimate {
        public var instructionCount: Int
        public var countByOp: [Opcode: Int]
        public var millisecondsByOp: [Opcode: Double]
        public var predictedMilliseconds: Double
        public var keySizes: KeySizes
        /// Peak bytes of live ciphertexts during the run.
        public var peakCiphertextBytes: Int
        public var peakLiveCiphertexts: Int
        /// Bytes of the whole constant pool encoded (what a run that keeps every plaintext would hold).
        public var constantBytes: Int
        /// Peak bytes of ciphertexts and encoded plaintexts alive together when each plaintext is encoded at its
        /// `constant` instruction and every value is freed after its last use (`MemoryPlanner` without a budget).
        public var peakLiveBytes: Int
        /// Bytes of the constant pool as stored in the plan (dense vectors and slot patterns).
        public var storedConstantBytes: Int
        /// Peak live values + evaluation keys.
        public var peakMemoryBytes: Int { peakLiveBytes + keySizes.totalEvaluationKeyBytes }
    }

    /// Predicts the time and memory of a plan with the cost model (no keys, no inputs).
    public static func estimate(program: Program, table: CostTable = .defaults) throws -> Estimate {
        let parameters = try program.requireParameters()
        let backend = CostModelBackend(parameters: parameters, table: table)
        let interpreter = try Interpreter(program: program, backend: backend)
        let result = try interpreter.run { binding, _ in
            let input = program.inputs[binding]
            return backend.input(level: input.level ?? parameters.maxLevel, scale: input.scale ?? parameters.defaultScale)
        }
        return Estimate(
            instructionCount: program.instructions.count, countByOp: program.opcodeHistogram(), millisecondsByOp: backend.millisecondsByOp,
            predictedMilliseconds: backend.milliseconds, keySizes: KeySizes(program: program, parameters: parameters),
            peakCiphertextBytes: result.statistics.peakLiveBytes, peakLiveCiphertexts: result.statistics.peakLiveValues,
            constantBytes: backend.constantBytes, peakLiveBytes: try MemoryPlanner.plan(program, budget: nil).peakDRAMBytes,
            storedConstantBytes: program.constants.reduce(0) { $0 + $1.storedBytes })
    }
}
