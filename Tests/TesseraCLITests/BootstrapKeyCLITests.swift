import Foundation
import Testing

/// The client/server commands on a plan that bootstraps: keygen writes the bootstrapping keys into the evaluation-key
/// file, `run --eval-keys` bootstraps with them, and the answer is `tessera infer`'s.
@Suite struct BootstrapKeyCLITests {
    /// y = (x²)² with a bootstrap between the squares, on the insecure N = 2^11 bootstrappable ring (3 application
    /// levels above the 14 bootstrapping spends).
    static let plan = """
        cipher_ir version=1

        params {
          logN=11
          qBits=[60, 40, 40, 40, 40, 40, 60, 60, 60, 60, 60, 60, 60, 60, 56, 56, 56]
          pBits=[60, 60, 60]
          dnum=6
          secret=sparse_ternary(64)
          errorStdDev=3.2
          log2DefaultScale=40
          security="insecure"
          bootstrapping=(coeffsToSlots=3, evalMod=8, slotsToCoeffs=2, sineRange=16, cosineDegree=59, doubleAngles=2, messageRatioLog2=10.0, outputLevel=3)
        }

        keys {
          relinearization=true
          conjugation=false
          bootstrapping=true
          rotations=[]
        }

        input "x" shape=[8] ciphertexts=1 slots=8 level=3 scale=2^40 layout=contiguous
        output "y" shape=[8] ciphertexts=1 slots=8 layout=contiguous

        %0 = input "x"[0] : ct<slots=8, level=3, scale=2^40>
        %1 = mul %0, %0 : ct<slots=8, level=3, scale=2^80>
        %2 = relinearize %1 : ct<slots=8, level=3, scale=2^80>
        %3 = rescale %2 : ct<slots=8, level=2, scale=2^40>
        %4 = bootstrap %3 level=3 : ct<slots=8, level=3, scale=2^40>
        %5 = mul %4, %4 : ct<slots=8, level=3, scale=2^80>
        %6 = relinearize %5 : ct<slots=8, level=3, scale=2^80>
        %7 = rescale %6 : ct<slots=8, level=2, scale=2^40>
        output %7 -> "y"[0]

        """

    @Test func keygenEncryptRunDecryptThroughABootstrap() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        try Self.plan.write(toFile: path("boot.tcir"), atomically: true, encoding: .utf8)
        let x = (0..<8).map { -0.9 + 1.8 * Double($0) / 7 }
        let expected = x.map { pow($0, 4) }
        try RuntimeCLI.writeNPY(x, shape: [8], to: path("x.npy"))

        try RuntimeCLI.ok(["assemble", path("boot.tcir"), "-o", path("boot.tsp")])
        let keygen = try RuntimeCLI.ok(["keygen", path("boot.tsp"), "--secret-key", path("sk.tsk"), "--eval-keys", path("ek.tek"), "--seed", "5"])
        #expect(keygen.stdout.contains("bootstrapping") && keygen.stdout.contains("Galois keys"), "\(keygen.stdout)")
        try RuntimeCLI.ok(["encrypt", path("boot.tsp"), "--key", path("sk.tsk"), "--input", path("x.npy"), "-o", path("in.tct"), "--seed", "6"])
        try RuntimeCLI.ok(["run", path("boot.tsp"), "--eval-keys", path("ek.tek"), "--input", path("in.tct"), "-o", path("out.tct")])
        try RuntimeCLI.ok(["decrypt", path("boot.tsp"), "--secret-key", path("sk.tsk"), "--input", path("out.tct"), "-o", path("y.npy")])
        let y = try RuntimeCLI.readNPY(path("y.npy"))
        #expect(y.shape == [8])
        let error = zip(y.values, expected).map { abs($0 - $1) }.max() ?? .infinity
        #expect(error < 1e-3, "decrypted \(y.values), expected \(expected)")

        // `tessera infer` makes every key in the process: the same answer.
        try RuntimeCLI.ok(["infer", path("boot.tsp"), "--input", path("x.npy"), "-o", path("y-infer.npy"), "--seed", "5", "--quiet"])
        let inferred = try readFloat32NPY(path("y-infer.npy")).values.map(Double.init)
        #expect(zip(y.values, inferred).allSatisfy { abs($0 - $1) < 1e-3 }, "run \(y.values), infer \(inferred)")

        // A flipped bit in the bootstrapping keys: the run is refused, naming the file.
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path("ek.tek"))))
        bytes[bytes.count - 500] ^= 1
        try Data(bytes).write(to: URL(fileURLWithPath: path("damaged.tek")))
        try RuntimeCLI.fails(["run", path("boot.tsp"), "--eval-keys", path("damaged.tek"), "--input", path("in.tct"), "-o", path("out2.tct")],
                             mentioning: ["damaged.tek", "checksum"])
    }
}

@Suite struct BenchBootstrapCLITests {
    /// `tessera bench bootstrap --json` on a small insecure ring: one JSON object with the keys, a warm-up
    /// bootstrap reported separately, and a precision that shows the bootstrap worked.
    @Test func jsonHasTheDocumentedKeysAndAWorkingBootstrap() throws {
        let result = try CLI.run(["bench", "bootstrap", "--insecure", "--logN", "11", "--reps", "1", "--warmup", "1", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        for key in ["bootstrap_ms", "first_bootstrap_ms", "precision_bits_mean", "precision_bits_min", "levels_left", "key_mb", "keygen_ms"] {
            #expect(object[key] is NSNumber, "missing \(key)")
        }
        #expect((object["warmup"] as? NSNumber)?.intValue == 1)
        #expect(((object["precision_bits_mean"] as? NSNumber)?.doubleValue ?? 0) > 12)
        #expect(((object["levels_left"] as? NSNumber)?.intValue ?? 0) >= 1)
    }

    @Test func negativeWarmupIsRefused() throws {
        let result = try CLI.run(["bench", "bootstrap", "--insecure", "--logN", "11", "--warmup", "-1"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("--warmup"))
    }
}
