import ArgumentParser
import CipherIR
import CKKS
import Foundation
import PersistentMemory
import Runtime

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a plan: on ciphertexts (server), on plaintext with the noise simulator, or through the cost model.",
        discussion: """
            ckks:     --eval-keys EK --input IN.tct -o OUT.tct (values in DRAM, or in a PMem pool with --pmem)
            simulate: --input X.npy -o Y.npy; prints the predicted error of each output
            cost:     no input; prints the predicted time and memory
            """
    )

    enum BackendKind: String, ExpressibleByArgument, CaseIterable {
        case ckks, simulate, cost
    }

    @Argument(help: "The plan file (.tsp).")
    var plan: String

    @Option(help: "ckks (default), simulate or cost.")
    var backend: BackendKind = .ckks

    @Option(name: .customLong("eval-keys"), help: "The evaluation keys (.tek) from `tessera keygen` (ckks).")
    var evalKeys: String?

    @Option(help: "Encrypted input (.tct) for ckks; input arrays (.npy, PATH or NAME=PATH) for simulate.")
    var input: [String] = []

    @Option(name: [.customShort("o"), .long], help: "Encrypted output (.tct) for ckks; arrays (.npy, PATH or NAME=PATH) for simulate.")
    var output: [String] = []

    @Option(help: "Keep ciphertexts in a persistent-memory pool: a file (created if missing), a tmpfs file or a devdax device.")
    var pmem: String?

    @Option(name: .customLong("pool-size"), help: "Size of a new pool (e.g. 4G; default: room for the plan's peak live set).")
    var poolSize: String?

    @Option(name: .customLong("dram-budget"), help: "Keep at most this many bytes of values in DRAM (e.g. 512M), spilling the least recently used to the pool.")
    var dramBudget: String?

    @Option(name: .customLong("checkpoint-every"), help: "With --pmem: make the live values and the program counter durable in the pool every N instructions (atomically; a crash leaves the previous checkpoint valid).")
    var checkpointEvery: Int?

    @Flag(help: "With --pmem: continue a killed run from the pool's last checkpoint (same plan, same evaluation keys).")
    var resume = false

    @Option(name: .customLong("refresh-with"), help: "Secret key (.tsk) that serves the plan's client-aided refresh instructions.")
    var refreshWith: String?

    @Option(help: "Write a Chrome trace (open in Perfetto): one span per instruction, DRAM and pool byte counters.")
    var trace: String?

    @Option(name: .customLong("cost-table"), help: "Per-op times from `tessera bench ckks --json` (cost backend).")
    var costTable: String?

    @Flag(name: .customLong("public-key-noise"), help: "Simulate inputs encrypted with the public key (more noise) instead of the secret key.")
    var publicKeyNoise = false

    @OptionGroup var threadOptions: ThreadOptions

    func run() throws {
        let program = try loadPlan(plan)
        let parameters = try program.requireParameters()
        let progress = ProgressBar(total: program.instructions.count)
        let recorder = trace.map { _ in TraceRecorder() }
        let observer: (InstructionEvent) -> Void = { event in
            progress?.update(event.index + 1)
            recorder?.record(event)
        }
        switch backend {
        case .ckks:
            try runCKKS(program, observer: observer)
        case .simulate:
            try runSimulator(program, observer: observer)
        case .cost:
            let table = try costTable.map { try CostTable(contentsOf: $0) } ?? .defaults
            let estimate = try PlanRunner.estimate(program: program, table: table)
            print(estimateReport(estimate, parameters: parameters))
        }
        progress?.finish()
        if let trace, let recorder {
            try recorder.write(to: trace)
            print("trace: \(trace)")
        }
    }

    private func makeStore(_ program: Program, keepingSlots: Bool = false) throws -> TieredStore {
        let parameters = try program.requireParameters()
        let budget = try dramBudget.map { try ValueStoreSetup.parseSize($0) }
        let size = try poolSize.map { try ValueStoreSetup.parseSize($0) }
        let slots = try PlanRunner.estimate(program: program).peakLiveCiphertexts + 2
        let tag = PoolOwnerTag(hashing: withUnsafeBytes(of: program.planFingerprint.littleEndian) { Array($0) })
        let schedule = try MemorySchedule.decode(program.memoryPlan, for: program)
        let planned = schedule?.budgetBytes != nil
        if let schedule, let planBudget = schedule.budgetBytes {
            if pmem == nil {
                printError("note: the plan was compiled for a \(formatBytes(planBudget)) DRAM budget; without --pmem every value stays in DRAM")
            } else if budget == nil {
                print("memory: following the plan's schedule (budget \(formatBytes(planBudget)), \(formatBytes(schedule.bytesEvicted)) to evict, \(formatBytes(schedule.bytesPrefetched)) to prefetch)")
            }
        }
        return try ValueStoreSetup.makeStore(
            poolPath: pmem, poolSize: size, dramBudget: budget, slotSize: ValueStoreSetup.largestCiphertextBytes(parameters),
            defaultSlots: slots, ownerTag: tag, followingPlan: planned, keepingSlots: keepingSlots)
    }

    private func runCKKS(_ program: Program, observer: @escaping (InstructionEvent) -> Void) throws {
        guard let evalKeys else { throw CommandError("the ckks backend needs --eval-keys EK.tek (from tessera keygen)") }
        guard input.count == 1 else { throw CommandError("pass the encrypted input once: --input IN.tct (from tessera encrypt)") }
        guard output.count == 1 else { throw CommandError("pass where to write the encrypted output: -o OUT.tct") }
        let start = monotonicSeconds()
        let session = try PlanSession(program: program)
        let keys = try session.readEvaluationKeys(path: evalKeys)
        let inputs = try session.readCiphertexts(path: input[0], kind: .inputs)
        let refreshKey = try refreshWith.map { try session.readSecretKey(path: $0, threads: threadOptions.resolved) }
        if refreshKey == nil, program.instructions.contains(where: { $0.opcode == .refresh }) {
            throw CommandError("the plan has client-aided refresh instructions; pass --refresh-with SECRET_KEY (the key holder)")
        }
        if (checkpointEvery != nil || resume) && pmem == nil {
            throw CommandError("--checkpoint-every and --resume keep their state in a pool; pass --pmem POOL")
        }
        if let checkpointEvery, checkpointEvery < 1 { throw CommandError("--checkpoint-every needs a positive instruction count") }
        let store = try makeStore(program, keepingSlots: resume)
        defer { store.pool?.close() }
        let keyIdentity = try evaluationKeyIdentity(path: evalKeys)
        var checkpoint: Checkpoint? = nil
        if resume, let pool = store.pool {
            guard let (found, tableSlot) = try Checkpoint.read(pool: pool, planFingerprint: program.planFingerprint, keyFingerprint: keyIdentity) else {
                throw CommandError("pool '\(pmem ?? "")' holds no checkpoint to resume; run without --resume")
            }
            // Slots written after that checkpoint belong to the killed run's later values: free them.
            let kept = Set(found.values.map(\.slot) + [tableSlot])
            for slot in pool.committedSlots() where !kept.contains(slot.slot) { try pool.free(slot.slot, durability: .deferred) }
            print("resuming at instruction \(found.nextInstruction) of \(program.instructions.count) (\(found.values.count) values from the pool)")
            checkpoint = found
        }
        let policy = (checkpointEvery ?? (resume ? max(program.instructions.count / 10, 1) : nil)).map {
            CheckpointPolicy(every: $0, planFingerprint: program.planFingerprint, keyFingerprint: keyIdentity)
        }
        let loaded = monotonicSeconds()
        let result = try PlanRunner.runCKKS(
            session: session, inputs: inputs, relinearizationKey: keys.relinearization, galoisKeys: keys.galois, store: store,
            threads: threadOptions.resolved, refreshSecretKey: refreshKey, checkpoint: policy, resume: checkpoint, bootstrapKeys: keys.bootstrap,
            observer: observer)
        try session.writeCiphertexts(result.outputs, kind: .outputs, to: output[0])
        let statistics = result.statistics
        print("wrote \(output[0])")
        print(String(format: "run: %d instructions in %.3f s (load %.3f s), %d threads", statistics.instructions, statistics.seconds,
                     loaded - start, threadOptions.resolved))
        print("memory: peak live ciphertexts \(formatBytes(statistics.peakLiveBytes)) (\(statistics.peakLiveValues) values), peak DRAM \(formatBytes(statistics.store.peakDRAMBytes))"
            + (store.pool != nil ? ", peak pool \(formatBytes(statistics.store.peakPoolBytes)), \(statistics.store.spills) spills, \(statistics.store.fetches) fetches, "
                + "\(formatBytes(statistics.store.bytesToPool)) to the pool, \(formatBytes(statistics.store.bytesFromPool)) back" : ""))
        if statistics.prefetchCopies > 0 {
            print(String(format: "prefetch: %d values copied back by the prefetch thread ahead of use; %d waits, stall %.3f s (%.1f%% of the run)",
                         statistics.prefetchCopies, statistics.stalls, statistics.stallSeconds,
                         100 * statistics.stallSeconds / max(statistics.seconds, 1e-9)))
        }
    }

    private func runSimulator(_ program: Program, observer: @escaping (InstructionEvent) -> Void) throws {
        let tensors = try readInputArrays(input, program: program)
        let store = try makeStore(program)
        defer { store.pool?.close() }
        let (outputs, statistics) = try PlanRunner.simulate(
            program: program, inputs: tensors, store: store, publicKeyEncryption: publicKeyNoise, observer: observer)
        try writeOutputs(outputs.map { ($0.binding, $0.values) }, arguments: output, program: program)
        for result in outputs {
            let worst = result.predictedError.max() ?? 0
            print(String(format: "%@: predicted error 2^%.1f (rms), worst element 2^%.1f, about %.1f bits of precision",
                         result.binding.name, result.predictedErrorBits, log2(max(worst, 1e-300)), -result.predictedErrorBits))
        }
        print(String(format: "simulated %d instructions in %.3f s; a CKKS run would peak at %@ of live ciphertexts",
                     statistics.instructions, statistics.seconds, formatBytes(statistics.peakLiveBytes)))
    }
}

