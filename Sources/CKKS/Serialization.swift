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
    /// Bytes of the envelope around a payload: magic, version, kind, reserved, fingerprint, length, CRC.
    static let envelopeByteCount = 4 + 2 + 1 + 1 + 8 + 8 + 4

    public enum Kind: UInt8, Sendable, CustomStringConvertible {
        case parameters = 1, plaintext, ciphertext, secretKey, publicKey, relinearizationKey, galoisKeys, bootstrapKeys
        public var description: String {
            switch self {
            case .parameters: return "parameters"
            case .plaintext: return "plaintext"
            case .ciphertext: return "ciphertext"
            case .secretKey: return "secret key"
            case .publicKey: return "public key"
            case .relinearizationKey: return "relinearization key"
            case .galoisKeys: return "Galois keys"
            case .bootstrapKeys: return "bootstrapping keys"
            }
        }
    }

    /// The CRC-32 (IEEE 802.3, the zlib `crc32`) of `bytes`.
    public static func crc32(_ bytes: UnsafeRawBufferPointer) -> UInt32 { RunningCRC32.of(bytes) }

    /// Writes the header of an envelope whose payload has `payloadLength` bytes.
    static func writeHeader<Output: ByteOutput>(
        kind: Kind, fingerprint: UInt64, payloadLength: Int, to output: inout Output
    ) throws(Output.Failure) {
        try output.append32(UInt32(magic[0]) | UInt32(magic[1]) << 8 | UInt32(magic[2]) << 16 | UInt32(magic[3]) << 24)
        try output.append32(UInt32(version) | UInt32(kind.rawValue) << 16)  // version, kind, reserved
        try output.append(fingerprint)
        try output.append(UInt64(payloadLength))
    }

    static func envelope(kind: Kind, fingerprint: UInt64, payload: ByteWriter) -> [UInt8] {
        var w = ByteWriter()
        w.bytes.reserveCapacity(envelopeByteCount + payload.bytes.count)
        writeHeader(kind: kind, fingerprint: fingerprint, payloadLength: payload.bytes.count, to: &w)
        w.bytes.append(contentsOf: payload.bytes)
        let crc = w.bytes.withUnsafeBytes { crc32($0) }
        w.append32(crc)
        return w.bytes
    }

    /// Writes `object` in its envelope to `output` piece by piece: the header (the payload length comes from a
    /// counting pass that touches no key material), the payload with its CRC accumulated on the way, the CRC.
    static func writeEnvelope<Object: EnvelopePayload, Output: ByteOutput>(
        _ object: Object, parameters: CKKSParameters, to output: inout Output
    ) throws(Output.Failure) {
        var counter = ByteCounter()
        object.writePayload(to: &counter)
        try withUnsafeMutablePointer(to: &output) { (base: UnsafeMutablePointer<Output>) throws(Output.Failure) in
            var checked = ChecksummedOutput(base: base)
            try writeHeader(kind: Object.serializationKind, fingerprint: parameters.fingerprint, payloadLength: counter.count, to: &checked)
            try object.writePayload(to: &checked)
            try base.pointee.append32(checked.crc.value)
        }
    }

    /// Bytes `writeEnvelope` writes for `object`.
    static func envelopeByteCount<Object: EnvelopePayload>(_ object: Object) -> Int {
        var counter = ByteCounter()
        object.writePayload(to: &counter)
        return envelopeByteCount + counter.count
    }

    /// `writeEnvelope` into one array (objects small enough to hold twice).
    static func envelope<Object: EnvelopePayload>(_ object: Object, parameters: CKKSParameters) -> [UInt8] {
        var w = ByteWriter()
        w.bytes.reserveCapacity(envelopeByteCount(object))
        writeEnvelope(object, parameters: parameters, to: &w)
        return w.bytes
    }

    /// `writeEnvelope` to a caller's sink (the `StreamingSerializable` entry point).
    static func writeEnvelope<Object: EnvelopePayload>(
        _ object: Object, parameters: CKKSParameters, to sink: (UnsafeRawBufferPointer) throws -> Void
    ) throws {
        try withoutActuallyEscaping(sink) { sink in
            var output = SinkOutput(sink: sink)
            try writeEnvelope(object, parameters: parameters, to: &output)
        }
    }

    /// Checks the envelope of `bytes` (which must stay alive and unchanged while the returned reader is used) and
    /// returns a reader positioned at the payload. `didRead` is told about the bytes checksummed, in stretches of
    /// `checksumChunk`, and passed on to the reader (see `StreamingSerializable`).
    static func open(
        _ bytes: UnsafeRawBufferPointer, kind: Kind, parameters: CKKSParameters?, didRead: ((UnsafeRawBufferPointer) -> Void)? = nil
    ) throws -> ByteReader {
        guard bytes.count >= envelopeByteCount else { throw CKKSError.truncatedData("envelope header") }
        guard bytes.prefix(4).elementsEqual(magic) else { throw CKKSError.badMagic }
        let crcStored = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: bytes.count - 4, as: UInt32.self))
        let crc = RunningCRC32.of(UnsafeRawBufferPointer(rebasing: bytes.dropLast(4)), stretch: checksumChunk, didRead: didRead)
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
        r.didRead = didRead
        r.reported = r.position
        return r
    }

    /// Bytes checksummed between two `didRead` reports.
    static let checksumChunk = 1 << 24
}

