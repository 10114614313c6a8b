import CipherIR
import CKKS
import Foundation
import ModularArithmetic

/// An encoded constant-pool entry: the plaintext plus where it came from (so `addPlain` can encode
/// the entry again at a ciphertext's exact scale).
public struct CKKSConstant {
    public let index: Int
    public let entry: ConstantEntry
    public let plaintext: Plaintext
}

/// Real CKKS execution with `CKKSEvaluator`.
///
/// Scales: the IR uses nominal primes 2^qBits[ℓ]; this backend keeps each ciphertext's exact scale on
/// the parameters' `ScaleSchedule` (S_ℓ per level, S_ℓ²/q_ℓ = S_{ℓ−1}): constants multiplied in are
/// encoded so the product rescales onto S_{ℓ−1}, `levelDown` spends the dropped prime on moving the
/// scale to S_target, refreshes encrypt at S_ℓ. Values that the IR says agree then agree exactly.
/// Where they still differ by more than the evaluator's tolerance (inputs encrypted at Δ instead of
/// S_L that meet ct×ct products before any plaintext product), the second operand is relabeled with
/// the first one's scale: its message is multiplied by Δ_b/Δ_a (`relabeledScales` counts it).
/// `SimulatorBackend` follows the same schedule and models the same relabeling.
public final class CKKSBackend: Backend {
    public typealias Cipher = Ciphertext
    public typealias Plain = CKKSConstant

    /// Decrypts, applies a function slot-wise and re-encrypts at a level with the default scale
    /// (the key holder of a client-aided `refresh`).
    public typealias RefreshHandler = (_ ciphertext: Ciphertext, _ function: RefreshFunction, _ level: Int, _ slots: Int) throws -> Ciphertext

    public let parameters: CKKSParameters
    public let evaluator: CKKSEvaluator
    public let encoder: CKKSEncoder
    /// The exact scale of each level (see the type's comment).
    public let schedule: ScaleSchedule
    /// Serves `refresh`; nil makes a `refresh` instruction fail with `refreshNeedsKeyHolder`.
    public var refreshHandler: RefreshHandler?
    /// Slot count of the operand of each `refresh` instruction (by instruction index).
    let refreshSlots: [Int: Int]
    /// The plan's bootstrapping configuration and the slot count it bootstraps.
    let planBootstrap: BootstrapConfiguration?
    let bootstrapSlots: Int?
    private var constants: [Int: CKKSConstant] = [:]
    private var reencoded: [String: Plaintext] = [:]
    /// Encoded plaintexts are cached (by pool index, and per re-encoding) up to this many bytes for the backend's
    /// lifetime, so repeated runs (one per image) skip encoding; past it they are encoded per use and freed with their
    /// value, so a large plan's DRAM stays what its memory schedule says. 0 turns caching off.
    public var constantCacheLimitBytes = 256 << 20
    public private(set) var constantCacheBytes = 0

    /// Caches `plaintext` if the cache has room for it.
    private func cacheable(_ plaintext: Plaintext) -> Bool {
        let bytes = (plaintext.level + 1) * parameters.degree * 8
        guard constantCacheBytes + bytes <= constantCacheLimitBytes else { return false }
        constantCacheBytes += bytes
        return true
    }
    /// How many times a scale was relabeled (diagnostics).
    public private(set) var relabeledScales = 0

    /// - Parameters:
    ///   - program: the plan (its constant pool is encoded on first use and cached).
    ///   - relinearizationKey / galoisKeys: the evaluation keys (nil when the plan needs none).
    public init(parameters: CKKSParameters, program: Program, relinearizationKey: RelinearizationKey?, galoisKeys: GaloisKeys?,
                threads: Int = 1) {
        let executor = ParallelExecutor(threads: threads)
        self.parameters = parameters
        evaluator = CKKSEvaluator(parameters: parameters, relinearizationKey: relinearizationKey, galoisKeys: galoisKeys, executor: executor)
        encoder = CKKSEncoder(parameters: parameters, executor: executor)
        schedule = ScaleSchedule(parameters: parameters)
        refreshSlots = refreshOperandSlots(program)
        planBootstrap = program.parameters?.bootstrapConfiguration
        bootstrapSlots = try? program.bootstrapSlots()
    }

    // MARK: encoding helpers

    /// Encodes a slot vector (length dividing N/2) replicated over the N/2 slots.
    public func encode(_ vector: [Double], level: Int, scale: Double) throws -> Plaintext {
        try encoder.encode(Packing.replicate(vector, toSlotCount: parameters.slotCount), scale: scale, level: level)
    }

