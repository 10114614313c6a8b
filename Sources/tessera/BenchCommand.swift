import ArgumentParser
import CKKS
import ComplexModule
import Dispatch
import Foundation
import ModularArithmetic

/// `tessera bench …`: micro-benchmarks of the libraries.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the speed of Tessera's building blocks.",
        subcommands: [BenchCKKS.self, BenchBootstrap.self]
    )
}

/// `tessera bench ckks`: median time per CKKS operation on one parameter set.
struct BenchCKKS: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ckks",
        abstract: "Median time (ms) of NTT, encode, encrypt, add, ct×pt, ct×ct+relinearize, rescale, rotate and hoisted rotate, plus key sizes."
    )

    @Option(name: [.customLong("logN")], help: "log2 of the ring degree N.")
    var logN: Int = 16

    @Option(name: .customLong("q-bits"), help: "Comma-separated bit sizes of the ciphertext primes (default: 60 then 45s (N ≥ 2^15) or 40s).")
    var qBits: String?

    @Option(name: .customLong("p-bits"), help: "Comma-separated bit sizes of the special primes (default: enough 60-bit primes to cover a digit).")
    var pBits: String?

    @Option(help: "Number of key-switching digits.")
    var dnum: Int = 3

    @Option(help: "Worker threads (1 = serial).")
    var threads: Int = 1

    @Option(help: "Repetitions per operation (the median is reported).")
    var reps: Int = 5

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    @Flag(help: "Allow parameters over the HE-standard 128-bit bound (benchmarking only).")
    var insecure = false

    func parseBits(_ s: String, _ name: String) throws -> [Int] {
        let parts = s.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let values = parts.compactMap { Int($0) }
        guard values.count == parts.count, !values.isEmpty else {
            throw ValidationError("--\(name) must be a comma-separated list of integers, e.g. 60,45,45")
        }
        return values
    }

    func literal() throws -> CKKSParametersLiteral {
        let q = try qBits.map { try parseBits($0, "q-bits") }
            ?? ([60] + Array(repeating: logN >= 15 ? 45 : 40, count: logN >= 16 ? 20 : (logN >= 15 ? 14 : 10)))
        let alpha = (q.count + dnum - 1) / max(dnum, 1)
        var maxDigit = 0
        for start in stride(from: 0, to: q.count, by: max(alpha, 1)) {
            maxDigit = max(maxDigit, q[start..<min(start + alpha, q.count)].reduce(0, +))
        }
        let p = try pBits.map { try parseBits($0, "p-bits") } ?? Array(repeating: 60, count: (maxDigit + 59) / 60)
        return CKKSParametersLiteral(
            logN: logN, qBits: q, pBits: p, dnum: dnum, defaultScaleLog2: Double(q.count > 1 ? q[1] : 40),
            securityLevel: insecure ? .insecureForTestingOnly : .classical128)
    }

    func run() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard reps >= 1 else { throw ValidationError("--reps must be at least 1") }
        let parameters: CKKSParameters
        do { parameters = try CKKSParameters(literal()) } catch let error as CKKSError {
            throw ValidationError("\(error)")
        }
        let executor = ParallelExecutor(threads: threads)
        var results: [(String, Double)] = []
        func record(_ name: String, _ ms: Double) {
            results.append((name, ms))
            if !json { print(name.padding(toLength: 28, withPad: " ", startingAt: 0) + String(format: "%10.3f", ms)) }
        }
        func median(_ body: () throws -> Void) rethrows -> Double {
            var times: [Double] = []
            for _ in 0..<reps {
                let start = DispatchTime.now().uptimeNanoseconds
                try body()
                times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
            }
            times.sort()
            return times[times.count / 2]
        }
        func timeOnce(_ body: () throws -> Void) rethrows -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        }
        if !json {
            print(parameters)
            print("threads \(threads), reps \(reps), median ms")
        }

        // NTT + INTT of one limb.
        let tables = parameters.ring.qTables[0]
        let n = parameters.degree
        let limb = UnsafeMutablePointer<UInt64>.allocate(capacity: n)
        defer { limb.deallocate() }
        for i in 0..<n { limb[i] = UInt64(i) % tables.modulus.value }
        record("ntt", median { tables.forward(limb); tables.inverse(limb) })

        // Keys.
        var keygen = KeyGenerator(parameters: parameters, executor: executor)
        var secretKey: SecretKey!
        var publicKey: PublicKey!
        record("keygen_secret_public", timeOnce {
            secretKey = keygen.secretKey()
            publicKey = keygen.publicKey(secretKey)
        })
        var relinearizationKey: RelinearizationKey!
        record("keygen_relin", timeOnce { relinearizationKey = keygen.relinearizationKey(secretKey) })
        let steps = Array(1...8)
        var galoisKeys: GaloisKeys!
        let galoisTime = timeOnce { galoisKeys = keygen.galoisKeys(secretKey, rotations: steps) }
        record("keygen_rotation_per_key", galoisTime / Double(steps.count))

        let encoder = CKKSEncoder(parameters: parameters, executor: executor)
        let encryptor = CKKSEncryptor(parameters: parameters, publicKey: publicKey, executor: executor)
        let evaluator = CKKSEvaluator(
            parameters: parameters, relinearizationKey: relinearizationKey, galoisKeys: galoisKeys, executor: executor)
        var rng = SystemRandomNumberGenerator()
        let values = (0..<parameters.slotCount).map { _ in
            Complex(Double.random(in: -1...1, using: &rng), Double.random(in: -1...1, using: &rng))
        }
        var plaintext = try encoder.encode(values)
        record("encode", try median { plaintext = try encoder.encode(values) })
        var a = try encryptor.encrypt(plaintext)
        record("encrypt", try median { a = try encryptor.encrypt(plaintext) })
        let b = try encryptor.encrypt(plaintext)
        var out = Ciphertext(parameters: parameters, level: parameters.maxLevel)
        record("add", try median { try evaluator.add(a, b, into: &out) })
        record("mul_plain", try median { try evaluator.multiply(a, plaintext, into: &out) })
        var product = Ciphertext(parameters: parameters, level: parameters.maxLevel, degree: 2)
        record("mul_relin", try median { try evaluator.multiplyRelinearize(a, b, into: &product) })
        // Rescale mutates: time it on fresh deep copies.
        var rescaleTimes: [Double] = []
        for _ in 0..<reps {
            var copy = try evaluator.multiplying(product, constant: 1, constantScale: 1)  // deep copy
            rescaleTimes.append(try timeOnce { try evaluator.rescale(&copy) })
        }
        rescaleTimes.sort()
        record("rescale", rescaleTimes[rescaleTimes.count / 2])
        var rotatedOut = Ciphertext(parameters: parameters, level: parameters.maxLevel)
        record("rotate", try median { try evaluator.rotate(a, by: 1, into: &rotatedOut) })
        record("rotate_hoisted", try median { _ = try evaluator.rotateHoisted(a, by: steps) } / Double(steps.count))
        let decryptor = CKKSDecryptor(parameters: parameters, secretKey: secretKey, executor: executor)
        var decrypted = try decryptor.decrypt(a)
        record("decrypt", try median { decrypted = try decryptor.decrypt(a) })
        record("decode", median { _ = encoder.decode(decrypted) })

        let relinMB = Double(relinearizationKey.key.byteCount) / 1_048_576
        let rotationMB = Double(galoisKeys.byteCount) / Double(max(galoisKeys.keys.count, 1)) / 1_048_576
        if json {
            var fields = results.map { "\"\($0.0)\": \(String(format: "%.4f", $0.1))" }
            fields.append("\"relin_key_mb\": \(String(format: "%.3f", relinMB))")
            fields.append("\"rotation_key_mb\": \(String(format: "%.3f", rotationMB))")
            fields.append("\"logN\": \(logN)")
            fields.append("\"levels\": \(parameters.maxLevel + 1)")
            fields.append("\"special_primes\": \(parameters.pPrimes.count)")
            fields.append("\"dnum\": \(dnum)")
            fields.append("\"threads\": \(threads)")
            fields.append("\"log_qp\": \(String(format: "%.1f", parameters.logQP))")
            print("{" + fields.joined(separator: ", ") + "}")
        } else {
            print("relin_key_mb".padding(toLength: 28, withPad: " ", startingAt: 0) + String(format: "%10.3f", relinMB))
            print("rotation_key_mb (per key)".padding(toLength: 28, withPad: " ", startingAt: 0) + String(format: "%10.3f", rotationMB))
        }
    }
}