/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, initial value and final XOR 0xFFFFFFFF: the zlib/PNG
/// `crc32`) of bytes fed in pieces, eight bytes at a time (slicing-by-8).
public struct RunningCRC32: Sendable {
    /// table[k·256 + b]: the CRC contribution of byte b followed by k zero bytes.
    static let table: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 8 * 256)
        for byte in 0..<256 {
            var c = UInt32(byte)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            table[byte] = c
        }
        for slice in 1..<8 {
            for byte in 0..<256 {
                let previous = table[(slice - 1) * 256 + byte]
                table[slice * 256 + byte] = (previous >> 8) ^ table[Int(previous & 0xFF)]
            }
        }
        return table
    }()

    private var state: UInt32 = 0xFFFF_FFFF

    public init() {}

    /// The CRC of every byte fed so far.
    public var value: UInt32 { ~state }

    /// The CRC of `bytes`, fed in stretches of `stretch` bytes; `didRead` is told about each stretch once it is
    /// checksummed (so a reader of a memory-mapped file can hand those pages back).
    public static func of(_ bytes: UnsafeRawBufferPointer, stretch: Int = 1 << 24,
                          didRead: ((UnsafeRawBufferPointer) -> Void)? = nil) -> UInt32 {
        var crc = RunningCRC32()
        var checked = 0
        while checked < bytes.count {
            let piece = UnsafeRawBufferPointer(rebasing: bytes[checked..<min(checked + stretch, bytes.count)])
            crc.update(piece)
            didRead?(piece)
            checked += piece.count
        }
        return crc.value
    }

    /// Feeds `bytes` after those fed before.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var crc = state
        Self.table.withUnsafeBufferPointer { table in
            var index = 0
            let count = bytes.count
            while index + 8 <= count {
                let low = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: index, as: UInt32.self)) ^ crc
                let high = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: index + 4, as: UInt32.self))
                crc = table[7 * 256 + Int(low & 0xFF)] ^ table[6 * 256 + Int((low >> 8) & 0xFF)]
                    ^ table[5 * 256 + Int((low >> 16) & 0xFF)] ^ table[4 * 256 + Int(low >> 24)]
                    ^ table[3 * 256 + Int(high & 0xFF)] ^ table[2 * 256 + Int((high >> 8) & 0xFF)]
                    ^ table[1 * 256 + Int((high >> 16) & 0xFF)] ^ table[Int(high >> 24)]
                index &+= 8
            }
            while index < count {
                crc = (crc >> 8) ^ table[Int((crc ^ UInt32(bytes[index])) & 0xFF)]
                index &+= 1
            }
        }
        state = crc
    }
}

/// An evaluation key large enough to be written and read in place (gigabytes at N = 2^16): its size is known before
/// its first byte, its bytes go to a sink in pieces (key limbs straight from memory, never gathered in one array), and
/// it is decoded from a buffer (a memory-mapped file) without copying the buffer. The bytes are those of the type's
/// `serialized(parameters:)`.
public protocol StreamingSerializable {
    /// Bytes of the serialized object, envelope included.
    func serializedByteCount(parameters: CKKSParameters) -> Int
    /// Writes the serialized object to `sink` in pieces (exactly `serializedByteCount` bytes); stops at the first error
    /// `sink` throws.
    func serialize(parameters: CKKSParameters, to sink: (UnsafeRawBufferPointer) throws -> Void) throws
    /// Decodes an object from `bytes`, which must stay unchanged during the call. `didRead` is told about each
    /// stretch of `bytes` once it has been read, in order (the checksum pass in 16 MiB stretches, then each key as it
    /// is decoded), so a reader of a memory-mapped file can hand those pages back to the operating system.
    init(deserializing bytes: UnsafeRawBufferPointer, parameters: CKKSParameters, didRead: ((UnsafeRawBufferPointer) -> Void)?) throws
}

