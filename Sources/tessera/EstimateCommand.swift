import ArgumentParser
import CipherIR
import Compiler
import Foundation
import Runtime

struct Estimate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Predict a plan's time and memory: ops by kind, keys and their bytes, peak memory, time from the cost model."
    )

    @Argument(help: "The plan file (.tsp).")
    var plan: String

    @Option(name: .customLong("cost-table"), help: "Per-op times from `tessera bench ckks --json` (default: built-in estimates).")
    var costTable: String?

    @Option(name: .customLong("dram-budget"), parsing: .upToNextOption,
            help: "DRAM budgets to plan the memory for (e.g. 4G 8G 16G): peak DRAM, pool size and traffic of each schedule.")
    var dramBudgets: [String] = []

    func run() throws {
        let program = try loadPlan(plan)
        let table = try costTable.map { try CostTable(contentsOf: $0) } ?? .defaults
        let estimate = try PlanRunner.estimate(program: program, table: table)
        print(estimateReport(estimate, parameters: try program.requireParameters(), keys: program.keys))
        // Without a budget the plan's schedule only frees, and its peak is the "just in time" figure above.
        if let schedule = try MemorySchedule.decode(program.memoryPlan, for: program), let budget = schedule.budgetBytes {
            print("plan memory:  peak DRAM \(formatBytes(schedule.peakDRAMBytes)) under its \(formatBytes(budget)) budget, pool \(formatBytes(schedule.peakPoolBytes)), "
                + "\(formatBytes(schedule.bytesEvicted)) evicted, \(formatBytes(schedule.bytesPrefetched)) prefetched")
        }
        for text in dramBudgets {
            let budget = try ValueStoreSetup.parseSize(text)
            do {
                let schedule = try MemoryPlanner.plan(program, budget: budget)
                print("budget \(formatBytes(budget)): peak DRAM \(formatBytes(schedule.peakDRAMBytes)), pool \(formatBytes(schedule.peakPoolBytes)), "
                    + "\(formatBytes(schedule.bytesEvicted)) evicted, \(formatBytes(schedule.bytesPrefetched)) prefetched")
            } catch {
                print("budget \(formatBytes(budget)): \(error)")
            }
        }
    }
}

/// The text `tessera estimate` and `tessera run --backend cost` print.
func estimateReport(_ estimate: PlanRunner.Estimate, parameters: PlanParameters, keys: KeyRequirements? = nil) -> String {
    var lines: [String] = []
    lines.append("parameters:   N = 2^\(parameters.logN), L = \(parameters.maxLevel), qBits \(parameters.qBits), pBits \(parameters.pBits), dnum \(parameters.dnum)")
    lines.append("instructions: \(estimate.instructionCount)")
    for (opcode, count) in estimate.countByOp.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
        let ms = estimate.millisecondsByOp[opcode] ?? 0
        lines.append("  " + opcode.mnemonic.padding(toLength: 14, withPad: " ", startingAt: 0)
            + String(format: "%6d   %10.3f ms", count, ms))
    }
    let sizes = estimate.keySizes
    var keyLine = "keys:         "
    if let keys {
        var names: [String] = []
        if keys.relinearization { names.append("relinearization") }
        if !keys.rotationSteps.isEmpty { names.append("rotations \(keys.rotationSteps)") }
        if keys.conjugation { names.append("conjugation") }
        if keys.bootstrapping { names.append("bootstrapping") }
        keyLine += (names.isEmpty ? "none" : names.joined(separator: ", ")) + "; "
    }
    // Keys are generated only up to the highest level the plan uses them at.
    func trimmed(_ level: Int?) -> String {
        guard let level, level < parameters.maxLevel else { return "" }
        return " (trimmed to levels ≤ \(level))"
    }
    keyLine += "relinearization \(formatBytes(sizes.relinearizationBytes))\(trimmed(sizes.relinearizationLevel)), "
        + "\(sizes.galoisKeyCount) Galois keys \(formatBytes(sizes.galoisBytes))\(trimmed(sizes.highestGaloisLevel)); "
        + "\(formatBytes(sizes.totalEvaluationKeyBytes)) in all"
    lines.append(keyLine)
    lines.append("memory:       peak live ciphertexts \(formatBytes(estimate.peakCiphertextBytes)) (\(estimate.peakLiveCiphertexts) values); with plaintexts encoded just in time \(formatBytes(estimate.peakLiveBytes)); eval keys \(formatBytes(sizes.totalEvaluationKeyBytes)); peak \(formatBytes(estimate.peakMemoryBytes))")
    lines.append("constants:    \(formatBytes(estimate.storedConstantBytes)) in the plan; \(formatBytes(estimate.constantBytes)) if every plaintext were kept encoded")
    lines.append(String(format: "time:         %.3f ms predicted (one thread, cost model)", estimate.predictedMilliseconds))
    return lines.joined(separator: "\n")
}
