import Foundation
import ModularArithmetic

/// Binary envelope of every serialized CKKS object:
///
///     magic "TSCK" · version (UInt16 LE) · kind (UInt8) · reserved (UInt8) ·
///     parameters fingerprint (UInt64 LE; 0 for parameters) · payload length (UInt64 LE) ·
///     payload · CRC-32 (IEEE) of all preceding bytes (UInt32 LE)
///
/// Polynomials are stored as qCount (UInt32) · pCount (UInt32) · residues (UInt64 LE, limb-major).
public enum CKKSSerialization {
    public static let magic: [UInt8] = Array("TSCK".utf8)
    public static let version: UInt16 = 1

    public enum Kind: UInt8, Sendable, CustomStringConvertible {
        case parameters = 1, plaintext, ciphertext, secretKey, publicKey, relinearizationKey, galoisKeys
        public var description: String {
            switch self {
            case .parameters: return "parameters"
            case .plaintext: return "plaintext"
            case .ciphertext: return "ciphertext"
            case .secretKey: return "secret key"
            case .publicKey: return "public key"
            case .relinearizationKey: return "relinearization key"
            case .galoisKeys: return "Galois keys"
            }
        }
    }

    static let crcTable: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    public static func crc32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        let table = crcTable
        table.withUnsafeBufferPointer { t in
            for b in bytes { c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        }
        return c ^ 0xFFFF_FFFF
    }

    static func envelope(kind: Kind, fingerprint: UInt64, payload: ByteWriter) -> [UInt8] {
        var w = ByteWriter()
        w.bytes.append(contentsOf: magic)
        w.append(UInt64(version) | UInt64(kind.rawValue) << 16)  // version, kind, reserved + 4 zero bytes
        w.bytes.removeLast(4)
        w.append(fingerprint)
        w.append(UInt64(payload.bytes.count))
        w.bytes.append(contentsOf: payload.bytes)
        let crc = w.bytes.withUnsafeBytes { crc32($0) }
        w.append32(crc)
        return w.bytes
    }

    /// Checks the envelope and returns a reader positioned at the payload.
    static func open(_ bytes: [UInt8], kind: Kind, parameters: CKKSParameters?) throws -> ByteReader {
        guard bytes.count >= 4 + 4 + 8 + 8 + 4 else { throw CKKSError.truncatedData("envelope header") }
        guard Array(bytes[0..<4]) == magic else { throw CKKSError.badMagic }
        let crcStored = bytes[(bytes.count - 4)...].enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
        let crc = bytes.withUnsafeBytes { crc32(UnsafeRawBufferPointer(rebasing: $0[0..<(bytes.count - 4)])) }
        guard crc == crcStored else { throw CKKSError.checksumMismatch }
        var r = ByteReader(bytes: bytes, position: 4)
        let version = Int(try r.read16())
        guard version == Int(self.version) else { throw CKKSError.unsupportedVersion(version) }
        let kindByte = try r.read8()
        _ = try r.read8()
        guard let found = Kind(rawValue: kindByte) else {
            throw CKKSError.wrongObjectKind(expected: kind.description, actual: "unknown kind \(kindByte)")
        }
        guard found == kind else { throw CKKSError.wrongObjectKind(expected: kind.description, actual: found.description) }
        let fingerprint = try r.read64()
        if let parameters, fingerprint != parameters.fingerprint { throw CKKSError.parameterMismatch }
        let length = try r.read64()
        guard length == UInt64(bytes.count - r.position - 4) else { throw CKKSError.truncatedData("payload of \(kind)") }
        r.end = bytes.count - 4
        return r
    }
}

