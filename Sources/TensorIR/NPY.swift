import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Element types `NPY.write` can store.
public enum NPYDType: String, Sendable, CaseIterable {
    case float32
    case float64

    /// The numpy type string (little-endian).
    public var descriptor: String {
        switch self {
        case .float32: return "<f4"
        case .float64: return "<f8"
        }
    }

    var byteCount: Int { self == .float32 ? 4 : 8 }
}

/// Problems reading or writing a `.npy` file; each names the file and what to do.
public enum NPYError: Error, Equatable, CustomStringConvertible {
    /// The file could not be opened, read, written or renamed.
    case io(path: String, detail: String)
    /// The file does not start with the `\x93NUMPY` magic.
    case notNPY(path: String)
    /// A format version other than 1.0, 2.0 or 3.0.
    case unsupportedVersion(path: String, major: UInt8, minor: UInt8)
    /// The header dictionary could not be parsed.
    case malformedHeader(path: String, detail: String)
    /// The array's dtype is not little-endian float32 or float64.
    case unsupportedDType(path: String, descriptor: String)
    /// The array is stored in Fortran (column-major) order.
    case fortranOrder(path: String)
    /// The file ends before all elements the header announces.
    case truncated(path: String, expectedBytes: Int, foundBytes: Int)

    public var description: String {
        switch self {
        case .io(let path, let detail):
            return "\(path): \(detail)"
        case .notNPY(let path):
            return "\(path) is not a .npy file (no \\x93NUMPY magic); save the array with numpy.save"
        case .unsupportedVersion(let path, let major, let minor):
            return "\(path) uses .npy format version \(major).\(minor); only 1.0, 2.0 and 3.0 are read — save it again with numpy.save"
        case .malformedHeader(let path, let detail):
            return "\(path) has a malformed .npy header (\(detail)); save the array again with numpy.save"
        case .unsupportedDType(let path, let descriptor):
            return "\(path) holds dtype '\(descriptor)'; only little-endian float32 ('<f4') and float64 ('<f8') are read — convert with numpy: np.save(path, x.astype('<f4'))"
        case .fortranOrder(let path):
            return "\(path) is stored in Fortran order; only C order is read — convert with numpy: np.save(path, np.ascontiguousarray(x))"
        case .truncated(let path, let expectedBytes, let foundBytes):
            return "\(path) is truncated: the header announces \(expectedBytes) bytes of data but only \(foundBytes) follow; write the file again"
        }
    }
}

/// Reads and writes numpy `.npy` arrays (format versions 1.0–3.0, C order, little-endian float32/float64).
public enum NPY {
    private static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY

    /// Reads a float32 or float64 array; float64 elements are rounded to Float.
    public static func read(path: String) throws -> Tensor {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw NPYError.io(path: path, detail: "cannot read: \(error.localizedDescription)")
        }
        return try decode(data, path: path)
    }

    /// Parses the bytes of a `.npy` file; `path` only names it in errors.
    public static func decode(_ data: Data, path: String = "<memory>") throws -> Tensor {
        try data.withUnsafeBytes { try decode(bytes: $0, path: path) }
    }

    private static func decode(bytes: UnsafeRawBufferPointer, path: String) throws -> Tensor {
        guard bytes.count >= 8, bytes.prefix(6).elementsEqual(magic) else { throw NPYError.notNPY(path: path) }
        let major = bytes[6], minor = bytes[7]
        let lengthBytes: Int
        switch (major, minor) {
        case (1, 0): lengthBytes = 2
        case (2, 0), (3, 0): lengthBytes = 4
        default: throw NPYError.unsupportedVersion(path: path, major: major, minor: minor)
        }
        guard bytes.count >= 8 + lengthBytes else {
            throw NPYError.malformedHeader(path: path, detail: "the file ends inside the header length")
        }
        var headerLength = 0
        for index in 0..<lengthBytes { headerLength |= Int(bytes[8 + index]) << (8 * index) }
        let headerStart = 8 + lengthBytes
        guard bytes.count >= headerStart + headerLength else {
            throw NPYError.malformedHeader(path: path, detail: "the header announces \(headerLength) bytes but the file ends first")
        }
        guard let header = String(bytes: UnsafeRawBufferPointer(rebasing: bytes[headerStart..<(headerStart + headerLength)]),
                                  encoding: major == 3 ? .utf8 : .isoLatin1) else {
            throw NPYError.malformedHeader(path: path, detail: "the header is not text")
        }
        var parser = HeaderParser(text: header, path: path)
        let fields = try parser.parseDictionary()
        guard case .string(let descriptor)? = fields["descr"] else {
            throw NPYError.malformedHeader(path: path, detail: "no 'descr' string")
        }
        guard case .bool(let fortranOrder)? = fields["fortran_order"] else {
            throw NPYError.malformedHeader(path: path, detail: "no 'fortran_order' True/False")
        }
        guard case .tuple(let shape)? = fields["shape"], shape.allSatisfy({ $0 >= 0 }) else {
            throw NPYError.malformedHeader(path: path, detail: "no 'shape' tuple of non-negative integers")
        }
        let dtype: NPYDType
        switch descriptor {
        case "<f4": dtype = .float32
        case "<f8": dtype = .float64
        default: throw NPYError.unsupportedDType(path: path, descriptor: descriptor)
        }
        // A 0-D or 1-D array is the same in either order.
        if fortranOrder && shape.filter({ $0 != 1 }).count > 1 { throw NPYError.fortranOrder(path: path) }
        var count = 1
        for dimension in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw NPYError.malformedHeader(path: path, detail: "shape \(shape) is too large") }
            count = product
        }
        let dataStart = headerStart + headerLength
        let expected = count * dtype.byteCount
        guard bytes.count - dataStart >= expected else {
            throw NPYError.truncated(path: path, expectedBytes: expected, foundBytes: bytes.count - dataStart)
        }
        let source = bytes.baseAddress! + dataStart
        let floats = [Float](unsafeUninitializedCapacity: count) { output, initialized in
            switch dtype {
            case .float32:
                for index in 0..<count {
                    output[index] = Float(bitPattern: UInt32(littleEndian: source.loadUnaligned(fromByteOffset: 4 * index, as: UInt32.self)))
                }
            case .float64:
                for index in 0..<count {
                    output[index] = Float(Double(bitPattern: UInt64(littleEndian: source.loadUnaligned(fromByteOffset: 8 * index, as: UInt64.self))))
                }
            }
            initialized = count
        }
        return Tensor(shape: shape, floats: floats)
    }

    /// Writes `tensor` (int64 elements converted) as a version 1.0 `.npy` whose data starts at a multiple of
    /// 64 bytes. The file appears atomically: the bytes go to a temporary file in the same directory that is
    /// then renamed over `path`.
    public static func write(_ tensor: Tensor, to path: String, dtype: NPYDType = .float32) throws {
        try writeAtomically(encode(tensor, dtype: dtype), to: path)
    }

    /// Writes Double values (full precision, dtype '<f8') of the given C-order shape, atomically as `write`.
    public static func write(float64 values: [Double], shape: [Int], to path: String) throws {
        try writeAtomically(encode(float64: values, shape: shape), to: path)
    }

    private static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        let temporary = (directory.isEmpty ? "" : directory + "/") + ".\(name).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard descriptor >= 0 else {
            throw NPYError.io(path: path, detail: "cannot create \(temporary): \(String(cString: strerror(errno)))")
        }
        var written = 0
        var failure: String? = nil
        bytes.withUnsafeBytes { raw in
            while written < raw.count {
                let result = Foundation.write(descriptor, raw.baseAddress! + written, raw.count - written)
                if result < 0 {
                    if errno == EINTR { continue }
                    failure = "cannot write \(temporary): \(String(cString: strerror(errno)))"
                    return
                }
                written += result
            }
        }
        if close(descriptor) != 0 && failure == nil { failure = "cannot close \(temporary): \(String(cString: strerror(errno)))" }
        if failure == nil && rename(temporary, path) != 0 {
            failure = "cannot rename \(temporary) to \(path): \(String(cString: strerror(errno)))"
        }
        if let failure {
            unlink(temporary)
            throw NPYError.io(path: path, detail: failure)
        }
    }

    /// The bytes of a version 1.0 `.npy` file holding `tensor`.
    public static func encode(_ tensor: Tensor, dtype: NPYDType = .float32) -> [UInt8] {
        let values = tensor.floats
        var bytes = header(shape: tensor.shape, dtype: dtype, elementCount: values.count)
        switch dtype {
        case .float32:
            for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 } }
        case .float64:
            for value in values { withUnsafeBytes(of: Double(value).bitPattern.littleEndian) { bytes += $0 } }
        }
        return bytes
    }

    /// The bytes of a version 1.0 float64 `.npy` file holding `values` in C order.
    public static func encode(float64 values: [Double], shape: [Int]) -> [UInt8] {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not match \(values.count) values")
        var bytes = header(shape: shape, dtype: .float64, elementCount: values.count)
        for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 } }
        return bytes
    }

    /// Magic, version 1.0 and the header dictionary, padded so the data starts at a multiple of 64 bytes.
    private static func header(shape: [Int], dtype: NPYDType, elementCount: Int) -> [UInt8] {
        let shapeText: String
        switch shape.count {
        case 0: shapeText = "()"
        case 1: shapeText = "(\(shape[0]),)"
        default: shapeText = "(" + shape.map(String.init).joined(separator: ", ") + ")"
        }
        var header = "{'descr': '\(dtype.descriptor)', 'fortran_order': False, 'shape': \(shapeText), }"
        // magic (6) + version (2) + length (2) + header + "\n" must be a multiple of 64.
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var bytes = magic + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)]
        bytes.reserveCapacity(bytes.count + header.utf8.count + elementCount * dtype.byteCount)
        bytes += Array(header.utf8)
        return bytes
    }
}

