import Foundation

/// A polynomial written in the Chebyshev basis of an interval: p(x) = Σ_k c_k · T_k(t), where
/// t = (2x − a − b)/(b − a) maps the interval [a, b] onto [−1, 1].
///
/// Evaluation uses Clenshaw's recurrence, which is stable for every degree used here (≤ 63 and more).
public struct ChebyshevSeries: Hashable, Sendable, Codable {
    /// c_0 … c_d, the coefficients of T_0 … T_d (T_0 = 1; no halving of c_0).
    public var coefficients: [Double]
    /// The interval [a, b] whose affine image is [−1, 1].
    public var interval: ClosedRange<Double>

    /// Wraps coefficients; the interval must be finite and non-degenerate (checked by the throwing factories, a
    /// precondition here).
    public init(coefficients: [Double], interval: ClosedRange<Double> = -1...1) {
        precondition(interval.lowerBound < interval.upperBound, "ChebyshevSeries needs a non-degenerate interval")
        self.coefficients = coefficients.isEmpty ? [0] : coefficients
        self.interval = interval
    }

    /// The index of the last nonzero coefficient (0 for a constant or zero series).
    public var degree: Int {
        var d = coefficients.count - 1
        while d > 0 && coefficients[d] == 0 { d -= 1 }
        return d
    }

    /// True when every even-index coefficient is zero, so p(−x) = −p(x) on a symmetric interval.
    public var isOdd: Bool {
        stride(from: 0, to: coefficients.count, by: 2).allSatisfy { coefficients[$0] == 0 }
    }

    /// Maps x ∈ [a, b] to t ∈ [−1, 1].
    @inlinable
    public func normalized(_ x: Double) -> Double {
        let a = interval.lowerBound, b = interval.upperBound
        return (2 * x - a - b) / (b - a)
    }

    /// p(x) by Clenshaw's recurrence. x may lie outside the interval (the polynomial is simply extended).
    @inlinable
    public func evaluate(_ x: Double) -> Double {
        ChebyshevSeries.clenshaw(coefficients, at: normalized(x))
    }

    /// Σ c_k T_k(t) for t in normalized coordinates.
    @inlinable
    public static func clenshaw(_ c: [Double], at t: Double) -> Double {
        c.withUnsafeBufferPointer { clenshaw($0, at: t) }
    }

    @inlinable
    static func clenshaw(_ c: UnsafeBufferPointer<Double>, at t: Double) -> Double {
        let n = c.count
        if n == 0 { return 0 }
        if n == 1 { return c[0] }
        var b1 = 0.0, b2 = 0.0
        let t2 = 2 * t
        var k = n - 1
        while k >= 1 {
            let b0 = c[k] + t2 * b1 - b2
            b2 = b1
            b1 = b0
            k -= 1
        }
        return c[0] + t * b1 - b2
    }

    /// Interpolates f at the d+1 Chebyshev points of the first kind of [a, b] (the near-best polynomial of degree
    /// d; for analytic f the error decays geometrically with d).
    /// - Parameters: degree 0...1024; the interval finite with lower < upper.
    public static func interpolating(
        _ f: (Double) -> Double, on interval: ClosedRange<Double>, degree: Int
    ) throws(PolyApproxError) -> ChebyshevSeries {
        try validate(interval)
        guard (0...1024).contains(degree) else { throw .invalidDegree(degree, supported: 0...1024) }
        let n = degree + 1
        let a = interval.lowerBound, b = interval.upperBound
        var values = [Double](repeating: 0, count: n)
        for j in 0..<n {
            let t = cos(Double.pi * (Double(j) + 0.5) / Double(n))
            let x = 0.5 * (a + b) + 0.5 * (b - a) * t
            let y = f(x)
            guard y.isFinite else { throw .nonFiniteFunctionValue(at: x) }
            values[j] = y
        }
        var coefficients = [Double](repeating: 0, count: n)
        for k in 0..<n {
            var sum = 0.0
            for j in 0..<n {
                sum += values[j] * cos(Double.pi * Double(k) * (Double(j) + 0.5) / Double(n))
            }
            coefficients[k] = (k == 0 ? 1.0 : 2.0) * sum / Double(n)
        }
        return ChebyshevSeries(coefficients: coefficients, interval: interval)
    }

    /// max |f(x) − p(x)| over `points` evenly spaced points of the interval plus the Chebyshev–Lobatto points
    /// (which cluster at the ends, where polynomial errors peak).
    public func maxError(against f: (Double) -> Double, points: Int = 4097) -> Double {
        ChebyshevSeries.denseGrid(interval, points: points).reduce(0) { Swift.max($0, abs(f($1) - evaluate($1))) }
    }

    /// c·p + constant, still in the same basis (scaling does not change the evaluation cost).
    public func scaled(by factor: Double, plus constant: Double = 0) -> ChebyshevSeries {
        var c = coefficients.map { $0 * factor }
        c[0] += constant
        return ChebyshevSeries(coefficients: c, interval: interval)
    }

    /// The coefficients of T_0 … T_d in the monomial basis of t (for inspection; ill-conditioned at high degree).
    public var monomialCoefficientsInNormalizedVariable: [Double] {
        let n = coefficients.count
        var result = [Double](repeating: 0, count: n)
        var previous = [Double](repeating: 0, count: n)  // T_{k-1}
        var current = [Double](repeating: 0, count: n)  // T_k
        previous[0] = 1
        if n > 0 { result[0] += coefficients[0] }
        if n > 1 { current[1] = 1; result[1] += coefficients[1] }
        if n > 2 {
            for k in 2..<n {
                var next = [Double](repeating: 0, count: n)
                for i in 0..<(n - 1) { next[i + 1] += 2 * current[i] }
                for i in 0..<n { next[i] -= previous[i] }
                for i in 0..<n { result[i] += coefficients[k] * next[i] }
                previous = current
                current = next
            }
        }
        return result
    }

    static func validate(_ interval: ClosedRange<Double>) throws(PolyApproxError) {
        let a = interval.lowerBound, b = interval.upperBound
        guard a.isFinite, b.isFinite, a < b else { throw .invalidInterval(lower: a, upper: b) }
    }

    /// Evenly spaced points plus Chebyshev–Lobatto points of an interval, sorted.
    static func denseGrid(_ interval: ClosedRange<Double>, points: Int) -> [Double] {
        let a = interval.lowerBound, b = interval.upperBound
        let m = Swift.max(points, 3)
        var grid = [Double]()
        grid.reserveCapacity(2 * m)
        for j in 0..<m {
            grid.append(a + (b - a) * Double(j) / Double(m - 1))
            let t = -cos(Double.pi * Double(j) / Double(m - 1))
            grid.append(Swift.min(b, Swift.max(a, 0.5 * (a + b) + 0.5 * (b - a) * t)))
        }
        grid.sort()
        return grid
    }
}
