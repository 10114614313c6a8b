import Foundation
import ModularArithmetic
import Testing
@testable import CKKS

/// Bootstrapping keys through their envelope: the streamed bytes are the in-memory ones, decoding gives the same keys
/// back, and `validate` names the key that does not serve a circuit.
@Suite struct BootstrapKeySerializationTests {
    static let literal = BootstrappableParametersLiteral.insecureTest(logN: 11)
    static let slots = 256

    static func keys(seed: UInt64 = 1, configuration: BootstrapConfiguration = literal.bootstrapping) throws -> (CKKSParameters, BootstrapKeys) {
        let parameters = try CKKSParameters(literal.scheme)
        var keygen = KeyGenerator(parameters: parameters, seed: seed)
        let secretKey = keygen.secretKey()
        let keys = try BootstrapKeys.generate(
            parameters: parameters, configuration: configuration, slots: slots, secretKey: secretKey, keyGenerator: &keygen, ephemeralSeed: seed + 1)
        return (parameters, keys)
    }

    @Test func roundTripIsExactAndStreamedBytesAreTheSerializedOnes() throws {
        let (parameters, keys) = try Self.keys()
        #expect(keys.encapsulation != nil)
        let bytes = keys.serialized(parameters: parameters)
        #expect(bytes.count == keys.serializedByteCount(parameters: parameters))
        // Key material dominates: the envelope and the per-key headers are a few hundred bytes.
        #expect(bytes.count > keys.byteCount && bytes.count < keys.byteCount + 4096)

        var pieces = 0
        var streamed: [UInt8] = []
        try keys.serialize(parameters: parameters) { piece in
            pieces += 1
            streamed.append(contentsOf: piece)
        }
        #expect(streamed == bytes)
        #expect(pieces > 100, "the keys went out in \(pieces) pieces, not limb by limb")

        let back = try BootstrapKeys(deserializing: bytes, parameters: parameters)
        #expect(back.serialized(parameters: parameters) == bytes)
        #expect(back.galoisKeys.galoisElements == keys.galoisKeys.galoisElements)
        #expect(back.encapsulation?.hammingWeight == keys.encapsulation?.hammingWeight)
        try back.validate(parameters: parameters, configuration: Self.literal.bootstrapping, slots: Self.slots)

        // Decoding in place reports every byte it has read, in order, ending at the CRC.
        var reported: [Range<Int>] = []
        _ = try bytes.withUnsafeBytes { raw in
            try BootstrapKeys(deserializing: raw, parameters: parameters) { stretch in
                let start = stretch.baseAddress! - raw.baseAddress!
                reported.append(start..<(start + stretch.count))
            }
        }
        let decoding = reported.drop { $0.upperBound < bytes.count - 4 }.dropFirst()
        #expect(decoding.count >= keys.galoisKeyCount + 3, "one report per key, got \(decoding.count)")
        #expect(zip(decoding, decoding.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
        #expect(decoding.last?.upperBound == bytes.count - 4)
    }

