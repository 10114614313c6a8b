import Foundation
import ModularArithmetic

// ModRaise and the small exact steps around it: the subring trace of sparse packing and multiplication by ±i.

enum ModRaise {
    /// Lifts a level-0 ciphertext to the full chain Q_L: each c_i is read as its centered representative mod q_0 and
    /// reduced mod every prime. The result decrypts to t = m + q_0·I with |I| ≤ (h+1)/2 (|I| ≈ √((h+1)/12) typical).
    static func raise(_ ct: Ciphertext, parameters: CKKSParameters, executor: ParallelExecutor) -> Ciphertext {
        precondition(ct.level == 0, "ModRaise takes a level-0 ciphertext")
        let top = parameters.maxLevel
        let polynomials = ct.polynomials.map { polynomial -> RNSPolynomial<Evaluation> in
            let coefficients = polynomial.droppingSpecialPrimes().compacted().inverseNTT(executor: executor)
            let centered = coefficients.centeredLimb(0)
            var raised = RNSPolynomial<Coefficient>(ring: parameters.ring, level: top)
            raised.makeUnique()
            let target = raised
            executor.forEach(top + 1) { i in
                let q = target.modulus(i)
                let out = target.limb(i)
                for c in 0..<target.degree { out[c] = q.reduce(signed: centered[c]) }
            }
            return target.forwardNTT(executor: executor)
        }
        return Ciphertext(polynomials: polynomials, scale: ct.scale)
    }

    /// Σ_{k < N/(2n)} rot(ct, k·n) by log2(N/(2n)) doublings: keeps the part of the plaintext in the subring
    /// Z[X^(N/2n)] multiplied by N/(2n) and cancels the rest (the fixed ring of the automorphisms X ↦ X^(5^(kn))).
    static func subringTrace(_ ct: Ciphertext, slots n: Int, evaluator: CKKSEvaluator) throws -> Ciphertext {
        var result = ct
        var step = n
        while step < evaluator.parameters.slotCount {
            try evaluator.add(try evaluator.rotated(result, by: step), to: &result)
            step *= 2
        }
        return result
    }

    /// Rotations of the trace for n slots.
    static func traceRotations(slots n: Int, ringSlots: Int) -> [Int] {
        var steps: [Int] = []
        var step = n
        while step < ringSlots { steps.append(step); step *= 2 }
        return steps
    }
}

/// X^(N/2) in Evaluation form: multiplying by it multiplies every slot by i (ζ^(5^j·N/2) = i^(5^j) = i), exactly
/// and without a level.
struct ImaginaryUnit {
    let monomial: RNSPolynomial<Evaluation>

    init(parameters: CKKSParameters, executor: ParallelExecutor) {
        var coefficients = [Int64](repeating: 0, count: parameters.degree)
        coefficients[parameters.degree / 2] = 1
        var polynomial = RNSPolynomial<Coefficient>(ring: parameters.ring, level: parameters.maxLevel)
        polynomial.setSigned(coefficients)
        monomial = polynomial.forwardNTT(executor: executor)
    }

    /// ct · (±i).
    func times(_ ct: Ciphertext, negated: Bool, executor: ParallelExecutor) -> Ciphertext {
        var out = ct
        for k in out.polynomials.indices {
            out.polynomials[k].multiply(monomial, executor: executor)
            if negated { out.polynomials[k].negate(executor: executor) }
        }
        return out
    }
}
