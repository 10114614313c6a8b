import Foundation
import Testing

/// Crash consistency of checkpoints: a run killed with SIGKILL (after an instruction, or in the middle of writing a
/// checkpoint) and resumed with `--resume` writes an output ciphertext file byte-identical to an uninterrupted run;
/// a pool with no checkpoint, or resumed with other evaluation keys, is refused.
@Suite struct ResumeCLITests {
    @Test(arguments: ["polynomial", "matrix_vector"])
    func killedRunsResumeToIdenticalBytes(program: String) throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        try RuntimeCLI.ok(["assemble", RuntimeCLI.program(program), "-o", path("p.tsp")])
        try RuntimeCLI.ok(["keygen", path("p.tsp"), "--secret-key", path("sk.tsk"), "--eval-keys", path("ek.tek"), "--seed", "5"])
        let info = try RuntimeCLI.ok(["dump", path("p.tsp")]).stdout
        let line = try #require(info.split(separator: "\n").first { $0.hasPrefix("input ") })
        let start = try #require(line.range(of: "shape=["))
        let end = try #require(line[start.upperBound...].firstIndex(of: "]"))
        let shape = line[start.upperBound..<end].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        try RuntimeCLI.writeNPY(RuntimeCLI.input(shape.reduce(1, *)), shape: shape, to: path("x.npy"))
        try RuntimeCLI.ok(["encrypt", path("p.tsp"), "--key", path("sk.tsk"), "--input", path("x.npy"), "-o", path("in.tct"), "--seed", "6"])
        let run = ["run", path("p.tsp"), "--eval-keys", path("ek.tek"), "--input", path("in.tct")]
        try RuntimeCLI.ok(run + ["-o", path("reference.tct")])
        let reference = try Data(contentsOf: URL(fileURLWithPath: path("reference.tct")))

        for (index, crash) in [("TESSERA_CRASH_AFTER_INSTRUCTION", "4"), ("TESSERA_CRASH_AFTER_INSTRUCTION", "7"),
                               ("TESSERA_CRASH_IN_CHECKPOINT", "1"), ("TESSERA_CRASH_IN_CHECKPOINT", "3")].enumerated() {
            let pool = path("pool\(index).pmem"), output = path("out\(index).tct")
            let killed = try CLI.run(run + ["-o", output, "--pmem", pool, "--checkpoint-every", "2"], environment: [crash.0: crash.1])
            #expect(killed.status == -SIGKILL, "\(crash) ended with \(killed.status): \(killed.stderr)")
            #expect(!FileManager.default.fileExists(atPath: output))
            if crash == ("TESSERA_CRASH_IN_CHECKPOINT", "1") {
                // Killed while writing its first checkpoint: nothing to resume, and it says so.
                try RuntimeCLI.fails(run + ["-o", output, "--pmem", pool, "--resume"], mentioning: ["no checkpoint"])
                continue
            }
            let resumed = try RuntimeCLI.ok(run + ["-o", output, "--pmem", pool, "--resume"])
            #expect(resumed.stdout.contains("resuming at instruction"))
            #expect(try Data(contentsOf: URL(fileURLWithPath: output)) == reference, "\(crash): resumed output differs")
        }

        // Other evaluation keys are refused.
        let pool = path("pool-keys.pmem")
        _ = try CLI.run(run + ["-o", path("unused.tct"), "--pmem", pool, "--checkpoint-every", "2"],
                        environment: ["TESSERA_CRASH_AFTER_INSTRUCTION": "5"])
        try RuntimeCLI.ok(["keygen", path("p.tsp"), "--secret-key", path("sk2.tsk"), "--eval-keys", path("ek2.tek"), "--seed", "9"])
        try RuntimeCLI.fails(["run", path("p.tsp"), "--eval-keys", path("ek2.tek"), "--input", path("in.tct"), "-o", path("x.tct"),
                              "--pmem", pool, "--resume"], mentioning: ["other evaluation keys"])
        try RuntimeCLI.fails(run + ["-o", path("x.tct"), "--checkpoint-every", "2"], mentioning: ["--pmem"])
    }

    /// A client-aided plan (its refreshes re-encrypt with fresh randomness): the resumed run decrypts to the same
    /// values as an uninterrupted one, within the encryption noise.
    @Test func clientAidedRunResumesWithinNoise() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        try RuntimeCLI.ok(["assemble", RuntimeCLI.program("relu_refresh"), "-o", path("p.tsp")])
        try RuntimeCLI.ok(["keygen", path("p.tsp"), "--secret-key", path("sk.tsk"), "--eval-keys", path("ek.tek"), "--seed", "5"])
        try RuntimeCLI.writeNPY(RuntimeCLI.input(16), shape: [16], to: path("x.npy"))
        try RuntimeCLI.ok(["encrypt", path("p.tsp"), "--key", path("sk.tsk"), "--input", path("x.npy"), "-o", path("in.tct")])
        let run = ["run", path("p.tsp"), "--eval-keys", path("ek.tek"), "--input", path("in.tct"), "--refresh-with", path("sk.tsk")]
        try RuntimeCLI.ok(run + ["-o", path("reference.tct")])
        let killed = try CLI.run(run + ["-o", path("out.tct"), "--pmem", path("pool.pmem"), "--checkpoint-every", "2"],
                                 environment: ["TESSERA_CRASH_AFTER_INSTRUCTION": "6"])
        #expect(killed.status == -SIGKILL)
        try RuntimeCLI.ok(run + ["-o", path("out.tct"), "--pmem", path("pool.pmem"), "--resume"])
        for name in ["reference", "out"] {
            try RuntimeCLI.ok(["decrypt", path("p.tsp"), "--secret-key", path("sk.tsk"), "--input", path(name + ".tct"), "-o", path(name + ".npy")])
        }
        let expected = try RuntimeCLI.readNPY(path("reference.npy")).values, resumed = try RuntimeCLI.readNPY(path("out.npy")).values
        #expect(expected.count == 16 && resumed.count == 16)
        let error = zip(expected, resumed).map { abs($0 - $1) }.max() ?? 1
        #expect(error < 1e-6, "resumed output differs by \(error)")
        // And both are relu(2x) − 0.25.
        let exact = RuntimeCLI.input(16).map { max(2 * $0, 0) - 0.25 }
        #expect(zip(exact, resumed).allSatisfy { abs($0 - $1) < 1e-5 })
    }
}
