#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif
import CipherIR
import CKKS
import Foundation
import ModularArithmetic

#if canImport(Darwin)
    private let systemWrite = Darwin.write
#elseif canImport(Musl)
    private let systemWrite = Musl.write
#else
    private let systemWrite = Glibc.write
#endif

/// The container of every key and tensor file the client/server commands exchange:
///
///     magic      8 bytes  "TSRT" + kind tag ("SKEY" secret key, "PKEY" public key, "EKEY" evaluation
///                         keys, "INPT" input ciphertexts, "OUTP" output ciphertexts)
///     version    u32      1
///     records    u32      number of records
///     fingerprint u64     key files: the plan's key-set fingerprint; tensor files: the plan fingerprint
///     length     u64      bytes of the records
///     records             tag[4] · u32 0 · u64 length · payload · zero padding to 8
///     crc        u32      CRC-32 (IEEE) of every preceding byte
///
/// Payloads are CKKS objects in their own envelope (`CKKSSerialization`: magic, version, parameter
/// fingerprint, CRC). All integers little-endian. Files are written piece by piece (a record's size is
/// known before its first byte, so the header comes first and the CRC is accumulated on the way) to a
/// temporary file, flushed and renamed into place; evaluation keys are read from the file mapped into
/// memory, each key decoded in place.
public enum TesseraFile {
    public static let version: UInt32 = 1
    static let headerSize = 32

    public enum Kind: String, Sendable, CaseIterable {
        case secretKey = "SKEY"
        case publicKey = "PKEY"
        case evaluationKeys = "EKEY"
        case inputs = "INPT"
        case outputs = "OUTP"

        public var description: String {
            switch self {
            case .secretKey: return "a secret key"
            case .publicKey: return "a public key"
            case .evaluationKeys: return "evaluation keys"
            case .inputs: return "input ciphertexts"
            case .outputs: return "output ciphertexts"
            }
        }

        var magic: [UInt8] { Array("TSRT".utf8) + Array(rawValue.utf8) }
    }

    public struct Record: Sendable, Equatable {
        public var tag: String
        public var payload: [UInt8]
        public init(tag: String, payload: [UInt8]) {
            precondition(tag.utf8.count == 4, "a record tag is four ASCII bytes")
            self.tag = tag
            self.payload = payload
        }
    }

    public static func encode(kind: Kind, fingerprint: UInt64, records: [Record]) -> [UInt8] {
        var body: [UInt8] = []
        for record in records {
            body.append(contentsOf: Array(record.tag.utf8))
            append(UInt32(0), to: &body)
            append(UInt64(record.payload.count), to: &body)
            body.append(contentsOf: record.payload)
            body.append(contentsOf: [UInt8](repeating: 0, count: (8 - record.payload.count % 8) % 8))
        }
        var bytes = kind.magic
        append(version, to: &bytes)
        append(UInt32(records.count), to: &bytes)
        append(fingerprint, to: &bytes)
        append(UInt64(body.count), to: &bytes)
        bytes.append(contentsOf: body)
        append(CRC32.checksum(bytes), to: &bytes)
        return bytes
    }

    /// Decodes and checks a file: magic, kind, version, length, checksum, fingerprint, records.
    public static func decode(_ bytes: [UInt8], path: String, kind: Kind, fingerprint: UInt64?) throws(RuntimeError) -> [Record] {
        let decoded = bytes.withUnsafeBytes { raw in
            Result { () throws(RuntimeError) -> [Record] in
                try records(in: raw, path: path, kind: kind, fingerprint: fingerprint).map {
                    Record(tag: $0.tag, payload: Array(raw[$0.payload]))
                }
            }
        }
        return try decoded.get()
    }

