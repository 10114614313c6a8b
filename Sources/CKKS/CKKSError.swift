/// Every recoverable failure of the CKKS module. Each description names the problem and the fix.
public enum CKKSError: Error, Equatable, CustomStringConvertible {
    case invalidParameter(String)
    /// log2(QP) exceeds the HE-standard bound for this ring degree and security level.
    case insecureParameters(logN: Int, logQP: Double, bound: Int, securityLevel: String)
    case levelMismatch(String)
    case scaleMismatch(lhs: Double, rhs: Double)
    case levelTooLow(operation: String, level: Int)
    case missingKey(String)
    case invalidInput(String)
    case ciphertextDegree(expected: Int, actual: Int)
    // serialization
    case badMagic
    case unsupportedVersion(Int)
    case wrongObjectKind(expected: String, actual: String)
    case checksumMismatch
    case truncatedData(String)
    case parameterMismatch

    public var description: String {
        switch self {
        case let .invalidParameter(m): return "invalid CKKS parameters: \(m)"
        case let .insecureParameters(logN, logQP, bound, level):
            return "log2(QP) = \(String(format: "%.1f", logQP)) exceeds the HE-standard bound \(bound) for N = 2^\(logN) at \(level) security; use fewer or smaller primes, a larger N, or an explicitly insecure preset for testing"
        case let .levelMismatch(m): return "level mismatch: \(m)"
        case let .scaleMismatch(lhs, rhs):
            return "scale mismatch: log2 scales \(lhs.log2Description) vs \(rhs.log2Description); bring them together with Evaluator.matchScales or multiply/rescale first"
        case let .levelTooLow(op, level): return "\(op) needs a higher level than \(level); bootstrap or use parameters with more primes"
        case let .missingKey(m): return "missing evaluation key: \(m); generate it with KeyGenerator"
        case let .invalidInput(m): return "invalid input: \(m)"
        case let .ciphertextDegree(e, a): return "expected a ciphertext of degree \(e), got degree \(a); relinearize first"
        case .badMagic: return "not a Tessera CKKS object (bad magic bytes)"
        case let .unsupportedVersion(v): return "unsupported serialization version \(v); re-export with this version of Tessera"
        case let .wrongObjectKind(e, a): return "expected a serialized \(e), found a \(a)"
        case .checksumMismatch: return "checksum mismatch: the data is corrupted"
        case let .truncatedData(m): return "truncated data while reading \(m)"
        case .parameterMismatch: return "the object was made under other CKKS parameters; load it with the parameters it was created with"
        }
    }
}

extension Double {
    var log2Description: String { String(format: "%.3f", Foundation.log2(self)) }
}

import Foundation
