import ModularArithmetic

/// Marker for the representation of a polynomial; part of `RNSPolynomial`'s type.
public protocol PolynomialForm: Sendable {}
/// Coefficient representation: limb i holds the coefficients mod its prime.
public enum Coefficient: PolynomialForm {}
/// Evaluation (NTT) representation, bit-reversed order: pointwise products are ring products.
public enum Evaluation: PolynomialForm {}

/// Contiguous storage of a polynomial's limbs: `limbCapacity` blocks of N words.
public final class PolynomialStorage: @unchecked Sendable {
    public let words: UnsafeMutablePointer<UInt64>
    public let degree: Int
    public let limbCapacity: Int

    init(degree: Int, limbCapacity: Int, zeroed: Bool = true) {
        self.degree = degree
        self.limbCapacity = limbCapacity
        words = .allocate(capacity: max(1, degree * limbCapacity))
        if zeroed { words.initialize(repeating: 0, count: degree * limbCapacity) }
    }

    func copy() -> PolynomialStorage {
        let c = PolynomialStorage(degree: degree, limbCapacity: limbCapacity, zeroed: false)
        c.words.update(from: words, count: degree * limbCapacity)
        return c
    }

    deinit { words.deallocate() }
}

/// A polynomial of Z_{Q_ℓ(·P)}[X]/(X^N+1) in RNS form: Q limbs 0...level of the modulus chain, then
/// optionally the special primes P (key-switching keys and temporaries).
///
/// Value semantics with copy-on-write storage. Q limb i lives at offset i·N, P limb k at
/// (qCapacity + k)·N, so dropping levels (a view change) never moves data.
public struct RNSPolynomial<Form: PolynomialForm>: Sendable {
    public let ring: RNSRing
    @usableFromInline var storage: PolynomialStorage
    /// Number of Q limbs in the view (level + 1).
    public internal(set) var qCount: Int
    /// Number of P limbs (0 or ring.pModuli.count).
    public internal(set) var pCount: Int
    /// Storage offset (in limbs) of the first P limb.
    @usableFromInline var qCapacity: Int

    /// Zero polynomial at `level` (Q limbs 0...level), with the special primes if `withSpecialPrimes`.
    public init(ring: RNSRing, level: Int, withSpecialPrimes: Bool = false) {
        precondition(level >= 0 && level < ring.qModuli.count, "level \(level) out of range")
        self.ring = ring
        qCount = level + 1
        pCount = withSpecialPrimes ? ring.pModuli.count : 0
        qCapacity = level + 1
        storage = PolynomialStorage(degree: ring.degree, limbCapacity: qCount + pCount)
    }

    init(ring: RNSRing, storage: PolynomialStorage, qCount: Int, pCount: Int, qCapacity: Int) {
        self.ring = ring
        self.storage = storage
        self.qCount = qCount
        self.pCount = pCount
        self.qCapacity = qCapacity
    }

    /// A Q-only polynomial at `level` whose contents are garbage (outputs that are overwritten in
    /// full): skips zeroing megabytes of fresh memory.
    static func uninitialized(ring: RNSRing, level: Int) -> RNSPolynomial {
        RNSPolynomial(ring: ring, storage: PolynomialStorage(degree: ring.degree, limbCapacity: level + 1, zeroed: false),
                      qCount: level + 1, pCount: 0, qCapacity: level + 1)
    }

    public var degree: Int { ring.degree }
    public var level: Int { qCount - 1 }
    public var limbCount: Int { qCount + pCount }
    public var hasSpecialPrimes: Bool { pCount > 0 }

    /// Modulus of limb index i (Q limbs first, then P limbs).
    @inline(__always)
    public func modulus(_ limb: Int) -> Modulus {
        limb < qCount ? ring.qModuli[limb] : ring.pModuli[limb - qCount]
    }

    func tables(_ limb: Int) -> NTTTables {
        limb < qCount ? ring.qTables[limb] : ring.pTables[limb - qCount]
    }

    /// Pointer to limb i (Q limbs first, then P limbs). Writes require `makeUnique()` first.
    @inline(__always)
    func limb(_ i: Int) -> UnsafeMutablePointer<UInt64> {
        let slot = i < qCount ? i : qCapacity + (i - qCount)
        return storage.words + slot * ring.degree
    }

