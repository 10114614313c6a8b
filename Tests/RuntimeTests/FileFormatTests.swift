import CipherIR
import CKKS
import Foundation
import Testing
@testable import Runtime

@Suite struct FileFormatTests {
    static func problem(_ body: () throws -> Void) -> RuntimeError.FileProblem? {
        do {
            try body()
        } catch let RuntimeError.file(_, reason) {
            return reason
        } catch {
            Issue.record("unexpected error \(error)")
        }
        return nil
    }

    @Test func keyFilesRoundTripAndRejectDamage() throws {
        let fixture = try CKKSFixture("dot_product")
        let session = fixture.session
        let skPath = temporaryPath("sk.tsk"), ekPath = temporaryPath("ek.tek"), pkPath = temporaryPath("pk.tpk")
        defer { for path in [skPath, ekPath, pkPath] { unlink(path) } }
        try session.writeSecretKey(fixture.keys.secretKey, to: skPath)
        try session.writePublicKey(fixture.keys.publicKey, to: pkPath)
        try session.writeEvaluationKeys(relinearizationKey: nil, galoisKeys: fixture.keys.galoisKeys, to: ekPath)
        #expect(try session.readSecretKey(path: skPath).coefficients == fixture.keys.secretKey.coefficients)
        #expect(try session.readPublicKey(path: pkPath).b == fixture.keys.publicKey.b)
        #expect(try session.readEvaluationKeys(path: ekPath).galois?.galoisElements == fixture.keys.galoisKeys?.galoisElements)

        let original = try PlanFile.readBytes(path: skPath)
        // A flipped byte anywhere.
        for offset in [0, 9, 20, 40, original.count / 2, original.count - 1] {
            var damaged = original
            damaged[offset] ^= 0x10
            let reason = Self.problem { _ = try TesseraFile.decode(damaged, path: "sk", kind: .secretKey, fingerprint: session.keySetFingerprint) }
            #expect(reason != nil, "flip at \(offset) accepted")
        }
        // Truncation.
        for length in [0, 3, 20, original.count - 1] {
            let reason = Self.problem {
                _ = try TesseraFile.decode(Array(original.prefix(length)), path: "sk", kind: .secretKey, fingerprint: session.keySetFingerprint)
            }
            if length < 4 { #expect(reason == .notATesseraFile) } else { #expect(reason.map { "\($0)".contains("truncated") } == true) }
        }
        // Another version (checksum recomputed so only the version differs).
        var otherVersion = Array(original.dropLast(4))
        otherVersion[8] = 2
        TesseraFile.append(CRC32.checksum(otherVersion), to: &otherVersion)
        #expect(Self.problem { _ = try TesseraFile.decode(otherVersion, path: "sk", kind: .secretKey, fingerprint: nil) }
            == .unsupportedVersion(found: 2, supported: 1))
        // The wrong kind of file.
        #expect(Self.problem { _ = try session.readSecretKey(path: ekPath) } == .wrongKind(expected: "a secret key", found: "evaluation keys"))
        // Keys from another plan (other rotation steps).
        var other = session.program
        other.keys = KeyRequirements(rotationSteps: [1, 2])
        let otherSession = PlanSession(program: other, parameters: session.parameters)
        #expect(Self.problem { _ = try otherSession.readEvaluationKeys(path: ekPath) }
            == .wrongPlan(expected: otherSession.keySetFingerprint, found: session.keySetFingerprint))
        // A plan is not a key file.
        let planPath = temporaryPath("plan.tsp")
        defer { unlink(planPath) }
        try PlanFile.write(session.program, to: planPath)
        #expect(Self.problem { _ = try session.readSecretKey(path: planPath) } == .wrongKind(expected: "a secret key", found: "a plan"))
    }

    /// The evaluation-key file holds no secret: neither the secret key's coefficients nor any limb
    /// of s in NTT form appear in its bytes.
    @Test func evaluationKeysHoldNoSecret() throws {
        let fixture = try CKKSFixture("polynomial")
        let ekPath = temporaryPath("ek.tek")
        defer { unlink(ekPath) }
        try fixture.session.writeEvaluationKeys(relinearizationKey: fixture.keys.relinearizationKey, galoisKeys: nil, to: ekPath)
        let bytes = try PlanFile.readBytes(path: ekPath)
        #expect(bytes.count > 100_000)
        let secret = fixture.keys.secretKey
        func contains(_ needle: [UInt8]) -> Bool {
            guard needle.count <= bytes.count else { return false }
            let first = needle[0]
            var i = 0
            while i <= bytes.count - needle.count {
                if bytes[i] == first, Array(bytes[i..<(i + needle.count)]) == needle { return true }
                i += 1
            }
            return false
        }
        let coefficientBytes = secret.coefficients.map { UInt8(bitPattern: Int8($0)) }
        #expect(!contains(Array(coefficientBytes.prefix(64))))
        for limb in 0..<secret.polynomial.limbCount {
            let words = Array(secret.polynomial.limbValues(limb).prefix(8))
            let needle = words.flatMap { word in (0..<8).map { UInt8(truncatingIfNeeded: word >> (8 * UInt64($0))) } }
            #expect(!contains(needle), "limb \(limb) of the secret key found in the evaluation keys")
        }
        // The secret-key file does contain it (the search works).
        let skPath = temporaryPath("sk.tsk")
        defer { unlink(skPath) }
        try fixture.session.writeSecretKey(secret, to: skPath)
        let skBytes = try PlanFile.readBytes(path: skPath)
        #expect(skBytes.count < 8192)
        #expect(String(decoding: skBytes, as: UTF8.self).isEmpty == false)
        #expect(skBytes.firstRange(of: Array(coefficientBytes.prefix(64))) != nil)
    }

    @Test func tensorFilesBelongToTheirPlan() throws {
        let fixture = try CKKSFixture("matrix_vector")
        let path = temporaryPath("in.tct")
        defer { unlink(path) }
        try fixture.session.writeCiphertexts(fixture.ciphertexts, kind: .inputs, to: path)
        let back = try fixture.session.readCiphertexts(path: path, kind: .inputs)
        #expect(fixture.bytes(back) == fixture.bytes(fixture.ciphertexts))
        // As outputs: the wrong kind.
        #expect(Self.problem { _ = try fixture.session.readCiphertexts(path: path, kind: .outputs) }
            == .wrongKind(expected: "output ciphertexts", found: "input ciphertexts"))
        // For another plan (one constant changed): refused.
        var other = fixture.session.program
        other.constants[0].values[0] = 2
        let otherSession = PlanSession(program: other, parameters: fixture.session.parameters)
        #expect(Self.problem { _ = try otherSession.readCiphertexts(path: path, kind: .inputs) }
            == .wrongPlan(expected: otherSession.planFingerprint, found: fixture.session.planFingerprint))
        // A flipped byte inside a ciphertext limb.
        var bytes = try PlanFile.readBytes(path: path)
        bytes[bytes.count - 100] ^= 1
        try PlanFile.writeAtomically(bytes, to: path)
        #expect(Self.problem { _ = try fixture.session.readCiphertexts(path: path, kind: .inputs) } == .checksumMismatch)
    }
}
