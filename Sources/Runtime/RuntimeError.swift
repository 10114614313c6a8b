import CipherIR

/// Why a run, a key file or a tensor file was refused. Every message names the thing and the fix.
public enum RuntimeError: Error, Equatable, CustomStringConvertible {
    /// The plan has no CKKS parameters yet (the compiler's parameter selection did not run).
    case missingParameters
    /// The plan's parameters cannot be turned into a CKKS context.
    case invalidParameters(String)
    /// The plan names a security preset this build does not know.
    case unknownSecurityPreset(String)
    /// An input tensor's shape differs from the plan's input binding.
    case shapeMismatch(binding: String, expected: [Int], found: [Int])
    /// An input or output binding name that the plan does not have, or a missing input.
    case missingTensor(String)
    /// An instruction needs a value the interpreter does not have (a corrupt or unverified plan).
    case missingValue(instruction: Int, value: UInt32)
    /// `refresh` with a function name the key holder does not implement.
    case unknownRefreshFunction(String)
    /// `refresh` without a key holder (pass --refresh-with SECRET_KEY, or a handler in the API).
    case refreshNeedsKeyHolder(instruction: Int)
    /// An op this backend cannot execute (e.g. bootstrapping before the CKKS target implements it).
    case unsupported(String)
    /// A backend operation failed (CKKS error, store error) at an instruction.
    case instructionFailed(instruction: Int, opcode: String, reason: String)
    /// A file written by Tessera was refused (see `reason`).
    case file(path: String, reason: FileProblem)
    /// The operating system refused to read or write a file.
    case io(path: String, operation: String, reason: String)
    /// A cost table (JSON) could not be read.
    case invalidCostTable(String)
    /// A bad command-line or API value.
    case invalidArgument(String)

    /// What is wrong with a Tessera key or tensor file.
    public enum FileProblem: Equatable, Sendable, CustomStringConvertible {
        case notATesseraFile
        case truncated(needed: Int, available: Int)
        case unsupportedVersion(found: UInt32, supported: UInt32)
        case checksumMismatch
        case wrongKind(expected: String, found: String)
        /// Made for another plan (tensor files) or another parameter/key set (key files).
        case wrongPlan(expected: UInt64, found: UInt64)
        case malformed(String)
        /// The embedded CKKS object was refused.
        case ckks(String)

        public var description: String {
            switch self {
            case .notATesseraFile: return "it is not a Tessera key or tensor file (wrong magic)"
            case .truncated(let needed, let available): return "it is truncated (needs \(needed) bytes, has \(available)); copy it again"
            case .unsupportedVersion(let found, let supported):
                return "it has format version \(found) but this build reads version \(supported); regenerate it with this build"
            case .checksumMismatch: return "its checksum does not match: the file is corrupt; copy or regenerate it"
            case .wrongKind(let expected, let found): return "it holds \(found), expected \(expected); pass the right file"
            case .wrongPlan(let expected, let found):
                return "it was made for another plan or key set (fingerprint \(hex(found)), this plan needs \(hex(expected))); regenerate it from this plan"
            case .malformed(let detail): return "it is malformed: \(detail)"
            case .ckks(let detail): return "its CKKS content was refused: \(detail)"
            }
        }
    }

    public var description: String {
        switch self {
        case .missingParameters:
            return "the plan has no CKKS parameters; compile it with parameter selection or add a params { } block"
        case .invalidParameters(let detail): return "the plan's CKKS parameters are not usable: \(detail)"
        case .unknownSecurityPreset(let name):
            return "unknown security preset \"\(name)\"; use HE-128-classic, HE-192-classic, HE-256-classic or insecure (tests only)"
        case .shapeMismatch(let binding, let expected, let found):
            return "input '\(binding)' has shape \(found) but the plan expects \(expected); reshape the array or recompile the plan"
        case .missingTensor(let detail): return detail
        case .missingValue(let instruction, let value):
            return "instruction \(instruction) reads %\(value), which is not available; the plan is corrupt (verify it with `tessera dump`)"
        case .unknownRefreshFunction(let name):
            return "refresh function \"\(name)\" is unknown; supported: \(RefreshFunction.allCases.map(\.rawValue).joined(separator: ", "))"
        case .refreshNeedsKeyHolder(let instruction):
            return "instruction \(instruction) is a client-aided refresh and needs the key holder; pass --refresh-with SECRET_KEY"
        case .unsupported(let detail): return detail
        case .instructionFailed(let instruction, let opcode, let reason):
            return "instruction \(instruction) (\(opcode)) failed: \(reason)"
        case .file(let path, let reason): return "'\(path)' was refused: \(reason)"
        case .io(let path, let operation, let reason): return "cannot \(operation) '\(path)': \(reason)"
        case .invalidCostTable(let detail): return "invalid cost table: \(detail); pass the output of `tessera bench ckks --json`"
        case .invalidArgument(let detail): return detail
        }
    }
}

func hex(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: max(0, 16 - digits.count)) + digits
}