/// Where serialized bytes go: an array, a counter, a caller's sink.
protocol ByteOutput {
    associatedtype Failure: Error
    mutating func write(_ bytes: UnsafeRawBufferPointer) throws(Failure)
}

extension ByteOutput {
    mutating func append(_ x: UInt64) throws(Failure) {
        var little = x.littleEndian
        try withUnsafeBytes(of: &little) { (raw: UnsafeRawBufferPointer) throws(Failure) in try write(raw) }
    }
    mutating func append32(_ x: UInt32) throws(Failure) {
        var little = x.littleEndian
        try withUnsafeBytes(of: &little) { (raw: UnsafeRawBufferPointer) throws(Failure) in try write(raw) }
    }
    mutating func append(_ x: Double) throws(Failure) { try append(x.bitPattern) }
    /// qCount · pCount · the limbs, each written straight from the polynomial's memory.
    mutating func append<F>(_ p: RNSPolynomial<F>) throws(Failure) {
        try append32(UInt32(p.qCount))
        try append32(UInt32(p.pCount))
        for i in 0..<p.limbCount {
            // Residues are stored little-endian; the supported platforms are little-endian.
            try write(UnsafeRawBufferPointer(start: p.limb(i), count: p.degree * 8))
        }
    }
}

/// Serialized bytes gathered in one array.
struct ByteWriter: ByteOutput {
    var bytes: [UInt8] = []
    mutating func write(_ raw: UnsafeRawBufferPointer) { bytes.append(contentsOf: raw) }
}

/// Counts the bytes written (the exact size of an object before it is written).
struct ByteCounter: ByteOutput {
    var count = 0
    mutating func write(_ raw: UnsafeRawBufferPointer) { count += raw.count }
}

/// Hands the bytes to a caller's sink.
struct SinkOutput: ByteOutput {
    let sink: (UnsafeRawBufferPointer) throws -> Void
    mutating func write(_ raw: UnsafeRawBufferPointer) throws { try sink(raw) }
}

/// Passes the bytes on to `base` and accumulates their CRC.
struct ChecksummedOutput<Base: ByteOutput>: ByteOutput {
    let base: UnsafeMutablePointer<Base>
    var crc = RunningCRC32()
    mutating func write(_ raw: UnsafeRawBufferPointer) throws(Base.Failure) {
        crc.update(raw)
        try base.pointee.write(raw)
    }
}

/// A CKKS object whose payload is written through `ByteOutput` (the evaluation keys).
protocol EnvelopePayload {
    static var serializationKind: CKKSSerialization.Kind { get }
    func writePayload<Output: ByteOutput>(to output: inout Output) throws(Output.Failure)
}

