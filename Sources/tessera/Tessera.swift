import ArgumentParser
#if canImport(Glibc)
    import Glibc
#endif

#if canImport(Glibc)
    /// glibc's `int mallopt(int param, int value)` (malloc.h is not part of the Glibc module).
    @_silgen_name("mallopt")
    private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif

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

    static func main() {
        #if canImport(Glibc)
            // Compiling and running plans allocate and free many large buffers (diagonal patterns, polynomials). By
            // default glibc maps each block over 128 KiB separately and returns it to the kernel on free, so the
            // next one is page-faulted and zeroed again (a sixth of ResNet-50's compile time); keep them in the heap.
            _ = glibcMallopt(-3 /* M_MMAP_THRESHOLD */, 256 << 20)
            _ = glibcMallopt(-1 /* M_TRIM_THRESHOLD */, 1 << 30)
        #endif
        var command: ParsableCommand
        do {
            command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
}
