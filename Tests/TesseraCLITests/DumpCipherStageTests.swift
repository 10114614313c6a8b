import Foundation
import Testing

/// `tessera dump --stage cipher`: a plan's CipherIR (the only stage a .tsp has), and a model compiled with the
/// options `tessera compile` takes, printed as the leveled plan.
@Suite struct DumpCipherStageTests {
    /// Compiles `fixture` with `options` into `directory/name.tsp` and returns the plan's path.
    static func compile(_ fixture: String, _ options: [String], into directory: URL, name: String) throws -> String {
        let plan = directory.appendingPathComponent(name + ".tsp").path
        try RuntimeCLI.ok(["compile", CLI.fixture(fixture), "-o", plan] + options)
        return plan
    }

    static let batchOptions = ["--layout", "batch", "--activations", "client", "--insecure-preset", "insecure-n12"]

    @Test func planPrintsItsCipherStage() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let plan = try Self.compile("gemm.onnx", Self.batchOptions, into: directory, name: "gemm")
        let explicit = try RuntimeCLI.ok(["dump", plan, "--stage", "cipher"]).stdout
        #expect(explicit.hasPrefix("cipher_ir version=1\n"))
        #expect(explicit.contains("  logN=12\n") && explicit.contains("refresh"))
        // cipher is the default stage of a plan
        #expect(try RuntimeCLI.ok(["dump", plan]).stdout == explicit)
        let json = try RuntimeCLI.ok(["dump", plan, "--stage", "cipher", "--format", "json"]).stdout
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        #expect((object?["instructions"] as? [Any])?.isEmpty == false)
        let dot = try RuntimeCLI.ok(["dump", plan, "--stage", "cipher", "--format", "dot"]).stdout
        #expect(dot.hasPrefix("digraph plan {") && dot.contains("refresh"))
    }

    @Test(arguments: ["tensor", "imported"])
    func planRefusesTensorStages(stage: String) throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let plan = try Self.compile("gemm.onnx", Self.batchOptions, into: directory, name: "gemm")
        try RuntimeCLI.fails(["dump", plan, "--stage", stage], mentioning: ["only has the cipher stage", "--stage cipher"])
    }

    /// `dump MODEL.onnx --stage cipher` prints exactly the plan `compile` writes with the same options, and the
    /// options reach the compiler (layout, activations, preset).
    @Test func modelCompiledWithCompileOptions() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = CLI.fixture("gemm.onnx")
        for options in [Self.batchOptions, ["--activations", "client", "--insecure-preset", "insecure-n11"]] {
            let plan = try Self.compile("gemm.onnx", options, into: directory, name: "gemm")
            let dumped = try RuntimeCLI.ok(["dump", model, "--stage", "cipher"] + options).stdout
            #expect(dumped == (try RuntimeCLI.ok(["dump", plan]).stdout), "options \(options)")
        }
        let batch = try RuntimeCLI.ok(["dump", model, "--stage", "cipher"] + Self.batchOptions).stdout
        let spatial = try RuntimeCLI.ok(["dump", model, "--stage", "cipher", "--activations", "client", "--insecure-preset", "insecure-n11"]).stdout
        #expect(batch.contains("  logN=12\n") && !batch.contains("rotate"))
        #expect(spatial.contains("  logN=11\n") && spatial.contains("rotate"))
        // --stage tensor on the model still prints the tensor IR.
        let tensor = try RuntimeCLI.ok(["dump", model, "--stage", "tensor"]).stdout
        #expect(tensor.hasPrefix("graph ") && tensor.contains("linear("))
        // Compiler errors surface as errors (an unknown preset).
        try RuntimeCLI.fails(["dump", model, "--stage", "cipher", "--insecure-preset", "insecure-n99"], mentioning: ["insecure-n10"])
    }
}
