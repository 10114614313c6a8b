import CipherIR

/// The CipherIR pipeline, readable top to bottom. It runs on the unleveled program the lowering emits.
public enum CipherPipeline {
    /// The passes in the order they run. Why this order:
    /// - dead values first, so nothing unused costs a level or a key;
    /// - depth is measured on the unleveled program with a probe chain, then parameters are chosen for it;
    /// - leveling needs the chosen primes (it encodes plaintexts at the prime they are dropped by);
    /// - plaintexts used far apart are re-encoded just in time rather than held, and those read once are encoded
    ///   inside the instruction that reads them (`mulEncodeSum`) under a DRAM budget;
    /// - keys last, from the instructions that remain; then every fact goes into the type table;
    /// - memory planning needs every value's size (its level) and the final instruction order.
    public static let standard: [any CipherPass] = [
        EliminateDeadValues(),
        MeasureDepth(),
        SelectParameters(),
        InsertRescalesAndLevels(),
        RematerializeConstants(),
        ChooseConstantEncoding(),
        SelectKeys(),
        AnnotateTypes(),
        PlanMemory(),
    ]

    /// Runs `passes` in order. In debug builds the verifier checks the program after every pass. `printAfterEach`
    /// receives each pass's name and the program after it.
    public static func run(_ program: inout Program, state: CompilationState, passes: [any CipherPass] = standard,
                           printAfterEach: ((String, Program) -> Void)? = nil) throws {
        for pass in passes {
            try pass.run(&program, state: state)
            #if DEBUG
            try verify(program, after: pass.name)
            #endif
            printAfterEach?(pass.name, program)
        }
    }

    /// Throws when the verifier reports an error (all errors listed).
    public static func verify(_ program: Program, after pass: String) throws {
        let errors = program.verificationDiagnostics().filter { $0.severity == .error }
        guard !errors.isEmpty else { return }
        let shown = errors.prefix(8).map { "\($0)" }.joined(separator: "; ")
        throw CompilerError.verificationFailed(pass: pass, detail: errors.count > 8 ? "\(shown); … (\(errors.count) errors)" : shown)
    }
}
