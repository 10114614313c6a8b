import Foundation

/// Which Chebyshev terms an approximation may use.
public enum Parity: String, Hashable, Sendable, Codable {
    /// T_0 … T_d.
    case any
    /// Only T_1, T_3, …: the result is an odd function (requires a domain symmetric about 0).
    case odd
}

/// The result of the Remez exchange algorithm: the polynomial of best uniform approximation (minimax) of a function
/// on a union of intervals, in the Chebyshev basis of the domain's hull.
public struct MinimaxApproximation: Sendable {
    /// The polynomial p, in the Chebyshev basis of the hull of `domain` ([−h, h] for odd approximations).
    public let series: ChebyshevSeries
    /// The approximation domain, sorted, as given.
    public let domain: [ClosedRange<Double>]
    public let parity: Parity
    /// |E| of the last exchange: f − p = ±E alternately on the reference points (a lower bound of the minimax
    /// error, by de la Vallée Poussin).
    public let levelledError: Double
    /// max |f − p| over a dense grid of the domain, refined at each local extremum (an upper estimate of the
    /// minimax error; equal to `levelledError` up to the tolerance when `converged`).
    public let maxError: Double
    /// The final reference: the points where f − p alternates in sign with magnitude ≈ `maxError`
    /// (degree+2 points for parity `.any`, (degree+1)/2 + 1 positive points for `.odd`).
    public let referencePoints: [Double]
    /// f − p at `referencePoints` (signed).
    public let referenceErrors: [Double]
    public let iterations: Int
    /// True when max |f − p| and the smallest reference error agree within the tolerance.
    public let converged: Bool

    @inlinable
    public func evaluate(_ x: Double) -> Double { series.evaluate(x) }
}

/// The Remez exchange algorithm for minimax polynomial approximation.
public enum Remez {
    /// The supported degrees.
    public static let supportedDegrees = 0...128

    /// The minimax polynomial of `degree` for `f` on `interval`.
    public static func minimax(
        _ f: (Double) -> Double, on interval: ClosedRange<Double>, degree: Int, parity: Parity = .any,
        tolerance: Double = 1e-9, maxIterations: Int = 80
    ) throws(PolyApproxError) -> MinimaxApproximation {
        try minimax(f, on: [interval], degree: degree, parity: parity, tolerance: tolerance, maxIterations: maxIterations)
    }