    /// The first `slots` slots of a decrypted plaintext.
    public func decode(_ plaintext: Plaintext, slots: Int) -> [Double] {
        Array(encoder.decodeReal(plaintext).prefix(slots))
    }

    /// A key holder for `refresh` with this secret key (decrypt, apply, encrypt at `level` with the
    /// schedule's scale S_level).
    public func keyHolder(secretKey: SecretKey, seed: UInt64? = nil) -> RefreshHandler {
        let decryptor = CKKSDecryptor(parameters: parameters, secretKey: secretKey, executor: evaluator.executor)
        let encryptor = CKKSEncryptor(parameters: parameters, secretKey: secretKey, seed: seed, executor: evaluator.executor)
        return { [unowned self] ciphertext, function, level, slots in
            let values = self.decode(try decryptor.decrypt(ciphertext), slots: slots).map(function.apply)
            return try encryptor.encrypt(try self.encode(values, level: level, scale: self.schedule.scale(atLevel: level)))
        }
    }

    // MARK: Backend

    public func constant(_ entry: ConstantEntry, index: Int) throws -> CKKSConstant {
        if let cached = constants[index] { return cached }
        let scale = schedule.encodingScale(requested: entry.scale, level: entry.level)
        let encoded = CKKSConstant(index: index, entry: entry, plaintext: try encode(entry.values, level: entry.level, scale: scale))
        if cacheable(encoded.plaintext) { constants[index] = encoded }
        return encoded
    }

    /// b with a's scale when they agree nominally but not within the evaluator's tolerance.
    private func aligned(_ b: Ciphertext, to a: Ciphertext) -> Ciphertext {
        if abs(a.scale - b.scale) <= CKKSEvaluator.scaleTolerance * max(a.scale, b.scale) { return b }
        relabeledScales += 1
        return Ciphertext(polynomials: b.polynomials, scale: a.scale)
    }

    public func add(_ a: Ciphertext, _ b: Ciphertext) throws -> Ciphertext { try evaluator.adding(a, aligned(b, to: a)) }
    public func subtract(_ a: Ciphertext, _ b: Ciphertext) throws -> Ciphertext { try evaluator.subtracting(a, aligned(b, to: a)) }
    public func negate(_ a: Ciphertext) throws -> Ciphertext { try evaluator.negated(a) }

    /// `p` encoded at `scale` and at least `level`: its first encoding when that scale agrees within the
    /// evaluator's tolerance, else encoded again (cached per level and exact scale).
    private func plaintext(_ p: CKKSConstant, level: Int, scale: Double) throws -> Plaintext {
        if abs(p.plaintext.scale - scale) <= CKKSEvaluator.scaleTolerance * max(p.plaintext.scale, scale) && p.plaintext.level >= level {
            return p.plaintext
        }
        let key = "\(p.index)@\(level)@\(scale.bitPattern)"
        if let cached = reencoded[key] { return cached }
        let encoded = try encode(p.entry.values, level: level, scale: scale)
        if cacheable(encoded) { reencoded[key] = encoded }
        return encoded
    }

    /// Adds the entry encoded at the ciphertext's exact scale (the IR's scales agree nominally).
    public func addPlain(_ a: Ciphertext, _ p: CKKSConstant) throws -> Ciphertext {
        try evaluator.adding(a, try plaintext(p, level: a.level, scale: a.scale))
    }

    public func addConstant(_ a: Ciphertext, _ value: Double) throws -> Ciphertext { try evaluator.adding(a, constant: value) }
    /// The product with the entry encoded so that it rescales onto the schedule (`ScaleSchedule.multiplierScale`).
    public func multiplyPlain(_ a: Ciphertext, _ p: CKKSConstant) throws -> Ciphertext {
        let scale = schedule.multiplierScale(operandScale: a.scale, level: a.level, requested: p.entry.scale)
        return try evaluator.multiplying(a, try plaintext(p, level: a.level, scale: scale))
    }

    /// Σ a_i ⊙ p_i accumulated in one pass (`CKKSEvaluator.multiplyAccumulate`), each plaintext encoded like
    /// `multiplyPlain`'s so every product lands on the schedule's product scale.
    public func multiplyPlainSum(_ pairs: [(Ciphertext, CKKSConstant)]) throws -> Ciphertext {
        try evaluator.multiplyAccumulate(pairs.map { a, p in
            let scale = schedule.multiplierScale(operandScale: a.scale, level: a.level, requested: p.entry.scale)
            return (a, try plaintext(p, level: a.level, scale: scale))
        })
    }