/// The Python literal dictionary of a `.npy` header: string keys mapping to strings, True/False or int tuples.
private struct HeaderParser {
    enum Value: Equatable {
        case string(String)
        case bool(Bool)
        case tuple([Int])
    }

    let characters: [Character]
    let path: String
    var position = 0

    init(text: String, path: String) {
        self.characters = Array(text)
        self.path = path
    }

    func failure(_ detail: String) -> NPYError { .malformedHeader(path: path, detail: detail) }

    mutating func skipSpace() {
        while position < characters.count, characters[position].isWhitespace { position += 1 }
    }

    mutating func expect(_ character: Character) throws {
        skipSpace()
        guard position < characters.count, characters[position] == character else {
            throw failure("expected '\(character)' at offset \(position)")
        }
        position += 1
    }

    /// Consumes `character` if it is next.
    mutating func accept(_ character: Character) -> Bool {
        skipSpace()
        if position < characters.count, characters[position] == character { position += 1; return true }
        return false
    }

    mutating func parseDictionary() throws -> [String: Value] {
        var result: [String: Value] = [:]
        try expect("{")
        while !accept("}") {
            let key = try parseString()
            try expect(":")
            result[key] = try parseValue()
            if !accept(",") {
                try expect("}")
                break
            }
        }
        return result
    }

    mutating func parseString() throws -> String {
        skipSpace()
        guard position < characters.count, characters[position] == "'" || characters[position] == "\"" else {
            throw failure("expected a quoted string at offset \(position)")
        }
        let quote = characters[position]
        position += 1
        let start = position
        while position < characters.count, characters[position] != quote { position += 1 }
        guard position < characters.count else { throw failure("unterminated string") }
        defer { position += 1 }
        return String(characters[start..<position])
    }

    mutating func parseValue() throws -> Value {
        skipSpace()
        guard position < characters.count else { throw failure("the header ends where a value was expected") }
        switch characters[position] {
        case "'", "\"":
            return .string(try parseString())
        case "(":
            position += 1
            var dimensions: [Int] = []
            while !accept(")") {
                dimensions.append(try parseInteger())
                if !accept(",") {
                    try expect(")")
                    break
                }
            }
            return .tuple(dimensions)
        default:
            let start = position
            while position < characters.count, characters[position].isLetter { position += 1 }
            switch String(characters[start..<position]) {
            case "True": return .bool(true)
            case "False": return .bool(false)
            case let word: throw failure("unexpected value '\(word)' at offset \(start)")
            }
        }
    }

    mutating func parseInteger() throws -> Int {
        skipSpace()
        let start = position
        while position < characters.count, characters[position].isASCII, characters[position].isNumber { position += 1 }
        // Python 2 era writers append L to long integers.
        let digits = String(characters[start..<position])
        if position < characters.count, characters[position] == "L" { position += 1 }
        guard let value = Int(digits) else { throw failure("expected an integer at offset \(start)") }
        return value
    }
}