    /// The minimax polynomial of `degree` for `f` on a union of disjoint closed intervals (e.g. the sign function
    /// on [−1, −ε] ∪ [ε, 1]).
    ///
    /// Each iteration solves Σ c_k φ_k(x_i) + (−1)^i E = f(x_i) on the reference x_0 < … < x_{n}, then moves the
    /// reference to the alternating local extrema of the error (multi-point exchange over a dense grid, each
    /// extremum refined by golden-section search). The basis φ_k is T_k of the hull mapped to [−1, 1] — or only
    /// odd T_k for `.odd`, where the problem is solved on the positive half of the (symmetric) domain.
    /// - Parameters:
    ///   - degree: 0...128 (≥ 1 for `.odd`; an even degree with `.odd` means degree − 1).
    ///   - tolerance: relative gap between max |f − p| and the smallest reference error that ends the iteration.
    public static func minimax(
        _ f: (Double) -> Double, on domain: [ClosedRange<Double>], degree: Int, parity: Parity = .any,
        tolerance: Double = 1e-9, maxIterations: Int = 80
    ) throws(PolyApproxError) -> MinimaxApproximation {
        guard supportedDegrees.contains(degree) else { throw .invalidDegree(degree, supported: supportedDegrees) }
        guard !domain.isEmpty else { throw .invalidDomain("no interval given") }
        for interval in domain { try ChebyshevSeries.validate(interval) }
        let sorted = domain.sorted { $0.lowerBound < $1.lowerBound }
        for i in 1..<sorted.count where sorted[i].lowerBound <= sorted[i - 1].upperBound {
            throw .invalidDomain("intervals \(sorted[i - 1]) and \(sorted[i]) overlap; merge them")
        }

        // Basis, basis interval and the intervals the exchange works on.
        let basisIndices: [Int]
        let basisInterval: ClosedRange<Double>
        var working: [ClosedRange<Double>]
        switch parity {
        case .any:
            basisIndices = Array(0...degree)
            basisInterval = sorted.first!.lowerBound...sorted.last!.upperBound
            working = sorted
        case .odd:
            guard degree >= 1 else { throw .invalidDegree(degree, supported: 1...supportedDegrees.upperBound) }
            let top = degree % 2 == 1 ? degree : degree - 1
            basisIndices = Array(stride(from: 1, through: top, by: 2))
            let positive = sorted.compactMap { r -> ClosedRange<Double>? in
                r.upperBound > 0 ? Swift.max(0, r.lowerBound)...r.upperBound : nil
            }
            let negativeMirrored = sorted.reversed().compactMap { r -> ClosedRange<Double>? in
                r.lowerBound < 0 ? Swift.max(0, -r.upperBound)...(-r.lowerBound) : nil
            }
            guard positive.count == negativeMirrored.count, !positive.isEmpty,
                zip(positive, negativeMirrored).allSatisfy({
                    let scale = Swift.max(1, abs($0.upperBound))
                    return abs($0.lowerBound - $1.lowerBound) <= 1e-12 * scale
                        && abs($0.upperBound - $1.upperBound) <= 1e-12 * scale
                })
            else { throw .domainNotSymmetric }
            let h = positive.last!.upperBound
            basisInterval = -h...h
            working = positive.filter { $0.upperBound > $0.lowerBound }
            guard !working.isEmpty else { throw .invalidDomain("the positive half of the domain is empty") }
        }
        let maxIndex = basisIndices.last!
        let n = basisIndices.count
        let need = n + 1
        let a = basisInterval.lowerBound, b = basisInterval.upperBound
        @inline(__always) func normalize(_ x: Double) -> Double { (2 * x - a - b) / (b - a) }

        // Dense grid with interval ids; for odd approximations x = 0 is excluded (every basis function vanishes).
        let perInterval = 1000 + 30 * need
        var grid = [Double]()
        var gridInterval = [Int]()
        for (id, r) in working.enumerated() {
            for x in ChebyshevSeries.denseGrid(r, points: perInterval) where !(parity == .odd && x == 0) {
                if let last = grid.last, last == x, gridInterval.last == id { continue }
                grid.append(x)
                gridInterval.append(id)
            }
        }
        guard grid.count >= need else { throw .singularSystem(degree: degree) }
        var fGrid = [Double](repeating: 0, count: grid.count)
        for j in grid.indices {
            let y = f(grid[j])
            guard y.isFinite else { throw .nonFiniteFunctionValue(at: grid[j]) }
            fGrid[j] = y
        }

        let functionScale = Swift.max(1, fGrid.reduce(0) { Swift.max($0, abs($1)) })

        // Initial reference: Chebyshev points of the first kind, shared among intervals by length.
        var reference = initialReference(working, count: need)

        var coefficients = [Double](repeating: 0, count: maxIndex + 1)
        var levelled = 0.0
        var chosen: [Double] = reference
        var chosenErrors: [Double] = []
        var maxAbsError = 0.0
        var converged = false
        var iterations = 0

        func errorAt(_ x: Double) -> Double { f(x) - ChebyshevSeries.clenshaw(coefficients, at: normalize(x)) }

        while iterations < maxIterations {
            iterations += 1
            // Solve the levelled system.
            var matrix = [Double](repeating: 0, count: need * need)
            var rhs = [Double](repeating: 0, count: need)
            var chebyshev = [Double](repeating: 0, count: maxIndex + 1)
            for i in 0..<need {
                let t = normalize(reference[i])
                chebyshev[0] = 1
                if maxIndex >= 1 { chebyshev[1] = t }
                if maxIndex >= 2 { for k in 2...maxIndex { chebyshev[k] = 2 * t * chebyshev[k - 1] - chebyshev[k - 2] } }
                for (column, k) in basisIndices.enumerated() { matrix[i * need + column] = chebyshev[k] }
                matrix[i * need + n] = i % 2 == 0 ? 1 : -1
                let y = f(reference[i])
                guard y.isFinite else { throw .nonFiniteFunctionValue(at: reference[i]) }
                rhs[i] = y
            }
            guard let solution = solveLinearSystem(&matrix, &rhs, size: need) else { throw .singularSystem(degree: degree) }
            for k in coefficients.indices { coefficients[k] = 0 }
            for (column, k) in basisIndices.enumerated() { coefficients[k] = solution[column] }
            levelled = abs(solution[n])

            // Error on the grid, split into runs of constant sign; one extremum per run.
            var candidates: [(x: Double, e: Double)] = []
            var gridMax = 0.0
            var runBest = -1
            var runSign = 0.0
            func closeRun() {
                guard runBest >= 0 else { return }
                let j = runBest
                let lowerNeighbour = j > 0 && gridInterval[j - 1] == gridInterval[j] ? grid[j - 1] : grid[j]
                let upperNeighbour = j + 1 < grid.count && gridInterval[j + 1] == gridInterval[j] ? grid[j + 1] : grid[j]
                let eGrid = fGrid[j] - ChebyshevSeries.clenshaw(coefficients, at: normalize(grid[j]))
                let refined = goldenMaximum(lowerNeighbour, upperNeighbour, sign: runSign) { errorAt($0) }
                if runSign * refined.e > runSign * eGrid {
                    candidates.append(refined)
                } else {
                    candidates.append((grid[j], eGrid))
                }
            }
            var runBestValue = 0.0
            for j in grid.indices {
                let e = fGrid[j] - ChebyshevSeries.clenshaw(coefficients, at: normalize(grid[j]))
                gridMax = Swift.max(gridMax, abs(e))
                if e == 0 { continue }
                let s: Double = e > 0 ? 1 : -1
                if s != runSign {
                    closeRun()
                    runSign = s
                    runBest = j
                    runBestValue = abs(e)
                } else if abs(e) > runBestValue {
                    runBest = j
                    runBestValue = abs(e)
                }
            }
            closeRun()
            maxAbsError = candidates.reduce(gridMax) { Swift.max($0, abs($1.e)) }

            if maxAbsError <= 1e-14 * functionScale {
                // p reproduces f to rounding: the remaining sign changes are noise, not an alternation.
                chosen = reference
                chosenErrors = reference.map { errorAt($0) }
                converged = true
                break
            }
            if candidates.count < need {
                // f − p has fewer sign changes than a best approximation must: p reproduces f up to rounding.
                chosen = reference
                chosenErrors = reference.map { errorAt($0) }
                converged = maxAbsError <= 1e-12 * functionScale
                break
            }
            // Reduce to `need` alternating points, never dropping the largest.
            while candidates.count > need {
                var smallest = 0
                for i in candidates.indices where abs(candidates[i].e) < abs(candidates[smallest].e) { smallest = i }
                if smallest == 0 || smallest == candidates.count - 1 {
                    candidates.remove(at: smallest)
                } else if candidates.count - 2 >= need {
                    // Removing an interior point merges its two same-sign neighbours; keep the larger one.
                    let drop = abs(candidates[smallest - 1].e) < abs(candidates[smallest + 1].e) ? smallest - 1 : smallest + 1
                    candidates.remove(at: Swift.max(drop, smallest))
                    candidates.remove(at: Swift.min(drop, smallest))
                } else if abs(candidates[0].e) < abs(candidates[candidates.count - 1].e) {
                    candidates.removeFirst()
                } else {
                    candidates.removeLast()
                }
            }
            chosen = candidates.map(\.x)
            chosenErrors = candidates.map(\.e)
            let smallestReference = chosenErrors.reduce(Double.infinity) { Swift.min($0, abs($1)) }
            if maxAbsError - smallestReference <= tolerance * maxAbsError {
                converged = true
                break
            }
            reference = chosen
        }

        let series = ChebyshevSeries(coefficients: coefficients, interval: basisInterval)
        return MinimaxApproximation(
            series: series, domain: sorted, parity: parity, levelledError: levelled, maxError: maxAbsError,
            referencePoints: chosen, referenceErrors: chosenErrors, iterations: iterations, converged: converged)
    }