    /// Checks a file in memory (magic, kind, version, length, checksum, fingerprint, record framing) and returns where
    /// each record's payload lies. `didChecksum` is told about each stretch of `bytes` once checksummed (16 MiB at a
    /// time), so a mapped file can drop those pages.
    static func records(
        in bytes: UnsafeRawBufferPointer, path: String, kind: Kind, fingerprint: UInt64?,
        didChecksum: ((UnsafeRawBufferPointer) -> Void)? = nil
    ) throws(RuntimeError) -> [(tag: String, payload: Range<Int>)] {
        func fail(_ problem: RuntimeError.FileProblem) -> RuntimeError { .file(path: path, reason: problem) }
        guard bytes.count >= 4, bytes.prefix(4).elementsEqual("TSRT".utf8) else {
            if bytes.count >= 8, bytes.prefix(8).elementsEqual(PlanFile.magic) { throw fail(.wrongKind(expected: kind.description, found: "a plan")) }
            if bytes.count >= 4, bytes.prefix(4).elementsEqual(CKKSSerialization.magic) {
                throw fail(.wrongKind(expected: kind.description + " in a Tessera file", found: "a bare CKKS object"))
            }
            throw fail(.notATesseraFile)
        }
        guard bytes.count >= headerSize + 4 else { throw fail(.truncated(needed: headerSize + 4, available: bytes.count)) }
        let tag = String(decoding: bytes[4..<8], as: UTF8.self)
        guard tag == kind.rawValue else {
            throw fail(.wrongKind(expected: kind.description, found: Kind(rawValue: tag)?.description ?? "unknown kind '\(tag)'"))
        }
        let storedCRC = u32(bytes, bytes.count - 4)
        let crcIntact = RunningCRC32.of(UnsafeRawBufferPointer(rebasing: bytes.dropLast(4)), stretch: checksumStretch,
                                        didRead: didChecksum) == storedCRC
        let fileVersion = u32(bytes, 8)
        guard fileVersion == version else {
            throw fail(crcIntact ? .unsupportedVersion(found: fileVersion, supported: version) : .checksumMismatch)
        }
        let count = Int(u32(bytes, 12))
        let storedFingerprint = u64(bytes, 16)
        let length = u64(bytes, 24)
        guard length <= UInt64(Int.max - headerSize - 4), UInt64(bytes.count) == UInt64(headerSize + 4) + length else {
            if UInt64(bytes.count) < UInt64(headerSize + 4) &+ length {
                throw fail(.truncated(needed: headerSize + 4 + Int(clamping: length), available: bytes.count))
            }
            throw fail(.malformed("\(UInt64(bytes.count) - UInt64(headerSize + 4) - length) bytes after the records"))
        }
        guard crcIntact else { throw fail(.checksumMismatch) }
        if let fingerprint, fingerprint != storedFingerprint { throw fail(.wrongPlan(expected: fingerprint, found: storedFingerprint)) }
        var records: [(tag: String, payload: Range<Int>)] = []
        var position = headerSize
        let end = bytes.count - 4
        for index in 0..<count {
            guard position + 16 <= end else { throw fail(.malformed("record \(index) of \(count) is missing")) }
            let recordTag = String(decoding: bytes[position..<(position + 4)], as: UTF8.self)
            let recordLength = u64(bytes, position + 8)
            position += 16
            guard recordLength <= UInt64(end - position) else { throw fail(.malformed("record \(index) claims \(recordLength) bytes")) }
            let payloadEnd = position + Int(recordLength)
            records.append((recordTag.utf8.count == 4 ? recordTag : "????", position..<payloadEnd))
            position = payloadEnd + padding(Int(recordLength))
        }
        guard position == end else { throw fail(.malformed("\(end - position) bytes after the last record")) }
        return records
    }

    /// Bytes checksummed between two `didChecksum` reports.
    static let checksumStretch = 1 << 24

    /// Zero bytes after a payload of `length` bytes, to the next multiple of 8.
    static func padding(_ length: Int) -> Int { (8 - length % 8) % 8 }

    /// Writes records already in memory (see `write(kind:fingerprint:streaming:to:)`).
    public static func write(kind: Kind, fingerprint: UInt64, records: [Record], to path: String) throws(RuntimeError) {
        try write(kind: kind, fingerprint: fingerprint, streaming: records.map(StreamedRecord.init), to: path)
    }

