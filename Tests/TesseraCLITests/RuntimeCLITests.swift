import Foundation
import Testing

/// The client/server commands end to end on the hand-written programs in examples/programs:
/// assemble → keygen → encrypt → run → decrypt, the simulate and cost backends, the PMem pool,
/// and typed errors (non-zero exit, never a crash) for damaged or mismatched files.
enum RuntimeCLI {
    static let programs = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("examples/programs")

    static func program(_ name: String) -> String { programs.appendingPathComponent(name + ".tcir").path }

    /// Runs tessera and expects success.
    @discardableResult
    static func ok(_ arguments: [String]) throws -> CLI.Result {
        let result = try CLI.run(arguments)
        #expect(result.status == 0, "tessera \(arguments.joined(separator: " ")) failed: \(result.stderr)")
        return result
    }

    /// Runs tessera and expects a reported error: exit status 1 with an `Error:` message (a crash
    /// would be a signal and another status).
    static func fails(_ arguments: [String], mentioning words: [String] = []) throws {
        let result = try CLI.run(arguments)
        #expect(result.status == 1, "tessera \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)")
        #expect(result.stderr.contains("Error"), "no error message: \(result.stderr)")
        for word in words {
            #expect(result.stderr.lowercased().contains(word.lowercased()), "'\(word)' not in: \(result.stderr)")
        }
    }

    /// A little-endian float64 .npy (version 1.0).
    static func writeNPY(_ values: [Double], shape: [Int], to path: String) throws {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f8', 'fortran_order': False, 'shape': \(shapeText), }"
        header += String(repeating: " ", count: (64 - (11 + header.utf8.count) % 64) % 64) + "\n"
        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)]
        bytes += Array(header.utf8)
        for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 } }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// Reads a float64 .npy written by `tessera decrypt` / `run --backend simulate`.
    static func readNPY(_ path: String) throws -> (shape: [Int], values: [Double]) {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        let header = String(decoding: bytes[10..<(10 + headerLength)], as: UTF8.self)
        #expect(header.contains("'<f8'"))
        let shapeText = header.components(separatedBy: "'shape': (")[1].components(separatedBy: ")")[0]
        let shape = shapeText.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let start = 10 + headerLength
        let values = stride(from: start, to: bytes.count, by: 8).map { offset in
            Double(bitPattern: (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) })
        }
        return (shape, values)
    }

    /// x_i = sin(i + 1)/2: a fixed input in (−0.5, 0.5).
    static func input(_ count: Int) -> [Double] { (0..<count).map { sin(Double($0 + 1)) / 2 } }

    static let weights = [0.5, -1.0, 2.0, 0.25, 1.5, -0.75, 3.0, 1.0]
}

@Suite struct RuntimeCommandTests {
    /// The closing note's end-to-end sequence for the dot product, on all three backends.
    @Test func dotProductEndToEnd() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        let x = RuntimeCLI.input(8)
        let expected = zip(x, RuntimeCLI.weights).map(*).reduce(0, +)
        try RuntimeCLI.writeNPY(x, shape: [8], to: path("x.npy"))

        try RuntimeCLI.ok(["assemble", RuntimeCLI.program("dot_product"), "-o", path("dot.tsp")])
        try RuntimeCLI.ok(["keygen", path("dot.tsp"), "--secret-key", path("sk.tsk"), "--eval-keys", path("ek.tek"),
                           "--public-key", path("pk.tpk"), "--seed", "1"])
        try RuntimeCLI.ok(["encrypt", path("dot.tsp"), "--key", path("pk.tpk"), "--input", path("x.npy"), "-o", path("in.tct"), "--seed", "2"])
        let run = try RuntimeCLI.ok(["run", path("dot.tsp"), "--eval-keys", path("ek.tek"), "--input", path("in.tct"), "-o", path("out.tct"),
                                     "--trace", path("trace.json")])
        #expect(run.stdout.contains("instructions"))
        try RuntimeCLI.ok(["decrypt", path("dot.tsp"), "--secret-key", path("sk.tsk"), "--input", path("out.tct"), "-o", path("y.npy")])
        let y = try RuntimeCLI.readNPY(path("y.npy"))
        #expect(y.shape == [1])
        #expect(abs(y.values[0] - expected) < 0x1p-20, "decrypted \(y.values[0]), expected \(expected)")

