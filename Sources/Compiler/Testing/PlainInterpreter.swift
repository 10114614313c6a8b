import CipherIR
import TensorIR

/// Errors of the plaintext interpreter (bad programs or inputs, never crashes).
public enum PlainInterpreterError: Error, Equatable, CustomStringConvertible {
    case missingInput(String)
    case inputShape(name: String, expected: [Int], got: [Int])
    case undefinedValue(instruction: Int, ValueID)
    case badImmediate(instruction: Int, String)
    case unknownFunction(String)

    public var description: String {
        switch self {
        case .missingInput(let name): return "plain interpreter: no tensor given for input \"\(name)\"; pass it by name"
        case .inputShape(let name, let expected, let got):
            return "plain interpreter: input \"\(name)\" has shape \(got) but the program expects \(expected)"
        case .undefinedValue(let instruction, let value):
            return "plain interpreter: instruction \(instruction) reads \(value), which is not defined yet; verify the program"
        case .badImmediate(let instruction, let message): return "plain interpreter: instruction \(instruction): \(message)"
        case .unknownFunction(let name):
            return "refresh function \"\(name)\" is unknown; use relu, sigmoid, tanh, square, identity or clip:MIN:MAX"
        }
    }
}

/// A slot-wise function a client-aided `refresh` applies: "relu", "sigmoid", "tanh", "square", "identity",
/// or "clip:MIN:MAX" (either bound may be empty for unbounded, e.g. "clip:0:6" is ReLU6).
public enum SlotFunction: Sendable, Equatable {
    case identity, relu, square, sigmoid, tanh
    case clip(min: Double?, max: Double?)

    public init(name: String) throws(PlainInterpreterError) {
        let lower = name.lowercased()
        switch lower {
        case "identity": self = .identity
        case "relu": self = .relu
        case "square": self = .square
        case "sigmoid": self = .sigmoid
        case "tanh": self = .tanh
        case "relu6": self = .clip(min: 0, max: 6)
        default:
            let parts = lower.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 3, parts[0] == "clip" else { throw .unknownFunction(name) }
            let low = parts[1].isEmpty ? nil : Double(parts[1])
            let high = parts[2].isEmpty ? nil : Double(parts[2])
            if (!parts[1].isEmpty && low == nil) || (!parts[2].isEmpty && high == nil) { throw .unknownFunction(name) }
            self = .clip(min: low, max: high)
        }
    }

    /// The name `init(name:)` reads back.
    public var name: String {
        switch self {
        case .identity: return "identity"
        case .relu: return "relu"
        case .square: return "square"
        case .sigmoid: return "sigmoid"
        case .tanh: return "tanh"
        case .clip(let low, let high):
            func spell(_ v: Double?) -> String {
                guard let v else { return "" }
                return v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : v.description
            }
            return "clip:\(spell(low)):\(spell(high))"
        }
    }

    public func apply(_ x: Double) -> Double {
        switch self {
        case .identity: return x
        case .relu: return x > 0 ? x : 0
        case .square: return x * x
        case .sigmoid: return 1 / (1 + exp(-x))
        case .tanh: return Foundation.tanh(x)
        case .clip(let low, let high):
            var y = x
            if let low, y < low { y = low }
            if let high, y > high { y = high }
            return y
        }
    }
}

/// Runs a CipherIR program (leveled or not) on plain Double slot vectors: exact, no noise. Rescale and levelDown are
/// identities on the values (the IR's scales are bookkeeping); mulConst multiplies by the scalar value.
/// Used by tests to check lowerings against `ReferenceExecutor`.
public struct PlainInterpreter {
    public let program: Program

    public init(program: Program) { self.program = program }

    /// Packs `inputs` (by binding name) into slot vectors, runs, and unpacks the outputs (by binding name).
    public func run(inputs: [String: Tensor]) throws -> [String: Tensor] {
        var packed: [[[Double]]] = []
        for binding in program.inputs {
            guard let tensor = inputs[binding.name] else { throw PlainInterpreterError.missingInput(binding.name) }
            guard tensor.count == binding.elementCount else {
                throw PlainInterpreterError.inputShape(name: binding.name, expected: binding.shape, got: tensor.shape)
            }
            var ciphertexts = [[Double]](repeating: [Double](repeating: 0, count: binding.slots), count: binding.ciphertextCount)
            let floats = tensor.floats
            for (element, position) in binding.flatPositions().enumerated() {
                ciphertexts[position / binding.slots][position % binding.slots] = Double(floats[element])
            }
            packed.append(ciphertexts)
        }
        let outputs = try runSlots(inputs: packed)
        var result: [String: Tensor] = [:]
        for (index, binding) in program.outputs.enumerated() {
            let positions = binding.flatPositions()
            let floats = positions.map { Float(outputs[index][$0 / binding.slots][$0 % binding.slots]) }
            result[binding.name] = Tensor(shape: binding.shape, floats: floats)
        }
        return result
    }