    /// Σ c_i ⊙ encode(pool entry k_i) with the plaintexts encoded here, `MemoryPlanner.encodeChunk` at a time and
    /// never cached: the just-in-time form keeps at most a chunk of plaintexts in memory.
    public func multiplyEncodeSum(_ ciphertexts: [Ciphertext], constants: [(entry: ConstantEntry, index: Int)]) throws -> Ciphertext {
        var sum: Ciphertext? = nil
        var start = 0
        while start < ciphertexts.count {
            let end = min(start + MemoryPlanner.encodeChunk, ciphertexts.count)
            let pairs = try (start..<end).map { i -> (Ciphertext, Plaintext) in
                let a = ciphertexts[i], entry = constants[i].entry
                let scale = schedule.multiplierScale(operandScale: a.scale, level: a.level, requested: entry.scale)
                return (a, try encode(entry.values, level: a.level, scale: scale))
            }
            let part = try evaluator.multiplyAccumulate(pairs)
            sum = try sum.map { try evaluator.adding($0, part) } ?? part
            start = end
        }
        guard let sum else { throw RuntimeError.instructionFailed(instruction: -1, opcode: "mulEncodeSum", reason: "no operands") }
        return sum
    }

    /// The product with `value` encoded so that it rescales onto the schedule (`ScaleSchedule.multiplierScale`).
    public func multiplyConstant(_ a: Ciphertext, _ value: Double, scale: Double) throws -> Ciphertext {
        let exact = schedule.multiplierScale(operandScale: a.scale, level: a.level, requested: scale)
        return try evaluator.multiplying(a, constant: value, constantScale: exact)
    }

    public func multiply(_ a: Ciphertext, _ b: Ciphertext) throws -> Ciphertext {
        var out = Ciphertext(parameters: parameters, level: min(a.level, b.level), degree: 2)
        try evaluator.multiply(a, b, into: &out)
        return out
    }

    public func relinearize(_ a: Ciphertext) throws -> Ciphertext { try evaluator.relinearized(a) }
    public func rescale(_ a: Ciphertext) throws -> Ciphertext { try evaluator.rescaled(a) }
    /// Drops to `level`; a settled value also moves onto the schedule's S_level (the dropped prime pays).
    public func levelDown(_ a: Ciphertext, to level: Int) throws -> Ciphertext {
        var out = a
        if level < a.level, let scale = schedule.droppedScale(a.scale, to: level),
           abs(scale - a.scale) > CKKSEvaluator.scaleTolerance * scale {
            try evaluator.dropLevel(&out, to: level, scale: scale)
        } else {
            try evaluator.dropLevel(&out, to: level)
        }
        return out
    }
    public func rotate(_ a: Ciphertext, by step: Int) throws -> Ciphertext { try evaluator.rotated(a, by: step) }
    public func rotateHoisted(_ a: Ciphertext, by steps: [Int]) throws -> [Ciphertext] { try evaluator.rotateHoisted(a, by: steps) }
    public func conjugate(_ a: Ciphertext) throws -> Ciphertext { try evaluator.conjugated(a) }

    /// The plan's bootstrapping keys (`PlanSession.Keys.bootstrapKeys`); nil makes a `bootstrap` fail with a message.
    public var bootstrapKeys: BootstrapKeys?
    /// Bootstrappers by slot count, built on first use (their DFT diagonals are encoded once).
    private var bootstrappers: [Int: Bootstrapper] = [:]
    /// Bootstraps performed and their total seconds.
    public private(set) var bootstrapCount = 0
    public private(set) var bootstrapSeconds = 0.0