    @inline(__always)
    mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
    }

    /// Makes `self` a uniquely owned Q-only polynomial at `level` whose contents may be garbage,
    /// reusing the storage when possible (output buffers of `op(…, into:)`).
    mutating func prepareForOverwrite(level: Int) {
        if pCount == 0 && storage.limbCapacity >= level + 1 && isKnownUniquelyReferenced(&storage) {
            qCount = level + 1
            qCapacity = level + 1
            return
        }
        storage = PolynomialStorage(degree: ring.degree, limbCapacity: level + 1, zeroed: false)
        qCount = level + 1
        pCount = 0
        qCapacity = level + 1
    }

    /// Coefficients of limb i as an array (tests, serialization).
    public func limbValues(_ i: Int) -> [UInt64] {
        Array(UnsafeBufferPointer(start: limb(i), count: degree))
    }

    /// Sets limb i from an array of N residues (each reduced mod the limb's prime).
    public mutating func setLimb(_ i: Int, _ values: [UInt64]) {
        precondition(values.count == degree)
        makeUnique()
        let m = modulus(i)
        let p = limb(i)
        for c in 0..<degree { p[c] = m.reduce(values[c]) }
    }

    /// Restricts the view to Q limbs 0...level (no copy). Special primes are kept.
    public mutating func dropLevel(to level: Int) {
        precondition(level >= 0 && level <= self.level, "cannot drop to level \(level) from \(self.level)")
        qCount = level + 1
    }

    /// The same values without the special-prime limbs (a view; no copy).
    public func droppingSpecialPrimes() -> RNSPolynomial {
        var r = self
        r.pCount = 0
        return r
    }

    /// Sets every coefficient to zero.
    public mutating func zero() {
        makeUnique()
        for i in 0..<limbCount { limb(i).update(repeating: 0, count: degree) }
    }

    /// Reinterprets the storage in another form (used by the NTT conversions only).
    func reinterpreted<Other: PolynomialForm>(as: Other.Type) -> RNSPolynomial<Other> {
        RNSPolynomial<Other>(ring: ring, storage: storage, qCount: qCount, pCount: pCount, qCapacity: qCapacity)
    }

    /// An exact copy with its own storage containing only the limbs in view.
    public func compacted() -> RNSPolynomial {
        var r = RNSPolynomial(ring: ring, storage: PolynomialStorage(degree: degree, limbCapacity: limbCount, zeroed: false),
                              qCount: qCount, pCount: pCount, qCapacity: qCount)
        for i in 0..<limbCount { r.limb(i).update(from: limb(i), count: degree) }
        r.qCount = qCount
        return r
    }
}

extension RNSPolynomial: Equatable {
    public static func == (lhs: RNSPolynomial, rhs: RNSPolynomial) -> Bool {
        guard lhs.ring === rhs.ring, lhs.qCount == rhs.qCount, lhs.pCount == rhs.pCount else { return false }
        for i in 0..<lhs.limbCount {
            let a = lhs.limb(i), b = rhs.limb(i)
            for c in 0..<lhs.degree where a[c] != b[c] { return false }
        }
        return true
    }
}

// MARK: - Form conversion

extension RNSPolynomial where Form == Coefficient {
    /// Forward NTT of every limb.
    public consuming func forwardNTT(executor: ParallelExecutor = ParallelExecutor()) -> RNSPolynomial<Evaluation> {
        makeUnique()
        let me = self
        executor.forEach(limbCount) { i in me.tables(i).forward(me.limb(i)) }
        return me.reinterpreted(as: Evaluation.self)
    }

    /// Coefficients of limb i as signed centered integers.
    public func centeredLimb(_ i: Int) -> [Int64] {
        let m = modulus(i)
        let p = limb(i)
        return (0..<degree).map { m.centered(p[$0]) }
    }

    /// Sets every limb from small signed integer coefficients.
    public mutating func setSigned(_ coefficients: [Int64]) {
        precondition(coefficients.count == degree)
        makeUnique()
        for i in 0..<limbCount {
            let m = modulus(i)
            let p = limb(i)
            for c in 0..<degree { p[c] = m.reduce(signed: coefficients[c]) }
        }
    }
}

extension RNSPolynomial where Form == Evaluation {
    /// Inverse NTT of every limb.
    public consuming func inverseNTT(executor: ParallelExecutor = ParallelExecutor()) -> RNSPolynomial<Coefficient> {
        makeUnique()
        let me = self
        executor.forEach(limbCount) { i in me.tables(i).inverse(me.limb(i)) }
        return me.reinterpreted(as: Coefficient.self)
    }
}

