import ONNXProto
import TensorIR

/// Turns TensorProtos (initializers, Constant values) into `Tensor`s, reading whichever storage the
/// file used: raw_data (little-endian bytes), a typed field (float_data, int32_data, int64_data,
/// double_data, uint64_data), or an external data file next to the model.
final class TensorDecoder {
    /// The folder external data locations are relative to.
    let directory: String
    /// External data files, mapped once each (all_tensors_to_one_file puts every weight in one file).
    private var externalFiles: [String: MappedFile] = [:]

    init(directory: String) {
        self.directory = directory
    }

    /// How an ONNX element type is stored and what it becomes in Tessera.
    private enum Element {
        case float32, float64, float16, bfloat16
        case integer(bytes: Int, signed: Bool, typedField: TypedField)

        enum TypedField { case int32, int64, uint64 }

        var byteWidth: Int {
            switch self {
            case .float32: return 4
            case .float64: return 8
            case .float16, .bfloat16: return 2
            case .integer(let bytes, _, _): return bytes
            }
        }

        init?(code: Int32) {
            switch code {
            case 1: self = .float32
            case 11: self = .float64
            case 10: self = .float16
            case 16: self = .bfloat16
            case 2: self = .integer(bytes: 1, signed: false, typedField: .int32)   // uint8
            case 3: self = .integer(bytes: 1, signed: true, typedField: .int32)    // int8
            case 4: self = .integer(bytes: 2, signed: false, typedField: .int32)   // uint16
            case 5: self = .integer(bytes: 2, signed: true, typedField: .int32)    // int16
            case 6: self = .integer(bytes: 4, signed: true, typedField: .int32)    // int32
            case 7: self = .integer(bytes: 8, signed: true, typedField: .int64)    // int64
            case 9: self = .integer(bytes: 1, signed: false, typedField: .int32)   // bool
            case 12: self = .integer(bytes: 4, signed: false, typedField: .uint64) // uint32
            case 13: self = .integer(bytes: 8, signed: false, typedField: .uint64) // uint64
            default: return nil
            }
        }
    }

    /// Decodes `proto`; `name` is used in diagnostics when the tensor itself is unnamed.
    func decode(_ proto: UnsafeMutablePointer<Onnx__TensorProto>, name fallbackName: String) throws(ONNXImportError) -> Tensor {
        let tensor = proto.pointee
        let ownName = swiftString(tensor.name)
        let name = ownName.isEmpty ? fallbackName : ownName
        var shape: [Int] = []
        var count = 1
        for dim in repeated(tensor.dims, tensor.n_dims) {
            guard dim >= 0 else { throw .invalidTensor(tensor: name, detail: "has negative dimension \(dim)") }
            let (product, overflow) = count.multipliedReportingOverflow(by: Int(dim))
            guard !overflow else {
                throw .invalidTensor(tensor: name, detail: "is too large (dims \(repeated(tensor.dims, tensor.n_dims).map { $0 }))")
            }
            shape.append(Int(dim))
            count = product
        }
        let code = tensor.has_data_type != 0 ? tensor.data_type : 0
        guard let element = Element(code: code) else {
            throw .unsupportedDataType(tensor: name, type: ONNXDataType.name(code))
        }
        guard tensor.segment == nil else {
            throw .invalidTensor(tensor: name, detail: "is segmented; segmented tensors are not supported")
        }
        let byteCount = count * element.byteWidth

        if tensor.has_data_location != 0, tensor.data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL {
            let (file, offset) = try externalBytes(of: tensor, name: name, byteCount: byteCount)
            return withExtendedLifetime(file) {
                let bytes = UnsafeRawBufferPointer(rebasing: file.bytes[offset..<(offset + byteCount)])
                return Self.fromBytes(bytes, shape: shape, count: count, element: element)
            }
        }
        if tensor.has_raw_data != 0 {
            guard tensor.raw_data.len == byteCount else {
                throw .invalidTensor(tensor: name, detail: "raw_data has \(tensor.raw_data.len) bytes but dims \(shape) "
                    + "need \(byteCount) (\(count) × \(element.byteWidth))")
            }
            let bytes = UnsafeRawBufferPointer(start: tensor.raw_data.data, count: byteCount)
            return Self.fromBytes(bytes, shape: shape, count: count, element: element)
        }
        return try fromTypedField(tensor, name: name, shape: shape, count: count, element: element)
    }

    // MARK: storage forms

