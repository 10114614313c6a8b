import CipherIR

/// Hand-written programs in canonical text, shared by the tests. Their annotated facts were worked
/// out by hand from the rules in ir-spec/cipher-ir.md (rescale at level ℓ divides by 2^qBits[ℓ]).
enum Golden {
    /// y = Σ x_i·w_i for 8 slots: one plaintext multiply, then a rotate-and-add tree (steps 4, 2, 1).
    static let dotProduct = """
        cipher_ir version=1

        params {
          logN=13
          qBits=[60, 50, 45, 40]
          pBits=[61]
          dnum=1
          secret=uniform_ternary
          errorStdDev=3.2
          log2DefaultScale=40
          security="HE-128-classic"
        }

        keys {
          relinearization=false
          conjugation=false
          bootstrapping=false
          rotations=[1, 2, 4]
        }

        input "x" shape=[8] ciphertexts=1 slots=8 level=3 scale=2^40 layout=contiguous
        output "y" shape=[1] ciphertexts=1 slots=8 layout=contiguous

        constant @0 level=3 scale=2^40 values=[0.5, -1.0, 2.0, 0.25, 1.5, -0.75, 3.0, 1.0]

        %0 = input "x"[0] : ct<slots=8, level=3, scale=2^40>
        %1 = constant @0 : pt<slots=8, level=3, scale=2^40>
        %2 = mulPlain %0, %1 : ct<slots=8, level=3, scale=2^80>
        %3 = rescale %2 : ct<slots=8, level=2, scale=2^40>
        %4 = rotate %3 step=4 : ct<slots=8, level=2, scale=2^40>
        %5 = add %3, %4 : ct<slots=8, level=2, scale=2^40>
        %6 = rotate %5 step=2 : ct<slots=8, level=2, scale=2^40>
        %7 = add %5, %6 : ct<slots=8, level=2, scale=2^40>
        %8 = rotate %7 step=1 : ct<slots=8, level=2, scale=2^40>
        %9 = add %7, %8 : ct<slots=8, level=2, scale=2^40>
        output %9 -> "y"[0]

        """

    /// y = x³ + 0.5·x slot-wise, x at level 3; x³ ends at level 1, 0.5·x is brought down to meet it.
    static let polynomial = """
        cipher_ir version=1

        params {
          logN=13
          qBits=[60, 40, 40, 40]
          pBits=[61]
          dnum=1
          secret=sparse_ternary(192)
          errorStdDev=3.2
          log2DefaultScale=40
          security="HE-128-classic"
        }

        keys {
          relinearization=true
          conjugation=false
          bootstrapping=false
          rotations=[]
        }

        input "x" shape=[2, 4] ciphertexts=1 slots=8 level=3 scale=2^40 layout=contiguous
        output "y" shape=[2, 4] ciphertexts=1 slots=8 layout=contiguous

        %0 = input "x"[0] : ct<slots=8, level=3, scale=2^40>
        %1 = mul %0, %0 : ct<slots=8, level=3, scale=2^80>
        %2 = relinearize %1 : ct<slots=8, level=3, scale=2^80>
        %3 = rescale %2 : ct<slots=8, level=2, scale=2^40>
        %4 = levelDown %0 level=2 : ct<slots=8, level=2, scale=2^40>
        %5 = mul %3, %4 : ct<slots=8, level=2, scale=2^80>
        %6 = relinearize %5 : ct<slots=8, level=2, scale=2^80>
        %7 = rescale %6 : ct<slots=8, level=1, scale=2^40>
        %8 = mulConst %0 value=0.5 scale=2^40 : ct<slots=8, level=3, scale=2^80>
        %9 = rescale %8 : ct<slots=8, level=2, scale=2^40>
        %10 = levelDown %9 level=1 : ct<slots=8, level=1, scale=2^40>
        %11 = add %7, %10 : ct<slots=8, level=1, scale=2^40>
        output %11 -> "y"[0]

        """

