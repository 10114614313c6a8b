import Foundation
import Testing

/// Runs the built `tessera` binary (it sits beside the test bundle in the build products folder).
struct CLI {
    static let binary: URL = {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        // swift-testing on Linux runs `<bin>/TesseraPackageTests.xctest`; on other layouts walk up a little.
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("tessera")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("tessera")
    }()

    static let fixtures = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("ONNXFrontendTests/Fixtures")

    struct Result {
        /// The exit status, or minus the signal number when a signal ended the process.
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs the binary; `environment` entries are added to this process's environment.
    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Result {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationReason == .uncaughtSignal ? -process.terminationStatus : process.terminationStatus,
                      stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
    }

    static func fixture(_ name: String) -> String { fixtures.appendingPathComponent(name).path }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Models in the fixtures folder that come with an input and the onnxruntime output.
    static var modelsWithExpectedOutputs: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: fixtures.path)) ?? []
        return names.filter { $0.hasSuffix(".expected.npy") }
            .map { String($0.dropLast(".expected.npy".count)) }
            .filter { names.contains($0 + ".onnx") && names.contains($0 + ".input.npy") }
            .sorted()
    }
}

/// Reads a little-endian float32 .npy (as written by numpy or by tessera) without using the library under test.
func readFloat32NPY(_ path: String) throws -> (shape: [Int], values: [Float]) {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    let bytes = [UInt8](data)
    #expect(bytes.count > 10 && bytes[1] == 0x4E && bytes[2] == 0x55)  // "\x93NUMPY"
    let major = bytes[6]
    let headerLength = major == 1 ? Int(bytes[8]) | Int(bytes[9]) << 8
                                  : Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
    let headerStart = major == 1 ? 10 : 12
    let header = String(decoding: bytes[headerStart..<headerStart + headerLength], as: UTF8.self)
    #expect(header.contains("'<f4'"))
    let shapeText = header.components(separatedBy: "'shape': (")[1].components(separatedBy: ")")[0]
    let shape = shapeText.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    let start = headerStart + headerLength
    let count = (bytes.count - start) / 4
    let values = (0..<count).map { i -> Float in
        let o = start + 4 * i
        let bits = UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8 | UInt32(bytes[o + 2]) << 16 | UInt32(bytes[o + 3]) << 24
        return Float(bitPattern: bits)
    }
    return (shape, values)
}

