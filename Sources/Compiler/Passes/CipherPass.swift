import CipherIR

/// What passes share besides the program: the options, facts measured by earlier passes, and the diagnostics and
/// report lines for the user.
public final class CompilationState {
    public let options: CompilerOptions
    /// Multiplicative depth (rescales along the longest path from a fresh or refreshed value), set by `MeasureDepth`.
    public var depth: Int?
    /// The parameters `SelectParameters` chose (installed into the program by the leveling pass).
    public var parameters: PlanParameters?
    public var diagnostics: [CompilerDiagnostic] = []
    /// Lines for `tessera compile --report`.
    public var report: [String] = []
    /// Depth of the polynomial activation that reads each (unleveled) value: where bootstrap placement looks ahead.
    public var activationDepths: [ValueID: Int] = [:]
    /// Bootstraps the leveling pass placed.
    public var bootstrapCount = 0

    public init(options: CompilerOptions) {
        self.options = options
    }

    public func warn(_ message: String) { diagnostics.append(CompilerDiagnostic(.warning, message)) }
    public func note(_ message: String) { diagnostics.append(CompilerDiagnostic(.note, message)) }
}

/// One transformation or analysis over a CipherIR program. Passes query op traits (`consumesLevel`, `scaleRule`, …)
/// rather than op names wherever the rule is generic.
public protocol CipherPass: Sendable {
    /// Stable name for `--print-after-all`, `--dump-ir` and error messages.
    var name: String { get }
    func run(_ program: inout Program, state: CompilationState) throws
}