/// Reads little-endian fields from bytes the caller keeps alive and unchanged while it reads (an array inside
/// `withUnsafeBytes`, or a memory-mapped file).
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    var position: Int
    var end: Int
    /// Told about the bytes read since its last report at each `reportRead()` (see `StreamingSerializable`).
    var didRead: ((UnsafeRawBufferPointer) -> Void)?
    var reported: Int

    init(bytes: UnsafeRawBufferPointer, position: Int) {
        self.bytes = bytes
        self.position = position
        end = bytes.count
        reported = position
    }

    mutating func need(_ n: Int, _ what: String) throws {
        guard n >= 0, position <= end, n <= end - position else { throw CKKSError.truncatedData(what) }
    }
    mutating func read8() throws -> UInt8 {
        try need(1, "byte")
        defer { position += 1 }
        return bytes[position]
    }
    mutating func read16() throws -> UInt16 {
        try need(2, "UInt16")
        defer { position += 2 }
        return UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt16.self))
    }
    mutating func read32() throws -> UInt32 {
        try need(4, "UInt32")
        defer { position += 4 }
        return UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self))
    }
    mutating func read64() throws -> UInt64 {
        try need(8, "UInt64")
        defer { position += 8 }
        return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self))
    }
    mutating func readDouble() throws -> Double { Double(bitPattern: try read64()) }

    /// The bytes from the position to the end.
    var remaining: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[position..<end]) }

    mutating func readPolynomial<F>(_ parameters: CKKSParameters, requireSpecial: Bool? = nil) throws -> RNSPolynomial<F> {
        let qCount = Int(try read32()), pCount = Int(try read32())
        let ring = parameters.ring
        guard qCount >= 1 && qCount <= ring.qModuli.count, pCount == 0 || pCount == ring.pModuli.count else {
            throw CKKSError.invalidInput("polynomial with \(qCount) Q limbs and \(pCount) P limbs does not fit the parameters")
        }
        if let requireSpecial, requireSpecial != (pCount > 0) {
            throw CKKSError.invalidInput("polynomial special-prime limbs: expected \(requireSpecial ? "present" : "absent")")
        }
        let n = ring.degree
        try need((qCount + pCount) * n * 8, "polynomial residues")
        // Every residue is written below, so the storage need not be zeroed first.
        let poly = RNSPolynomial<F>(
            ring: ring, storage: PolynomialStorage(degree: n, limbCapacity: qCount + pCount, zeroed: false),
            qCount: qCount, pCount: pCount, qCapacity: qCount)
        for i in 0..<poly.limbCount {
            let q = poly.modulus(i).value
            let dst = poly.limb(i)
            for c in 0..<n {
                let v = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: position + c * 8, as: UInt64.self))
                guard v < q else { throw CKKSError.invalidInput("residue \(v) not below its prime \(q)") }
                dst[c] = v
            }
            position += n * 8
        }
        return poly
    }

    /// Tells `didRead` about the bytes read since the last report (after each key: the reader holds at most one key's
    /// bytes it has not reported).
    mutating func reportRead() {
        guard let didRead, position > reported else { return }
        didRead(UnsafeRawBufferPointer(rebasing: bytes[reported..<position]))
        reported = position
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
        let json = try bytes.withUnsafeBytes { raw in
            Data(try CKKSSerialization.open(raw, kind: .parameters, parameters: nil).remaining)
        }
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
        self = try bytes.withUnsafeBytes { try Self(deserializing: $0, parameters: parameters) }
    }

    /// Decodes a ciphertext from `bytes` (unchanged during the call) without copying them first.
    public init(deserializing bytes: UnsafeRawBufferPointer, parameters: CKKSParameters) throws {
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
        let (poly, scale) = try bytes.withUnsafeBytes { raw -> (RNSPolynomial<Evaluation>, Double) in
            var r = try CKKSSerialization.open(raw, kind: .plaintext, parameters: parameters)
            let scale = try r.readDouble()
            guard scale.isFinite && scale > 0 else { throw CKKSError.invalidInput("plaintext scale \(scale)") }
            let poly: RNSPolynomial<Evaluation> = try r.readPolynomial(parameters, requireSpecial: false)
            try r.finish("plaintext")
            return (poly, scale)
        }
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
        let s = try bytes.withUnsafeBytes { raw in
            let r = try CKKSSerialization.open(raw, kind: .secretKey, parameters: parameters)
            guard r.end - r.position == parameters.degree else { throw CKKSError.truncatedData("secret key coefficients") }
            return r.remaining.map { Int64(Int8(bitPattern: $0)) }
        }
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
        let (b, a) = try bytes.withUnsafeBytes { raw -> (RNSPolynomial<Evaluation>, RNSPolynomial<Evaluation>) in
            var r = try CKKSSerialization.open(raw, kind: .publicKey, parameters: parameters)
            let b: RNSPolynomial<Evaluation> = try r.readPolynomial(parameters, requireSpecial: false)
            let a: RNSPolynomial<Evaluation> = try r.readPolynomial(parameters, requireSpecial: false)
            try r.finish("public key")
            return (b, a)
        }
        guard a.level == parameters.maxLevel, b.level == parameters.maxLevel else { throw CKKSError.invalidInput("public key not at the top level") }
        self.init(b: b, a: a)
    }
}

extension KeySwitchingKey {
    /// digit count · (b_j · a_j) per digit.
    func write<Output: ByteOutput>(to output: inout Output) throws(Output.Failure) {
        try output.append(UInt64(b.count))
        for j in 0..<b.count {
            try output.append(b[j])
            try output.append(a[j])
        }
    }