    /// A record whose payload is written piece by piece (an evaluation key: gigabytes at N = 2^16, never gathered in
    /// memory); its byte count is known before the file's first byte is written.
    public struct StreamedRecord {
        public var tag: String
        public var byteCount: Int
        /// Hands exactly `byteCount` bytes, in pieces, to the sink it is given.
        public var writePayload: (_ sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Void

        public init(tag: String, byteCount: Int, writePayload: @escaping (_ sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) {
            precondition(tag.utf8.count == 4, "a record tag is four ASCII bytes")
            self.tag = tag
            self.byteCount = byteCount
            self.writePayload = writePayload
        }

        /// A record whose payload is already in memory.
        public init(_ record: Record) {
            self.init(tag: record.tag, byteCount: record.payload.count) { sink in try record.payload.withUnsafeBytes { try sink($0) } }
        }

        /// A record holding `object` serialized under `parameters`, written key by key.
        public init(tag: String, object: some StreamingSerializable, parameters: CKKSParameters) {
            self.init(tag: tag, byteCount: object.serializedByteCount(parameters: parameters)) { sink in
                try object.serialize(parameters: parameters, to: sink)
            }
        }
    }

    /// Writes a file record by record without holding it in memory: the header (its length from the records' byte
    /// counts), each record's header, payload and padding, then the CRC accumulated on the way; into a temporary
    /// file that is flushed and renamed over `path`. The bytes are those of `encode`.
    public static func write(kind: Kind, fingerprint: UInt64, streaming records: [StreamedRecord], to path: String) throws(RuntimeError) {
        let length = records.reduce(0) { $0 + 16 + $1.byteCount + padding($1.byteCount) }
        let file = try AtomicFileWriter(path: path)
        var header = kind.magic
        append(version, to: &header)
        append(UInt32(records.count), to: &header)
        append(fingerprint, to: &header)
        append(UInt64(length), to: &header)
        try file.write(header)
        for record in records {
            var recordHeader = Array(record.tag.utf8)
            append(UInt32(0), to: &recordHeader)
            append(UInt64(record.byteCount), to: &recordHeader)
            try file.write(recordHeader)
            let start = file.byteCount
            do {
                try record.writePayload { try file.write($0) }
            } catch let error as RuntimeError {
                throw error
            } catch {
                throw .io(path: path, operation: "write record '\(record.tag)' of", reason: "\(error)")
            }
            precondition(file.byteCount - start == record.byteCount, "record '\(record.tag)' wrote \(file.byteCount - start) bytes, announced \(record.byteCount)")
            try file.write([UInt8](repeating: 0, count: padding(record.byteCount)))
        }
        var crc: [UInt8] = []
        append(file.crc.value, to: &crc)
        try file.write(crc)
        try file.commit()
    }

    public static func read(path: String, kind: Kind, fingerprint: UInt64?) throws(RuntimeError) -> [Record] {
        let bytes: [UInt8]
        do { bytes = try PlanFile.readBytes(path: path) } catch {
            if case .io(let failedPath, let operation, let reason) = error { throw .io(path: failedPath, operation: operation, reason: reason) }
            throw .io(path: path, operation: "read", reason: "\(error)")
        }
        return try decode(bytes, path: path, kind: kind, fingerprint: fingerprint)
    }

    /// Maps the file at `path` into memory and checks it as `read` does (the checksum pass drops the pages it has
    /// read); returns the mapping and each record's payload in it, valid while the mapping is alive. Decoders hand
    /// what they have read back to `MappedFile.release`, so a file of gigabytes never sits in memory whole.
    static func map(path: String, kind: Kind, fingerprint: UInt64?) throws(RuntimeError) -> (file: MappedFile, records: [(tag: String, payload: UnsafeRawBufferPointer)]) {
        let file = try MappedFile(path: path)
        let found = try records(in: file.bytes, path: path, kind: kind, fingerprint: fingerprint, didChecksum: file.release)
        return (file, found.map { ($0.tag, UnsafeRawBufferPointer(rebasing: file.bytes[$0.payload])) })
    }

    static func append(_ value: UInt32, to bytes: inout [UInt8]) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    static func append(_ value: UInt64, to bytes: inout [UInt8]) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    static func u32(_ bytes: [UInt8], _ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[at + $1]) << (8 * UInt32($1)) } }
    static func u32(_ bytes: UnsafeRawBufferPointer, _ at: Int) -> UInt32 { UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
    static func u64(_ bytes: UnsafeRawBufferPointer, _ at: Int) -> UInt64 { UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }

    /// A file mapped read-only into memory, unmapped when released. `release` drops pages the reader is done with from
    /// the process (they stay in the page cache), so reading a file of gigabytes does not hold it in memory.
    final class MappedFile {
        let bytes: UnsafeRawBufferPointer
        private let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

        init(path: String) throws(RuntimeError) {
            let descriptor = open(path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { throw .io(path: path, operation: "open", reason: String(cString: strerror(errno))) }
            defer { close(descriptor) }
            var status = stat()
            guard fstat(descriptor, &status) == 0 else { throw .io(path: path, operation: "stat", reason: String(cString: strerror(errno))) }
            let size = Int(status.st_size)
            guard size > 0 else {
                bytes = UnsafeRawBufferPointer(start: nil, count: 0)
                return
            }
            guard let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), address != MAP_FAILED else {
                throw .io(path: path, operation: "map", reason: String(cString: strerror(errno)))
            }
            madvise(address, size, MADV_SEQUENTIAL)
            bytes = UnsafeRawBufferPointer(start: address, count: size)
        }

        /// Drops the whole pages inside `range` (a part of `bytes`) from the process's memory.
        func release(_ range: UnsafeRawBufferPointer) {
            guard let base = bytes.baseAddress, let start = range.baseAddress else { return }
            let offset = start - base
            let first = (offset + pageSize - 1) / pageSize * pageSize
            let end = (offset + range.count) / pageSize * pageSize
            guard end > first else { return }
            madvise(UnsafeMutableRawPointer(mutating: base + first), end - first, MADV_DONTNEED)
        }

        deinit {
            if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
        }
    }
}

/// Writes a file through a 1 MiB buffer into `<path>.tmp-<pid>-<random>` beside it, accumulating the CRC-32 of every
/// byte; `commit` flushes, fsyncs and renames it over `path` (as `PlanFile.writeAtomically` does), and a writer
/// dropped without a commit removes its temporary file, so a reader sees the old file or the new one, never a part.
final class AtomicFileWriter {
    let path: String
    let temporary: String
    private var descriptor: Int32
    private let buffer: UnsafeMutableRawBufferPointer
    private var buffered = 0
    private var committed = false
    /// The CRC-32 of every byte written so far.
    private(set) var crc = RunningCRC32()
    /// Bytes written so far.
    private(set) var byteCount = 0