    /// Runs on packed slot vectors: inputs[binding][ciphertext] → outputs[binding][ciphertext].
    public func runSlots(inputs: [[[Double]]]) throws -> [[[Double]]] {
        var values = [[Double]?](repeating: nil, count: program.valueIDBound)
        var outputs = program.outputs.map { [[Double]](repeating: [], count: $0.ciphertextCount) }
        var functions: [String: SlotFunction] = [:]
        for (index, instruction) in program.instructions.enumerated() {
            func operand(_ position: Int) throws -> [Double] {
                let id = instruction.operands[position]
                guard Int(id.raw) < values.count, let value = values[Int(id.raw)] else {
                    throw PlainInterpreterError.undefinedValue(instruction: index, id)
                }
                return value
            }
            // A lane value is its lanes' slot vectors one after another; a one-lane plaintext applies to every lane.
            func binary(_ f: (Double, Double) -> Double) throws -> [Double] {
                let a = try operand(0), b = try operand(1)
                if a.count == b.count { return zip(a, b).map(f) }
                return a.indices.map { f(a[$0], b[$0 % b.count]) }
            }
            let lanes = instruction.results.first.map { program.types[$0].laneCount } ?? instruction.operands.first.map { program.types[$0].laneCount } ?? 1
            var result: [Double]? = nil
            switch instruction.opcode {
            case .input:
                guard let binding = instruction.binding, binding.index < inputs.count,
                      binding.ciphertext < inputs[binding.index].count
                else { throw PlainInterpreterError.badImmediate(instruction: index, "input binding out of range") }
                guard binding.ciphertext + lanes <= inputs[binding.index].count
                else { throw PlainInterpreterError.badImmediate(instruction: index, "input lanes out of range") }
                result = Array(inputs[binding.index][binding.ciphertext..<(binding.ciphertext + lanes)].joined())
            case .output:
                guard let binding = instruction.binding, binding.index < outputs.count,
                      binding.ciphertext + lanes <= outputs[binding.index].count
                else { throw PlainInterpreterError.badImmediate(instruction: index, "output binding out of range") }
                let value = try operand(0)
                let width = value.count / lanes
                for j in 0..<lanes { outputs[binding.index][binding.ciphertext + j] = Array(value[(j * width)..<((j + 1) * width)]) }
            case .linearMap, .gather:
                guard let mapIndex = instruction.laneMapIndex, mapIndex < program.laneMaps.count
                else { throw PlainInterpreterError.badImmediate(instruction: index, "lane map out of range") }
                let map = program.laneMaps[mapIndex]
                var joined: [Double] = []
                for position in instruction.operands.indices { joined += try operand(position) }
                let width = joined.count / max(map.inputLanes, 1)
                var out = [Double](repeating: 0, count: map.outputLanes * width)
                for j in 0..<map.outputLanes {
                    map.forEachTerm(ofLane: j) { i, w in
                        for s in 0..<width { out[j * width + s] += w * joined[i * width + s] }
                    }
                    let bias = map.bias(j)
                    if bias != 0 { for s in 0..<width { out[j * width + s] += bias } }
                }
                result = out
            case .constant:
                guard let constant = instruction.constantIndex, constant < program.constants.count
                else { throw PlainInterpreterError.badImmediate(instruction: index, "constant index out of range") }
                result = program.constants[constant].values
            case .add, .addPlain: result = try binary(+)
            case .sub: result = try binary(-)
            case .mulPlain, .mul: result = try binary(*)
            case .mulPlainSum:
                var sum = [Double](repeating: 0, count: try operand(0).count)
                for pair in stride(from: 0, to: instruction.operands.count, by: 2) {
                    let a = try operand(pair), b = try operand(pair + 1)
                    for s in sum.indices { sum[s] += a[s] * b[s] }
                }
                result = sum
            case .mulEncodeSum:
                guard case .constantIndices(let indices) = instruction.immediate, indices.count == instruction.operands.count,
                      indices.allSatisfy({ $0 >= 0 && $0 < program.constants.count })
                else { throw PlainInterpreterError.badImmediate(instruction: index, "constant indices out of range") }
                var sum = [Double](repeating: 0, count: try operand(0).count)
                for (position, constant) in indices.enumerated() {
                    let a = try operand(position), b = program.constants[constant].values
                    for s in sum.indices { sum[s] += a[s] * b[s % b.count] }
                }
                result = sum
            case .negate: result = try operand(0).map { -$0 }
            case .addConst:
                let c = instruction.scalar ?? 0
                result = try operand(0).map { $0 + c }
            case .mulConst:
                let c = instruction.scalar ?? 0
                result = try operand(0).map { $0 * c }
            case .relinearize, .rescale, .levelDown, .bootstrap:
                result = try operand(0)
            case .conjugate:
                result = try operand(0)  // real slot vectors are their own conjugates
            case .rotate, .rotateHoisted:
                let x = try operand(0)
                let n = x.count / lanes
                for (k, resultID) in zip(instruction.rotationSteps, instruction.results) {
                    let shift = ((k % n) + n) % n
                    values[Int(resultID.raw)] = (0..<(n * lanes)).map { x[($0 / n) * n + ($0 % n + shift) % n] }
                }
            case .refresh:
                let name = instruction.functionName ?? ""
                let function: SlotFunction
                if let cached = functions[name] {
                    function = cached
                } else {
                    function = try SlotFunction(name: name)
                    functions[name] = function
                }
                result = try operand(0).map(function.apply)
            }
            if let result { values[Int(instruction.result.raw)] = result }
        }
        return outputs
    }
}

import Foundation