// MARK: - Arithmetic (valid in both forms for +, −; products only in Evaluation form)

extension RNSPolynomial {
    @inline(__always)
    static func checkCompatible(_ a: RNSPolynomial, _ b: RNSPolynomial) {
        precondition(a.ring === b.ring, "polynomials from different rings")
        precondition(a.pCount == b.pCount, "special-prime limbs differ")
    }

    /// self += other over the common limbs (other must have at least self's level).
    public mutating func add(_ other: RNSPolynomial, executor: ParallelExecutor = ParallelExecutor()) {
        Self.checkCompatible(self, other)
        precondition(other.qCount >= qCount)
        makeUnique()
        let me = self
        executor.forEach(limbCount) { i in
            let m = me.modulus(i).value
            let a = me.limb(i), b = other.limb(i)
            for c in 0..<me.degree {
                let s = a[c] &+ b[c]
                a[c] = s >= m ? s &- m : s
            }
        }
    }

    /// self −= other.
    public mutating func subtract(_ other: RNSPolynomial, executor: ParallelExecutor = ParallelExecutor()) {
        Self.checkCompatible(self, other)
        precondition(other.qCount >= qCount)
        makeUnique()
        let me = self
        executor.forEach(limbCount) { i in
            let m = me.modulus(i).value
            let a = me.limb(i), b = other.limb(i)
            for c in 0..<me.degree {
                let x = a[c], y = b[c]
                a[c] = x >= y ? x &- y : x &+ m &- y
            }
        }
    }

    /// self = −self.
    public mutating func negate(executor: ParallelExecutor = ParallelExecutor()) {
        makeUnique()
        let me = self
        executor.forEach(limbCount) { i in
            let m = me.modulus(i).value
            let a = me.limb(i)
            for c in 0..<me.degree { a[c] = a[c] == 0 ? 0 : m &- a[c] }
        }
    }

    /// self *= an integer constant given by its residue per limb.
    mutating func multiply(byResidues residues: [UInt64], executor: ParallelExecutor = ParallelExecutor()) {
        makeUnique()
        let me = self
        executor.forEach(limbCount) { i in
            let m = me.modulus(i)
            let w = residues[i]
            let ws = m.shoupPrecompute(w)
            let a = me.limb(i)
            for c in 0..<me.degree { a[c] = m.multiplyShoup(a[c], w, ws) }
        }
    }

    /// self *= k for a signed integer k.
    public mutating func multiply(byInteger k: Int64, executor: ParallelExecutor = ParallelExecutor()) {
        let residues = (0..<limbCount).map { modulus($0).reduce(signed: k) }
        multiply(byResidues: residues, executor: executor)
    }
}

extension RNSPolynomial where Form == Evaluation {
    /// self *= other pointwise (a ring product).
    public mutating func multiply(_ other: RNSPolynomial, executor: ParallelExecutor = ParallelExecutor()) {
        Self.checkCompatible(self, other)
        precondition(other.qCount >= qCount)
        makeUnique()
        let me = self
        executor.forEach(limbCount) { i in
            let m = me.modulus(i)
            let a = me.limb(i), b = other.limb(i)
            for c in 0..<me.degree { a[c] = m.multiplyReduced(a[c], b[c]) }
        }
    }

    /// self += a ⊙ b.
    public mutating func multiplyAdd(_ a: RNSPolynomial, _ b: RNSPolynomial, executor: ParallelExecutor = ParallelExecutor()) {
        Self.checkCompatible(self, a)
        Self.checkCompatible(self, b)
        makeUnique()
        let me = self
        executor.forEach(limbCount) { i in
            let m = me.modulus(i)
            let r = me.limb(i), x = a.limb(i), y = b.limb(i)
            for c in 0..<me.degree { r[c] = m.add(r[c], m.multiplyReduced(x[c], y[c])) }
        }
    }

    /// Applies the automorphism X ↦ X^g using the evaluation-domain permutation `permutation`
    /// (from `GaloisPermutations`): out[j] = self[permutation[j]].
    func applyingPermutation(_ permutation: UnsafePointer<Int32>, into out: inout RNSPolynomial, executor: ParallelExecutor) {
        out.makeUnique()
        let me = self
        let o = out
        executor.forEach(min(limbCount, o.limbCount)) { i in
            let src = me.limb(i), dst = o.limb(i)
            for c in 0..<me.degree { dst[c] = src[Int(permutation[c])] }
        }
    }
}
