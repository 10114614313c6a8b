import CipherIR
import Foundation
import Runtime

/// Reads a plan file, turning its typed error into the command's error message.
func loadPlan(_ path: String) throws -> Program {
    do {
        return try PlanFile.read(path: path)
    } catch {
        throw CommandError("cannot use plan '\(path)': \(error)")
    }
}

/// `tessera dump PLAN.tsp [--stage cipher] [--format text|json|dot]`: the plan's program in `format`
/// (see `formatPlan`).
func dumpPlan(path: String, format: String) throws -> String {
    try formatPlan(try loadPlan(path), format: format)
}

/// A program as CipherIR text (the canonical form, which `tessera assemble` reads back), as JSON, or
/// as a Graphviz data-flow graph (`format`: text, json or dot).
func formatPlan(_ program: Program, format: String) throws -> String {
    switch format {
    case "text":
        return program.text
    case "json":
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try encoder.encode(program), as: UTF8.self) + "\n"
    case "dot":
        return planDot(program)
    default:
        throw CommandError("unknown format '\(format)'; use text, json or dot")
    }
}

/// The data flow of a plan as a Graphviz digraph: one node per instruction, edges from each value's
/// definition to its uses, labeled with the value and its level when known.
func planDot(_ program: Program) -> String {
    let types = program.inferredTypes()
    var definedBy: [ValueID: Int] = [:]
    var lines = ["digraph plan {", "  rankdir=TB;", "  node [shape=box, fontname=\"Helvetica\", fontsize=10];"]
    for (index, instruction) in program.instructions.enumerated() {
        var label = instruction.opcode.mnemonic
        switch instruction.immediate {
        case .binding(let binding, let ciphertext):
            let bindings = instruction.opcode == .input ? program.inputs : program.outputs
            label += " \(bindings[binding].name)[\(ciphertext)]"
        case .constantIndex(let k): label += " @\(k)"
        case .scalar(let value): label += " \(value)"
        case .scaledScalar(let value, _): label += " \(value)"
        case .rotationStep(let step): label += " \(step)"
        case .rotationSteps(let steps): label += " \(steps)"
        case .targetLevel(let level): label += " → \(level)"
        case .refresh(let function, let level): label += " \(function) → \(level)"
        case .laneMap(let k), .scaledLaneMap(let k, _): label += " #\(k)"
        case .constantIndices(let indices): label += " \(indices.map { "@\($0)" })"
        case .none: break
        }
        let shape = instruction.opcode.traits.costClass == .keySwitch || instruction.opcode.traits.costClass == .hoistedKeySwitch
            ? ", style=filled, fillcolor=\"#f4cccc\"" : ""
        lines.append("  i\(index) [label=\"\(label.replacingOccurrences(of: "\"", with: "\\\""))\"\(shape)];")
        for operand in instruction.operands {
            if let source = definedBy[operand] {
                let level = types[operand].level.map { " ℓ\($0)" } ?? ""
                lines.append("  i\(source) -> i\(index) [label=\"\(operand)\(level)\", fontsize=8];")
            }
        }
        for result in instruction.results { definedBy[result] = index }
    }
    lines.append("}")
    return lines.joined(separator: "\n") + "\n"
}