    init(path: String) throws(RuntimeError) {
        self.path = path
        var random = SystemRandomNumberGenerator()
        temporary = "\(path).tmp-\(getpid())-\(String(random.next() as UInt64, radix: 36))"
        let opened = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        // Thrown before every property is set: no deinit runs, so nobody else's file is removed.
        guard opened >= 0 else { throw .io(path: temporary, operation: "create", reason: String(cString: strerror(errno))) }
        descriptor = opened
        buffer = .allocate(byteCount: 1 << 20, alignment: 8)
    }

    func write(_ bytes: [UInt8]) throws(RuntimeError) {
        let result = bytes.withUnsafeBytes { raw in Result { () throws(RuntimeError) in try write(raw) } }
        try result.get()
    }

    /// Appends `bytes`: copied into the buffer, or written straight through when at least as large as the buffer.
    func write(_ bytes: UnsafeRawBufferPointer) throws(RuntimeError) {
        crc.update(bytes)
        byteCount += bytes.count
        if buffered + bytes.count > buffer.count { try flush() }
        if bytes.count >= buffer.count {
            try writeFully(bytes)
        } else if let source = bytes.baseAddress, let destination = buffer.baseAddress {
            (destination + buffered).copyMemory(from: source, byteCount: bytes.count)
            buffered += bytes.count
        }
    }

    private func flush() throws(RuntimeError) {
        try writeFully(UnsafeRawBufferPointer(rebasing: buffer[0..<buffered]))
        buffered = 0
    }