    private static func fromBytes(_ bytes: UnsafeRawBufferPointer, shape: [Int], count: Int, element: Element) -> Tensor {
        switch element {
        case .float32:
            let floats = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                #if _endian(little)
                if count > 0 { UnsafeMutableRawBufferPointer(buffer).copyMemory(from: bytes) }
                #else
                for index in 0..<count {
                    buffer[index] = Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * index, as: UInt32.self)))
                }
                #endif
                initialized = count
            }
            return Tensor(shape: shape, floats: floats)
        case .float64:
            return Tensor(shape: shape, floats: (0..<count).map {
                Float(Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8 * $0, as: UInt64.self))))
            })
        case .float16:
            return Tensor(shape: shape, floats: (0..<count).map {
                floatFromHalf(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self)))
            })
        case .bfloat16:
            return Tensor(shape: shape, floats: (0..<count).map {
                Float(bitPattern: UInt32(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self))) << 16)
            })
        case .integer(let width, let signed, _):
            let values = (0..<count).map { index -> Int64 in
                let offset = index * width
                switch (width, signed) {
                case (1, true): return Int64(bytes.load(fromByteOffset: offset, as: Int8.self))
                case (1, false): return Int64(bytes.load(fromByteOffset: offset, as: UInt8.self))
                case (2, true): return Int64(Int16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int16.self)))
                case (2, false): return Int64(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
                case (4, true): return Int64(Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int32.self)))
                case (4, false): return Int64(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
                default: return Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int64.self))
                }
            }
            return Tensor(shape: shape, int64s: values)
        }
    }

    private func fromTypedField(_ tensor: Onnx__TensorProto, name: String, shape: [Int], count: Int, element: Element) throws(ONNXImportError) -> Tensor {
        func check(_ available: Int, _ field: String) throws(ONNXImportError) {
            guard available == count else {
                throw .invalidTensor(tensor: name, detail: available == 0 && count > 0
                    ? "has no data (no raw_data, \(field) or external data) for its \(count) element(s)"
                    : "\(field) has \(available) values but dims \(shape) need \(count)")
            }
        }
        switch element {
        case .float32:
            try check(tensor.n_float_data, "float_data")
            return Tensor(shape: shape, floats: Array(repeated(tensor.float_data, tensor.n_float_data)))
        case .float64:
            try check(tensor.n_double_data, "double_data")
            return Tensor(shape: shape, floats: repeated(tensor.double_data, tensor.n_double_data).map { Float($0) })
        case .float16:
            // float16 and bfloat16 keep their bit patterns in the low 16 bits of int32_data.
            try check(tensor.n_int32_data, "int32_data")
            return Tensor(shape: shape, floats: repeated(tensor.int32_data, tensor.n_int32_data).map {
                floatFromHalf(UInt16(truncatingIfNeeded: $0))
            })
        case .bfloat16:
            try check(tensor.n_int32_data, "int32_data")
            return Tensor(shape: shape, floats: repeated(tensor.int32_data, tensor.n_int32_data).map {
                Float(bitPattern: UInt32(UInt16(truncatingIfNeeded: $0)) << 16)
            })
        case .integer(_, _, let field):
            switch field {
            case .int32:
                try check(tensor.n_int32_data, "int32_data")
                return Tensor(shape: shape, int64s: repeated(tensor.int32_data, tensor.n_int32_data).map { Int64($0) })
            case .int64:
                try check(tensor.n_int64_data, "int64_data")
                return Tensor(shape: shape, int64s: Array(repeated(tensor.int64_data, tensor.n_int64_data)))
            case .uint64:
                try check(tensor.n_uint64_data, "uint64_data")
                var values: [Int64] = []
                values.reserveCapacity(count)
                for value in repeated(tensor.uint64_data, tensor.n_uint64_data) {
                    guard value <= UInt64(Int64.max) else {
                        throw .invalidTensor(tensor: name, detail: "value \(value) does not fit in int64")
                    }
                    values.append(Int64(value))
                }
                return Tensor(shape: shape, int64s: values)
            }
        }
    }

    /// The mapped file holding an external tensor and the byte offset of its data, after checking that
    /// the file exists and is long enough.
    private func externalBytes(of tensor: Onnx__TensorProto, name: String, byteCount: Int) throws(ONNXImportError) -> (MappedFile, Int) {
        var location: String?
        var offset = 0
        var length: Int?
        for entry in messages(tensor.external_data, tensor.n_external_data) {
            let value = swiftString(entry.pointee.value)
            switch swiftString(entry.pointee.key) {
            case "location": location = value
            case "offset":
                guard let parsed = Int(value), parsed >= 0 else {
                    throw .invalidTensor(tensor: name, detail: "external data offset '\(value)' is not a non-negative integer")
                }
                offset = parsed
            case "length":
                guard let parsed = Int(value), parsed >= 0 else {
                    throw .invalidTensor(tensor: name, detail: "external data length '\(value)' is not a non-negative integer")
                }
                length = parsed
            default: break // checksum and future keys
            }
        }
        guard let location, !location.isEmpty else {
            throw .invalidTensor(tensor: name, detail: "is stored externally but names no 'location'")
        }
        guard !location.hasPrefix("/"), !location.split(separator: "/").contains("..") else {
            throw .invalidTensor(tensor: name, detail: "external data location '\(location)' must be a path inside the model's folder")
        }
        if let length, length != byteCount {
            throw .invalidTensor(tensor: name, detail: "external data length \(length) does not match the \(byteCount) bytes its dims need")
        }
        let path = directory + "/" + location
        let file: MappedFile
        if let cached = externalFiles[path] {
            file = cached
        } else {
            do throws(MappedFile.OpenFailure) {
                file = try MappedFile(path: path)
            } catch {
                switch error {
                case .notFound: throw .missingExternalData(tensor: name, file: path)
                case .failed(let reason): throw .unreadable(path: path, reason: reason)
                }
            }
            externalFiles[path] = file
        }
        guard offset <= file.bytes.count, byteCount <= file.bytes.count - offset else {
            throw .externalDataOutOfRange(tensor: name, file: path, offset: offset, length: byteCount, fileSize: file.bytes.count)
        }
        return (file, offset)
    }
}

/// IEEE 754 binary16 → binary32 (exact).
func floatFromHalf(_ bits: UInt16) -> Float {
    let sign = UInt32(bits & 0x8000) << 16
    let exponent = Int((bits >> 10) & 0x1F)
    let mantissa = UInt32(bits & 0x3FF)
    switch exponent {
    case 0:
        // zero or subnormal: mantissa · 2^-24
        let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
        return sign == 0 ? magnitude : -magnitude
    case 0x1F:
        return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
    default:
        return Float(bitPattern: sign | (UInt32(exponent + 127 - 15) << 23) | (mantissa << 13))
    }
}
