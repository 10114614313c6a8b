/// The highest ciphertext level at which a program uses each of its evaluation keys.
///
/// A key-switching key used only at levels ≤ ℓ needs only the Q primes q_0 … q_ℓ (and the special primes): at
/// N = 2^16 with 25 Q primes and dnum 5, a Galois key used at level 9 is a fifth of the full key's size. The runtime
/// generates each key at the level recorded here (`PlanSession.generateKeys`), the cost model sizes the keys from
/// it (`KeySizes`), and reading a key file checks that every key covers its level.
public struct KeyLevels: Sendable, Hashable {
    /// The level keys of unknown use get: the parameters' top level (`PlanParameters.maxLevel`).
    public var topLevel: Int
    /// Highest level of a `relinearize` operand; `topLevel` when the program declares the key but no instruction
    /// uses it; nil when it needs no relinearization key.
    public var relinearization: Int?
    /// Highest level each rotation step's Galois key is used at, for every step of `keys.rotationSteps` (those no
    /// instruction rotates by get `topLevel`) and every step an instruction rotates by.
    public var rotations: [Int: Int]
    /// Highest level of a `conjugate` operand, as for `relinearization`.
    public var conjugation: Int?

    public init(topLevel: Int, relinearization: Int? = nil, rotations: [Int: Int] = [:], conjugation: Int? = nil) {
        self.topLevel = topLevel
        self.relinearization = relinearization
        self.rotations = rotations
        self.conjugation = conjugation
    }

    /// The level the Galois key of rotation `step` must cover (`topLevel` for a step not recorded).
    public func level(ofRotation step: Int) -> Int { rotations[step] ?? topLevel }

    /// The highest level of any Galois key (rotations and conjugation); nil when the program needs none.
    public var highestGaloisLevel: Int? {
        let levels = Array(rotations.values) + (conjugation.map { [$0] } ?? [])
        return levels.max()
    }

    /// The level of the relinearization key `keys` asks for (nil when it asks for none), within 0...topLevel.
    public func relinearizationKeyLevel(for keys: KeyRequirements) -> Int? {
        keys.relinearization ? clamped(relinearization ?? topLevel) : nil
    }

    /// The level of each Galois key `keys` asks for, one per distinct slot permutation: rotation steps equal modulo
    /// `slots` (N/2, the order of the rotation generator 5 modulo 2N) are one automorphism and share one key, at the
    /// highest of their levels. Keyed by the step reduced into 1..<slots (a step ≡ 0 needs no key), conjugation by −1;
    /// levels within 0...topLevel.
    public func galoisKeyLevels(for keys: KeyRequirements, slots: Int) -> [Int: Int] {
        precondition(slots > 0, "slot count \(slots) must be positive")
        var levels: [Int: Int] = [:]
        for step in keys.rotationSteps {
            let reduced = ((step % slots) + slots) % slots
            guard reduced != 0 else { continue }
            levels[reduced] = max(levels[reduced] ?? 0, clamped(level(ofRotation: step)))
        }
        if keys.conjugation { levels[-1] = clamped(conjugation ?? topLevel) }
        return levels
    }

    private func clamped(_ level: Int) -> Int { min(max(level, 0), topLevel) }
}

extension Program {
    /// The highest level at which the program uses each evaluation key: for every instruction whose op needs a
    /// key-switching key (`OpTraits.key`: relinearization, one Galois key per rotation step, conjugation), the level
    /// of its ciphertext operand as `types` records it. Conservative where facts are missing: an operand of unknown
    /// level counts at the top of the chain, and a key `keys` declares that no instruction uses gets the top level.
    /// The top is `parameters.maxLevel`, or for a program without parameters the highest level any value has
    /// (0 if none). Bootstrapping keys are not covered (the bootstrapper chooses their levels).
    public func keyLevels() -> KeyLevels {
        let top = parameters?.maxLevel ?? types.sortedEntries.compactMap(\.type.level).max() ?? 0
        var levels = KeyLevels(topLevel: top)
        func raise(_ current: Int?, _ level: Int) -> Int { max(current ?? level, level) }
        for instruction in instructions {
            let need = instruction.opcode.traits.key
            guard need == .relinearization || need == .galoisPerStep || need == .conjugation,
                  let operand = instruction.operands.first else { continue }
            let level = types[operand].level ?? top
            switch need {
            case .relinearization: levels.relinearization = raise(levels.relinearization, level)
            case .conjugation: levels.conjugation = raise(levels.conjugation, level)
            case .galoisPerStep:
                for step in instruction.rotationSteps { levels.rotations[step] = raise(levels.rotations[step], level) }
            case .none, .bootstrapping: break
            }
        }
        if keys.relinearization, levels.relinearization == nil { levels.relinearization = top }
        if keys.conjugation, levels.conjugation == nil { levels.conjugation = top }
        for step in keys.rotationSteps where levels.rotations[step] == nil { levels.rotations[step] = top }
        return levels
    }
}