    private func writeFully(_ bytes: UnsafeRawBufferPointer) throws(RuntimeError) {
        guard let base = bytes.baseAddress else { return }
        var written = 0
        while written < bytes.count {
            let result = systemWrite(descriptor, base + written, bytes.count - written)
            if result < 0 {
                if errno == EINTR { continue }
                throw .io(path: temporary, operation: "write", reason: String(cString: strerror(errno)))
            }
            written += result
        }
    }

    /// Flushes the buffer, fsyncs and closes the temporary file and renames it over `path`.
    func commit() throws(RuntimeError) {
        try flush()
        guard fsync(descriptor) == 0 else { throw .io(path: temporary, operation: "flush", reason: String(cString: strerror(errno))) }
        let closed = close(descriptor)
        descriptor = -1
        guard closed == 0 else { throw .io(path: temporary, operation: "close", reason: String(cString: strerror(errno))) }
        guard rename(temporary, path) == 0 else { throw .io(path: path, operation: "replace", reason: String(cString: strerror(errno))) }
        committed = true
    }

    deinit {
        if descriptor >= 0 { close(descriptor) }
        if !committed { unlink(temporary) }
        buffer.deallocate()
    }
}

/// Keys, inputs and outputs of one plan, read and written through `TesseraFile`.
public struct PlanSession {
    public let program: Program
    public let parameters: CKKSParameters
    public let keySetFingerprint: UInt64
    public let planFingerprint: UInt64

    /// - Parameter checkSecurity: validate the plan's security preset against the HE standard.
    public init(program: Program, checkSecurity: Bool = true) throws(RuntimeError) {
        self.program = program
        parameters = try program.ckksParameters(checkSecurity: checkSecurity)
        keySetFingerprint = program.keySetFingerprint
        planFingerprint = program.planFingerprint
    }

    public init(program: Program, parameters: CKKSParameters) {
        self.program = program
        self.parameters = parameters
        keySetFingerprint = program.keySetFingerprint
        planFingerprint = program.planFingerprint
    }

    /// Every key the plan needs.
    public struct Keys {
        public var secretKey: SecretKey
        public var publicKey: PublicKey
        public var relinearizationKey: RelinearizationKey?
        public var galoisKeys: GaloisKeys?
        /// The keys of the plan's `bootstrap` instructions (only the rotations bootstrapping performs).
        public var bootstrapKeys: BootstrapKeys? = nil
    }

    /// The bootstrapping circuit's configuration and slot count, when the plan bootstraps.
    public func bootstrapSetup() throws(RuntimeError) -> (configuration: BootstrapConfiguration, slots: Int)? {
        guard program.keys.bootstrapping, let slots = try program.bootstrapSlots() else { return nil }
        guard let configuration = program.parameters?.bootstrapConfiguration else {
            throw .unsupported("the plan bootstraps but its parameters carry no bootstrapping settings; recompile it")
        }
        return (configuration, slots)
    }

    /// The level each evaluation key of `program.keys` must cover (`Program.keyLevels`): the relinearization key's
    /// (nil when the plan needs none) and each Galois element's (the highest over the rotation steps that share it).
    public func evaluationKeyLevels() -> (relinearization: Int?, galois: [Int: Int]) {
        let levels = program.keyLevels()
        var galois: [Int: Int] = [:]
        for (step, level) in levels.galoisKeyLevels(for: program.keys, slots: parameters.slotCount) {
            galois[step == -1 ? parameters.conjugationGaloisElement : parameters.galoisElement(forRotation: step)] = level
        }
        return (levels.relinearizationKeyLevel(for: program.keys), galois)
    }