    public func bootstrap(_ a: Ciphertext, to level: Int) throws -> Ciphertext {
        guard let configuration = planBootstrap else {
            throw RuntimeError.unsupported("the plan's parameters carry no bootstrapping settings; recompile it with bootstrapping")
        }
        guard let bootstrapKeys else {
            throw RuntimeError.unsupported("bootstrap needs the plan's bootstrapping keys (PlanSession.generateKeys makes them); they were not given")
        }
        let slots = bootstrapSlots ?? parameters.slotCount
        let bootstrapper: Bootstrapper
        if let existing = bootstrappers[slots] {
            bootstrapper = existing
        } else {
            bootstrapper = try Bootstrapper(parameters: parameters, configuration: configuration, slots: slots, keys: bootstrapKeys,
                                            executor: evaluator.executor)
            bootstrappers[slots] = bootstrapper
        }
        let began = runtimeClockSeconds()
        var out = try bootstrapper.bootstrap(a)
        bootstrapCount += 1
        bootstrapSeconds += runtimeClockSeconds() - began
        guard out.level >= level else {
            throw RuntimeError.unsupported("bootstrapping lands at level \(out.level), below the plan's target \(level); the plan and parameters disagree")
        }
        if out.level > level { try evaluator.dropLevel(&out, to: level, scale: schedule.scale(atLevel: level)) }
        return out
    }

    public func refresh(_ a: Ciphertext, function: RefreshFunction, level: Int, instruction: Int) throws -> Ciphertext {
        guard let refreshHandler else { throw RuntimeError.refreshNeedsKeyHolder(instruction: instruction) }
        return try refreshHandler(a, function, level, refreshSlots[instruction] ?? parameters.slotCount)
    }

    // MARK: storage (raw limbs)

    /// Header: polynomial count u32 · level u32 · scale f64 · 16 reserved bytes; then the limbs
    /// (polynomial-major, limb-major, N UInt64 each), so the limb data stays 32-byte aligned.
    static let headerBytes = 32

    public func storedByteCount(of a: Ciphertext) -> Int {
        CKKSBackend.headerBytes + a.polynomials.count * (a.level + 1) * parameters.degree * 8
    }

    public func store(_ a: Ciphertext, into buffer: UnsafeMutableRawBufferPointer) {
        let base = buffer.baseAddress!
        base.storeBytes(of: UInt32(a.polynomials.count).littleEndian, toByteOffset: 0, as: UInt32.self)
        base.storeBytes(of: UInt32(a.level).littleEndian, toByteOffset: 4, as: UInt32.self)
        base.storeBytes(of: a.scale.bitPattern.littleEndian, toByteOffset: 8, as: UInt64.self)
        (base + 16).initializeMemory(as: UInt8.self, repeating: 0, count: 16)
        let n = parameters.degree
        var words = (base + CKKSBackend.headerBytes).assumingMemoryBound(to: UInt64.self)
        for polynomial in a.polynomials {
            for limb in 0...a.level {
                polynomial.limbValues(limb).withUnsafeBufferPointer { words.update(from: $0.baseAddress!, count: n) }
                words += n
            }
        }
    }

    public func load(_ buffer: UnsafeRawBufferPointer) throws -> Ciphertext {
        guard buffer.count >= CKKSBackend.headerBytes else { throw RuntimeError.unsupported("stored ciphertext shorter than its header") }
        let base = buffer.baseAddress!
        let count = Int(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 0, as: UInt32.self)))
        let level = Int(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4, as: UInt32.self)))
        let scale = Double(bitPattern: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
        let n = parameters.degree
        guard (2...3).contains(count), level <= parameters.maxLevel,
              buffer.count == CKKSBackend.headerBytes + count * (level + 1) * n * 8 else {
            throw RuntimeError.unsupported("stored ciphertext header does not match its size")
        }
        var words = (base + CKKSBackend.headerBytes).assumingMemoryBound(to: UInt64.self)
        var polynomials: [RNSPolynomial<Evaluation>] = []
        for _ in 0..<count {
            var polynomial = RNSPolynomial<Evaluation>(ring: parameters.ring, level: level)
            for limb in 0...level {
                polynomial.setLimb(limb, Array(UnsafeBufferPointer(start: words, count: n)))
                words += n
            }
            polynomials.append(polynomial)
        }
        return Ciphertext(polynomials: polynomials, scale: scale)
    }

    public func memoryBytes(of a: Ciphertext) -> Int { a.polynomials.count * (a.level + 1) * parameters.degree * 8 }
}

/// The slot count of each `refresh` instruction's operand, by instruction index (from the verifier's
/// type inference).
func refreshOperandSlots(_ program: Program) -> [Int: Int] {
    guard program.instructions.contains(where: { $0.opcode == .refresh }) else { return [:] }
    let types = program.inferredTypes()
    var slots: [Int: Int] = [:]
    for (index, instruction) in program.instructions.enumerated() where instruction.opcode == .refresh {
        if let count = types[instruction.operands[0]].slots { slots[index] = count }
    }
    return slots
}
