import Foundation
import Testing

@testable import CipherIR

/// The written spec and the code must not drift apart.
@Suite struct SpecTests {
    static let specDirectory = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("ir-spec")

    func spec(_ name: String) throws -> String {
        try String(contentsOf: SpecTests.specDirectory.appendingPathComponent(name), encoding: .utf8)
    }

    @Test func theExampleInTheSpecIsTheGoldenDotProduct() throws {
        let text = try spec("cipher-ir.md")
        let example = try #require(text.components(separatedBy: "## 6. Example").last?.components(separatedBy: "```").dropFirst().first)
        #expect(example.drop(while: { $0 == "\n" }) == Substring(Golden.dotProduct))
    }

    @Test func theOpTableInTheSpecListsEveryCode() throws {
        let text = try spec("cipher-ir.md")
        for opcode in Opcode.allCases {
            let code = "0x" + String(repeating: "0", count: 4 - String(opcode.rawValue, radix: 16).count) + String(opcode.rawValue, radix: 16)
            #expect(text.contains("| \(code) | `\(opcode.mnemonic)` |"), "\(opcode) missing from the op table")
        }
        let format = try spec("plan-format.md")
        for tag in PlanFile.sectionOrder + PlanFile.reservedSections {
            #expect(format.contains("`\(tag)`"))
        }
    }
}
