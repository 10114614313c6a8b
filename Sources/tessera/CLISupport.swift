import ArgumentParser
import Foundation
import ONNXFrontend
import TensorIR

/// A problem with the command line's files or values, reported as `Error: <message>` with exit code 1.
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// Options shared by commands that compute.
struct ThreadOptions: ParsableArguments {
    @Option(help: "Worker threads (default: all cores).")
    var threads: Int?

    var resolved: Int { max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount) }
}

/// Wall-clock seconds since an arbitrary origin (monotonic).
func monotonicSeconds() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) * 1e-9
}

/// Peak resident set size of this process in bytes.
func peakResidentBytes() -> Int {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Int(usage.ru_maxrss) * 1024
}

func formatBytes(_ bytes: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024, unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
}

/// Writes text to standard error.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Parses repeated `NAME=PATH` or a lone `PATH` into a mapping; a lone path binds to `defaultName`.
func parseBindings(_ values: [String], names: [String], what: String) throws -> [String: String] {
    var result: [String: String] = [:]
    for value in values {
        if let equals = value.firstIndex(of: "="), names.contains(String(value[..<equals])) {
            result[String(value[..<equals])] = String(value[value.index(after: equals)...])
        } else if names.count == 1 {
            result[names[0]] = value
        } else {
            throw CommandError("the model has several \(what)s (\(names.joined(separator: ", "))); pass each as --\(what) NAME=PATH")
        }
    }
    return result
}
