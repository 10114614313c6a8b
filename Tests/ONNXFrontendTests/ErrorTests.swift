import Foundation
import Testing
@testable import ONNXFrontend
import TensorIR

@Suite("ONNX import errors")
struct ErrorTests {
    @Test func missingFile() {
        let path = Fixtures.path("no_such_model.onnx")
        let error = importError { _ = try ONNXModel(contentsOf: path) }
        #expect(error == .fileNotFound(path: path))
    }

    @Test("truncated and non-ONNX files are rejected as such", arguments: ["truncated.onnx", "not_onnx.onnx", "resnet20.input.npy"])
    func notONNX(file: String) {
        let path = Fixtures.path(file)
        let error = importError { _ = try ONNXModel(contentsOf: path) }
        #expect(error == .notONNX(path: path))
        #expect(error?.description.contains("is not an ONNX model or is truncated") == true)
    }

    @Test func emptyFile() throws {
        let path = NSTemporaryDirectory() + "tessera-empty-\(getpid()).onnx"
        _ = FileManager.default.createFile(atPath: path, contents: Data())
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(importError { _ = try ONNXModel(contentsOf: path) } == .notONNX(path: path))
    }

    @Test("a missing external data file is named in the error")
    func missingExternalData() throws {
        let model = try Fixtures.load("missing_external")   // the model itself reads fine
        let error = importError { _ = try model.makeGraph() }
        guard case .missingExternalData(let tensor, let file) = error else {
            Issue.record("expected missingExternalData, got \(String(describing: error))")
            return
        }
        #expect(file.hasSuffix("/missing_external.data"))
        #expect(!tensor.isEmpty)
        #expect(error!.description.contains("missing_external.data"))
    }

    @Test("an external data file that is too short is reported with its size")
    func shortExternalData() throws {
        let folder = NSTemporaryDirectory() + "tessera-short-\(getpid())"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.copyItem(atPath: Fixtures.path("gemm.external.onnx"), toPath: folder + "/gemm.external.onnx")
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("gemm.external.data")))
        try data.prefix(data.count - 8).write(to: URL(fileURLWithPath: folder + "/gemm.external.data"))
        let error = importError { _ = try ONNXModel(contentsOf: folder + "/gemm.external.onnx").makeGraph() }
        guard case .externalDataOutOfRange(_, let file, let offset, let length, let fileSize) = error else {
            Issue.record("expected externalDataOutOfRange, got \(String(describing: error))")
            return
        }
        #expect(file.hasSuffix("gemm.external.data"))
        #expect(fileSize == data.count - 8)
        #expect(offset + length > fileSize)
    }

    @Test("every unsupported node is listed with its name, op type and domain")
    func unsupportedOperators() throws {
        let model = try Fixtures.load("unsupported_ops")
        let expected = [
            UnsupportedOperator(nodeName: "erf_gate", opType: "Erf"),
            UnsupportedOperator(nodeName: "leaky", opType: "LeakyRelu"),
            UnsupportedOperator(nodeName: "reflect_pad", opType: "Pad",
                                reason: "Pad mode 'reflect' is not supported; only mode 'constant'"),
            UnsupportedOperator(nodeName: "custom_op", opType: "FusedThing", domain: "com.example",
                                reason: "only the ai.onnx domain is supported"),
            UnsupportedOperator(nodeName: "softmax", opType: "Softmax"),
        ]
        #expect(model.info.unsupported == expected)
        #expect(model.info.operatorCounts["com.example.FusedThing"] == 1)
        let error = importError { _ = try model.makeGraph() }
        #expect(error == .unsupportedOperators(expected))
        let text = error?.description ?? ""
        for name in ["erf_gate", "leaky", "reflect_pad", "custom_op", "softmax", "Erf", "LeakyRelu", "Softmax", "reflect"] {
            #expect(text.contains(name), "error text must mention \(name)")
        }
    }

    @Test("reading a secondary output (Dropout's mask) is an error naming it")
    func secondaryOutput() throws {
        let error = importError { _ = try Fixtures.graph("dropout_mask_used") }
        #expect(error == .secondaryOutputUsed(user: "graph output 'dropout_out1'", output: "dropout_out1", producer: "dropout"))
    }

    @Test("a symbolic non-batch dimension names the input and the dimension")
    func symbolicDimension() throws {
        let model = try Fixtures.load("symbolic_dims")
        #expect(model.info.inputs.first?.dims == ["N", "3", "H", "W"])
        let error = importError { _ = try model.makeGraph() }
        #expect(error == .symbolicDimension(input: "x", axis: 2, name: "H"))
        #expect(error?.description.contains("'x'") == true)
    }

    @Test func invalidBatchSize() throws {
        let model = try Fixtures.load("symbolic_batch")
        #expect(importError { _ = try model.makeGraph(batchSize: 0) } == .invalidBatchSize(0))
    }
}