    /// Reads a key at any level ℓ ≤ maxLevel (a full key, or one trimmed to ℓ): every polynomial at ℓ with the
    /// special primes, and `digitCount(atLevel: ℓ)` digits (files written before trimming existed may hold `dnum`
    /// digits at the top level, where the two differ only when dnum does not divide the prime count evenly).
    /// Reports the key's bytes to the reader's `didRead`.
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
        r.reportRead()
        return KeySwitchingKey(b: bs, a: as_)
    }
}

extension GaloisKeys {
    /// key count · (Galois element · key) per key, in ascending element order.
    func writeKeys<Output: ByteOutput>(to output: inout Output) throws(Output.Failure) {
        try output.append(UInt64(keys.count))
        for g in galoisElements {
            try output.append(UInt64(g))
            // The element comes from `keys`, so the key is there.
            if let key = keys[g] { try key.write(to: &output) }
        }
    }

    /// Reads what `writeKeys` wrote: odd elements below 2N, each at most once.
    static func readKeys(_ r: inout ByteReader, parameters: CKKSParameters) throws -> GaloisKeys {
        let count = try r.read64()
        guard count <= UInt64(parameters.degree) else { throw CKKSError.invalidInput("\(count) Galois keys") }
        var keys: [Int: KeySwitchingKey] = [:]
        for _ in 0..<count {
            let g = try r.read64()
            guard g & 1 == 1, g < UInt64(2 * parameters.degree) else { throw CKKSError.invalidInput("Galois element \(g) not odd below 2N") }
            guard keys[Int(g)] == nil else { throw CKKSError.invalidInput("Galois element \(g) appears twice") }
            keys[Int(g)] = try KeySwitchingKey.read(&r, parameters: parameters)
        }
        return GaloisKeys(keys: keys)
    }
}

extension RelinearizationKey: EnvelopePayload, StreamingSerializable {
    static var serializationKind: CKKSSerialization.Kind { .relinearizationKey }

    func writePayload<Output: ByteOutput>(to output: inout Output) throws(Output.Failure) { try key.write(to: &output) }

    public func serialized(parameters: CKKSParameters) -> [UInt8] { CKKSSerialization.envelope(self, parameters: parameters) }

    public func serializedByteCount(parameters: CKKSParameters) -> Int { CKKSSerialization.envelopeByteCount(self) }

    public func serialize(parameters: CKKSParameters, to sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        try CKKSSerialization.writeEnvelope(self, parameters: parameters, to: sink)
    }

    public init(deserializing bytes: [UInt8], parameters: CKKSParameters) throws {
        self = try bytes.withUnsafeBytes { try Self(deserializing: $0, parameters: parameters, didRead: nil) }
    }

    public init(deserializing bytes: UnsafeRawBufferPointer, parameters: CKKSParameters, didRead: ((UnsafeRawBufferPointer) -> Void)? = nil) throws {
        var r = try CKKSSerialization.open(bytes, kind: .relinearizationKey, parameters: parameters, didRead: didRead)
        let key = try KeySwitchingKey.read(&r, parameters: parameters)
        try r.finish("relinearization key")
        self.init(key: key)
    }
}

extension GaloisKeys: EnvelopePayload, StreamingSerializable {
    static var serializationKind: CKKSSerialization.Kind { .galoisKeys }

    func writePayload<Output: ByteOutput>(to output: inout Output) throws(Output.Failure) { try writeKeys(to: &output) }

    public func serialized(parameters: CKKSParameters) -> [UInt8] { CKKSSerialization.envelope(self, parameters: parameters) }

    public func serializedByteCount(parameters: CKKSParameters) -> Int { CKKSSerialization.envelopeByteCount(self) }

    public func serialize(parameters: CKKSParameters, to sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        try CKKSSerialization.writeEnvelope(self, parameters: parameters, to: sink)
    }

    public init(deserializing bytes: [UInt8], parameters: CKKSParameters) throws {
        self = try bytes.withUnsafeBytes { try Self(deserializing: $0, parameters: parameters, didRead: nil) }
    }

    public init(deserializing bytes: UnsafeRawBufferPointer, parameters: CKKSParameters, didRead: ((UnsafeRawBufferPointer) -> Void)? = nil) throws {
        var r = try CKKSSerialization.open(bytes, kind: .galoisKeys, parameters: parameters, didRead: didRead)
        self = try Self.readKeys(&r, parameters: parameters)
        try r.finish("Galois keys")
    }
}