@Suite struct InspectCommandTests {
    @Test func resnet20Summary() throws {
        let result = try CLI.run(["inspect", CLI.fixture("resnet20.onnx"), "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
        let ops = object["ops"] as! [String: Int]
        #expect(ops["Conv"] == 21)
        #expect(ops["BatchNormalization"] == 21)
        #expect(ops["Relu"] == 19)
        #expect(ops["Add"] == 9)
        #expect((object["unsupported"] as! [Any]).isEmpty)
        let parameters = object["parameters"] as! Int
        #expect(parameters > 250_000 && parameters < 300_000)
        #expect((object["inputs"] as! [[String: Any]]).count == 1)
        #expect((object["outputs"] as! [[String: Any]]).count == 1)
    }

    @Test func textSummaryNamesOperators() throws {
        let result = try CLI.run(["inspect", CLI.fixture("resnet20.onnx")])
        #expect(result.status == 0)
        #expect(result.stdout.contains("Conv"))
        #expect(result.stdout.contains("unsupported: none"))
    }

    @Test func unsupportedOperatorsAreAllListedAndExitNonZero() throws {
        let result = try CLI.run(["inspect", CLI.fixture("unsupported_ops.onnx"), "--json"])
        #expect(result.status != 0)
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
        let unsupported = object["unsupported"] as! [[String: String]]
        #expect(unsupported.count >= 2)
        #expect(unsupported.allSatisfy { !($0["op"] ?? "").isEmpty && $0["node"] != nil })
    }

    @Test(arguments: ["truncated.onnx", "not_onnx.onnx"])
    func badFilesGetAnErrorNotACrash(_ name: String) throws {
        let result = try CLI.run(["inspect", CLI.fixture(name)])
        #expect(result.status == 1, "exit \(result.status): \(result.stderr)")
        #expect(result.stderr.lowercased().contains("onnx"))
    }

    @Test func missingFileIsNamed() throws {
        let result = try CLI.run(["inspect", "/nonexistent/model.onnx"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("/nonexistent/model.onnx"))
    }
}

@Suite struct ReferenceCommandTests {
    @Test func fixturesMatchOnnxruntime() throws {
        let models = CLI.modelsWithExpectedOutputs
        #expect(models.count >= 5, "fixtures missing: \(models)")
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        for model in models {
            let output = directory.appendingPathComponent("\(model).npy").path
            let result = try CLI.run(["reference", CLI.fixture("\(model).onnx"),
                                      "--input", CLI.fixture("\(model).input.npy"), "--output", output])
            #expect(result.status == 0, "\(model): \(result.stderr)")
            guard result.status == 0 else { continue }
            let got = try readFloat32NPY(output)
            let expected = try readFloat32NPY(CLI.fixture("\(model).expected.npy"))
            #expect(got.shape == expected.shape, "\(model)")
            guard got.values.count == expected.values.count else { continue }
            let maxExpected = expected.values.map { abs(Double($0)) }.max() ?? 0
            let maxError = zip(got.values, expected.values).map { abs(Double($0) - Double($1)) }.max() ?? 0
            #expect(maxError / max(maxExpected, 1e-30) < 1e-4, "\(model): relative error \(maxError / maxExpected)")
        }
    }

    @Test func wrongInputShapeIsATypedError() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        // A 2x2 float32 array: the wrong shape for ResNet-20's 1x3x32x32 input.
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }"
        var padded = header
        while (10 + padded.count + 1) % 64 != 0 { padded += " " }
        padded += "\n"
        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(padded.count & 0xff), UInt8(padded.count >> 8)]
        bytes += Array(padded.utf8) + [UInt8](repeating: 0, count: 16)
        let input = directory.appendingPathComponent("bad.npy")
        try Data(bytes).write(to: input)
        let result = try CLI.run(["reference", CLI.fixture("resnet20.onnx"), "--input", input.path,
                                  "--output", directory.appendingPathComponent("y.npy").path])
        #expect(result.status == 1)
        #expect(result.stderr.contains("[2,2]") || result.stderr.contains("2, 2") || result.stderr.contains("shape"))
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("y.npy").path))
    }

    @Test func wrongDtypeIsATypedError() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let header = "{'descr': '<i4', 'fortran_order': False, 'shape': (1, 3, 32, 32), }"
        var padded = header
        while (10 + padded.count + 1) % 64 != 0 { padded += " " }
        padded += "\n"
        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(padded.count & 0xff), UInt8(padded.count >> 8)]
        bytes += Array(padded.utf8) + [UInt8](repeating: 0, count: 4 * 3 * 32 * 32)
        let input = directory.appendingPathComponent("int.npy")
        try Data(bytes).write(to: input)
        let result = try CLI.run(["reference", CLI.fixture("resnet20.onnx"), "--input", input.path,
                                  "--output", directory.appendingPathComponent("y.npy").path])
        #expect(result.status == 1)
        #expect(result.stderr.contains("<i4") || result.stderr.contains("dtype"))
    }
}

@Suite struct DumpCommandTests {
    @Test func tensorStageFoldsBatchNormalization() throws {
        let imported = try CLI.run(["dump", CLI.fixture("resnet20.onnx"), "--stage", "imported"])
        let folded = try CLI.run(["dump", CLI.fixture("resnet20.onnx"), "--stage", "tensor"])
        #expect(imported.status == 0 && folded.status == 0, "\(imported.stderr) \(folded.stderr)")
        #expect(imported.stdout.contains("batch_norm"))
        #expect(!folded.stdout.contains("batch_norm"))
        #expect(folded.stdout.contains("conv("))
        #expect(folded.stdout.contains("linear("))
    }

    @Test func jsonAndDotFormats() throws {
        let json = try CLI.run(["dump", CLI.fixture("resnet20.onnx"), "--format", "json"])
        #expect(json.status == 0)
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect((object?["nodes"] as? [Any])?.isEmpty == false)
        let dot = try CLI.run(["dump", CLI.fixture("resnet20.onnx"), "--format", "dot"])
        #expect(dot.status == 0)
        #expect(dot.stdout.hasPrefix("digraph"))
    }
}

@Suite struct InferCommandTests {
    /// A model whose output does not keep the batch in dimension 0 (MatMul to [3, 2] for one image) writes its own
    /// output shape, in both layouts (regression: the batch was prepended and the write crashed).
    @Test(arguments: ["batch", "spatial"])
    func outputShapeIsThePlans(layout: String) throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("y.npy")
        let result = try CLI.run(["infer", CLI.fixture("matmul.onnx"), "--input", CLI.fixture("matmul.input.npy"), "-o", output.path,
                                  "--backend", "simulate", "--layout", layout, "--quiet"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("y [3, 2]"), "\(result.stdout)")
        // The .npy header names the shape.
        let header = String(decoding: try Data(contentsOf: output).prefix(128), as: UTF8.self)
        #expect(header.contains("(3, 2)"), "\(header)")
    }
}
