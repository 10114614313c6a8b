import Foundation
import Testing
@testable import CKKS

@Suite struct ParameterTests {
    @Test func insecureParametersAreRefusedWithTheBound() {
        // N = 2^12 allows log QP ≤ 109 at 128 bits; 60 + 40 + 40 + 61 is far over.
        let literal = CKKSParametersLiteral(logN: 12, qBits: [60, 40, 40], pBits: [61])
        #expect {
            try CKKSParameters(literal)
        } throws: { error in
            guard case let CKKSError.insecureParameters(logN, logQP, bound, _) = error else { return false }
            return logN == 12 && bound == 109 && logQP > 109 && "\(error)".contains("109")
        }
    }

    @Test func secureParametersAreAccepted() throws {
        let p = try CKKSParameters(.n14Secure)
        #expect(p.logQP <= 438)
        #expect(p.maxLevel == 7)
        let all = p.qPrimes + p.pPrimes
        #expect(Set(all).count == all.count)
        for q in all { #expect(q % UInt64(2 * p.degree) == 1) }
    }

    @Test func securityTableRows() {
        #expect(SecurityTable.maximumLogQP(logN: 15, level: .classical128) == 881)
        #expect(SecurityTable.maximumLogQP(logN: 10, level: .classical256) == 14)
        #expect(SecurityTable.maximumLogQP(logN: 13, level: .classical192) == 152)
    }

    @Test func invalidLiteralsThrow() {
        #expect(throws: CKKSError.self) { try CKKSParameters(.init(logN: 9, qBits: [30], pBits: [30], securityLevel: .insecureForTestingOnly)) }
        #expect(throws: CKKSError.self) { try CKKSParameters(.init(logN: 11, qBits: [62], pBits: [30], securityLevel: .insecureForTestingOnly)) }
        #expect(throws: CKKSError.self) { try CKKSParameters(.init(logN: 11, qBits: [40], pBits: [], securityLevel: .insecureForTestingOnly)) }
        #expect(throws: CKKSError.self) { try CKKSParameters(.init(logN: 11, qBits: [40, 40], pBits: [40], dnum: 3, securityLevel: .insecureForTestingOnly)) }
    }

    @Test func literalIsCodableAndPrimesAreDeterministic() throws {
        let literal = CKKSParametersLiteral.insecureTest(logN: 11)
        let data = try JSONEncoder().encode(literal)
        let back = try JSONDecoder().decode(CKKSParametersLiteral.self, from: data)
        #expect(back == literal)
        #expect(try CKKSParameters(back).qPrimes == (try CKKSParameters(literal).qPrimes))
        let sparse = CKKSParametersLiteral(logN: 11, qBits: [40], pBits: [40], secret: .sparseTernary(hammingWeight: 64), securityLevel: .insecureForTestingOnly)
        let decoded = try JSONDecoder().decode(CKKSParametersLiteral.self, from: try JSONEncoder().encode(sparse))
        #expect(decoded.secret == .sparseTernary(hammingWeight: 64))
    }

    @Test func sparseSecretHasExactHammingWeight() throws {
        let parameters = try CKKSParameters(.init(logN: 11, qBits: [50, 40], pBits: [50], dnum: 2, secret: .sparseTernary(hammingWeight: 32), securityLevel: .insecureForTestingOnly))
        var keygen = KeyGenerator(parameters: parameters, seed: 5)
        let sk = keygen.secretKey()
        #expect(sk.coefficients.filter { $0 != 0 }.count == 32)
        #expect(sk.coefficients.allSatisfy { abs($0) <= 1 })
    }
}
