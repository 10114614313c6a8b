/// One problem found by the verifier. The verifier collects all of them so a user sees every
/// problem at once.
public struct Diagnostic: Sendable, Hashable, CustomStringConvertible {
    public enum Severity: String, Sendable, Hashable {
        case error
        case warning
    }

    /// What kind of problem (stable, for tests and tools to match on).
    public enum Code: String, Sendable, Hashable {
        case parameters
        case keyRequirements
        case binding
        case constant
        case operandCount
        case operandKind
        case resultCount
        case immediate
        case useBeforeDefinition
        case undefinedValue
        case redefinition
        case levelMismatch
        case scaleMismatch
        case slotMismatch
        case levelOutOfRange
        case scaleOutOfRange
        case degree
        case missingKey
        case typeMismatch
        case output
    }

    public var severity: Severity
    public var code: Code
    /// Index into `Program.instructions`, or nil for a program-level problem.
    public var instruction: Int?
    public var message: String

    public init(_ severity: Severity = .error, _ code: Code, instruction: Int? = nil, _ message: String) {
        self.severity = severity
        self.code = code
        self.instruction = instruction
        self.message = message
    }

    public var description: String {
        let place = instruction.map { "instruction \($0): " } ?? ""
        return "\(severity.rawValue): \(place)\(message)"
    }
}

/// Errors of the CipherIR text format and the verifier.
public enum CipherIRError: Error, Equatable, CustomStringConvertible {
    /// The text could not be parsed; `line` and `column` are 1-based.
    case parse(line: Int, column: Int, message: String)
    /// The verifier found errors (warnings are included for context).
    case verificationFailed([Diagnostic])

    public var description: String {
        switch self {
        case .parse(let line, let column, let message):
            return "\(line):\(column): \(message)"
        case .verificationFailed(let diagnostics):
            let errors = diagnostics.filter { $0.severity == .error }.count
            return "the program has \(errors) error(s):\n" + diagnostics.map { "  " + $0.description }.joined(separator: "\n")
        }
    }
}
