import ONNXProto

// Small readers over protobuf-c's C structs. protobuf-c leaves absent optional strings NULL and
// repeated fields as (count, pointer) pairs; these helpers turn them into Swift values.

@inline(__always)
func swiftString(_ pointer: UnsafeMutablePointer<CChar>?) -> String {
    guard let pointer else { return "" }
    return String(cString: pointer)
}

@inline(__always)
func repeated<Element>(_ base: UnsafeMutablePointer<Element>?, _ count: Int) -> UnsafeMutableBufferPointer<Element> {
    UnsafeMutableBufferPointer(start: count == 0 ? nil : base, count: base == nil ? 0 : count)
}

/// The messages of a repeated message field, skipping NULL entries (which protobuf-c never produces).
@inline(__always)
func messages<Message>(_ base: UnsafeMutablePointer<UnsafeMutablePointer<Message>?>?, _ count: Int) -> [UnsafeMutablePointer<Message>] {
    repeated(base, count).compactMap { $0 }
}

func strings(_ base: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ count: Int) -> [String] {
    repeated(base, count).map { swiftString($0) }
}

func string(of binary: ProtobufCBinaryData) -> String {
    guard let data = binary.data, binary.len > 0 else { return "" }
    return String(decoding: UnsafeBufferPointer(start: data, count: binary.len), as: UTF8.self)
}

/// ONNX TensorProto.DataType codes and their Tessera spellings.
enum ONNXDataType {
    static func name(_ code: Int32) -> String {
        switch code {
        case 1: return "float32"
        case 2: return "uint8"
        case 3: return "int8"
        case 4: return "uint16"
        case 5: return "int16"
        case 6: return "int32"
        case 7: return "int64"
        case 8: return "string"
        case 9: return "bool"
        case 10: return "float16"
        case 11: return "float64"
        case 12: return "uint32"
        case 13: return "uint64"
        case 14: return "complex64"
        case 15: return "complex128"
        case 16: return "bfloat16"
        case 17: return "float8e4m3fn"
        case 18: return "float8e4m3fnuz"
        case 19: return "float8e5m2"
        case 20: return "float8e5m2fnuz"
        case 21: return "uint4"
        case 22: return "int4"
        case 23: return "float4e2m1"
        case 24: return "float8e8m0"
        case 25: return "uint2"
        case 26: return "int2"
        case 27: return "float6e2m3"
        case 28: return "float6e3m2"
        default: return code == 0 ? "undefined" : "unknown(\(code))"
        }
    }
}

/// Name, element type and dims of a ValueInfoProto, as the file states them.
func valueInfo(_ value: UnsafeMutablePointer<Onnx__ValueInfoProto>) -> ONNXValueInfo {
    let name = swiftString(value.pointee.name)
    guard let type = value.pointee.type, type.pointee.value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE,
          let tensorType = type.pointee.tensor_type else {
        return ONNXValueInfo(name: name, elementType: "non-tensor", dims: [], hasShape: false)
    }
    let elementType = tensorType.pointee.has_elem_type != 0 ? ONNXDataType.name(tensorType.pointee.elem_type) : "undefined"
    guard let shape = tensorType.pointee.shape else {
        return ONNXValueInfo(name: name, elementType: elementType, dims: [], hasShape: false)
    }
    let dims = messages(shape.pointee.dim, shape.pointee.n_dim).map { dimension -> String in
        switch dimension.pointee.value_case {
        case ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE: return String(dimension.pointee.dim_value)
        case ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM:
            let parameter = swiftString(dimension.pointee.dim_param)
            return parameter.isEmpty ? "?" : parameter
        default: return "?"
        }
    }
    return ONNXValueInfo(name: name, elementType: elementType, dims: dims, hasShape: true)
}
