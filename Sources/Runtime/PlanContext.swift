import CipherIR
import CKKS
import Foundation

extension PlanParameters {
    /// The CKKS security level named by `securityPreset`.
    public func securityLevel() throws(RuntimeError) -> SecurityLevel {
        switch securityPreset.lowercased() {
        case "he-128-classic", "128", "classical128": return .classical128
        case "he-192-classic", "192", "classical192": return .classical192
        case "he-256-classic", "256", "classical256": return .classical256
        case "insecure", "none", "insecure-testing", "insecurefortestingonly": return .insecureForTestingOnly
        default: throw .unknownSecurityPreset(securityPreset)
        }
    }

    /// The CKKS literal of these parameters (`insecure` skips the security check: the simulator and
    /// the cost model only need the primes).
    public func ckksLiteral(checkSecurity: Bool = true) throws(RuntimeError) -> CKKSParametersLiteral {
        let secretDistribution: CKKS.SecretDistribution
        switch secret {
        case .uniformTernary: secretDistribution = .uniformTernary
        case .sparseTernary(let weight): secretDistribution = .sparseTernary(hammingWeight: weight)
        }
        return CKKSParametersLiteral(
            logN: logN, qBits: qBits, pBits: pBits, dnum: dnum, secret: secretDistribution,
            errorStdDev: errorStandardDeviation, defaultScaleLog2: Double(log2DefaultScale),
            securityLevel: checkSecurity ? try securityLevel() : .insecureForTestingOnly)
    }

    /// The CKKS library's bootstrapping configuration for the plan's settings (nil: the plan cannot bootstrap).
    public var bootstrapConfiguration: BootstrapConfiguration? {
        bootstrapping.map {
            BootstrapConfiguration(coeffsToSlotsLevels: $0.coeffsToSlotsLevels, slotsToCoeffsLevels: $0.slotsToCoeffsLevels,
                                   sineRange: $0.sineRange, cosineDegree: $0.cosineDegree, doubleAngles: $0.doubleAngles,
                                   messageRatioLog2: $0.messageRatioLog2)
        }
    }

    /// The plan's settings of a bootstrappable CKKS parameter set (levels as the CKKS library lays them out).
    public static func bootstrapping(_ configuration: BootstrapConfiguration, chainLength: Int) -> PlanBootstrapping {
        PlanBootstrapping(
            coeffsToSlotsLevels: configuration.coeffsToSlotsLevels, slotsToCoeffsLevels: configuration.slotsToCoeffsLevels,
            evalModLevels: configuration.evalModDepth, sineRange: configuration.sineRange, cosineDegree: configuration.cosineDegree,
            doubleAngles: configuration.doubleAngles, messageRatioLog2: configuration.messageRatioLog2,
            outputLevel: chainLength - 1 - configuration.levelsConsumed)
    }
}

extension Program {
    /// The slot count of the values the plan bootstraps (nil: no bootstrap). Throws when they differ: one plan
    /// bootstraps one slot count, whose rotation keys the key set holds.
    public func bootstrapSlots() throws(RuntimeError) -> Int? {
        var found: Int? = nil
        for instruction in instructions where instruction.opcode == .bootstrap {
            guard let slots = types[instruction.operands[0]].slots else { continue }
            if let found, found != slots {
                throw .unsupported("the plan bootstraps values of \(found) and \(slots) slots; bootstrapping keys serve one slot count")
            }
            found = slots
        }
        // A value of s slots is replicated across the ring, so it is also periodic in any multiple of s: bootstrap at
        // least as many slots as the DFT has stages for its levels (and at least 2).
        guard let found else { return nil }
        var minimum = 2
        if let b = parameters?.bootstrapping { minimum = max(minimum, 1 << max(b.coeffsToSlotsLevels, b.slotsToCoeffsLevels)) }
        let ringSlots = parameters.map { $0.maxSlots } ?? found
        return min(max(found, minimum), max(ringSlots, found))
    }
}

extension Program {
    /// Validated CKKS parameters of the plan (primes generated, tables built).
    public func ckksParameters(checkSecurity: Bool = true) throws(RuntimeError) -> CKKSParameters {
        guard let parameters else { throw .missingParameters }
        let literal = try parameters.ckksLiteral(checkSecurity: checkSecurity)
        do { return try CKKSParameters(literal) } catch { throw .invalidParameters("\(error)") }
    }

    /// The plan's parameters, or `missingParameters`.
    public func requireParameters() throws(RuntimeError) -> PlanParameters {
        guard let parameters else { throw .missingParameters }
        return parameters
    }

