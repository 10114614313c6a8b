import CipherIR

/// How a `DiagonalLinearTransform` is evaluated with baby-step giant-step rotations.
///
/// Every offset k (signed, in (−slots/2, slots/2]) is split as k = babyStepSize·j + b with 0 ≤ b < babyStepSize:
/// y_o = Σ_j rot( Σ_{i,b} rot(d_{o,i,k}, −babyStepSize·j) ⊙ rot(x_i, b), babyStepSize·j ).
/// Input ciphertext i is rotated once per distinct baby step b (all in one hoisted rotation); output o once per
/// distinct giant step j. One baby-step size serves the whole transform so that the inner sums can run over all
/// input ciphertexts before the giant rotation.
public struct BabyStepGiantStepPlan: Sendable, Equatable {
    public let babyStepSize: Int
    /// Distinct baby steps b per input ciphertext (sorted, 0 included when used).
    public let babySteps: [[Int]]
    /// Distinct giant multiples j per output ciphertext (sorted; the rotation is babyStepSize·j).
    public let giantSteps: [[Int]]

    /// Key-switching rotations the plan performs (steps 0 are free).
    public var rotationCount: Int {
        babySteps.reduce(0) { $0 + $1.filter { $0 != 0 }.count } + giantSteps.reduce(0) { $0 + $1.filter { $0 != 0 }.count }
    }

    /// The distinct rotation steps (normalized to (−slots/2, slots/2]) that need Galois keys.
    public func rotationKeys(slots: Int) -> Set<Int> {
        var steps = Set<Int>()
        for b in babySteps.joined() where b != 0 { steps.insert(signedOffset(b, slots: slots)) }
        for j in giantSteps.joined() where j != 0 { steps.insert(signedOffset(babyStepSize * j, slots: slots)) }
        return steps
    }
}

/// k mod slots as a value in (−slots/2, slots/2].
@inline(__always)
func signedOffset(_ k: Int, slots: Int) -> Int {
    var r = k % slots
    if r < 0 { r += slots }
    return r > slots / 2 ? r - slots : r
}

/// Floor division (rounds toward −∞).
@inline(__always)
func floorDivide(_ a: Int, _ b: Int) -> Int {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}

extension DiagonalLinearTransform {
    /// (giant multiple j, baby step b) of a diagonal's offset for baby-step size `size`.
    @inline(__always)
    func split(_ offset: Int, babyStepSize size: Int) -> (giant: Int, baby: Int) {
        let k = signedOffset(offset, slots: slots)
        let j = floorDivide(k, size)
        return (j, k - j * size)
    }

    /// The plan for one baby-step size.
    public func plan(babyStepSize size: Int) -> BabyStepGiantStepPlan {
        var babies = [Set<Int>](repeating: [], count: inputCiphertexts)
        var giants = [Set<Int>](repeating: [], count: outputCiphertexts)
        for key in keys {
            let (j, b) = split(key.offset, babyStepSize: size)
            babies[key.input].insert(b)
            giants[key.output].insert(j)
        }
        return BabyStepGiantStepPlan(babyStepSize: size, babySteps: babies.map { $0.sorted() }, giantSteps: giants.map { $0.sorted() })
    }

