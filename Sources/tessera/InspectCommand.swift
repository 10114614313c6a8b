import ArgumentParser
import Foundation
import ONNXFrontend

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Summarize an ONNX model: producer, opset, inputs and outputs, operators, parameters, unsupported ops.",
        discussion: "Exits with a non-zero status when the model uses an operator Tessera does not support."
    )

    @Argument(help: "The .onnx file.")
    var model: String

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func run() throws {
        let start = monotonicSeconds()
        let onnx = try ONNXModel(contentsOf: model)
        let info = onnx.info
        let elapsed = monotonicSeconds() - start
        if json {
            print(try inspectJSON(info))
        } else {
            print(inspectText(info, seconds: elapsed))
        }
        if !info.unsupported.isEmpty {
            throw ExitCode(2)
        }
    }

    private func describe(_ value: ONNXValueInfo) -> String {
        "\(value.name): \(value.elementType)[\(value.dims.joined(separator: ","))]"
    }

    private func inspectText(_ info: ONNXModelInfo, seconds: Double) -> String {
        var lines: [String] = []
        lines.append("model:      \(model)")
        let producer = [info.producerName, info.producerVersion].filter { !$0.isEmpty }.joined(separator: " ")
        lines.append("producer:   \(producer.isEmpty ? "(none)" : producer)")
        lines.append("ir_version: \(info.irVersion)")
        let opsets = info.opsetImports.sorted { $0.key < $1.key }
            .map { "\($0.key.isEmpty ? "ai.onnx" : $0.key) \($0.value)" }
        lines.append("opset:      \(opsets.joined(separator: ", "))")
        lines.append("graph:      \(info.graphName)")
        for input in info.inputs { lines.append("input:      \(describe(input))") }
        for output in info.outputs { lines.append("output:     \(describe(output))") }
        let nodeCount = info.operatorCounts.values.reduce(0, +)
        lines.append("operators:  \(nodeCount) nodes")
        for (op, count) in info.operatorCounts.sorted(by: { ($0.value, $1.key) > ($1.value, $0.key) }) {
            lines.append("  \(op.padding(toLength: max(op.count, 24), withPad: " ", startingAt: 0)) \(count)")
        }
        let formatter = NumberFormatter()
        formatter.numberStyle = .decimal
        let parameters = formatter.string(from: NSNumber(value: info.parameterCount)) ?? "\(info.parameterCount)"
        lines.append("parameters: \(parameters) (\(String(format: "%.2f", Double(info.parameterCount) / 1e6)) M)")
        if info.unsupported.isEmpty {
            lines.append("unsupported: none")
        } else {
            lines.append("unsupported: \(info.unsupported.count) node(s)")
            for op in info.unsupported {
                let domain = op.domain.isEmpty ? "" : " (domain \(op.domain))"
                let reason = op.reason.isEmpty ? "" : ": \(op.reason)"
                lines.append("  \(op.opType)\(domain) at node '\(op.nodeName)'\(reason)")
            }
        }
        lines.append(String(format: "parsed in %.3f s", seconds))
        return lines.joined(separator: "\n")
    }

    private func inspectJSON(_ info: ONNXModelInfo) throws -> String {
        func value(_ v: ONNXValueInfo) -> [String: Any] {
            ["name": v.name, "dtype": v.elementType, "shape": v.dims]
        }
        let object: [String: Any] = [
            "model": model,
            "producer": info.producerName,
            "producer_version": info.producerVersion,
            "ir_version": info.irVersion,
            "opset": Dictionary(uniqueKeysWithValues: info.opsetImports.map { ($0.key.isEmpty ? "ai.onnx" : $0.key, $0.value) }),
            "graph": info.graphName,
            "inputs": info.inputs.map(value),
            "outputs": info.outputs.map(value),
            "ops": info.operatorCounts,
            "parameters": info.parameterCount,
            "unsupported": info.unsupported.map { ["node": $0.nodeName, "op": $0.opType, "domain": $0.domain, "reason": $0.reason] },
        ]
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }
}