    /// Generates every key the plan needs; the relinearization and Galois keys only up to the levels the plan uses
    /// them at (`evaluationKeyLevels`), which shrinks them several-fold for a plan that bootstraps.
    public func generateKeys(seed: UInt64? = nil, threads: Int = 1) throws(RuntimeError) -> Keys {
        var generator = KeyGenerator(parameters: parameters, seed: seed, executor: ParallelExecutor(threads: threads))
        let secretKey = generator.secretKey()
        let publicKey = generator.publicKey(secretKey)
        let levels = evaluationKeyLevels()
        let relinearization = levels.relinearization.map { generator.relinearizationKey(secretKey, level: $0) }
        let needsGalois = !program.keys.rotationSteps.isEmpty || program.keys.conjugation
        let galois = needsGalois
            ? generator.galoisKeys(secretKey, rotations: program.keys.rotationSteps, conjugation: program.keys.conjugation,
                                   levels: levels.galois) : nil
        var keys = Keys(secretKey: secretKey, publicKey: publicKey, relinearizationKey: relinearization, galoisKeys: galois)
        if let (configuration, slots) = try bootstrapSetup() {
            do {
                keys.bootstrapKeys = try BootstrapKeys.generate(parameters: parameters, configuration: configuration, slots: slots,
                                                                secretKey: secretKey, keyGenerator: &generator)
            } catch {
                throw .invalidParameters("bootstrapping keys: \(error)")
            }
        }
        return keys
    }

    // MARK: key files

    public func writeSecretKey(_ key: SecretKey, to path: String) throws(RuntimeError) {
        try TesseraFile.write(kind: .secretKey, fingerprint: keySetFingerprint,
                              records: [.init(tag: "SK  ", payload: key.serialized(parameters: parameters))], to: path)
    }

    public func writePublicKey(_ key: PublicKey, to path: String) throws(RuntimeError) {
        try TesseraFile.write(kind: .publicKey, fingerprint: keySetFingerprint,
                              records: [.init(tag: "PK  ", payload: key.serialized(parameters: parameters))], to: path)
    }

    /// Only public material: the relinearization key, the Galois keys and the bootstrapping keys (records "RLK ",
    /// "GAL ", "BOOT"), each written key by key straight from memory (no copy of a key is made).
    public func writeEvaluationKeys(
        relinearizationKey: RelinearizationKey?, galoisKeys: GaloisKeys?, bootstrapKeys: BootstrapKeys? = nil, to path: String
    ) throws(RuntimeError) {
        var records: [TesseraFile.StreamedRecord] = []
        if let relinearizationKey { records.append(.init(tag: "RLK ", object: relinearizationKey, parameters: parameters)) }
        if let galoisKeys { records.append(.init(tag: "GAL ", object: galoisKeys, parameters: parameters)) }
        if let bootstrapKeys { records.append(.init(tag: "BOOT", object: bootstrapKeys, parameters: parameters)) }
        try TesseraFile.write(kind: .evaluationKeys, fingerprint: keySetFingerprint, streaming: records, to: path)
    }

    private func ckks<T>(_ path: String, _ body: () throws -> T) throws(RuntimeError) -> T {
        do { return try body() } catch { throw .file(path: path, reason: .ckks("\(error)")) }
    }

    private func single(_ records: [TesseraFile.Record], tag: String, path: String) throws(RuntimeError) -> [UInt8] {
        guard records.count == 1, records[0].tag == tag else {
            throw .file(path: path, reason: .malformed("expected one '\(tag)' record, found \(records.map(\.tag))"))
        }
        return records[0].payload
    }

    public func readSecretKey(path: String, threads: Int = 1) throws(RuntimeError) -> SecretKey {
        let payload = try single(try TesseraFile.read(path: path, kind: .secretKey, fingerprint: keySetFingerprint), tag: "SK  ", path: path)
        return try ckks(path) { try SecretKey(deserializing: payload, parameters: parameters, executor: ParallelExecutor(threads: threads)) }
    }

    public func readPublicKey(path: String) throws(RuntimeError) -> PublicKey {
        let payload = try single(try TesseraFile.read(path: path, kind: .publicKey, fingerprint: keySetFingerprint), tag: "PK  ", path: path)
        return try ckks(path) { try PublicKey(deserializing: payload, parameters: parameters) }
    }

