import ArgumentParser

@main
struct Tessera: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tessera",
        abstract: "Compile ONNX networks to CKKS homomorphic-encryption programs and run them.",
        subcommands: [
            Inspect.self, Reference.self, Dump.self, Assemble.self, Keygen.self, Encrypt.self, Run.self, Decrypt.self,
            Estimate.self, Compile.self, Infer.self, Bench.self,
        ]
    )
}