    /// The plan minimizing rotations + rotation keys not in `existingKeys` (each new Galois key costs memory for the
    /// whole run, so reusing the steps earlier layers already need is worth one extra rotation), over baby-step sizes
    /// 1, 2, 3, 4, 6, 8, 12, … up to the slot count; ties: fewer rotations, then the smaller size.
    /// Cost O(distinct offsets per ciphertext · log slots), counted with generation stamps instead of hash sets.
    public func bestPlan(existingKeys: Set<Int> = []) -> BabyStepGiantStepPlan {
        var candidates: [Int] = []
        var power = 1
        while power <= slots {
            candidates.append(power)
            if power >= 2 && power * 3 / 2 <= slots { candidates.append(power * 3 / 2) }
            power *= 2
        }
        // Distinct signed offsets per input and per output ciphertext.
        func distinctOffsets(_ group: (DiagonalKey) -> Int, count: Int) -> [[Int]] {
            var lists = [[Int]](repeating: [], count: count)
            for key in keys { lists[group(key)].append(signedOffset(key.offset, slots: slots)) }
            return lists.map { Array(Set($0)) }
        }
        let inputOffsets = distinctOffsets({ $0.input }, count: inputCiphertexts)
        let outputOffsets = distinctOffsets({ $0.output }, count: outputCiphertexts)
        // stamp[v] == generation marks v as seen in the current group; values are shifted to be non-negative.
        var stamp = [Int](repeating: -1, count: 2 * slots + 2)
        var keyStamp = [Int](repeating: -1, count: 2 * slots + 2)
        var generation = 0
        var best: (size: Int, cost: (Int, Int))? = nil
        for size in candidates {
            var rotations = 0, newKeys = 0
            generation += 1
            let keyGeneration = generation
            for offsets in inputOffsets {
                generation += 1
                for k in offsets {
                    let baby = k - floorDivide(k, size) * size
                    if baby == 0 || stamp[baby] == generation { continue }
                    stamp[baby] = generation
                    rotations += 1
                    let step = signedOffset(baby, slots: slots) + slots
                    if keyStamp[step] != keyGeneration {
                        keyStamp[step] = keyGeneration
                        if !existingKeys.contains(step - slots) { newKeys += 1 }
                    }
                }
            }
            for offsets in outputOffsets {
                generation += 1
                for k in offsets {
                    let giant = floorDivide(k, size)
                    let index = giant + slots
                    if giant == 0 || stamp[index] == generation { continue }
                    stamp[index] = generation
                    rotations += 1
                    let step = signedOffset(size * giant, slots: slots) + slots
                    if keyStamp[step] != keyGeneration {
                        keyStamp[step] = keyGeneration
                        if !existingKeys.contains(step - slots) { newKeys += 1 }
                    }
                }
            }
            let cost = (rotations + newKeys, rotations)
            if best == nil || cost < best!.cost { best = (size, cost) }
        }
        return plan(babyStepSize: best?.size ?? 1)
    }

    /// Emits y = A·x + b on the ciphertexts `inputs` (one per input ciphertext) with `plan` (default: `bestPlan` reusing
    /// the rotation keys the program already needs):
    /// one hoisted rotation per input for the baby steps, one fused sum of plaintext products per (output, giant step) (`mulPlainSum`; diagonals
    /// pre-rotated by −giant step in plaintext), one rotation per (output, giant step), bias by addPlain. Exactly one
    /// plaintext-multiplication level. Returns one ciphertext per output ciphertext.
    public func lower(inputs: [ValueID], context: LoweringContext, plan given: BabyStepGiantStepPlan? = nil) -> [ValueID] {
        precondition(inputs.count == inputCiphertexts, "transform expects \(inputCiphertexts) input ciphertexts, got \(inputs.count)")
        precondition(context.slots == slots, "transform built for \(slots) slots, context has \(context.slots)")
        let plan = given ?? bestPlan(existingKeys: Set(context.program.keys.rotationSteps))
        let size = plan.babyStepSize
        // Baby steps: one hoisted rotation per input ciphertext.
        var rotated = [[Int: ValueID]](repeating: [:], count: inputCiphertexts)
        for (input, steps) in plan.babySteps.enumerated() where !steps.isEmpty {
            let results = context.rotateHoisted(inputs[input], by: steps)
            for (step, value) in zip(steps, results) { rotated[input][step] = value }
        }
        // Group the diagonals of each output by giant step.
        var terms = [[Int: [(input: Int, baby: Int, diagonal: Int)]]](repeating: [:], count: outputCiphertexts)
        for (index, key) in keys.enumerated() {
            let (j, b) = split(key.offset, babyStepSize: size)
            terms[key.output][j, default: []].append((key.input, b, index))
        }
        var outputs: [ValueID] = []
        outputs.reserveCapacity(outputCiphertexts)
        for output in 0..<outputCiphertexts {
            var giantTerms: [ValueID] = []
            for j in terms[output].keys.sorted() {
                let shift = size * j
                let products = terms[output][j]!.map { term in
                    (rotated[term.input][term.baby]!, patterns[term.diagonal].rotated(by: -shift))
                }
                giantTerms.append(context.rotate(context.mulPlainSum(products), by: shift))
            }
            var result: ValueID
            if let sum = context.sum(giantTerms) {
                result = sum
            } else {
                // A block row without any nonzero entry: a zero ciphertext at the same level cost as the others.
                result = context.mulConst(inputs[0], 0)
            }
            if let bias = bias[output] { result = context.addPlain(result, pattern: bias) }
            outputs.append(result)
        }
        return outputs
    }
}
