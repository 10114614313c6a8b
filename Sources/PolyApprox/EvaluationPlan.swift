import Foundation

/// A straight-line program that evaluates a polynomial (or a composition of polynomials and products) on
/// ciphertexts, written so a compiler can lower each step to one or two CipherIR instructions.
///
/// **Slots.** Values live in SSA slots numbered from 0: slots `0..<inputCount` are the inputs (ciphertexts at
/// depth 0); step `i` defines slot `inputCount + i`. A step reads only earlier slots. `output` names the result.
///
/// **Operations** (all element-wise on slots):
/// - `chebyshevPower(index: k, lhs: a, rhs: b, subtract: c)`: `2·a·b − c` (or `2·a·a − 1` when `subtract` is nil).
///   With a = T_i, b = T_j, c = T_{|i−j|} this is the Chebyshev product rule T_{i+j} = 2·T_i·T_j − T_{|i−j|}, so
///   the slot holds T_k(t), k = i + j, of the plan's normalized input t. One ciphertext×ciphertext multiplication
///   (with relinearization and a rescale), a doubling (integer, no level) and a subtraction of a value at a
///   lower-or-equal depth (the compiler matches levels/scales before the subtraction).
/// - `linearCombination(coefficients: w, terms: s, constant: c)`: `Σ w_i·s_i + c` — plaintext-scalar
///   multiplications and additions only. It consumes one level iff some w_i is not an integer (the scalar must be
///   encoded at a scale and rescaled); integer weights (e.g. 1, −1) and the constant cost no level. With no terms
///   it is the constant c (depth 0).
/// - `multiply(a, b)`: `a·b`, one ciphertext×ciphertext multiplication (relinearize, rescale).
/// - `add(a, b)`: `a + b` (levels and scales matched by the compiler).
///
/// **Depth.** Each step records the multiplicative depth of its result under the model above: inputs 0,
/// `chebyshevPower`/`multiply` max(operands) + 1, `add` max(operands), `linearCombination` max(terms) + (1 if a
/// weight is non-integer else 0). ``depth`` is the output's depth; a plan for a degree-d polynomial on [−1, 1]
/// has depth ⌈log2(d + 1)⌉ (baby-step giant-step with the split chosen under a depth budget, so no scalar
/// multiplication adds a level). An interval other than [−1, 1] starts with one `linearCombination` computing the
/// normalized input t = (2x − a − b)/(b − a), which costs one level unless 2/(b − a) is an integer; a compiler that
/// folds that scaling into the previous linear layer may drop it.
///
/// **Cost.** ``nonScalarMultiplications`` counts `chebyshevPower` and `multiply` steps (ct×ct products, each
/// needing a relinearization key switch).
public struct EvaluationPlan: Hashable, Sendable, Codable, CustomStringConvertible {
    public typealias Slot = Int

    public enum Operation: Hashable, Sendable, Codable {
        /// 2·lhs·rhs − (subtract ?? 1), defining T_index.
        case chebyshevPower(index: Int, lhs: Slot, rhs: Slot, subtract: Slot?)
        /// Σ coefficients[i]·terms[i] + constant (coefficients.count == terms.count).
        case linearCombination(coefficients: [Double], terms: [Slot], constant: Double)
        /// lhs·rhs (ciphertext × ciphertext).
        case multiply(Slot, Slot)
        /// lhs + rhs.
        case add(Slot, Slot)

        /// The slots this operation reads.
        public var operands: [Slot] {
            switch self {
            case let .chebyshevPower(_, lhs, rhs, subtract): return [lhs, rhs] + (subtract.map { [$0] } ?? [])
            case let .linearCombination(_, terms, _): return terms
            case let .multiply(a, b), let .add(a, b): return [a, b]
            }
        }

        /// True for a ciphertext×ciphertext product.
        public var isNonScalarMultiplication: Bool {
            switch self {
            case .chebyshevPower, .multiply: return true
            case .linearCombination, .add: return false
            }
        }
    }