    /// Reads evaluation keys and checks that they cover the plan's needs, bootstrapping included (`bootstrapSetup`).
    /// The file is mapped into memory and each key decoded in place; the pages of a decoded key are dropped from the
    /// process as it goes, so reading holds the decoded keys plus about one key of the file.
    public func readEvaluationKeys(path: String) throws(RuntimeError)
        -> (relinearization: RelinearizationKey?, galois: GaloisKeys?, bootstrap: BootstrapKeys?)
    {
        let (file, records) = try TesseraFile.map(path: path, kind: .evaluationKeys, fingerprint: keySetFingerprint)
        var relinearization: RelinearizationKey?
        var galois: GaloisKeys?
        var bootstrap: BootstrapKeys?
        var seen: Set<String> = []
        for record in records {
            guard seen.insert(record.tag).inserted else { throw .file(path: path, reason: .malformed("record '\(record.tag)' appears twice")) }
            switch record.tag {
            case "RLK ":
                relinearization = try ckks(path) { try RelinearizationKey(deserializing: record.payload, parameters: parameters, didRead: file.release) }
            case "GAL ":
                galois = try ckks(path) { try GaloisKeys(deserializing: record.payload, parameters: parameters, didRead: file.release) }
            case "BOOT":
                bootstrap = try ckks(path) { try BootstrapKeys(deserializing: record.payload, parameters: parameters, didRead: file.release) }
            default: throw .file(path: path, reason: .malformed("unknown record '\(record.tag)'"))
            }
        }
        withExtendedLifetime(file) {}
        if let (configuration, slots) = try bootstrapSetup() {
            guard let bootstrap else {
                throw .file(path: path, reason: .malformed("the plan bootstraps and the file has no bootstrapping keys; run tessera keygen again"))
            }
            do { try bootstrap.validate(parameters: parameters, configuration: configuration, slots: slots) } catch {
                throw .file(path: path, reason: .malformed("\(error)"))
            }
        } else if bootstrap != nil {
            throw .file(path: path, reason: .malformed("it holds bootstrapping keys and the plan does not bootstrap; run tessera keygen again"))
        }
        if program.keys.relinearization, relinearization == nil {
            throw .file(path: path, reason: .malformed("the plan needs a relinearization key and the file has none; run tessera keygen again"))
        }
        let levels = evaluationKeyLevels()
        let missing = Set(levels.galois.keys).subtracting(galois?.galoisElements ?? [])
        if !missing.isEmpty {
            throw .file(path: path, reason: .malformed("Galois keys for elements \(missing.sorted()) are missing; run tessera keygen again"))
        }
        // A key trimmed below a level the plan uses it at would fail mid-run: refuse it here.
        if let needed = levels.relinearization, let key = relinearization?.key, key.level < needed {
            throw .file(path: path, reason: .malformed(
                "the relinearization key covers levels ≤ \(key.level); the plan uses it at level \(needed); run tessera keygen again"))
        }
        for (element, needed) in levels.galois.sorted(by: { $0.key < $1.key }) {
            guard let key = galois?.keys[element], key.level < needed else { continue }
            let name = element == parameters.conjugationGaloisElement
                ? "conjugation"
                : "rotation by \(program.keys.rotationSteps.first { parameters.galoisElement(forRotation: $0) == element } ?? 0)"
            throw .file(path: path, reason: .malformed(
                "Galois key for \(name) covers levels ≤ \(key.level); the plan uses it at level \(needed); run tessera keygen again"))
        }
        return (relinearization, galois, bootstrap)
    }

    // MARK: tensor files

    /// Writes ciphertexts of the plan's inputs (`kind: .inputs`) or outputs (`.outputs`): one
    /// record per ciphertext, `u32 binding · u32 ciphertext · CKKS ciphertext`.
    public func writeCiphertexts(_ ciphertexts: [[Ciphertext]], kind: TesseraFile.Kind, to path: String) throws(RuntimeError) {
        var records: [TesseraFile.Record] = []
        for (binding, list) in ciphertexts.enumerated() {
            for (index, ciphertext) in list.enumerated() {
                var payload: [UInt8] = []
                TesseraFile.append(UInt32(binding), to: &payload)
                TesseraFile.append(UInt32(index), to: &payload)
                payload.append(contentsOf: ciphertext.serialized(parameters: parameters))
                records.append(.init(tag: "CT  ", payload: payload))
            }
        }
        try TesseraFile.write(kind: kind, fingerprint: planFingerprint, records: records, to: path)
    }

