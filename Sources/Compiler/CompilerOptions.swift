import CipherIR
import TensorIR

/// How a tensor is spread over ciphertext slots.
public enum PackingLayout: String, Sendable, CaseIterable {
    /// One image's tensor across the slots of as many ciphertexts as needed (linear layers as diagonal transforms).
    case spatial
    /// Slot i of every ciphertext belongs to image i; a tensor of E elements per image is E ciphertexts.
    case batch
}

/// How nonlinear layers run.
public enum ActivationMode: String, Sendable, CaseIterable {
    /// Polynomial approximations evaluated on ciphertexts.
    case poly
    /// Client-aided: the key holder decrypts, applies the function, re-encrypts (`refresh`); resets levels.
    case client
}

/// How the leveling pass places `bootstrap` instructions (with parameters laid out for bootstrapping).
public enum BootstrapPlacement: String, Sendable, CaseIterable {
    /// A dynamic program over (cut point, level) states picks the fewest bootstraps, as late as possible, among the
    /// activations' cut points (their inputs, the values a composite narrows to between stages, their outputs), with
    /// residual branches tracked together (`BootstrapPlanner`); falls back to `greedy` if its level model finds no
    /// placement.
    case optimized
    /// At each cut point in program order, bootstrap when the levels left cannot reach the next one.
    case greedy
    /// Bootstrap an operand whenever it has no level left for a product.
    case naive
    /// Never bootstrap: a program too deep for the chain is refused.
    case none
}

/// Which security the parameter selection targets.
public enum SecurityChoice: Sendable, Equatable {
    /// 128-bit classical security (HE standard table).
    case classical128
    /// A tiny ring for tests: N = 2^logN, no security at all.
    case insecure(logN: Int)

    /// The insecure presets `--insecure-preset NAME` accepts.
    public static let insecurePresetNames: [String: Int] = [
        "insecure-n10": 10, "insecure-n11": 11, "insecure-n12": 12, "insecure-n13": 13,
    ]

    /// The preset named `name`, or an error listing the names.
    public static func insecurePreset(named name: String) throws(CompilerError) -> SecurityChoice {
        guard let logN = insecurePresetNames[name.lowercased()] else {
            throw .unknownPreset(name, known: insecurePresetNames.keys.sorted())
        }
        return .insecure(logN: logN)
    }
}

/// Everything `tessera compile` can set.
public struct CompilerOptions: Sendable {
    public var layout: PackingLayout = .batch
    public var activations: ActivationMode = .poly
    /// Sign-approximation precision for ReLU as −log2 of the error (α of Lee et al.); nil: the PolyApprox default.
    public var reluAlpha: Int? = nil
    /// Degree of a single minimax ReLU approximation; nil: the composite sign approximation.
    public var reluDegree: Int? = nil
    /// Activation input ranges measured by calibration (node name of the activation → max |input|), with the margin.
    public var activationBounds: [String: Double] = [:]
    /// Bound used for activations without calibration data (a warning is reported).
    public var defaultActivationBound: Double = 16
    public var security: SecurityChoice = .classical128
    /// log2 of the scale Δ and the bit size of the scale primes.
    public var scaleBits: Int = 40
    /// Bit size of q_0 (the last prime; headroom for the output's magnitude: 2^(q0Bits − scaleBits)).
    public var firstPrimeBits: Int = 60
    /// Where bootstraps go when the program is deeper than a modulus chain without them.
    public var bootstrapPlacement: BootstrapPlacement = .optimized
    /// Application levels (primes below bootstrapping's) of the insecure bootstrappable test rings.
    public var insecureBootstrapLevels = 4
    /// Insecure rings chain up to this many levels; deeper programs get a bootstrappable test ring.
    public var maximumInsecureDepth = 24
    /// DRAM budget in bytes for the memory planner (nil: no budget; the plan still records frees and the peak).
    public var dramBudget: Int? = nil

    public init() {}
}

/// A recoverable note the compiler wants the user to see.
public struct CompilerDiagnostic: Sendable, Equatable, CustomStringConvertible {
    public enum Severity: String, Sendable { case warning, note }
    public var severity: Severity
    public var message: String
    public init(_ severity: Severity, _ message: String) {
        self.severity = severity
        self.message = message
    }
    public var description: String { "\(severity.rawValue): \(message)" }
}

/// Errors of the compiler: each names the thing and the fix.
public enum CompilerError: Error, Equatable, CustomStringConvertible {
    case unsupportedOperation(node: String, operation: String, layout: String, hint: String)
    case missingType(node: String)
    case batchDimension(node: String, detail: String)
    case tooManyImages(batch: Int, slots: Int)
    case tooDeep(depth: Int, maxDepth: Int, hint: String)
    case tooManySlots(slots: Int, logN: Int)
    case unknownPreset(String, known: [String])
    case levelingFailed(instruction: Int, detail: String)
    case verificationFailed(pass: String, detail: String)
    case programTooLarge(instructions: Int, limit: Int, hint: String)
    case calibration(String)
    case approximation(node: String, detail: String)
    case memoryBudget(budget: Int, needed: Int, instruction: Int)

    public var description: String {
        switch self {
        case .unsupportedOperation(let node, let operation, let layout, let hint):
            return "node '\(node)': operation \(operation) is not supported in the \(layout) layout; \(hint)"
        case .missingType(let node):
            return "node '\(node)' has no inferred type; run the tensor pipeline (shape inference) before compiling"
        case .batchDimension(let node, let detail):
            return "node '\(node)': \(detail); the batch layout keeps dimension 0 as the image index (slot), so an op may not mix images"
        case .tooManyImages(let batch, let slots):
            return "batch of \(batch) images does not fit \(slots) slots; use a smaller batch (at most N/2 = 32768 images)"
        case .tooDeep(let depth, let maxDepth, let hint):
            return "the model needs multiplicative depth \(depth) but the largest secure ring (N = 2^16) allows at most \(maxDepth) without bootstrapping; \(hint)"
        case .tooManySlots(let slots, let logN):
            return "the packing needs \(slots) slots but N = 2^\(logN) gives \(1 << (logN - 1)); choose a larger preset or a smaller batch"
        case .unknownPreset(let name, let known):
            return "unknown insecure preset '\(name)'; use one of \(known.joined(separator: ", "))"
        case .levelingFailed(let instruction, let detail):
            return "leveling failed at instruction \(instruction): \(detail)"
        case .verificationFailed(let pass, let detail):
            return "the CipherIR program does not verify after pass '\(pass)': \(detail)"
        case .programTooLarge(let instructions, let limit, let hint):
            return "the program would need about \(instructions) instructions (limit \(limit)); \(hint)"
        case .calibration(let detail):
            return "calibration: \(detail)"
        case .approximation(let node, let detail):
            return "node '\(node)': \(detail)"
        case .memoryBudget(let budget, let needed, let instruction):
            return MemoryPlanError.belowMinimum(budget: budget, minimum: needed, instruction: instruction).description
        }
    }
}