    /// `count` starting points spread over the intervals in proportion to their lengths (each interval gets its
    /// Chebyshev points of the first kind).
    static func initialReference(_ intervals: [ClosedRange<Double>], count: Int) -> [Double] {
        let lengths = intervals.map { $0.upperBound - $0.lowerBound }
        let total = lengths.reduce(0, +)
        var shares = lengths.map { Int(($0 / total * Double(count)).rounded(.down)) }
        var remaining = count - shares.reduce(0, +)
        let order = lengths.indices.sorted {
            (lengths[$0] / total * Double(count)).truncatingRemainder(dividingBy: 1)
                > (lengths[$1] / total * Double(count)).truncatingRemainder(dividingBy: 1)
        }
        var i = 0
        while remaining > 0 {
            shares[order[i % order.count]] += 1
            remaining -= 1
            i += 1
        }
        var points = [Double]()
        for (r, m) in zip(intervals, shares) where m > 0 {
            for j in 0..<m {
                let t = -cos(Double.pi * (Double(j) + 0.5) / Double(m))
                points.append(0.5 * (r.lowerBound + r.upperBound) + 0.5 * (r.upperBound - r.lowerBound) * t)
            }
        }
        return points.sorted()
    }

    /// Golden-section search for the maximum of sign·e(x) on [lo, hi].
    static func goldenMaximum(
        _ lo: Double, _ hi: Double, sign: Double, _ e: (Double) -> Double
    ) -> (x: Double, e: Double) {
        if hi <= lo { return (lo, e(lo)) }
        let ratio = (sqrt(5.0) - 1) / 2
        var a = lo, b = hi
        var c = b - ratio * (b - a), d = a + ratio * (b - a)
        var ec = e(c), ed = e(d)
        for _ in 0..<64 {
            if b - a <= 1e-15 * Swift.max(1, abs(a) + abs(b)) { break }
            if sign * ec > sign * ed {
                b = d; d = c; ed = ec
                c = b - ratio * (b - a); ec = e(c)
            } else {
                a = c; c = d; ec = ed
                d = a + ratio * (b - a); ed = e(d)
            }
        }
        var best = sign * ec > sign * ed ? (x: c, e: ec) : (x: d, e: ed)
        for x in [lo, hi] {
            let v = e(x)
            if sign * v > sign * best.e { best = (x, v) }
        }
        return best
    }

