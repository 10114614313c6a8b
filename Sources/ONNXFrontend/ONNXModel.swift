import ONNXProto
import TensorIR

/// An ONNX model read from disk: the decoded protobuf plus its metadata.
///
/// The file is memory-mapped only while protobuf-c decodes it (protobuf-c copies what it keeps); the
/// decoded message lives until this object is released, so drop the model once `makeGraph` returned
/// to give back the weights' memory.
public final class ONNXModel: @unchecked Sendable {
    // @unchecked: the decoded message is never mutated after init, so concurrent reads are safe.
    private let proto: UnsafeMutablePointer<Onnx__ModelProto>
    /// The path the model was read from.
    public let path: String
    /// The folder external data locations are relative to.
    let directory: String
    public let info: ONNXModelInfo

    /// Reads and decodes `path`. Throws `fileNotFound`, `unreadable`, or `notONNX` when protobuf
    /// decoding fails or the message lacks a graph.
    public init(contentsOf path: String) throws(ONNXImportError) {
        self.path = path
        if let slash = path.lastIndex(of: "/") {
            let folder = String(path[..<slash])
            directory = folder.isEmpty ? "/" : folder
        } else {
            directory = "."
        }
        let file: MappedFile
        do throws(MappedFile.OpenFailure) {
            file = try MappedFile(path: path)
        } catch {
            switch error {
            case .notFound: throw .fileNotFound(path: path)
            case .failed(let reason): throw .unreadable(path: path, reason: reason)
            }
        }
        let unpacked = withExtendedLifetime(file) { () -> UnsafeMutablePointer<Onnx__ModelProto>? in
            guard let base = file.bytes.baseAddress, file.bytes.count > 0 else { return nil }
            return onnx__model_proto__unpack(nil, file.bytes.count, base.assumingMemoryBound(to: UInt8.self))
        }
        guard let decoded = unpacked else { throw .notONNX(path: path) }
        // A random byte string can decode as an (almost) empty message: demand the fields every model has.
        guard decoded.pointee.graph != nil, decoded.pointee.has_ir_version != 0, decoded.pointee.ir_version > 0 else {
            onnx__model_proto__free_unpacked(decoded, nil)
            throw .notONNX(path: path)
        }
        proto = decoded
        info = ONNXModel.makeInfo(decoded)
    }

    deinit {
        onnx__model_proto__free_unpacked(proto, nil)
    }

    /// Translates the graph into Tessera's tensor IR.
    ///
    /// - Parameter batchSize: the size bound to a symbolic first dimension of each graph input (≥ 1);
    ///   fixed dimensions are kept as written.
    /// - Returns: a graph whose input and constant nodes carry their types; run shape inference for the rest.
    /// - Throws: `unsupportedOperators` listing every node that cannot be translated, or the first
    ///   data/attribute/structure error met.
    public func makeGraph(batchSize: Int = 1) throws(ONNXImportError) -> TensorGraph {
        guard batchSize >= 1 else { throw .invalidBatchSize(batchSize) }
        if !info.unsupported.isEmpty { throw .unsupportedOperators(info.unsupported) }
        var importer = GraphImporter(graph: proto.pointee.graph!, opset: info.defaultOpset, directory: directory, batchSize: batchSize)
        return try importer.run()
    }

    private static func makeInfo(_ model: UnsafeMutablePointer<Onnx__ModelProto>) -> ONNXModelInfo {
        var opsets: [String: Int] = [:]
        for opset in messages(model.pointee.opset_import, model.pointee.n_opset_import) {
            let domain = swiftString(opset.pointee.domain)
            opsets[domain == "ai.onnx" ? "" : domain] = Int(opset.pointee.version)
        }
        let graph = model.pointee.graph!
        let initializers = messages(graph.pointee.initializer, graph.pointee.n_initializer)
        let initializerNames = Set(initializers.map { swiftString($0.pointee.name) })
        var parameterCount = 0
        for initializer in initializers {
            let dims = repeated(initializer.pointee.dims, initializer.pointee.n_dims)
            parameterCount += dims.reduce(1) { $0 * max(0, Int($1)) }
        }
        let nodes = messages(graph.pointee.node, graph.pointee.n_node).enumerated().map { NodeView($1, index: $0) }
        var counts: [String: Int] = [:]
        for node in nodes { counts[node.qualifiedOpType, default: 0] += 1 }
        let opset = opsets[""] ?? 1
        return ONNXModelInfo(
            producerName: swiftString(model.pointee.producer_name),
            producerVersion: swiftString(model.pointee.producer_version),
            irVersion: Int(model.pointee.ir_version),
            opsetImports: opsets,
            graphName: swiftString(graph.pointee.name),
            inputs: messages(graph.pointee.input, graph.pointee.n_input)
                .filter { !initializerNames.contains(swiftString($0.pointee.name)) }
                .map(valueInfo),
            outputs: messages(graph.pointee.output, graph.pointee.n_output).map(valueInfo),
            operatorCounts: counts,
            parameterCount: parameterCount,
            unsupported: nodes.compactMap { OperatorRegistry.unsupported($0, opset: opset) }
        )
    }
}
