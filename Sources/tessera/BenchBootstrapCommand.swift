import ArgumentParser
import CKKS
import ComplexModule
import Dispatch
import Foundation
import ModularArithmetic

/// `tessera bench bootstrap`: time, precision, levels and key memory of CKKS bootstrapping on one parameter set.
struct BenchBootstrap: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bootstrap",
        abstract: "Median time (ms) of one CKKS bootstrap, its precision in bits, the levels it leaves, key memory and keygen time.",
        discussion: """
            Without --insecure, logN 16 uses the 128-bit preset N16 H192 (sparse secret h = 192, 9 levels left). \
            With --insecure any logN in 11...16 uses a chain of the same shape without the security check. Inputs are \
            random complex slots with real and imaginary parts in [-1, 1], encrypted at level 0; precision_bits_mean \
            is -log2 of the mean absolute slot error, precision_bits_min -log2 of the largest. \
            precision_bits_constant bootstraps all slots equal to 0.9 - 0.4i once more: the worst case, where the \
            whole message is one coefficient and the sine's curvature shows.
            """
    )

    @Option(name: [.customLong("logN")], help: "log2 of the ring degree N.")
    var logN: Int = 16

    @Option(help: "Slots to bootstrap: N/2 (default) or a power of two up to N/4 (sparse packing).")
    var slots: Int?

    @Option(help: "Worker threads (1 = serial).")
    var threads: Int = 1

    @Option(help: "Bootstraps timed (the median is reported).")
    var reps: Int = 3

    @Option(help: "Untimed bootstraps before the timed ones. A process's first bootstraps fault in their scratch memory (slow in a VM); its time is reported as first_bootstrap_ms.")
    var warmup: Int = 1

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    @Flag(help: "Use an insecure test chain (any logN in 11...16); benchmarking only.")
    var insecure = false

    @Option(name: .customLong("message-ratio"), help: "log2(q0/Δ') of the message before ModRaise (default: the preset's).")
    var messageRatioLog2: Double?

    @Option(name: .customLong("cts-levels"), help: "CoeffToSlot levels (--insecure only; changes the chain).")
    var coeffsToSlotsLevels: Int?

    @Option(name: .customLong("stc-levels"), help: "SlotToCoeff levels (--insecure only; changes the chain).")
    var slotsToCoeffsLevels: Int?

    func literal() throws -> BootstrappableParametersLiteral {
        var result: BootstrappableParametersLiteral
        if insecure {
            guard (11...16).contains(logN) else { throw ValidationError("--logN must be in 11...16 with --insecure") }
            var configuration = BootstrapConfiguration()
            if let c = coeffsToSlotsLevels { configuration.coeffsToSlotsLevels = c }
            if let s = slotsToCoeffsLevels { configuration.slotsToCoeffsLevels = s }
            result = .insecureTest(logN: logN, applicationLevels: 9, hammingWeight: 192, bootstrapping: configuration, primesPerDigit: 5)
        } else {
            guard logN == 16 else {
                throw ValidationError("only logN 16 has a secure bootstrappable preset (N16 H192); pass --insecure for a test chain at logN \(logN)")
            }
            guard coeffsToSlotsLevels == nil && slotsToCoeffsLevels == nil else {
                throw ValidationError("--cts-levels and --stc-levels change the prime chain: use them with --insecure")
            }
            result = .n16H192
        }
        if let ratio = messageRatioLog2 { result.bootstrapping.messageRatioLog2 = ratio }
        return result
    }

    func run() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard reps >= 1 else { throw ValidationError("--reps must be at least 1") }
        guard warmup >= 0 else { throw ValidationError("--warmup must be at least 0") }
        let literal = try literal()
        let parameters: CKKSParameters
        do { parameters = try CKKSParameters(literal.scheme) } catch let error as CKKSError { throw ValidationError("\(error)") }
        let slotCount = slots ?? parameters.slotCount
        do { try literal.bootstrapping.validate(for: parameters, slots: slotCount) } catch let error as CKKSError {
            throw ValidationError("\(error)")
        }
        let executor = ParallelExecutor(threads: threads)
        func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e6 }

        var keygen = KeyGenerator(parameters: parameters, executor: executor)
        let secretKey = keygen.secretKey()
        var start = now()
        let keys = try BootstrapKeys.generate(
            parameters: parameters, configuration: literal.bootstrapping, slots: slotCount, secretKey: secretKey, keyGenerator: &keygen)
        let keygenMs = now() - start
        start = now()
        let bootstrapper = try Bootstrapper(
            parameters: parameters, configuration: literal.bootstrapping, slots: slotCount, keys: keys, executor: executor)
        let precomputeMs = now() - start

        let encoder = CKKSEncoder(parameters: parameters, executor: executor)
        let encryptor = CKKSEncryptor(parameters: parameters, secretKey: secretKey, executor: executor)
        let decryptor = CKKSDecryptor(parameters: parameters, secretKey: secretKey, executor: executor)
        var rng = SystemRandomNumberGenerator()
        let values = (0..<slotCount).map { _ in
            Complex(Double.random(in: -1...1, using: &rng), Double.random(in: -1...1, using: &rng))
        }
        let slotsValues = Bootstrapper.replicated(values, toFill: parameters.slotCount)
        let schedule = ScaleSchedule(parameters: parameters)
        let input = try encryptor.encrypt(try encoder.encode(slotsValues, scale: schedule.scale(atLevel: 0), level: 0))

        var firstMs: Double?
        for _ in 0..<warmup {
            start = now()
            _ = try bootstrapper.bootstrap(input)
            if firstMs == nil { firstMs = now() - start }
        }
        var times: [Double] = []
        var stageRuns: [[(stage: String, milliseconds: Double)]] = []
        var output = input
        for _ in 0..<reps {
            var stages: [(stage: String, milliseconds: Double)] = []
            start = now()
            output = try bootstrapper.bootstrap(input, stages: &stages)
            times.append(now() - start)
            stageRuns.append(stages)
        }
        let firstBootstrapMs = firstMs ?? times[0]
        // The stages of the median run.
        let medianRun = times.indices.sorted { times[$0] < times[$1] }[times.count / 2]
        let stageMs = stageRuns[medianRun]
        times.sort()
        let bootstrapMs = times[times.count / 2]
        let decoded = encoder.decode(try decryptor.decrypt(output))
        var errorSum = 0.0, worst = 0.0
        for (got, want) in zip(decoded.prefix(slotCount), values) {
            let e = (got - want).length
            errorSum += e
            worst = max(worst, e)
        }
        let meanBits = -Foundation.log2(max(errorSum / Double(slotCount), 0x1p-100))
        let minBits = -Foundation.log2(max(worst, 0x1p-100))
        let constant = Complex<Double>(0.9, -0.4)
        let constantInput = try encryptor.encrypt(
            try encoder.encode([Complex<Double>](repeating: constant, count: parameters.slotCount), scale: schedule.scale(atLevel: 0), level: 0))
        let constantOutput = encoder.decode(try decryptor.decrypt(try bootstrapper.bootstrap(constantInput)))
        let constantBits = -Foundation.log2(max(constantOutput.map { ($0 - constant).length }.max() ?? 0, 0x1p-100))
        let keyMB = Double(keys.byteCount) / 1_048_576
        let diagonalMB = Double(bootstrapper.diagonalByteCount) / 1_048_576

        if json {
            let fields: [(String, String)] = [
                ("bootstrap_ms", String(format: "%.1f", bootstrapMs)),
                ("first_bootstrap_ms", String(format: "%.1f", firstBootstrapMs)),
                ("precision_bits_mean", String(format: "%.2f", meanBits)),
                ("precision_bits_min", String(format: "%.2f", minBits)),
                ("precision_bits_constant", String(format: "%.2f", constantBits)),
                ("levels_left", "\(bootstrapper.outputLevel)"),
                ("key_mb", String(format: "%.1f", keyMB)),
                ("keygen_ms", String(format: "%.1f", keygenMs)),
                ("precompute_ms", String(format: "%.1f", precomputeMs)),
                ("stage_ms", "{" + stageMs.map { String(format: "\"%@\": %.1f", $0.stage, $0.milliseconds) }.joined(separator: ", ") + "}"),
                ("diagonal_mb", String(format: "%.1f", diagonalMB)),
                ("diagonals", "\(bootstrapper.diagonalCount)"),
                ("galois_keys", "\(keys.galoisKeyCount)"),
                ("eval_mod_error_log2", String(format: "%.1f", bootstrapper.evalModErrorLog2)),
                ("failure_probability_log2", String(format: "%.1f", bootstrapper.failureProbabilityLog2)),
                ("logN", "\(logN)"),
                ("slots", "\(slotCount)"),
                ("threads", "\(threads)"),
                ("reps", "\(reps)"),
                ("warmup", "\(warmup)"),
                ("levels", "\(parameters.maxLevel + 1)"),
                ("log_qp", String(format: "%.1f", parameters.logQP)),
                ("dnum", "\(parameters.dnum)"),
                ("secure", insecure ? "false" : "true"),
            ]
            print("{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}")
        } else {
            print(parameters)
            print("slots \(slotCount), threads \(threads), reps \(reps) after \(warmup) warm-up\(insecure ? ", INSECURE test chain" : "")")
            let rows: [(String, String)] = [
                ("bootstrap_ms (median)", String(format: "%.1f", bootstrapMs)),
                ("first_bootstrap_ms", String(format: "%.1f", firstBootstrapMs)),
                ("precision_bits_mean", String(format: "%.2f", meanBits)),
                ("precision_bits_min", String(format: "%.2f", minBits)),
                ("precision_bits_constant", String(format: "%.2f", constantBits)),
                ("levels_left", "\(bootstrapper.outputLevel) of \(parameters.maxLevel)"),
                ("key_mb", String(format: "%.1f (%d Galois keys, relinearization%@)", keyMB, keys.galoisKeyCount,
                                  keys.encapsulation == nil ? "" : ", encapsulation")),
                ("keygen_ms", String(format: "%.1f", keygenMs)),
                ("precompute_ms", String(format: "%.1f", precomputeMs)),
                ("stages (median run)", stageMs.map { String(format: "%@ %.0f ms", $0.stage, $0.milliseconds) }.joined(separator: ", ")),
                ("diagonal_mb", String(format: "%.1f (%d plaintexts)", diagonalMB, bootstrapper.diagonalCount)),
                ("eval_mod_error_log2", String(format: "%.1f", bootstrapper.evalModErrorLog2)),
                ("failure_probability_log2", String(format: "%.1f", bootstrapper.failureProbabilityLog2)),
            ]
            for (name, value) in rows { print(name.padding(toLength: 28, withPad: " ", startingAt: 0) + value) }
        }
    }
}