/// A one-line progress bar on standard error, drawn only when it is a terminal.
final class ProgressBar {
    let total: Int
    private var shown = -1
    private let start = monotonicSeconds()

    init?(total: Int) {
        guard isatty(STDERR_FILENO) != 0, total > 0 else { return nil }
        self.total = total
    }

    func update(_ done: Int) {
        let percent = done * 100 / total
        guard percent != shown else { return }
        shown = percent
        let width = 30
        let filled = done * width / total
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        FileHandle.standardError.write(Data(String(format: "\r[%@] %3d%% %d/%d  %.1f s", bar, percent, done, total, monotonicSeconds() - start).utf8))
    }

    func finish() {
        FileHandle.standardError.write(Data("\n".utf8))
    }
}

/// An identity of an evaluation-key file (its length and first 64 KiB: key material is random, so two keygens differ),
/// stored in checkpoints so a run is never resumed with other keys.
func evaluationKeyIdentity(path: String) throws -> UInt64 {
    guard let handle = FileHandle(forReadingAtPath: path) else { throw CommandError("cannot read evaluation keys \(path)") }
    defer { try? handle.close() }
    let head = [UInt8](handle.readData(ofLength: 1 << 16))
    let length = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    var bytes = head
    withUnsafeBytes(of: UInt64(length).littleEndian) { bytes.append(contentsOf: $0) }
    return Fingerprint.of(bytes)
}