    /// Gaussian elimination with partial pivoting on a row-major size×size matrix; nil when singular.
    static func solveLinearSystem(_ m: inout [Double], _ rhs: inout [Double], size: Int) -> [Double]? {
        for column in 0..<size {
            var pivot = column
            for row in (column + 1)..<Swift.max(column + 1, size) where abs(m[row * size + column]) > abs(m[pivot * size + column]) {
                pivot = row
            }
            let p = m[pivot * size + column]
            guard abs(p) > 1e-300, p.isFinite else { return nil }
            if pivot != column {
                for k in 0..<size { m.swapAt(pivot * size + k, column * size + k) }
                rhs.swapAt(pivot, column)
            }
            for row in (column + 1)..<Swift.max(column + 1, size) {
                let factor = m[row * size + column] / p
                if factor == 0 { continue }
                for k in column..<size { m[row * size + k] -= factor * m[column * size + k] }
                rhs[row] -= factor * rhs[column]
            }
        }
        var x = [Double](repeating: 0, count: size)
        for row in stride(from: size - 1, through: 0, by: -1) {
            var sum = rhs[row]
            for k in (row + 1)..<Swift.max(row + 1, size) { sum -= m[row * size + k] * x[k] }
            x[row] = sum / m[row * size + row]
        }
        return x
    }
}