    public struct Step: Hashable, Sendable, Codable {
        public let operation: Operation
        /// Multiplicative depth of the slot this step defines.
        public let depth: Int
        /// Whether this step itself consumes a level (a ct×ct product or a non-integer scalar).
        public let consumesLevel: Bool
        /// What the slot holds, for dumps (e.g. "T_7 of stage 2", "stage 1 output").
        public let comment: String
    }

    /// Number of input slots (1 for an activation, 2 for max(a, b)).
    public let inputCount: Int
    public private(set) var steps: [Step]
    /// The slot holding the result.
    public private(set) var output: Slot

    /// An empty plan whose output is input 0.
    public init(inputCount: Int = 1) {
        precondition(inputCount >= 1, "a plan has at least one input")
        self.inputCount = inputCount
        self.steps = []
        self.output = 0
    }

    /// Total number of slots (inputs and steps).
    public var slotCount: Int { inputCount + steps.count }

    /// Multiplicative depth of a slot (0 for inputs).
    public func depth(of slot: Slot) -> Int { slot < inputCount ? 0 : steps[slot - inputCount].depth }

    /// Multiplicative depth of the output.
    public var depth: Int { depth(of: output) }

    /// Number of ciphertext×ciphertext multiplications.
    public var nonScalarMultiplications: Int { steps.filter { $0.operation.isNonScalarMultiplication }.count }

    /// Number of plaintext-scalar multiplications by non-integer weights.
    public var scalarMultiplications: Int {
        steps.reduce(0) { count, step in
            if case let .linearCombination(w, _, _) = step.operation {
                return count + w.filter { $0.rounded() != $0 }.count
            }
            return count
        }
    }

    // MARK: building

    /// Appends a step and returns the slot it defines; the depth is derived from the operands.
    @discardableResult
    public mutating func append(_ operation: Operation, comment: String = "") -> Slot {
        let operands = operation.operands
        for s in operands { precondition(s >= 0 && s < slotCount, "step reads undefined slot %\(s)") }
        let operandDepth = operands.map { depth(of: $0) }.max() ?? 0
        let consumes: Bool
        switch operation {
        case .chebyshevPower, .multiply:
            consumes = true
        case .add:
            consumes = false
        case let .linearCombination(w, terms, _):
            precondition(w.count == terms.count, "linearCombination needs one coefficient per term")
            consumes = w.contains { $0.rounded() != $0 }
        }
        steps.append(Step(operation: operation, depth: operandDepth + (consumes ? 1 : 0), consumesLevel: consumes, comment: comment))
        output = slotCount - 1
        return output
    }

    /// Makes `slot` the result.
    public mutating func setOutput(_ slot: Slot) {
        precondition(slot >= 0 && slot < slotCount, "output slot %\(slot) is undefined")
        output = slot
    }

    // MARK: interpreting

    /// Runs the plan in Double on one value per input (the reference semantics a lowering must preserve).
    public func evaluate(_ inputs: [Double]) -> Double {
        precondition(inputs.count == inputCount, "plan expects \(inputCount) inputs")
        var values = inputs
        values.reserveCapacity(slotCount)
        for step in steps {
            let v: Double
            switch step.operation {
            case let .chebyshevPower(_, lhs, rhs, subtract):
                v = 2 * values[lhs] * values[rhs] - (subtract.map { values[$0] } ?? 1)
            case let .linearCombination(w, terms, constant):
                var sum = constant
                for i in w.indices { sum += w[i] * values[terms[i]] }
                v = sum
            case let .multiply(a, b):
                v = values[a] * values[b]
            case let .add(a, b):
                v = values[a] + values[b]
            }
            values.append(v)
        }
        return values[output]
    }

    /// Runs a one-input plan.
    public func evaluate(_ x: Double) -> Double { evaluate([x]) }

    // MARK: cut points

