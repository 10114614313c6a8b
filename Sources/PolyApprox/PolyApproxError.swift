/// Everything that can go wrong when building an approximation. Each case names the offending input and the fix.
public enum PolyApproxError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The interval is empty, reversed or not finite.
    case invalidInterval(lower: Double, upper: Double)
    /// A degree outside the supported range.
    case invalidDegree(Int, supported: ClosedRange<Int>)
    /// An approximation domain made of no interval, overlapping intervals, or intervals outside the basis interval.
    case invalidDomain(String)
    /// An odd approximation was asked for on a domain that is not symmetric about 0.
    case domainNotSymmetric
    /// The Remez linear system became singular (too few distinct points for the degree).
    case singularSystem(degree: Int)
    /// The function returned NaN or infinity at a sample point.
    case nonFiniteFunctionValue(at: Double)
    /// A composite sign stage did not map its domain into the next one (its error reached 1): the degree is too low.
    case compositeStageFailed(stage: Int, degree: Int, error: Double)
    /// No degree sequence reached the asked precision within the search limits.
    case precisionUnreachable(String)
    /// An invalid precision or parameter for an activation.
    case invalidParameter(String)

    public var description: String {
        switch self {
        case let .invalidInterval(lower, upper):
            return "invalid interval [\(lower), \(upper)]: the bounds must be finite with lower < upper"
        case let .invalidDegree(degree, supported):
            return "degree \(degree) is not supported: choose a degree in \(supported.lowerBound)...\(supported.upperBound)"
        case let .invalidDomain(message):
            return "invalid approximation domain: \(message)"
        case .domainNotSymmetric:
            return "an odd approximation needs a domain symmetric about 0 (e.g. [-1,-e] ∪ [e,1]); use parity .any instead"
        case let .singularSystem(degree):
            return "the Remez system for degree \(degree) is singular: the domain has too few distinct points; lower the degree"
        case let .nonFiniteFunctionValue(x):
            return "the function to approximate is not finite at x = \(x); restrict the interval"
        case let .compositeStageFailed(stage, degree, error):
            return "composite sign stage \(stage) (degree \(degree)) has error \(error) ≥ 1 and does not separate the signs; raise its degree"
        case let .precisionUnreachable(message):
            return "precision unreachable: \(message)"
        case let .invalidParameter(message):
            return "invalid parameter: \(message)"
        }
    }
}
