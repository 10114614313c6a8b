import Testing
@testable import ONNXFrontend
import TensorIR

/// dtypes.onnx holds, as graph outputs, initializers of every element type the importer decodes, each
/// stored as raw_data and in its typed field (float16/bfloat16 bit patterns in int32_data, uint32/uint64
/// in uint64_data, small integers and bool in int32_data).
@Suite("initializer element types")
struct DataTypeTests {
    static let floats: [Float] = [0.5, -2, 3.25, 1024]
    static let integers: [String: [Int64]] = [
        "int8": [-3, 7], "uint8": [200, 1], "int16": [-300, 7], "uint16": [60000, 1],
        "int32": [-70000, 5], "uint32": [4_000_000_000, 2], "int64": [-(1 << 40), 9], "uint64": [1 << 40, 3],
        "bool": [1, 0],
    ]

    static let graph: Result<TensorGraph, ONNXImportError> = Result { () throws(ONNXImportError) in
        try ONNXModel(contentsOf: Fixtures.path("dtypes.onnx")).makeGraph()
    }

    func constant(_ name: String) throws -> Tensor {
        let graph = try Self.graph.get()
        let node = try #require(graph.named(name), "no node \(name)")
        guard case .constant(let tensor) = node.operation else {
            Issue.record("\(name) is not a constant")
            return Tensor.zeros([0])
        }
        #expect(node.type == tensor.type)
        return tensor
    }

    @Test(arguments: ["float32", "float64", "float16"], ["raw", "typed"])
    func floatingPoint(type: String, storage: String) throws {
        #expect(try constant("\(type)_\(storage)") == Tensor(shape: [2, 2], floats: Self.floats))
    }

    @Test func bfloat16() throws {
        #expect(try constant("bfloat16_typed") == Tensor(shape: [2, 2], floats: Self.floats))
    }

    @Test(arguments: ["int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "bool"], ["raw", "typed"])
    func integer(type: String, storage: String) throws {
        #expect(try constant("\(type)_\(storage)") == Tensor(shape: [2], int64s: Self.integers[type]!))
    }
}
