import CipherIR
import CKKS
import Foundation
import Testing
@testable import Runtime

/// Regression: plans with a ciphertext × ciphertext `mul` (x² activations) must simulate to finite
/// values close to the exact answer, as CKKS computes them.
@Suite struct SimulatorRegressionTests {
    /// y = ((x + 0.75) · (−1.5·x))², with the addConst result brought down a level to meet the
    /// mulConst result, and the square of a rescaled product (mul → relinearize → rescale twice).
    static let text = """
        cipher_ir version=1

        params {
          logN=12
          qBits=[60, 40, 40, 40]
          pBits=[60, 60]
          dnum=2
          secret=sparse_ternary(192)
          errorStdDev=3.2
          log2DefaultScale=40
          security="insecure"
        }

        keys {
          relinearization=true
          conjugation=false
          bootstrapping=false
          rotations=[]
        }

        input "x" shape=[8] ciphertexts=1 slots=8 level=3 scale=2^40 layout=contiguous
        output "y" shape=[8] ciphertexts=1 slots=8 layout=contiguous

        %0 = input "x"[0] : ct<slots=8, level=3, scale=2^40>
        %1 = addConst %0 value=0.75 : ct<slots=8, level=3, scale=2^40>
        %2 = mulConst %0 value=-1.5 scale=2^40 : ct<slots=8, level=3, scale=2^80>
        %3 = rescale %2 : ct<slots=8, level=2, scale=2^40>
        %4 = levelDown %1 level=2 : ct<slots=8, level=2, scale=2^40>
        %5 = mul %4, %3 : ct<slots=8, level=2, scale=2^80>
        %6 = relinearize %5 : ct<slots=8, level=2, scale=2^80>
        %7 = rescale %6 : ct<slots=8, level=1, scale=2^40>
        %8 = mul %7, %7 : ct<slots=8, level=1, scale=2^80>
        %9 = relinearize %8 : ct<slots=8, level=1, scale=2^80>
        %10 = rescale %9 : ct<slots=8, level=0, scale=2^40>
        output %10 -> "y"[0]
        """

    static func exact(_ x: [Double]) -> [Double] {
        x.map { (v: Double) -> Double in
            let t = (v + 0.75) * (-1.5 * v)
            return t * t
        }
    }

    @Test func mulAfterAddConstMulConstAndLevelDownSimulatesFinitely() throws {
        let program = try Program(parsing: Self.text)
        try program.verify()
        let input = Examples.input(count: 8, seed: 11)
        let expected = Self.exact(input)
        let (outputs, _) = try PlanRunner.simulate(program: program, inputs: ["x": ([8], input)])
        let output = outputs[0]
        #expect(output.values.count == 8)
        let finiteValues = output.values.allSatisfy { $0.isFinite }
        let finiteIdeal = output.ideal.allSatisfy { $0.isFinite }
        let positiveErrors = output.predictedError.allSatisfy { $0.isFinite && $0 > 0 }
        #expect(finiteValues, "simulated values: \(output.values)")
        #expect(finiteIdeal)
        #expect(positiveErrors, "predicted: \(output.predictedError)")
        #expect(output.predictedErrorBits.isFinite)
        // The exact answer is reproduced exactly; the noise-free CKKS values up to constant rounding
        // and scale relabeling (far below 2^-16 at scale 2^40).
        #expect(maxAbsoluteError(output.ideal, expected) < 1e-12)
        #expect(maxAbsoluteError(output.values, expected) < 0x1p-16)
        // Predicted error of a depth-3 plan at scale 2^40 on a 2^12 ring: small but not zero.
        #expect(output.predictedErrorBits < -16 && output.predictedErrorBits > -40, "2^\(output.predictedErrorBits)")
    }

    @Test func simulatorMatchesCKKSOnTheSamePlan() throws {
        let program = try PlanFile.decode(PlanFile.encode(try Program(parsing: Self.text)))
        let session = try PlanSession(program: program)
        let keys = try session.generateKeys(seed: 5)
        let input = Examples.input(count: 8, seed: 11)
        let encryptor = CKKSEncryptor(parameters: session.parameters, secretKey: keys.secretKey, seed: 6)
        let ciphertexts = try session.encryptInputs(["x": ([8], input)], encryptor: encryptor)
        let result = try PlanRunner.runCKKS(session: session, inputs: ciphertexts, relinearizationKey: keys.relinearizationKey,
                                            galoisKeys: keys.galoisKeys)
        let decryptor = CKKSDecryptor(parameters: session.parameters, secretKey: keys.secretKey)
        let decrypted = try session.decryptOutputs(result.outputs, decryptor: decryptor)[0].values
        let simulated = try PlanRunner.simulate(program: program, inputs: ["x": ([8], input)]).outputs[0]
        let expected = Self.exact(input)
        let ckksError = maxAbsoluteError(decrypted, expected)
        #expect(ckksError < 0x1p-12)
        // The simulator's per-element prediction bounds the CKKS error (8 standard deviations).
        for i in 0..<8 {
            #expect(abs(decrypted[i] - simulated.values[i]) <= 8 * simulated.predictedError[i] + 1e-12,
                    "slot \(i): CKKS \(decrypted[i]), simulated \(simulated.values[i]) ± \(simulated.predictedError[i])")
        }
    }
}