    /// A 64-bit identity of the whole plan (its plan-file bytes): tensor files carry it so a
    /// ciphertext made for another plan is refused.
    public var planFingerprint: UInt64 { Fingerprint.of(PlanFile.encode(self)) }

    /// A 64-bit identity of what keys depend on: the parameters, the key requirements and, for a plan that
    /// bootstraps, the bootstrapping circuit and its slot count. Key files carry it, so keys made for another
    /// parameter set, rotation set or bootstrap are refused, while a recompiled plan with the same parameters and
    /// keys keeps working with its keys.
    public var keySetFingerprint: UInt64 {
        var bytes: [UInt8] = []
        func put(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
        func put(_ value: Int) { put(UInt64(bitPattern: Int64(value))) }
        if let p = parameters {
            put(p.logN)
            put(p.qBits.count); p.qBits.forEach { put($0) }
            put(p.pBits.count); p.pBits.forEach { put($0) }
            put(p.dnum)
            switch p.secret {
            case .uniformTernary: put(0)
            case .sparseTernary(let h): put(h + 1)
            }
            put(p.errorStandardDeviation.bitPattern)
            put(p.log2DefaultScale)
            bytes.append(contentsOf: Array(p.securityPreset.utf8))
        }
        put((keys.relinearization ? 1 : 0) | (keys.conjugation ? 2 : 0) | (keys.bootstrapping ? 4 : 0))
        put(keys.rotationSteps.count); keys.rotationSteps.forEach { put($0) }
        // Bootstrapping keys depend on the circuit (its levels, EvalMod's shape) and the slot count it bootstraps.
        if keys.bootstrapping {
            if let b = parameters?.bootstrapping {
                [b.coeffsToSlotsLevels, b.evalModLevels, b.slotsToCoeffsLevels, b.sineRange, b.cosineDegree, b.doubleAngles,
                 b.outputLevel].forEach { put($0) }
                put(b.messageRatioLog2.bitPattern)
            }
            put((try? bootstrapSlots()) ?? 0)
        }
        return Fingerprint.of(bytes)
    }
}

/// 64-bit FNV-1a (identity, not security).
public enum Fingerprint {
    public static func of(_ bytes: [UInt8]) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        return hash
    }
}

/// Moves tensors in and out of the slots of a binding's ciphertexts (the binding's layout maps
/// tensor element e to (ciphertext, slot)).
public enum Packing {
    /// The slot vectors of binding `binding` holding `values` (row-major, `binding.elementCount`
    /// elements): one vector of `binding.slots` reals per ciphertext, unused slots zero.
    public static func pack(_ values: [Double], shape: [Int], into binding: TensorBinding) throws(RuntimeError) -> [[Double]] {
        guard shape == binding.shape else { throw .shapeMismatch(binding: binding.name, expected: binding.shape, found: shape) }
        var vectors = [[Double]](repeating: [Double](repeating: 0, count: binding.slots), count: binding.ciphertextCount)
        for element in 0..<binding.elementCount {
            let (ciphertext, slot) = binding.location(ofElement: element)
            vectors[ciphertext][slot] = values[element]
        }
        return vectors
    }

    /// The tensor (row-major, shape `binding.shape`) read from the slot vectors of a binding.
    public static func unpack(_ vectors: [[Double]], from binding: TensorBinding) throws(RuntimeError) -> [Double] {
        guard vectors.count == binding.ciphertextCount, vectors.allSatisfy({ $0.count >= binding.slots }) else {
            throw .missingTensor("output '\(binding.name)' needs \(binding.ciphertextCount) ciphertexts of \(binding.slots) slots, got \(vectors.count)")
        }
        return (0..<binding.elementCount).map { element in
            let (ciphertext, slot) = binding.location(ofElement: element)
            return vectors[ciphertext][slot]
        }
    }

    /// `vector` (length dividing `slotCount`) repeated to fill `slotCount` slots, so that the ring's
    /// rotations over N/2 slots act cyclically on the vector.
    public static func replicate(_ vector: [Double], toSlotCount slotCount: Int) -> [Double] {
        precondition(vector.count > 0 && slotCount % vector.count == 0, "a packed vector's length divides N/2")
        if vector.count == slotCount { return vector }
        var out = [Double]()
        out.reserveCapacity(slotCount)
        for _ in 0..<(slotCount / vector.count) { out.append(contentsOf: vector) }
        return out
    }
}
