import ArgumentParser
import CipherIR
import Foundation

struct Assemble: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Turn a text CipherIR program (.tcir) into a plan file (.tsp).",
        discussion: "Parses the program, runs the verifier (every problem is listed), fills in the value facts it can derive, and writes the plan atomically."
    )

    @Argument(help: "The text CipherIR program.")
    var program: String

    @Option(name: [.customShort("o"), .long], help: "The plan file to write.")
    var output: String

    func run() throws {
        let text: String
        do { text = try String(contentsOfFile: program, encoding: .utf8) } catch {
            throw CommandError("cannot read '\(program)': \(error.localizedDescription)")
        }
        var parsed: Program
        do { parsed = try Program(parsing: text) } catch { throw CommandError("\(program):\(error)") }
        let diagnostics = parsed.verificationDiagnostics()
        for diagnostic in diagnostics { printError("\(program): \(diagnostic)") }
        if diagnostics.contains(where: { $0.severity == .error }) {
            throw CommandError("\(program) does not verify (\(diagnostics.filter { $0.severity == .error }.count) error(s) above); fix the program")
        }
        try parsed.annotateTypes()
        do { try PlanFile.write(parsed, to: output) } catch { throw CommandError("\(error)") }
        let histogram = parsed.opcodeHistogram()
        print("wrote \(output): \(parsed.instructions.count) instructions (\(histogram.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.value) \($0.key)" }.joined(separator: ", "))), \(parsed.constants.count) constants")
    }
}
