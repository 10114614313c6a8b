/// Why bootstrapping keys do not serve a bootstrapping circuit (keys from another plan, another configuration, or an
/// edited file). Every message names the key and the fix.
public enum BootstrapKeyError: Error, Equatable, CustomStringConvertible {
    /// The circuit uses Galois element `element` (`name`: "rotation by k" or "conjugation") and the keys lack it.
    case missingGaloisKey(element: Int, name: String)
    /// The key of `element` covers levels ≤ `level`; the circuit uses it at `needed`.
    case galoisKeyLevelTooLow(element: Int, name: String, level: Int, needed: Int)
    /// The relinearization key covers levels ≤ `level`; EvalMod relinearizes at `needed`.
    case relinearizationKeyLevelTooLow(level: Int, needed: Int)
    /// The configuration switches to an ephemeral secret of `hammingWeight` and the keys have no encapsulation keys.
    case missingEncapsulationKeys(hammingWeight: Int)
    /// The keys hold encapsulation keys (ephemeral weight `hammingWeight`) that the configuration does not use.
    case unexpectedEncapsulationKeys(hammingWeight: Int)
    /// The encapsulation keys are for an ephemeral secret of weight `found`; the configuration asks for `expected`.
    case encapsulationWeightMismatch(found: Int, expected: Int)
    /// An encapsulation key (`key`: "s → s'" or "s' → s") covers levels ≤ `level`; the circuit uses it at `needed`.
    case encapsulationKeyLevelTooLow(key: String, level: Int, needed: Int)

    public var description: String {
        let fix = "run tessera keygen again"
        switch self {
        case let .missingGaloisKey(element, name):
            return "the bootstrapping Galois key for \(name) (element \(element)) is missing; \(fix)"
        case let .galoisKeyLevelTooLow(element, name, level, needed):
            return "the bootstrapping Galois key for \(name) (element \(element)) covers levels ≤ \(level); bootstrapping uses it at level \(needed); \(fix)"
        case let .relinearizationKeyLevelTooLow(level, needed):
            return "the bootstrapping relinearization key covers levels ≤ \(level); EvalMod uses it at level \(needed); \(fix)"
        case let .missingEncapsulationKeys(h):
            return "the bootstrapping keys have no encapsulation keys; the configuration switches to an ephemeral secret of weight \(h); \(fix)"
        case let .unexpectedEncapsulationKeys(h):
            return "the bootstrapping keys hold encapsulation keys (ephemeral weight \(h)) that the configuration does not use; \(fix)"
        case let .encapsulationWeightMismatch(found, expected):
            return "the bootstrapping encapsulation keys are for an ephemeral secret of weight \(found); the configuration asks for \(expected); \(fix)"
        case let .encapsulationKeyLevelTooLow(key, level, needed):
            return "the bootstrapping encapsulation key \(key) covers levels ≤ \(level); bootstrapping uses it at level \(needed); \(fix)"
        }
    }
}

/// Payload (kind `bootstrapKeys`, inside the `CKKSSerialization` envelope):
///
///     relinearization key                     digit count (u64) · (b_j · a_j) per digit
///     Galois key count (u64) · (Galois element (u64) · key) per key, ascending elements
///     ephemeral Hamming weight h (u64)        0: no encapsulation keys (payload ends here)
///     key s → s' (trimmed to level 0) · key s' → s (top level)
///
/// Each key keeps the level it was generated (or trimmed) at; `validate` checks the levels against the circuit.
extension BootstrapKeys: EnvelopePayload, StreamingSerializable {
    static var serializationKind: CKKSSerialization.Kind { .bootstrapKeys }

    func writePayload<Output: ByteOutput>(to output: inout Output) throws(Output.Failure) {
        try relinearizationKey.key.write(to: &output)
        try galoisKeys.writeKeys(to: &output)
        try output.append(UInt64(encapsulation?.hammingWeight ?? 0))
        if let encapsulation {
            try encapsulation.toEphemeral.write(to: &output)
            try encapsulation.fromEphemeral.write(to: &output)
        }
    }

    /// The keys in one array (small rings; write large ones with `serialize(parameters:to:)`).
    public func serialized(parameters: CKKSParameters) -> [UInt8] { CKKSSerialization.envelope(self, parameters: parameters) }

    public func serializedByteCount(parameters: CKKSParameters) -> Int { CKKSSerialization.envelopeByteCount(self) }