    @Test func keysWithoutEncapsulationRoundTrip() throws {
        var configuration = Self.literal.bootstrapping
        configuration.ephemeralHammingWeight = nil
        let (parameters, keys) = try Self.keys(configuration: configuration)
        #expect(keys.encapsulation == nil)
        let back = try BootstrapKeys(deserializing: keys.serialized(parameters: parameters), parameters: parameters)
        #expect(back.encapsulation == nil)
        try back.validate(parameters: parameters, configuration: configuration, slots: Self.slots)
        // Keys without encapsulation do not serve a configuration with an ephemeral secret, and the other way round.
        #expect(throws: BootstrapKeyError.missingEncapsulationKeys(hammingWeight: 32)) {
            try back.validate(parameters: parameters, configuration: Self.literal.bootstrapping, slots: Self.slots)
        }
        let (_, withEncapsulation) = try Self.keys()
        #expect(throws: BootstrapKeyError.unexpectedEncapsulationKeys(hammingWeight: 32)) {
            try withEncapsulation.validate(parameters: parameters, configuration: configuration, slots: Self.slots)
        }
        var otherWeight = Self.literal.bootstrapping
        otherWeight.ephemeralHammingWeight = 16
        #expect(throws: BootstrapKeyError.encapsulationWeightMismatch(found: 32, expected: 16)) {
            try withEncapsulation.validate(parameters: parameters, configuration: otherWeight, slots: Self.slots)
        }
    }

    @Test func validateNamesTheKeyThatDoesNotServeTheCircuit() throws {
        let (parameters, keys) = try Self.keys()
        let configuration = Self.literal.bootstrapping
        let layout = try BootstrapLayout(parameters: parameters, configuration: configuration, slots: Self.slots)
        let conjugation = parameters.conjugationGaloisElement

        var galois = keys.galoisKeys.keys
        galois[conjugation] = nil
        let withoutConjugation = BootstrapKeys(relinearizationKey: keys.relinearizationKey, galoisKeys: GaloisKeys(keys: galois),
                                               encapsulation: keys.encapsulation)
        let missing = #expect(throws: BootstrapKeyError.self) {
            try withoutConjugation.validate(parameters: parameters, configuration: configuration, slots: Self.slots)
        }
        #expect(missing == .missingGaloisKey(element: conjugation, name: "conjugation"))
        #expect(missing.map { "\($0)".contains("run tessera keygen again") } == true)

        // A key trimmed below the level the circuit uses it at.
        let (element, level) = try #require(layout.galoisElementLevels().filter { $0.key != conjugation && $0.value > 0 }.min { $0.key < $1.key })
        let step = try #require(layout.rotations().first { parameters.galoisElement(forRotation: $0) == element })
        galois = keys.galoisKeys.keys
        galois[element] = BootstrapKeys.trim(try #require(galois[element]), to: level - 1, parameters: parameters)
        let trimmed = BootstrapKeys(relinearizationKey: keys.relinearizationKey, galoisKeys: GaloisKeys(keys: galois), encapsulation: keys.encapsulation)
        #expect(throws: BootstrapKeyError.galoisKeyLevelTooLow(element: element, name: "rotation by \(step)", level: level - 1, needed: level)) {
            try trimmed.validate(parameters: parameters, configuration: configuration, slots: Self.slots)
        }

        let lowRelinearization = BootstrapKeys(
            relinearizationKey: RelinearizationKey(key: BootstrapKeys.trim(keys.relinearizationKey.key, to: layout.evalModLevel - 1, parameters: parameters)),
            galoisKeys: keys.galoisKeys, encapsulation: keys.encapsulation)
        #expect(throws: BootstrapKeyError.relinearizationKeyLevelTooLow(level: layout.evalModLevel - 1, needed: layout.evalModLevel)) {
            try lowRelinearization.validate(parameters: parameters, configuration: configuration, slots: Self.slots)
        }

        // Keys for another slot count lack the rotations of this one.
        #expect(throws: BootstrapKeyError.self) { try keys.validate(parameters: parameters, configuration: configuration, slots: 1024) }
    }

    @Test func damagedBytesAreRefused() throws {
        let (parameters, keys) = try Self.keys()
        let bytes = keys.serialized(parameters: parameters)
        for offset in [5, 30, bytes.count / 2, bytes.count - 1] {
            var damaged = bytes
            damaged[offset] ^= 0x04
            #expect(throws: CKKSError.self, "flip at \(offset) accepted") { try BootstrapKeys(deserializing: damaged, parameters: parameters) }
        }
        #expect(throws: CKKSError.truncatedData("envelope header")) { try BootstrapKeys(deserializing: Array(bytes.prefix(20)), parameters: parameters) }
        // Galois keys are not bootstrapping keys.
        #expect(throws: CKKSError.wrongObjectKind(expected: "bootstrapping keys", actual: "Galois keys")) {
            try BootstrapKeys(deserializing: keys.galoisKeys.serialized(parameters: parameters), parameters: parameters)
        }
        // Keys under other parameters.
        let other = try CKKSParameters(BootstrappableParametersLiteral.insecureTest(logN: 11, applicationLevels: 3).scheme)
        #expect(throws: CKKSError.parameterMismatch) { try BootstrapKeys(deserializing: bytes, parameters: other) }
    }

    @Test func runningCRCMatchesTheStandardCheckValueInAnySplit() {
        let message = Array("123456789".utf8) + Array(repeating: 0xA5, count: 1000)
        let whole = message.withUnsafeBytes { CKKSSerialization.crc32($0) }
        #expect(Array("123456789".utf8).withUnsafeBytes { CKKSSerialization.crc32($0) } == 0xCBF4_3926)
        for split in [0, 1, 7, 9, 500, message.count] {
            var crc = RunningCRC32()
            message.withUnsafeBytes { raw in
                crc.update(UnsafeRawBufferPointer(rebasing: raw[..<split]))
                crc.update(UnsafeRawBufferPointer(rebasing: raw[split...]))
            }
            #expect(crc.value == whole, "split at \(split)")
        }
    }
}