    /// y = M·x for M[j][k] = 4j + k + 1 by diagonals: y = Σ_i d_i ⊙ rot(x, i), d_i[j] = M[j][(j+i) mod 4],
    /// with the three rotations hoisted. Most facts are left for the verifier to infer.
    static let matrixVector = """
        cipher_ir version=1

        params {
          logN=12
          qBits=[50, 30, 40]
          pBits=[60]
          dnum=1
          secret=uniform_ternary
          errorStdDev=3.2
          log2DefaultScale=40
          security="HE-128-classic"
        }

        keys {
          relinearization=false
          conjugation=false
          bootstrapping=false
          rotations=[1, 2, 3]
        }

        input "x" shape=[4] ciphertexts=1 slots=4 level=2 scale=2^40 layout=contiguous
        output "y" shape=[4] ciphertexts=1 slots=4 layout=explicit[0, 1, 2, 3]

        constant @0 level=2 scale=2^40 values=[1.0, 6.0, 11.0, 16.0]
        constant @1 level=2 scale=2^40 values=[2.0, 7.0, 12.0, 13.0]
        constant @2 level=2 scale=2^40 values=[3.0, 8.0, 9.0, 14.0]
        constant @3 level=2 scale=2^40 values=[4.0, 5.0, 10.0, 15.0]

        %0 = input "x"[0] : ct<slots=4, level=2, scale=2^40>
        %1, %2, %3 = rotateHoisted %0 steps=[1, 2, 3] : ct<slots=4, level=2, scale=2^40>, ct, ct<level=2>
        %4 = constant @0
        %5 = mulPlain %0, %4
        %6 = constant @1
        %7 = mulPlain %1, %6
        %8 = add %5, %7
        %9 = constant @2
        %10 = mulPlain %2, %9
        %11 = add %8, %10
        %12 = constant @3
        %13 = mulPlain %3, %12
        %14 = add %11, %13 : ct<slots=4, level=2, scale=2^80>
        %15 = rescale %14
        output %15 -> "y"[0]

        """

    static let all = [("dotProduct", dotProduct), ("polynomial", polynomial), ("matrixVector", matrixVector)]
}

/// A plaintext evaluator of CipherIR semantics (no encryption, no noise), written independently of
/// the library, to show the golden programs compute what they claim.
/// The golden programs have no lane values; the compiler's `PlainInterpreter` evaluates lane ops.
struct LaneOpsNotEvaluated: Error {}

enum PlainEvaluator {
    static func run(_ text: String, inputs: [String: [Double]]) throws -> [String: [Double]] {
        let program = try Program(parsing: text)
        var values: [UInt32: [Double]] = [:]
        var outputs: [String: [Double]] = [:]
        for binding in program.outputs { outputs[binding.name] = [Double](repeating: .nan, count: binding.elementCount) }
        for instruction in program.instructions {
            func operand(_ index: Int) -> [Double] { values[instruction.operands[index].raw]! }
            var result: [Double] = []
            switch instruction.opcode {
            case .input:
                let binding = program.inputs[instruction.binding!.index]
                result = [Double](repeating: 0, count: binding.slots)
                let tensor = inputs[binding.name]!
                for element in 0..<binding.elementCount {
                    let location = binding.location(ofElement: element)
                    if location.ciphertext == instruction.binding!.ciphertext { result[location.slot] = tensor[element] }
                }
            case .output:
                let binding = program.outputs[instruction.binding!.index]
                for element in 0..<binding.elementCount {
                    let location = binding.location(ofElement: element)
                    if location.ciphertext == instruction.binding!.ciphertext { outputs[binding.name]![element] = operand(0)[location.slot] }
                }
                continue
            case .constant: result = program.constants[instruction.constantIndex!].values
            case .add, .addPlain: result = zip(operand(0), operand(1)).map(+)
            case .sub: result = zip(operand(0), operand(1)).map(-)
            case .mul, .mulPlain: result = zip(operand(0), operand(1)).map(*)
            case .mulPlainSum:
                result = stride(from: 0, to: instruction.operands.count, by: 2).map { zip(operand($0), operand($0 + 1)).map(*) }
                    .reduce(into: [Double](repeating: 0, count: operand(0).count)) { sum, product in for s in sum.indices { sum[s] += product[s] } }
            case .mulEncodeSum:
                guard case .constantIndices(let indices) = instruction.immediate else { throw LaneOpsNotEvaluated() }
                result = indices.enumerated().map { zip(operand($0.offset), program.constants[$0.element].values).map(*) }
                    .reduce(into: [Double](repeating: 0, count: operand(0).count)) { sum, product in for s in sum.indices { sum[s] += product[s] } }
            case .negate: result = operand(0).map { -$0 }
            case .addConst: result = operand(0).map { $0 + instruction.scalar! }
            case .mulConst: result = operand(0).map { $0 * instruction.scalar! }
            case .relinearize, .rescale, .levelDown, .bootstrap: result = operand(0)
            case .conjugate: result = operand(0)
            case .refresh: result = operand(0).map { instruction.functionName == "relu" ? max(0, $0) : $0 }
            case .linearMap, .gather:
                throw LaneOpsNotEvaluated()
            case .rotate, .rotateHoisted:
                let source = operand(0)
                let n = source.count
                for (step, id) in zip(instruction.rotationSteps, instruction.results) {
                    values[id.raw] = (0..<n).map { source[(($0 + step) % n + n) % n] }
                }
                continue
            }
            values[instruction.results[0].raw] = result
        }
        return outputs
    }
}