        // The trace is Chrome trace JSON with one span per instruction.
        let trace = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("trace.json")))) as! [String: Any]
        let events = trace["traceEvents"] as! [[String: Any]]
        #expect(events.filter { $0["ph"] as? String == "X" }.count == 11)

        // Values in a pool on a file, and under a DRAM budget below the live set: identical output bytes.
        try RuntimeCLI.ok(["run", path("dot.tsp"), "--eval-keys", path("ek.tek"), "--input", path("in.tct"), "-o", path("out-pool.tct"),
                           "--pmem", path("pool.pmem"), "--pool-size", "16M"])
        try RuntimeCLI.ok(["run", path("dot.tsp"), "--eval-keys", path("ek.tek"), "--input", path("in.tct"), "-o", path("out-budget.tct"),
                           "--pmem", path("pool.pmem"), "--dram-budget", "100K"])
        let reference = try Data(contentsOf: URL(fileURLWithPath: path("out.tct")))
        #expect(try Data(contentsOf: URL(fileURLWithPath: path("out-pool.tct"))) == reference)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path("out-budget.tct"))) == reference)

        // The simulator: the answer and a predicted error.
        let simulated = try RuntimeCLI.ok(["run", path("dot.tsp"), "--backend", "simulate", "--input", path("x.npy"), "-o", path("y-sim.npy")])
        #expect(simulated.stdout.contains("predicted error 2^-"))
        #expect(abs(try RuntimeCLI.readNPY(path("y-sim.npy")).values[0] - expected) < 0x1p-20)

        // The cost model and estimate.
        let cost = try RuntimeCLI.ok(["run", path("dot.tsp"), "--backend", "cost"])
        #expect(cost.stdout.contains("ms predicted"))
        let estimate = try RuntimeCLI.ok(["estimate", path("dot.tsp")])
        #expect(estimate.stdout.contains("rotate") && estimate.stdout.contains("3 Galois keys") && estimate.stdout.contains("peak"))
    }

    @Test func clientAidedRefresh() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        let x = RuntimeCLI.input(16)
        try RuntimeCLI.writeNPY(x, shape: [16], to: path("x.npy"))
        try RuntimeCLI.ok(["assemble", RuntimeCLI.program("relu_refresh"), "-o", path("relu.tsp")])
        try RuntimeCLI.ok(["keygen", path("relu.tsp"), "--secret-key", path("sk.tsk"), "--eval-keys", path("ek.tek")])
        try RuntimeCLI.ok(["encrypt", path("relu.tsp"), "--key", path("sk.tsk"), "--input", path("x.npy"), "-o", path("in.tct")])
        try RuntimeCLI.fails(["run", path("relu.tsp"), "--eval-keys", path("ek.tek"), "--input", path("in.tct"), "-o", path("out.tct")],
                             mentioning: ["refresh-with"])
        try RuntimeCLI.ok(["run", path("relu.tsp"), "--eval-keys", path("ek.tek"), "--input", path("in.tct"), "-o", path("out.tct"),
                           "--refresh-with", path("sk.tsk")])
        try RuntimeCLI.ok(["decrypt", path("relu.tsp"), "--secret-key", path("sk.tsk"), "--input", path("out.tct"), "-o", path("y.npy")])
        let y = try RuntimeCLI.readNPY(path("y.npy")).values
        let expected = x.map { max(2 * $0, 0) - 0.25 }
        #expect(zip(y, expected).allSatisfy { abs($0 - $1) < 0x1p-20 })
    }

    /// Every damaged or mismatched file is refused with a typed error and exit status 1.
    @Test func damagedAndMismatchedFilesAreRefused() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        func damage(_ source: String, _ target: String, _ change: (inout [UInt8]) -> Void) throws {
            var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path(source))))
            change(&bytes)
            try Data(bytes).write(to: URL(fileURLWithPath: path(target)))
        }
        try RuntimeCLI.writeNPY(RuntimeCLI.input(4), shape: [4], to: path("x.npy"))
        try RuntimeCLI.writeNPY(RuntimeCLI.input(8), shape: [8], to: path("x8.npy"))
        try RuntimeCLI.ok(["assemble", RuntimeCLI.program("matrix_vector"), "-o", path("mv.tsp")])
        try RuntimeCLI.ok(["assemble", RuntimeCLI.program("dot_product"), "-o", path("dot.tsp")])
        try RuntimeCLI.ok(["keygen", path("mv.tsp"), "--secret-key", path("sk.tsk"), "--eval-keys", path("ek.tek")])
        try RuntimeCLI.ok(["keygen", path("dot.tsp"), "--secret-key", path("dot-sk.tsk"), "--eval-keys", path("dot-ek.tek")])
        try RuntimeCLI.ok(["encrypt", path("mv.tsp"), "--key", path("sk.tsk"), "--input", path("x.npy"), "-o", path("in.tct")])
        try RuntimeCLI.ok(["run", path("mv.tsp"), "--eval-keys", path("ek.tek"), "--input", path("in.tct"), "-o", path("out.tct")])

        func run(plan: String = "mv.tsp", keys: String = "ek.tek", input: String = "in.tct") -> [String] {
            ["run", path(plan), "--eval-keys", path(keys), "--input", path(input), "-o", path("never.tct")]
        }
        // Plans: flipped byte, truncation, another version, not a plan.
        try damage("mv.tsp", "flip.tsp") { $0[$0.count / 2] ^= 0x40 }
        try RuntimeCLI.fails(run(plan: "flip.tsp"), mentioning: ["corrupt"])
        try damage("mv.tsp", "cut.tsp") { $0.removeLast($0.count / 3) }
        try RuntimeCLI.fails(run(plan: "cut.tsp"), mentioning: ["truncated"])
        try damage("mv.tsp", "v1.tsp") { bytes in
            bytes[8] = 1
            var crc: UInt32 = 0xFFFF_FFFF
            for byte in bytes[0..<20] {
                crc ^= UInt32(byte)
                for _ in 0..<8 { crc = crc & 1 != 0 ? 0xEDB8_8320 ^ (crc >> 1) : crc >> 1 }
            }
            crc ^= 0xFFFF_FFFF
            for k in 0..<4 { bytes[20 + k] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(k))) }
        }
        try RuntimeCLI.fails(run(plan: "v1.tsp"), mentioning: ["version 1"])
        try RuntimeCLI.fails(run(plan: "x.npy"), mentioning: ["not a Tessera plan"])
        // Keys: flipped byte, truncation, keys from another plan, the secret key in place of eval keys.
        try damage("ek.tek", "flip.tek") { $0[$0.count / 2] ^= 1 }
        try RuntimeCLI.fails(run(keys: "flip.tek"), mentioning: ["checksum"])
        try damage("ek.tek", "cut.tek") { $0.removeLast(100) }
        try RuntimeCLI.fails(run(keys: "cut.tek"), mentioning: ["truncated"])
        try RuntimeCLI.fails(run(keys: "dot-ek.tek"), mentioning: ["another plan"])
        try RuntimeCLI.fails(run(keys: "sk.tsk"), mentioning: ["secret key"])
        try RuntimeCLI.fails(["decrypt", path("mv.tsp"), "--secret-key", path("dot-sk.tsk"), "--input", path("out.tct"), "-o", path("y.npy")],
                             mentioning: ["another plan"])
        // Ciphertexts: flipped byte, truncation, another plan's, an output given as input.
        try damage("in.tct", "flip.tct") { $0[$0.count - 1000] ^= 4 }
        try RuntimeCLI.fails(run(input: "flip.tct"), mentioning: ["checksum"])
        try damage("in.tct", "cut.tct") { $0.removeLast(8) }
        try RuntimeCLI.fails(run(input: "cut.tct"), mentioning: ["truncated"])
        try RuntimeCLI.fails(run(plan: "dot.tsp", keys: "dot-ek.tek"), mentioning: ["another plan"])
        try RuntimeCLI.fails(run(input: "out.tct"), mentioning: ["output ciphertexts"])
        // An input of the wrong shape.
        try RuntimeCLI.fails(["encrypt", path("mv.tsp"), "--key", path("sk.tsk"), "--input", path("x8.npy"), "-o", path("bad.tct")],
                             mentioning: ["shape"])
        // A pool file that is not a pool is never overwritten.
        try RuntimeCLI.fails(run() + ["--pmem", path("x.npy")], mentioning: ["pool"])
        #expect(try RuntimeCLI.readNPY(path("x.npy")).values.count == 4)
    }

    @Test func assembleListsEveryProblem() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = directory.appendingPathComponent("bad.tcir").path
        let text = try String(contentsOfFile: RuntimeCLI.program("dot_product"), encoding: .utf8)
            .replacingOccurrences(of: "rotations=[1, 2, 4]", with: "rotations=[1, 2]")
            .replacingOccurrences(of: "%3 = rescale %2", with: "%3 = rescale %2\n%20 = add %3, %2")
        try text.write(toFile: source, atomically: true, encoding: .utf8)
        let result = try CLI.run(["assemble", source, "-o", directory.appendingPathComponent("bad.tsp").path])
        #expect(result.status == 1)
        #expect(result.stderr.contains("missingKey") || result.stderr.lowercased().contains("key"))
        #expect(result.stderr.lowercased().contains("level"))
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("bad.tsp").path))
    }
}
