import CipherIR

/// Where to bootstrap, chosen for the whole program at once: a dynamic program over (cut point, level) states.
///
/// **Cut points** are the values the activation lowering marks (`CompilationState.activationDepths`): activation
/// inputs, the single values a composite polynomial narrows to between stages, and activation outputs. Bootstrapping
/// happens only there, so a polynomial is never refreshed power by power.
///
/// **Level model.** The leveling pass drops one level per product (`mul`, `mulPlain`, `mulConst`, `mulPlainSum`,
/// `linearMap`) and brings the operands of everything else to their lowest level. So a value's level is a max-plus
/// function of the levels its cut points left with: level(v) = min over sources s of (level(s) − d(s, v)), where d is
/// the largest number of products on a path from s to v that meets no other cut. Program inputs and client refreshes
/// are sources at the top level. Every value must keep level ≥ 0.
///
/// **Dynamic program.** Cut points are visited in program order; a state is the level of every cut still read later
/// (a residual block's skip value and its main branch are both open, so the add that joins them sees both levels and
/// the branches agree by construction). At each cut: keep its level, or bootstrap it to the top. States that leave
/// any later value below level 0 die; among states with the same open levels the cheapest survives, where the cost
/// is (number of bootstraps, then the sum over bootstraps of how early they run): each bootstrap costs the same
/// predicted time (the cost model's `bootstrap`), and a later one leaves values at lower levels, where every operation
/// is cheaper. On a chain this is the greedy "refresh only when the next cut cannot be reached" (the gas-station
/// argument), which is optimal; across residual joins the state keeps both branches.
struct BootstrapPlanner {
    /// The cut values to bootstrap (source value ids), or nil when the model finds no feasible placement (the
    /// leveling pass then falls back to bootstrapping values as they run out).
    let chosen: Set<ValueID>?
    /// Bootstraps the plan makes and the largest number of states any cut held.
    let bootstrapCount: Int
    let largestFrontier: Int

    /// The most states the program keeps per cut point; beyond it the planner gives up (`chosen` is nil) and the
    /// leveling pass places bootstraps greedily.
    static let frontierLimit = 20_000

    init(program: Program, cuts marked: Set<ValueID>, topLevel: Int) {
        let bound = program.valueIDBound
        // Sources of each value: cut index (or −1 − k for fixed sources at the top) → products since it.
        var sources = [[Int: Int]?](repeating: nil, count: bound)
        var cutIndex = [Int](repeating: -1, count: bound)
        var cutValues: [ValueID] = []
        var cutDependencies: [[Int: Int]] = []  // for each cut, its sources (cut index or fixed) → d
        var fixedCount = 0
        var sinks: [[Int: Int]] = []  // outputs: sources → d
        func merged(_ operands: [ValueID]) -> [Int: Int] {
            var result: [Int: Int] = [:]
            for operand in operands {
                guard Int(operand.raw) < bound, let map = sources[Int(operand.raw)] else { continue }
                for (source, depth) in map { result[source] = max(result[source] ?? 0, depth) }
            }
            return result
        }
        for instruction in program.instructions {
            let traits = instruction.opcode.traits
            var map: [Int: Int]
            switch instruction.opcode {
            case .input, .refresh, .bootstrap:
                fixedCount += 1
                map = [-fixedCount: 0]
            case .output:
                sinks.append(merged(instruction.operands))
                continue
            default:
                guard traits.resultKind == .ciphertext else { continue }
                map = merged(instruction.operands)
                if Self.consumesLevel(instruction.opcode) { for key in map.keys { map[key]! += 1 } }
            }
            for result in instruction.results {
                var own = map
                if marked.contains(result), cutIndex[Int(result.raw)] < 0 {
                    cutIndex[Int(result.raw)] = cutValues.count
                    cutDependencies.append(map)
                    own = [cutValues.count: 0]
                    cutValues.append(result)
                }
                sources[Int(result.raw)] = own
            }
        }

        // The DP. Last reader of each cut: the cut (or, for outputs, count) after which its level no longer matters.
        let cutCount = cutValues.count
        var lastReader = [Int](repeating: -1, count: cutCount)
        for (k, dependencies) in cutDependencies.enumerated() { for source in dependencies.keys where source >= 0 { lastReader[source] = k } }
        for sink in sinks { for source in sink.keys where source >= 0 { lastReader[source] = cutCount } }

        struct State { var levels: [Int: Int]; var bootstraps: Int; var earliness: Int; var trail: Int }
        var trailNodes: [(cut: Int, previous: Int)] = []  // bootstrapped cuts, linked backwards
        var frontier: [State] = [State(levels: [:], bootstraps: 0, earliness: 0, trail: -1)]
        var largest = 1
        var feasible = true
        func level(of source: Int, in levels: [Int: Int]) -> Int { source < 0 ? topLevel : (levels[source] ?? topLevel) }
        func levelThrough(_ dependencies: [Int: Int], _ levels: [Int: Int]) -> Int {
            dependencies.reduce(topLevel) { min($0, level(of: $1.key, in: levels) - $1.value) }
        }
        for k in 0..<cutCount {
            var next: [[Int: Int]: State] = [:]
            func offer(_ candidate: State) {
                if let existing = next[candidate.levels],
                   (existing.bootstraps, existing.earliness) <= (candidate.bootstraps, candidate.earliness) { return }
                next[candidate.levels] = candidate
            }
            for state in frontier {
                let arriving = levelThrough(cutDependencies[k], state.levels)
                guard arriving >= 0 else { continue }
                var closed = state.levels
                for source in cutDependencies[k].keys where source >= 0 && lastReader[source] == k { closed[source] = nil }
                if lastReader[k] > k {
                    var keep = closed
                    keep[k] = arriving
                    offer(State(levels: keep, bootstraps: state.bootstraps, earliness: state.earliness, trail: state.trail))
                    if arriving < topLevel {
                        var refreshed = closed
                        refreshed[k] = topLevel
                        trailNodes.append((k, state.trail))
                        offer(State(levels: refreshed, bootstraps: state.bootstraps + 1, earliness: state.earliness + (cutCount - k),
                                    trail: trailNodes.count - 1))
                    }
                } else {
                    offer(State(levels: closed, bootstraps: state.bootstraps, earliness: state.earliness, trail: state.trail))
                }
            }
            frontier = Array(next.values)
            largest = max(largest, frontier.count)
            if frontier.isEmpty || frontier.count > Self.frontierLimit { feasible = false; break }
        }
        let best = feasible
            ? frontier.filter { state in sinks.allSatisfy { levelThrough($0, state.levels) >= 0 } }
                .min { ($0.bootstraps, $0.earliness) < ($1.bootstraps, $1.earliness) }
            : nil
        largestFrontier = largest
        guard let best else {
            chosen = nil
            bootstrapCount = 0
            return
        }
        var picked = Set<ValueID>()
        var node = best.trail
        while node >= 0 {
            picked.insert(cutValues[trailNodes[node].cut])
            node = trailNodes[node].previous
        }
        chosen = picked
        bootstrapCount = best.bootstraps
    }

    /// Ops after which the leveling pass drops one level (a product's rescale).
    static func consumesLevel(_ opcode: Opcode) -> Bool {
        switch opcode {
        case .mul, .mulPlain, .mulConst, .mulPlainSum, .mulEncodeSum, .linearMap: return true
        default: return false
        }
    }
}