    /// A place where the plan narrows to one computed value: after `slot` is defined, nothing computed before it is
    /// read again (only `slot` and the plan inputs are). Refreshing the levels of `slot` alone (a bootstrap) therefore
    /// serves the steps that follow it.
    public struct CutPoint: Hashable, Sendable {
        /// The slot the plan narrows to (an input slot for the cuts before the first step).
        public let slot: Slot
        /// The levels `slot` must have so that everything computed from it reaches the next cut point (or the output):
        /// the longest multiplicative path from `slot` that does not pass through another cut.
        public let depthToNext: Int
    }

    /// The cut points in evaluation order: each input, then every step after which only its own slot and the inputs
    /// stay live. A composite polynomial narrows between its stages; a single Paterson–Stockmeyer polynomial has no
    /// useful inner cut (its powers keep reading the input, so the input's need covers the whole polynomial). The
    /// output slot's own cut (depth 0) is not listed.
    public var cutPoints: [CutPoint] {
        var lastRead = [Int](repeating: -1, count: slotCount)
        for (i, step) in steps.enumerated() {
            for operand in step.operation.operands { lastRead[operand] = i }
        }
        lastRead[output] = Int.max
        // Computed slots (not inputs) still live after each step: definitions minus last reads.
        var isCut = [Bool](repeating: false, count: slotCount)
        for input in 0..<inputCount { isCut[input] = true }
        var diesAt = [Int](repeating: 0, count: steps.count)
        for slot in inputCount..<slotCount where lastRead[slot] >= 0 && lastRead[slot] < Int.max { diesAt[lastRead[slot]] += 1 }
        var liveComputed = 0
        for i in steps.indices {
            let slot = inputCount + i
            if lastRead[slot] >= 0 { liveComputed += 1 }
            liveComputed -= diesAt[i]
            if liveComputed == 1, lastRead[slot] > i, slot != output { isCut[slot] = true }
        }
        // For each cut, the longest path to any later slot, stopping at other cuts (they are refreshed on their own).
        var cuts: [CutPoint] = []
        var distance = [Int](repeating: -1, count: slotCount)
        for cut in 0..<slotCount where isCut[cut] {
            for t in distance.indices { distance[t] = -1 }
            distance[cut] = 0
            var need = 0
            for i in steps.indices where inputCount + i > cut {
                let reached = steps[i].operation.operands.compactMap { operand -> Int? in
                    (operand == cut || !isCut[operand]) && distance[operand] >= 0 ? distance[operand] : nil
                }.max()
                guard let reached else { continue }
                let d = reached + (steps[i].consumesLevel ? 1 : 0)
                distance[inputCount + i] = d
                need = max(need, d)
            }
            cuts.append(CutPoint(slot: cut, depthToNext: need))
        }
        return cuts
    }

    /// One line per step: `%5 = 2·%3·%4 − %1   ; T_7, depth 3`.
    public var description: String {
        var lines = ["plan inputs=\(inputCount) depth=\(depth) nonScalar=\(nonScalarMultiplications) output=%\(output)"]
        for (i, step) in steps.enumerated() {
            let text: String
            switch step.operation {
            case let .chebyshevPower(_, lhs, rhs, subtract):
                text = "2·%\(lhs)·%\(rhs) − " + (subtract.map { "%\($0)" } ?? "1")
            case let .linearCombination(w, terms, constant):
                let parts = zip(w, terms).map { "\($0)·%\($1)" }
                text = (parts + (constant != 0 || parts.isEmpty ? ["\(constant)"] : [])).joined(separator: " + ")
            case let .multiply(a, b):
                text = "%\(a)·%\(b)"
            case let .add(a, b):
                text = "%\(a) + %\(b)"
            }
            lines.append("%\(inputCount + i) = \(text)   ; \(step.comment.isEmpty ? "" : step.comment + ", ")depth \(step.depth)")
        }
        return lines.joined(separator: "\n")
    }
}
