/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, initial value and final XOR 0xFFFFFFFF —
/// the zlib/PNG `crc32`), computed eight bytes at a time (slicing-by-8).
public enum CRC32 {
    /// table[k·256 + b]: the CRC contribution of byte b followed by k zero bytes.
    static let table: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 8 * 256)
        for byte in 0..<256 {
            var crc = UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
            table[byte] = crc
        }
        for slice in 1..<8 {
            for byte in 0..<256 {
                let previous = table[(slice - 1) * 256 + byte]
                table[slice * 256 + byte] = (previous >> 8) ^ table[Int(previous & 0xFF)]
            }
        }
        return table
    }()

    /// The CRC-32 of `bytes` ("123456789" → 0xCBF43926).
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        table.withUnsafeBufferPointer { table in
            var crc: UInt32 = 0xFFFF_FFFF
            var index = 0
            let count = bytes.count
            while index + 8 <= count {
                let low = bytes.loadUnaligned(fromByteOffset: index, as: UInt32.self).littleEndian ^ crc
                let high = bytes.loadUnaligned(fromByteOffset: index + 4, as: UInt32.self).littleEndian
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
            return ~crc
        }
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }
}

/// Appends little-endian fields to a growing byte array.
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func u8(_ value: UInt8) { bytes.append(value) }
    mutating func u16(_ value: UInt16) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func i64(_ value: Int) { withUnsafeBytes(of: Int64(value).littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func f64(_ value: Double) { u64(value.bitPattern) }
    /// A count that must fit in 32 bits (programs are far below that).
    mutating func count32(_ value: Int) {
        precondition(value >= 0 && value <= Int(UInt32.max), "count \(value) does not fit the plan format")
        u32(UInt32(value))
    }
    /// UInt32 byte length, then the UTF-8 bytes.
    mutating func string(_ value: String) {
        let utf8 = Array(value.utf8)
        count32(utf8.count)
        bytes.append(contentsOf: utf8)
    }
    mutating func i64Array(_ values: [Int]) {
        count32(values.count)
        for value in values { i64(value) }
    }
    /// Raw little-endian Float64s (no count).
    mutating func f64Raw(_ values: [Double]) {
        #if _endian(little)
            values.withUnsafeBytes { bytes.append(contentsOf: $0) }
        #else
            for value in values { f64(value) }
        #endif
    }
    /// Raw little-endian Int32s (no count).
    mutating func i32Raw(_ values: [Int32]) {
        #if _endian(little)
            values.withUnsafeBytes { bytes.append(contentsOf: $0) }
        #else
            for value in values { u32(UInt32(bitPattern: value)) }
        #endif
    }
    mutating func padTo8() {
        while bytes.count % 8 != 0 { bytes.append(0) }
    }
}

/// Reads little-endian fields from one section's payload; running past its end throws
/// `PlanFileError.malformedSection` naming the section and the field.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    var offset: Int
    let end: Int
    let section: String

    init(_ bytes: UnsafeRawBufferPointer, from start: Int, to end: Int, section: String) {
        self.bytes = bytes
        self.offset = start
        self.end = end
        self.section = section
    }

    var remaining: Int { end - offset }
    var isAtEnd: Bool { offset == end }

    func malformed(_ detail: String) -> PlanFileError {
        .malformedSection(section: section, detail: detail)
    }

    mutating func need(_ count: Int, _ field: String) throws {
        guard count >= 0, count <= remaining else {
            throw malformed("\(field) needs \(count) bytes but only \(remaining) remain in the section")
        }
    }

    mutating func u8(_ field: String) throws -> UInt8 {
        try need(1, field)
        defer { offset += 1 }
        return bytes[offset]
    }
    mutating func u16(_ field: String) throws -> UInt16 {
        try need(2, field)
        defer { offset += 2 }
        return UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }
    mutating func u32(_ field: String) throws -> UInt32 {
        try need(4, field)
        defer { offset += 4 }
        return UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }
    mutating func u64(_ field: String) throws -> UInt64 {
        try need(8, field)
        defer { offset += 8 }
        return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
    mutating func i64(_ field: String) throws -> Int {
        Int(Int64(bitPattern: try u64(field)))
    }
    mutating func f64(_ field: String) throws -> Double {
        Double(bitPattern: try u64(field))
    }
    /// A UInt32 count of items of `itemSize` bytes each, checked against the bytes left.
    mutating func count32(_ field: String, itemSize: Int) throws -> Int {
        let count = Int(try u32(field))
        guard count.multipliedReportingOverflow(by: itemSize).partialValue <= remaining else {
            throw malformed("\(field) claims \(count) items of \(itemSize) bytes but only \(remaining) bytes remain")
        }
        return count
    }
    mutating func string(_ field: String) throws -> String {
        let length = try count32("length of \(field)", itemSize: 1)
        let utf8 = UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + length])
        offset += length
        guard let text = String(validating: utf8, as: UTF8.self) else {
            throw malformed("\(field) is not valid UTF-8")
        }
        return text
    }
    mutating func i64Array(_ field: String) throws -> [Int] {
        let count = try count32("count of \(field)", itemSize: 8)
        var values: [Int] = []
        values.reserveCapacity(count)
        for _ in 0..<count { values.append(try i64(field)) }
        return values
    }
    mutating func f64Raw(count: Int, _ field: String) throws -> [Double] {
        let (size, overflow) = count.multipliedReportingOverflow(by: 8)
        guard !overflow else { throw malformed("\(field) count \(count) is too large") }
        try need(size, field)
        let start = offset
        offset += size
        return [Double](unsafeUninitializedCapacity: count) { buffer, initialized in
            #if _endian(little)
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[start..<start + size]))
            #else
                for index in 0..<count {
                    buffer[index] = Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: start + 8 * index, as: UInt64.self)))
                }
            #endif
            initialized = count
        }
    }
    mutating func i32Raw(count: Int, _ field: String) throws -> [Int32] {
        let (size, overflow) = count.multipliedReportingOverflow(by: 4)
        guard !overflow else { throw malformed("\(field) count \(count) is too large") }
        try need(size, field)
        let start = offset
        offset += size
        return [Int32](unsafeUninitializedCapacity: count) { buffer, initialized in
            #if _endian(little)
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[start..<start + size]))
            #else
                for index in 0..<count {
                    buffer[index] = Int32(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: start + 4 * index, as: UInt32.self)))
                }
            #endif
            initialized = count
        }
    }
}