    /// Reads the ciphertexts of the plan's inputs or outputs; checks that every ciphertext of every
    /// binding is present once, at the binding's level (inputs) and degree 1.
    public func readCiphertexts(path: String, kind: TesseraFile.Kind) throws(RuntimeError) -> [[Ciphertext]] {
        let bindings = kind == .inputs ? program.inputs : program.outputs
        let records = try TesseraFile.read(path: path, kind: kind, fingerprint: planFingerprint)
        var result = bindings.map { [Ciphertext?](repeating: nil, count: $0.ciphertextCount) }
        for record in records {
            guard record.tag == "CT  ", record.payload.count >= 8 else { throw .file(path: path, reason: .malformed("a record is not a ciphertext")) }
            let binding = Int(TesseraFile.u32(record.payload, 0)), index = Int(TesseraFile.u32(record.payload, 4))
            guard binding < bindings.count, index < bindings[binding].ciphertextCount, result[binding][index] == nil else {
                throw .file(path: path, reason: .malformed("ciphertext \(index) of binding \(binding) is out of range or repeated"))
            }
            let ciphertext = try ckks(path) {
                try record.payload.withUnsafeBytes { try Ciphertext(deserializing: UnsafeRawBufferPointer(rebasing: $0[8...]), parameters: parameters) }
            }
            guard ciphertext.degree == 1 else { throw .file(path: path, reason: .malformed("a ciphertext has degree \(ciphertext.degree)")) }
            if kind == .inputs, let level = bindings[binding].level, ciphertext.level != level {
                throw .file(path: path, reason: .malformed(
                    "ciphertext \(index) of '\(bindings[binding].name)' is at level \(ciphertext.level); the plan reads it at level \(level)"))
            }
            result[binding][index] = ciphertext
        }
        var complete: [[Ciphertext]] = []
        for (binding, list) in result.enumerated() {
            var values: [Ciphertext] = []
            for (index, value) in list.enumerated() {
                guard let value else {
                    throw .file(path: path, reason: .malformed("ciphertext \(index) of '\(bindings[binding].name)' is missing"))
                }
                values.append(value)
            }
            complete.append(values)
        }
        return complete
    }

    // MARK: client

    /// Level and scale at which the client encrypts input binding `binding`: the scale schedule's exact S_ℓ when the
    /// plan asks for the nominal scale there (so deep ct × ct chains stay on the schedule).
    public func inputLevelAndScale(_ binding: TensorBinding) -> (level: Int, scale: Double) {
        let level = binding.level ?? parameters.maxLevel
        return (level, ScaleSchedule(parameters: parameters).encodingScale(requested: binding.scale ?? parameters.defaultScale, level: level))
    }

    /// Packs and encrypts a tensor for each input binding (by name; row-major values).
    public func encryptInputs(_ tensors: [String: (shape: [Int], values: [Double])], encryptor: CKKSEncryptor) throws -> [[Ciphertext]] {
        let encoder = CKKSEncoder(parameters: parameters, executor: encryptor.executor)
        return try program.inputs.map { binding in
            guard let tensor = tensors[binding.name] else {
                throw RuntimeError.missingTensor("no array given for plan input '\(binding.name)' (shape \(binding.shape))")
            }
            let (level, scale) = inputLevelAndScale(binding)
            return try Packing.pack(tensor.values, shape: tensor.shape, into: binding).map { vector in
                try encryptor.encrypt(try encoder.encode(Packing.replicate(vector, toSlotCount: parameters.slotCount), scale: scale, level: level))
            }
        }
    }

    /// Decrypts and unpacks every output binding: name → row-major values (shape = the binding's).
    public func decryptOutputs(_ ciphertexts: [[Ciphertext]], decryptor: CKKSDecryptor) throws -> [(binding: TensorBinding, values: [Double])] {
        let encoder = CKKSEncoder(parameters: parameters, executor: decryptor.executor)
        return try zip(program.outputs, ciphertexts).map { binding, list in
            let vectors = try list.map { Array(encoder.decodeReal(try decryptor.decrypt($0)).prefix(binding.slots)) }
            return (binding, try Packing.unpack(vectors, from: binding))
        }
    }
}
