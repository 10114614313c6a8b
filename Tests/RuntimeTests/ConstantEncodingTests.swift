import CipherIR
import CKKS
import Compiler
import Foundation
import TensorIR
import Testing
@testable import Runtime

/// Under a DRAM budget, constants read once are encoded inside the instruction that reads them (`mulEncodeSum`): the
/// plan then holds no plaintext values for them, its minimum live set shrinks, and a CKKS run gives ciphertexts
/// bit-identical to the plan that keeps them as pre-encoded values.
@Suite struct ConstantEncodingTests {
    static func graph() throws -> TensorGraph {
        var random = SeededValues(seed: 21)
        var graph = TensorGraph(name: "spatial")
        let x = graph.append(name: "x", .input, type: TensorType(shape: [1, 2, 6, 6]))
        let w = graph.append(name: "w", .constant(Tensor(shape: [3, 2, 3, 3], floats: random.floats(54))))
        let conv = graph.append(name: "conv", .conv(ConvAttributes(kernel: [3, 3], pads: [1, 1, 1, 1])), inputs: [x, w])
        let flat = graph.append(name: "flat", .flatten(axis: 1), inputs: [conv])
        let fw = graph.append(name: "fw", .constant(Tensor(shape: [4, 108], floats: random.floats(432))))
        let y = graph.append(name: "y", .linear, inputs: [flat, fw])
        graph.outputs = [y]
        try ShapeInference.run(&graph)
        return graph
    }

    static func compile(budget: Int?) throws -> Program {
        var options = CompilerOptions()
        options.layout = .spatial
        options.security = .insecure(logN: 11)
        options.dramBudget = budget
        return try ModelCompiler.compile(try graph(), options: options).program
    }

    @Test func singleUseConstantsAreEncodedJustInTime() throws {
        let pre = try Self.compile(budget: nil)
        let jit = try Self.compile(budget: 1 << 30)
        let before = pre.opcodeHistogram(), after = jit.opcodeHistogram()
        #expect((before[.mulPlainSum] ?? 0) + (before[.mulPlain] ?? 0) > 0)
        #expect((after[.mulEncodeSum] ?? 0) > 0)
        #expect((after[.constant] ?? 0) < (before[.constant] ?? 0))
        #expect(MemoryPlanner.minimumBudget(jit).bytes < MemoryPlanner.minimumBudget(pre).bytes)
        // The plan file keeps the instruction.
        #expect(try PlanFile.decode(PlanFile.encode(jit)) == jit)

        var random = SeededValues(seed: 3)
        let input = random.floats(72).map(Double.init)
        func run(_ program: Program) throws -> [[UInt8]] {
            let session = try PlanSession(program: program, checkSecurity: false)
            let keys = try session.generateKeys(seed: 5)
            let encryptor = CKKSEncryptor(parameters: session.parameters, secretKey: keys.secretKey, seed: 6)
            let ciphertexts = try session.encryptInputs(["x": ([1, 2, 6, 6], input)], encryptor: encryptor)
            let backend = CKKSBackend(parameters: session.parameters, program: program, relinearizationKey: keys.relinearizationKey,
                                      galoisKeys: keys.galoisKeys)
            let result = try Interpreter(program: program, backend: backend).run { binding, ciphertext in ciphertexts[binding][ciphertext] }
            return result.outputs[0].map { value in
                var bytes = [UInt8](repeating: 0, count: backend.storedByteCount(of: value))
                bytes.withUnsafeMutableBytes { backend.store(value, into: $0) }
                return bytes
            }
        }
        #expect(try run(jit) == run(pre))
        // And it is the plaintext answer.
        let plain = try PlainInterpreter(program: jit).run(inputs: ["x": Tensor(shape: [1, 2, 6, 6], floats: input.map(Float.init))])
        let reference = try ReferenceExecutor(graph: try Self.graph(), threads: 1).run(inputs: ["x": Tensor(shape: [1, 2, 6, 6], floats: input.map(Float.init))])
        #expect(maxAbsoluteError(try #require(plain["y"]).floats.map(Double.init), try #require(reference["y"]).floats.map(Double.init)) < 1e-4)
    }
}
