import CipherIR
import Foundation

/// Records a run as Chrome trace events (JSON Object Format, opens in Perfetto or chrome://tracing):
/// one complete event ("ph": "X") per instruction, a counter ("ph": "C") of the DRAM, pool and
/// live-ciphertext bytes after each instruction, and on a second row ("tier") one event per instruction that moved
/// values between DRAM and the pool, with the bytes each way.
public final class TraceRecorder {
    private var events: [String] = []
    private var origin: Double?
    public let processName: String

    public init(processName: String = "tessera run") {
        self.processName = processName
    }

    public func record(_ event: InstructionEvent, level: Int? = nil) {
        let origin = self.origin ?? event.start
        self.origin = origin
        let start = (event.start - origin) * 1e6
        let duration = max(event.duration * 1e6, 0.001)
        let levelArgument = level.map { ", \"level\": \($0)" } ?? ""
        events.append(
            "{\"name\": \"\(event.opcode.mnemonic)\", \"cat\": \"\(event.opcode.traits.costClass)\", \"ph\": \"X\", "
                + "\"ts\": \(format(start)), \"dur\": \(format(duration)), \"pid\": 1, \"tid\": 1, "
                + "\"args\": {\"instruction\": \(event.index)\(levelArgument)}}")
        if event.bytesToPool > 0 || event.bytesFromPool > 0 {
            let name = event.bytesToPool > 0 && event.bytesFromPool > 0 ? "evict+fetch" : event.bytesToPool > 0 ? "to pool" : "from pool"
            events.append(
                "{\"name\": \"\(name)\", \"cat\": \"tier\", \"ph\": \"X\", \"ts\": \(format(start)), \"dur\": \(format(duration)), \"pid\": 1, \"tid\": 2, "
                    + "\"args\": {\"instruction\": \(event.index), \"bytes_to_pool\": \(event.bytesToPool), \"bytes_from_pool\": \(event.bytesFromPool)}}")
        }
        events.append(
            "{\"name\": \"memory\", \"ph\": \"C\", \"ts\": \(format(start + duration)), \"pid\": 1, "
                + "\"args\": {\"dram_bytes\": \(event.dramBytes), \"pool_bytes\": \(event.poolBytes), \"live_ciphertext_bytes\": \(event.liveBytes)}}")
    }

    private func format(_ microseconds: Double) -> String { String(format: "%.3f", microseconds) }

    /// The trace as a JSON document.
    public var json: String {
        let metadata = [
            "{\"name\": \"process_name\", \"ph\": \"M\", \"pid\": 1, \"args\": {\"name\": \"\(processName)\"}}",
            "{\"name\": \"thread_name\", \"ph\": \"M\", \"pid\": 1, \"tid\": 1, \"args\": {\"name\": \"instructions\"}}",
            "{\"name\": \"thread_name\", \"ph\": \"M\", \"pid\": 1, \"tid\": 2, \"args\": {\"name\": \"tier moves\"}}",
        ]
        return "{\"displayTimeUnit\": \"ms\", \"traceEvents\": [\n" + (metadata + events).joined(separator: ",\n") + "\n]}\n"
    }

    public func write(to path: String) throws(RuntimeError) {
        do { try PlanFile.writeAtomically(Array(json.utf8), to: path) } catch {
            throw .io(path: path, operation: "write the trace", reason: "\(error)")
        }
    }
}
