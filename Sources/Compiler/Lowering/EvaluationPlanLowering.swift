import CipherIR
import PolyApprox

/// Lowers a PolyApprox `EvaluationPlan` (a straight-line polynomial program) to ciphertext ops: Chebyshev products
/// become `mul` + doubling add − T_{|i−j|}, linear combinations become `mulConst` (integer weights by additions, so
/// they cost no level) and `addConst`. The leveling pass matches levels and scales afterwards.
struct EvaluationPlanLowering {
    let context: LoweringContext

    /// Largest |integer weight| done by additions instead of a scalar multiplication.
    static let largestAddedWeight = 4

    /// The plan's output for `inputs` (one ciphertext per plan input).
    func lower(_ plan: EvaluationPlan, inputs: [ValueID]) -> ValueID {
        lowerSlots(plan, inputs: inputs)[plan.output]
    }

    /// The value of every plan slot (inputs first, then one per step).
    func lowerSlots(_ plan: EvaluationPlan, inputs: [ValueID]) -> [ValueID] {
        precondition(inputs.count == plan.inputCount, "plan expects \(plan.inputCount) inputs")
        var slots = inputs
        slots.reserveCapacity(plan.slotCount)
        for step in plan.steps {
            let value: ValueID
            switch step.operation {
            case let .chebyshevPower(_, lhs, rhs, subtract):
                let product = context.mul(slots[lhs], slots[rhs])
                let doubled = context.add(product, product)
                value = subtract.map { context.sub(doubled, slots[$0]) } ?? context.addConst(doubled, -1)
            case let .linearCombination(weights, terms, constant):
                var parts: [ValueID] = []
                for (weight, term) in zip(weights, terms) where weight != 0 {
                    parts.append(scaled(slots[term], by: weight))
                }
                if var total = context.sum(parts) {
                    if constant != 0 { total = context.addConst(total, constant) }
                    value = total
                } else {
                    // A constant: c + 0·x keeps a ciphertext.
                    value = context.addConst(context.mulConst(inputs[0], 0), constant)
                }
            case let .multiply(a, b):
                value = context.mul(slots[a], slots[b])
            case let .add(a, b):
                value = context.add(slots[a], slots[b])
            }
            slots.append(value)
        }
        return slots
    }

    /// w·x: small integers by additions (no level), the rest by a scalar multiplication.
    private func scaled(_ x: ValueID, by weight: Double) -> ValueID {
        guard weight.rounded() == weight, abs(weight) <= Double(Self.largestAddedWeight) else { return context.mulConst(x, weight) }
        let magnitude = Int(abs(weight))
        var total = x
        for _ in 1..<magnitude { total = context.add(total, x) }
        return weight < 0 ? context.negate(total) : total
    }
}