    public func serialize(parameters: CKKSParameters, to sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        try CKKSSerialization.writeEnvelope(self, parameters: parameters, to: sink)
    }

    public init(deserializing bytes: [UInt8], parameters: CKKSParameters) throws {
        self = try bytes.withUnsafeBytes { try Self(deserializing: $0, parameters: parameters, didRead: nil) }
    }

    /// Decodes the keys (checking the envelope and each key's shape, not what a circuit needs: see `validate`).
    public init(deserializing bytes: UnsafeRawBufferPointer, parameters: CKKSParameters, didRead: ((UnsafeRawBufferPointer) -> Void)? = nil) throws {
        var r = try CKKSSerialization.open(bytes, kind: .bootstrapKeys, parameters: parameters, didRead: didRead)
        let relinearization = try KeySwitchingKey.read(&r, parameters: parameters)
        let galois = try GaloisKeys.readKeys(&r, parameters: parameters)
        let weight = try r.read64()
        guard weight <= UInt64(parameters.degree) else {
            throw CKKSError.invalidInput("ephemeral Hamming weight \(weight) above N = \(parameters.degree)")
        }
        var encapsulation: EncapsulationKeys?
        if weight > 0 {
            let toEphemeral = try KeySwitchingKey.read(&r, parameters: parameters)
            let fromEphemeral = try KeySwitchingKey.read(&r, parameters: parameters)
            encapsulation = EncapsulationKeys(toEphemeral: toEphemeral, fromEphemeral: fromEphemeral, hammingWeight: Int(weight))
        }
        try r.finish("bootstrapping keys")
        self.init(relinearizationKey: RelinearizationKey(key: relinearization), galoisKeys: galois, encapsulation: encapsulation)
    }

    /// Checks that these keys serve the circuit of `configuration` for `slots` slots: every Galois element the circuit
    /// uses is present at (at least) the highest level it is used at, the relinearization key covers EvalMod's level,
    /// and the encapsulation keys are there exactly when the configuration names an ephemeral secret, of its weight,
    /// at the levels the circuit switches at (level 0 into the ephemeral secret, the top of the chain back).
    /// - Throws: `BootstrapKeyError` naming the first key that does not fit (Galois keys in ascending element order),
    ///   or the configuration's own error if it does not fit the parameters.
    public func validate(parameters: CKKSParameters, configuration: BootstrapConfiguration, slots: Int) throws {
        let layout = try BootstrapLayout(parameters: parameters, configuration: configuration, slots: slots)
        var names: [Int: String] = [parameters.conjugationGaloisElement: "conjugation"]
        for step in layout.rotations() { names[parameters.galoisElement(forRotation: step)] = "rotation by \(step)" }
        for (element, needed) in layout.galoisElementLevels().sorted(by: { $0.key < $1.key }) {
            let name = names[element] ?? "element \(element)"
            guard let key = galoisKeys.keys[element] else { throw BootstrapKeyError.missingGaloisKey(element: element, name: name) }
            guard key.level >= needed else {
                throw BootstrapKeyError.galoisKeyLevelTooLow(element: element, name: name, level: key.level, needed: needed)
            }
        }
        guard relinearizationKey.key.level >= layout.evalModLevel else {
            throw BootstrapKeyError.relinearizationKeyLevelTooLow(level: relinearizationKey.key.level, needed: layout.evalModLevel)
        }
        switch (configuration.ephemeralHammingWeight, encapsulation) {
        case (nil, nil):
            break
        case (nil, let keys?):
            throw BootstrapKeyError.unexpectedEncapsulationKeys(hammingWeight: keys.hammingWeight)
        case (let weight?, nil):
            throw BootstrapKeyError.missingEncapsulationKeys(hammingWeight: weight)
        case (let weight?, let keys?):
            guard keys.hammingWeight == weight else { throw BootstrapKeyError.encapsulationWeightMismatch(found: keys.hammingWeight, expected: weight) }
            // ModRaise's output, switched back to s, is at the top of the chain.
            guard keys.fromEphemeral.level >= layout.coeffsToSlotsLevel else {
                throw BootstrapKeyError.encapsulationKeyLevelTooLow(key: "s' → s", level: keys.fromEphemeral.level, needed: layout.coeffsToSlotsLevel)
            }
        }
    }
}