struct ByteWriter {
    var bytes: [UInt8] = []
    mutating func append(_ x: UInt64) { withUnsafeBytes(of: x.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func append32(_ x: UInt32) { withUnsafeBytes(of: x.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func append(_ x: Double) { append(x.bitPattern) }
    mutating func append<F>(_ p: RNSPolynomial<F>) {
        append32(UInt32(p.qCount))
        append32(UInt32(p.pCount))
        bytes.reserveCapacity(bytes.count + p.limbCount * p.degree * 8)
        for i in 0..<p.limbCount {
            // Residues are stored little-endian; the supported platforms are little-endian.
            bytes.append(contentsOf: UnsafeRawBufferPointer(start: p.limb(i), count: p.degree * 8))
        }
    }
}

struct ByteReader {
    let bytes: [UInt8]
    var position: Int
    var end: Int

    init(bytes: [UInt8], position: Int) {
        self.bytes = bytes
        self.position = position
        end = bytes.count
    }

    mutating func need(_ n: Int, _ what: String) throws {
        guard n >= 0, position + n <= end else { throw CKKSError.truncatedData(what) }
    }
    mutating func read8() throws -> UInt8 {
        try need(1, "byte")
        defer { position += 1 }
        return bytes[position]
    }
    mutating func read16() throws -> UInt16 {
        try need(2, "UInt16")
        defer { position += 2 }
        return UInt16(bytes[position]) | UInt16(bytes[position + 1]) << 8
    }
    mutating func read32() throws -> UInt32 {
        try need(4, "UInt32")
        var v: UInt32 = 0
        for k in 0..<4 { v |= UInt32(bytes[position + k]) << (8 * UInt32(k)) }
        position += 4
        return v
    }
    mutating func read64() throws -> UInt64 {
        try need(8, "UInt64")
        var v: UInt64 = 0
        for k in 0..<8 { v |= UInt64(bytes[position + k]) << (8 * UInt64(k)) }
        position += 8
        return v
    }
    mutating func readDouble() throws -> Double { Double(bitPattern: try read64()) }

    mutating func readPolynomial<F>(_ parameters: CKKSParameters, requireSpecial: Bool? = nil) throws -> RNSPolynomial<F> {
        let qCount = Int(try read32()), pCount = Int(try read32())
        let ring = parameters.ring
        guard qCount >= 1 && qCount <= ring.qModuli.count, pCount == 0 || pCount == ring.pModuli.count else {
            throw CKKSError.invalidInput("polynomial with \(qCount) Q limbs and \(pCount) P limbs does not fit the parameters")
        }
        if let requireSpecial, requireSpecial != (pCount > 0) {
            throw CKKSError.invalidInput("polynomial special-prime limbs: expected \(requireSpecial ? "present" : "absent")")
        }
        var poly = RNSPolynomial<F>(ring: ring, level: qCount - 1, withSpecialPrimes: pCount > 0)
        let n = ring.degree
        try need(poly.limbCount * n * 8, "polynomial residues")
        for i in 0..<poly.limbCount {
            let q = poly.modulus(i).value
            let dst = poly.limb(i)
            try bytes.withUnsafeBytes { raw in
                let src = raw.baseAddress! + position
                for c in 0..<n {
                    let v = UInt64(littleEndian: src.loadUnaligned(fromByteOffset: c * 8, as: UInt64.self))
                    guard v < q else { throw CKKSError.invalidInput("residue \(v) not below its prime \(q)") }
                    dst[c] = v
                }
            }
            position += n * 8
        }
        poly.qCount = qCount
        return poly
    }

    func finish(_ what: String) throws {
        guard position == end else { throw CKKSError.invalidInput("\(end - position) trailing bytes after \(what)") }
    }
}

extension CKKSParameters {
    /// The parameters' literal (JSON) in the binary envelope.
    public func serialized() -> [UInt8] {
        var w = ByteWriter()
        let json = (try? JSONEncoder().encode(literal)) ?? Data()
        w.bytes.append(contentsOf: json)
        return CKKSSerialization.envelope(kind: .parameters, fingerprint: 0, payload: w)
    }

    public static func deserialized(_ bytes: [UInt8]) throws -> CKKSParameters {
        let r = try CKKSSerialization.open(bytes, kind: .parameters, parameters: nil)
        let json = Data(bytes[r.position..<r.end])
        let literal: CKKSParametersLiteral
        do { literal = try JSONDecoder().decode(CKKSParametersLiteral.self, from: json) } catch {
            throw CKKSError.invalidInput("parameters literal: \(error)")
        }
        return try CKKSParameters(literal)
    }
}

extension Ciphertext {
    public func serialized(parameters: CKKSParameters) -> [UInt8] {
        var w = ByteWriter()
        w.append(scale)
        w.append(UInt64(polynomials.count))
        for p in polynomials { w.append(p) }
        return CKKSSerialization.envelope(kind: .ciphertext, fingerprint: parameters.fingerprint, payload: w)
    }

    public init(deserializing bytes: [UInt8], parameters: CKKSParameters) throws {
        var r = try CKKSSerialization.open(bytes, kind: .ciphertext, parameters: parameters)
        let scale = try r.readDouble()
        guard scale.isFinite && scale > 0 else { throw CKKSError.invalidInput("ciphertext scale \(scale)") }
        let count = try r.read64()
        guard count >= 2 && count <= 3 else { throw CKKSError.invalidInput("ciphertext with \(count) polynomials") }
        var polys: [RNSPolynomial<Evaluation>] = []
        for _ in 0..<count { polys.append(try r.readPolynomial(parameters, requireSpecial: false)) }
        guard polys.allSatisfy({ $0.level == polys[0].level }) else { throw CKKSError.invalidInput("ciphertext polynomials at different levels") }
        try r.finish("ciphertext")
        self.init(polynomials: polys, scale: scale)
    }
}

extension Plaintext {
    public func serialized(parameters: CKKSParameters) -> [UInt8] {
        var w = ByteWriter()
        w.append(scale)
        w.append(polynomial)
        return CKKSSerialization.envelope(kind: .plaintext, fingerprint: parameters.fingerprint, payload: w)
    }

    public init(deserializing bytes: [UInt8], parameters: CKKSParameters) throws {
        var r = try CKKSSerialization.open(bytes, kind: .plaintext, parameters: parameters)
        let scale = try r.readDouble()
        guard scale.isFinite && scale > 0 else { throw CKKSError.invalidInput("plaintext scale \(scale)") }
        let poly: RNSPolynomial<Evaluation> = try r.readPolynomial(parameters, requireSpecial: false)
        try r.finish("plaintext")
        self.init(polynomial: poly, scale: scale)
    }
}

extension SecretKey {
    public func serialized(parameters: CKKSParameters) -> [UInt8] {
        var w = ByteWriter()
        w.bytes.append(contentsOf: coefficients.map { UInt8(bitPattern: Int8($0)) })
        return CKKSSerialization.envelope(kind: .secretKey, fingerprint: parameters.fingerprint, payload: w)
    }

    public init(deserializing bytes: [UInt8], parameters: CKKSParameters, executor: ParallelExecutor = ParallelExecutor()) throws {
        let r = try CKKSSerialization.open(bytes, kind: .secretKey, parameters: parameters)
        guard r.end - r.position == parameters.degree else { throw CKKSError.truncatedData("secret key coefficients") }
        let s = bytes[r.position..<r.end].map { Int64(Int8(bitPattern: $0)) }
        guard s.allSatisfy({ abs($0) <= 1 }) else { throw CKKSError.invalidInput("secret key coefficient outside {−1, 0, 1}") }
        self.init(coefficients: s, polynomial: Sampler.evaluationPolynomial(
            s, ring: parameters.ring, level: parameters.maxLevel, withSpecialPrimes: true, executor: executor))
    }
}

extension PublicKey {
    public func serialized(parameters: CKKSParameters) -> [UInt8] {
        var w = ByteWriter()
        w.append(b)
        w.append(a)
        return CKKSSerialization.envelope(kind: .publicKey, fingerprint: parameters.fingerprint, payload: w)
    }

    public init(deserializing bytes: [UInt8], parameters: CKKSParameters) throws {
        var r = try CKKSSerialization.open(bytes, kind: .publicKey, parameters: parameters)
        let b: RNSPolynomial<Evaluation> = try r.readPolynomial(parameters, requireSpecial: false)
        let a: RNSPolynomial<Evaluation> = try r.readPolynomial(parameters, requireSpecial: false)
        guard a.level == parameters.maxLevel, b.level == parameters.maxLevel else { throw CKKSError.invalidInput("public key not at the top level") }
        try r.finish("public key")
        self.init(b: b, a: a)
    }
}

extension KeySwitchingKey {
    func write(_ w: inout ByteWriter) {
        w.append(UInt64(b.count))
        for j in 0..<b.count { w.append(b[j]); w.append(a[j]) }
    }

    /// Reads a key at any level ℓ ≤ maxLevel (a full key, or one trimmed to ℓ): every polynomial at ℓ with the
    /// special primes, and `digitCount(atLevel: ℓ)` digits (files written before trimming existed may hold `dnum`
    /// digits at the top level, where the two differ only when dnum does not divide the prime count evenly).
    static func read(_ r: inout ByteReader, parameters: CKKSParameters) throws -> KeySwitchingKey {
        let count = Int(clamping: try r.read64())
        guard count >= 1 && count <= parameters.dnum else {
            throw CKKSError.invalidInput("key-switching key with \(count) digits; the parameters allow 1...\(parameters.dnum)")
        }
        var bs: [RNSPolynomial<Evaluation>] = [], as_: [RNSPolynomial<Evaluation>] = []
        for _ in 0..<count {
            let b: RNSPolynomial<Evaluation> = try r.readPolynomial(parameters, requireSpecial: true)
            let a: RNSPolynomial<Evaluation> = try r.readPolynomial(parameters, requireSpecial: true)
            let level = bs.first?.level ?? b.level
            guard a.level == level, b.level == level else {
                throw CKKSError.invalidInput("key-switching key polynomials at levels \(level), \(b.level) and \(a.level); a key has one level")
            }
            bs.append(b)
            as_.append(a)
        }
        let level = bs[0].level
        let expected = parameters.digitCount(atLevel: level)
        guard count == expected || (level == parameters.maxLevel && count == parameters.dnum) else {
            throw CKKSError.invalidInput("key-switching key at level \(level) with \(count) digits; level \(level) has \(expected)")
        }
        return KeySwitchingKey(b: bs, a: as_)
    }
}

extension RelinearizationKey {
    public func serialized(parameters: CKKSParameters) -> [UInt8] {
        var w = ByteWriter()
        key.write(&w)
        return CKKSSerialization.envelope(kind: .relinearizationKey, fingerprint: parameters.fingerprint, payload: w)
    }

    public init(deserializing bytes: [UInt8], parameters: CKKSParameters) throws {
        var r = try CKKSSerialization.open(bytes, kind: .relinearizationKey, parameters: parameters)
        let key = try KeySwitchingKey.read(&r, parameters: parameters)
        try r.finish("relinearization key")
        self.init(key: key)
    }
}

extension GaloisKeys {
    public func serialized(parameters: CKKSParameters) -> [UInt8] {
        var w = ByteWriter()
        w.append(UInt64(keys.count))
        for g in galoisElements {
            w.append(UInt64(g))
            keys[g]!.write(&w)
        }
        return CKKSSerialization.envelope(kind: .galoisKeys, fingerprint: parameters.fingerprint, payload: w)
    }

    public init(deserializing bytes: [UInt8], parameters: CKKSParameters) throws {
        var r = try CKKSSerialization.open(bytes, kind: .galoisKeys, parameters: parameters)
        let count = try r.read64()
        guard count <= UInt64(parameters.degree) else { throw CKKSError.invalidInput("\(count) Galois keys") }
        var keys: [Int: KeySwitchingKey] = [:]
        for _ in 0..<count {
            let g = try r.read64()
            guard g & 1 == 1, g < UInt64(2 * parameters.degree) else { throw CKKSError.invalidInput("Galois element \(g) not odd below 2N") }
            keys[Int(g)] = try KeySwitchingKey.read(&r, parameters: parameters)
        }
        try r.finish("Galois keys")
        self.init(keys: keys)
    }
}
