import CipherIR
import Foundation
import PersistentMemory

/// One executed instruction, reported to `Interpreter.observer` (progress bars, traces).
public struct InstructionEvent: Sendable {
    public var index: Int
    public var count: Int
    public var opcode: Opcode
    /// Monotonic seconds at the start of the instruction and its duration.
    public var start: Double
    public var duration: Double
    /// Value-store bytes now in DRAM and in the pool (after the instruction and its frees).
    public var dramBytes: Int
    public var poolBytes: Int
    /// Bytes the live ciphertexts would occupy in a CKKS run (`Backend.memoryBytes`).
    public var liveBytes: Int
    /// Tier moves during this instruction (its scheduled evictions and prefetches included): bytes written to the
    /// pool and read back from it.
    public var bytesToPool = 0
    public var bytesFromPool = 0
}

/// Counters of one run.
public struct RunStatistics: Sendable {
    public var instructions = 0
    public var seconds = 0.0
    /// Largest sum of `Backend.memoryBytes` over the live ciphertexts.
    public var peakLiveBytes = 0
    /// Largest number of live ciphertexts.
    public var peakLiveValues = 0
    /// The value store's counters at the end of the run.
    public var store = TieredStoreStatistics()
    /// Seconds the interpreter waited for the prefetch thread's copies, the number of such waits, and the copies
    /// the thread made (prefetches that ran ahead of their use).
    public var stallSeconds = 0.0
    public var stalls = 0
    public var prefetchCopies = 0
    public init() {}
}

/// The outcome of a run: the output ciphertexts, per output binding and ciphertext index.
public struct RunResult<Cipher> {
    public var outputs: [[Cipher]]
    public var statistics: RunStatistics
}

/// Runs a verified CipherIR program over a backend.
///
/// Ciphertext values live in a `TieredStore` (DRAM, and the PMem pool when the store has one) as the
/// backend's raw bytes; each value is freed right after its last use, precomputed from the
/// instruction stream. Plaintext values (encoded constants) stay in DRAM.
public final class Interpreter<B: Backend> {
    public let program: Program
    public let backend: B
    public let store: TieredStore
    /// Called after every instruction (on the interpreter's thread).
    public var observer: ((InstructionEvent) -> Void)?

    /// Index of the last instruction reading each value id (−1: never read).
    public let lastUse: [Int]
    /// The plan's compile-time memory schedule (nil: the plan has none; the store's own budget policy applies).
    public let schedule: MemorySchedule?
    /// Checkpoints to the store's pool every `checkpoint.every` instructions (nil: none).
    public var checkpoint: CheckpointPolicy?
    /// A checkpoint to continue from (its values are adopted from the pool; the run starts at its next instruction).
    public var resume: Checkpoint?
    /// Checkpoints committed by the last run.
    public private(set) var checkpointsWritten = 0
    /// Whether scheduled prefetches are copied by a background thread ahead of their use (default), or synchronously
    /// when the schedule reaches them.
    public var prefetchAhead = true
    /// Whether the schedule's evictions and prefetches are carried out (they need a store with a pool).
    public var followsSchedule: Bool { schedule != nil && store.pool != nil }

    /// - Parameter program: a program that passed the verifier (`PlanFile.read` verifies). A memory schedule in the
    ///   plan is followed when the store has a pool: before each instruction its evictions move values to the pool and
    ///   its prefetches bring values back.
    public init(program: Program, backend: B, store: TieredStore = TieredStore()) throws {
        self.program = program
        self.backend = backend
        self.store = store
        lastUse = Interpreter.lastUses(program)
        schedule = try MemorySchedule.decode(program.memoryPlan, for: program)
    }

    /// The pool entries of a `mulEncodeSum`, with their indices.
    func encodeConstants(_ instruction: Instruction) -> [(entry: ConstantEntry, index: Int)] {
        guard case .constantIndices(let indices) = instruction.immediate else { return [] }
        return indices.map { (program.constants[$0], $0) }
    }

    /// Bytes before the first lane of a stored lane value (lane byte count, lane stride, padding to 64).
    static var laneHeaderBytes: Int { 64 }

    /// For each value id, the index of the last instruction that reads it (−1 if none).
    public static func lastUses(_ program: Program) -> [Int] { program.lastUses() }

    /// Runs the program. `input(binding, ciphertext)` supplies ciphertext `ciphertext` of input
    /// binding `binding` when the `input` instruction reads it.
    public func run(input: (_ binding: Int, _ ciphertext: Int) throws -> B.Cipher) throws -> RunResult<B.Cipher> {
        var outputs: [[B.Cipher?]] = program.outputs.map { [B.Cipher?](repeating: nil, count: $0.ciphertextCount) }
        var plains: [UInt32: B.Plain] = [:]
        var liveBytes: [UInt32: Int] = [:]
        var statistics = RunStatistics()
        var live = 0
        let began = runtimeClockSeconds()
        let count = program.instructions.count
        defer { for id in liveBytes.keys { store.free(Int(id)) } }

        // Scheduled prefetches are copied by a thread while earlier instructions compute; a value is waited for
        // (a stall, if its copy is not done) before anything else touches it.
        let prefetcher: PrefetchThread? = followsSchedule && prefetchAhead ? PrefetchThread() : nil
        var inFlight = Set<Int>()
        func settle(_ key: Int) throws {
            guard let prefetcher, inFlight.remove(key) != nil else { return }
            prefetcher.wait(for: key)
            try store.finishFetch(key)
        }
        func settleAll() throws { for key in inFlight.sorted() { try settle(key) } }
        defer {
            if let prefetcher {
                try? settleAll()
                prefetcher.stop()
            }
        }
        func cipher(_ id: ValueID, _ index: Int) throws -> B.Cipher {
            guard store.contains(Int(id.raw)) else { throw RuntimeError.missingValue(instruction: index, value: id.raw) }
            try settle(Int(id.raw))
            return try backend.load(try store.get(Int(id.raw)))
        }
        func plain(_ id: ValueID, _ index: Int) throws -> B.Plain {
            guard let value = plains[id.raw] else { throw RuntimeError.missingValue(instruction: index, value: id.raw) }
            return value
        }
        func put(_ id: ValueID, _ value: B.Cipher) throws {
            let bytes = backend.storedByteCount(of: value)
            let buffer = try store.reserve(Int(id.raw), byteCount: bytes)
            backend.store(value, into: buffer)
            let modeled = backend.memoryBytes(of: value)
            liveBytes[id.raw] = modeled
            live += modeled
        }

        // Outputs are kept in the store too when the run checkpoints, so a checkpoint holds those written so far.
        let durable = checkpoint != nil && store.pool != nil
        checkpointsWritten = 0
        var outputKeys: [Int] = []
        var tableSlot: SlotID? = nil
        var first = 0
        // Lane values (the batch layout's tensors): one store entry per value holding every lane, after a header of the
        // lane byte count and the lane stride (64-byte aligned, as the backends' codecs need).
        // Lanes enter a verified program only through inputs declared with lanes and lane maps.
        let hasLanes = !program.laneMaps.isEmpty
            || program.instructions.contains { $0.opcode == .input && program.types[$0.result].laneCount > 1 }
        func lanes(_ id: ValueID) -> Int { hasLanes ? program.types[id].laneCount : 1 }
        func lane(_ id: ValueID, _ lane: Int, _ index: Int) throws -> B.Cipher {
            if lanes(id) == 1 { return try cipher(id, index) }
            guard store.contains(Int(id.raw)) else { throw RuntimeError.missingValue(instruction: index, value: id.raw) }
            try settle(Int(id.raw))
            let raw = try store.get(Int(id.raw))
            let laneBytes = Int(raw.load(as: UInt64.self)), stride = Int(raw.load(fromByteOffset: 8, as: UInt64.self))
            let start = Interpreter.laneHeaderBytes + lane * stride
            guard lane < lanes(id), laneBytes <= stride, start + laneBytes <= raw.count else {
                throw RuntimeError.instructionFailed(instruction: index, opcode: program.instructions[index].opcode.mnemonic,
                                                     reason: "lane \(lane) of \(id) lies outside its stored \(raw.count) bytes")
            }
            return try backend.load(UnsafeRawBufferPointer(rebasing: raw[start..<(start + laneBytes)]))
        }
        /// Stores the lanes of `id` as `produce` hands them over, in lane order.
        func putLanes(_ id: ValueID, _ index: Int, _ produce: (_ append: (B.Cipher) throws -> Void) throws -> Void) throws {
            let count = lanes(id)
            var written = 0
            var laneBytes = 0, stride = 0, modeled = 0
            try produce { value in
                if count == 1 {
                    guard written == 0 else { throw RuntimeError.instructionFailed(instruction: index, opcode: "lanes", reason: "more than one lane for \(id)") }
                    try put(id, value)
                    written = 1
                    return
                }
                let key = Int(id.raw)
                if written == 0 {
                    laneBytes = backend.storedByteCount(of: value)
                    stride = (laneBytes + 63) / 64 * 64
                    modeled = backend.memoryBytes(of: value) * count
                    let buffer = try store.reserve(key, byteCount: Interpreter.laneHeaderBytes + count * stride)
                    buffer.storeBytes(of: UInt64(laneBytes), toByteOffset: 0, as: UInt64.self)
                    buffer.storeBytes(of: UInt64(stride), toByteOffset: 8, as: UInt64.self)
                } else {
                    guard written < count, backend.storedByteCount(of: value) == laneBytes else {
                        throw RuntimeError.instructionFailed(instruction: index, opcode: program.instructions[index].opcode.mnemonic,
                                                             reason: "lane \(written) of \(id) does not match lane 0's size or the lane count \(count)")
                    }
                }
                // Looked up for every lane: reading operands may have moved the entry between tiers.
                let current = UnsafeMutableRawBufferPointer(mutating: try store.get(key))
                let start = Interpreter.laneHeaderBytes + written * stride
                backend.store(value, into: UnsafeMutableRawBufferPointer(rebasing: current[start..<(start + laneBytes)]))
                written += 1
            }
            guard written == count else {
                throw RuntimeError.instructionFailed(instruction: index, opcode: program.instructions[index].opcode.mnemonic,
                                                     reason: "\(written) of the \(count) lanes of \(id) were computed")
            }
            if count > 1 {
                liveBytes[id.raw] = modeled
                live += modeled
            }
        }
        /// Runs an instruction with lane operands or results lane by lane.
        func runLanes(_ instruction: Instruction, _ index: Int) throws {
            let ops = instruction.operands
            let width = instruction.results.first.map(lanes) ?? lanes(ops[0])
            switch instruction.opcode {
            case .input:
                let (binding, ciphertext) = instruction.binding!
                try putLanes(instruction.result, index) { append in
                    for j in 0..<width { try append(try input(binding, ciphertext + j)) }
                }
            case .output:
                let (binding, ciphertext) = instruction.binding!
                for j in 0..<width {
                    let value = try lane(ops[0], j, index)
                    outputs[binding][ciphertext + j] = value
                    if durable {
                        let key = Checkpoint.outputKey(binding: binding, ciphertext: ciphertext + j)
                        backend.store(value, into: try store.reserve(key, byteCount: backend.storedByteCount(of: value)))
                        outputKeys.append(key)
                    }
                }
            case .linearMap, .gather:
                let map = program.laneMaps[instruction.laneMapIndex!]
                var sources: [(ValueID, Int)] = []
                sources.reserveCapacity(map.inputLanes)
                for op in ops { for j in 0..<lanes(op) { sources.append((op, j)) } }
                guard sources.count == map.inputLanes else {
                    throw RuntimeError.instructionFailed(instruction: index, opcode: instruction.opcode.mnemonic,
                                                         reason: "operands hold \(sources.count) lanes; the map reads \(map.inputLanes)")
                }
                // Each operand lane is read by many terms: decode every one once.
                let operands = try sources.map { try lane($0.0, $0.1, index) }
                try putLanes(instruction.result, index) { append in
                    if case .gather(let indices) = map.kind {
                        for source in indices { try append(operands[Int(source)]) }
                    } else {
                        try backend.linearMap(map, scale: instruction.scalarScale!, input: { operands[$0] }, output: append)
                    }
                }
            case .rotateHoisted:
                for (result, step) in zip(instruction.results, instruction.rotationSteps) {
                    try putLanes(result, index) { append in
                        for j in 0..<width { try append(try backend.rotate(try lane(ops[0], j, index), by: step)) }
                    }
                }
            default:
                try putLanes(instruction.result, index) { append in
                    for j in 0..<width {
                        let a = try lane(ops[0], j, index)
                        let value: B.Cipher
                        switch instruction.opcode {
                        case .add: value = try backend.add(a, try lane(ops[1], j, index))
                        case .sub: value = try backend.subtract(a, try lane(ops[1], j, index))
                        case .negate: value = try backend.negate(a)
                        case .addPlain: value = try backend.addPlain(a, try plain(ops[1], index))
                        case .addConst: value = try backend.addConstant(a, instruction.scalar!)
                        case .mulPlain: value = try backend.multiplyPlain(a, try plain(ops[1], index))
                        case .mulPlainSum:
                            var pairs: [(B.Cipher, B.Plain)] = []
                            for pair in stride(from: 0, to: ops.count, by: 2) { pairs.append((try lane(ops[pair], j, index), try plain(ops[pair + 1], index))) }
                            value = try backend.multiplyPlainSum(pairs)
                        case .mulConst: value = try backend.multiplyConstant(a, instruction.scalar!, scale: instruction.scalarScale!)
                        case .mulEncodeSum:
                            value = try backend.multiplyEncodeSum(try ops.map { try lane($0, j, index) }, constants: encodeConstants(instruction))
                        case .mul: value = try backend.multiply(a, try lane(ops[1], j, index))
                        case .relinearize: value = try backend.relinearize(a)
                        case .rescale: value = try backend.rescale(a)
                        case .levelDown: value = try backend.levelDown(a, to: instruction.targetLevel!)
                        case .rotate: value = try backend.rotate(a, by: instruction.rotationSteps[0])
                        case .conjugate: value = try backend.conjugate(a)
                        case .bootstrap: value = try backend.bootstrap(a, to: instruction.targetLevel!)
                        case .refresh:
                            value = try backend.refresh(a, function: try RefreshFunction(name: instruction.functionName!),
                                                        level: instruction.targetLevel!, instruction: index)
                        case .input, .output, .constant, .rotateHoisted, .linearMap, .gather:
                            throw RuntimeError.instructionFailed(instruction: index, opcode: instruction.opcode.mnemonic, reason: "not a lane-wise op")
                        }
                        try append(value)
                    }
                }
            }
        }

        if let resume {
            guard resume.nextInstruction <= count else {
                throw RuntimeError.invalidArgument("the checkpoint resumes at instruction \(resume.nextInstruction) but the plan has \(count)")
            }
            for entry in resume.values {
                store.adopt(entry.key, slot: entry.slot, length: entry.length)
                if entry.key < 0 {
                    let binding = (-1 - entry.key) >> 32, ciphertext = (-1 - entry.key) & 0xFFFF_FFFF
                    guard binding < outputs.count, ciphertext < outputs[binding].count else {
                        throw RuntimeError.invalidArgument("the checkpoint holds output \(binding)[\(ciphertext)], which the plan does not have")
                    }
                    outputs[binding][ciphertext] = try backend.load(try store.view(entry.key))
                    outputKeys.append(entry.key)
                } else {
                    let raw = try store.view(entry.key)
                    let laneCount = program.types[ValueID(entry.key)].laneCount
                    var modeled: Int
                    if laneCount > 1 {
                        let laneBytes = raw.count >= 16 ? Int(raw.load(as: UInt64.self)) : -1
                        guard laneBytes >= 0, Interpreter.laneHeaderBytes + laneBytes <= raw.count else {
                            throw RuntimeError.invalidArgument("the checkpoint's value %\(entry.key) is not a stored lane value")
                        }
                        let first = UnsafeRawBufferPointer(rebasing: raw[Interpreter.laneHeaderBytes..<(Interpreter.laneHeaderBytes + laneBytes)])
                        modeled = backend.memoryBytes(of: try backend.load(first)) * laneCount
                    } else {
                        modeled = backend.memoryBytes(of: try backend.load(raw))
                    }
                    liveBytes[UInt32(entry.key)] = modeled
                    live += modeled
                }
            }
            store.checkpointCommitted(holding: Set(resume.values.map(\.slot)))
            // Plaintexts are not checkpointed: the ones alive across the resume point are encoded again.
            for index in 0..<resume.nextInstruction {
                let instruction = program.instructions[index]
                guard instruction.opcode == .constant, lastUse[Int(instruction.result.raw)] >= resume.nextInstruction,
                      let entryIndex = instruction.constantIndex else { continue }
                plains[instruction.result.raw] = try backend.constant(program.constants[entryIndex], index: entryIndex)
            }
            first = resume.nextInstruction
            tableSlot = resume.tableSlot
        }
        defer { for key in outputKeys { store.free(key) } }
        let events = followsSchedule ? schedule?.events ?? [] : []
        var cursor = 0
        while cursor < events.count && events[cursor].instruction < first { cursor += 1 }
        for index in first..<count {
            let instruction = program.instructions[index]
            let start = runtimeClockSeconds()
            let movedBefore = observer == nil ? (0, 0) : (store.statistics.bytesToPool, store.statistics.bytesFromPool)
            let ops = instruction.operands
            // The plan's moves for this instruction: evictions first (they make the room), then prefetches.
            while cursor < events.count && events[cursor].instruction <= index {
                let event = events[cursor]
                cursor += 1
                let id = Int(event.value.raw)
                guard store.contains(id) else { continue }
                do {
                    switch event.kind {
                    case .evict:
                        try settle(id)
                        try store.evict(id)
                    case .prefetch:
                        if let prefetcher {
                            if !inFlight.contains(id), let fetch = try store.beginFetch(id) {
                                prefetcher.submit(fetch)
                                inFlight.insert(id)
                            }
                        } else {
                            try store.prefetch(id)
                        }
                    case .free: break  // values are freed after their last use below
                    }
                } catch {
                    throw RuntimeError.instructionFailed(instruction: index, opcode: instruction.opcode.mnemonic, reason: "memory schedule: \(error)")
                }
            }
            do {
                if hasLanes, instruction.laneMapIndex != nil || instruction.results.contains(where: { lanes($0) > 1 }) || ops.contains(where: { lanes($0) > 1 }) {
                    try runLanes(instruction, index)
                } else {
                switch instruction.opcode {
                case .input:
                    let (binding, ciphertext) = instruction.binding!
                    try put(instruction.result, try input(binding, ciphertext))
                case .output:
                    let (binding, ciphertext) = instruction.binding!
                    let value = try cipher(ops[0], index)
                    outputs[binding][ciphertext] = value
                    if durable {
                        let key = Checkpoint.outputKey(binding: binding, ciphertext: ciphertext)
                        backend.store(value, into: try store.reserve(key, byteCount: backend.storedByteCount(of: value)))
                        outputKeys.append(key)
                    }
                case .constant:
                    let entryIndex = instruction.constantIndex!
                    plains[instruction.result.raw] = try backend.constant(program.constants[entryIndex], index: entryIndex)
                case .add:
                    try put(instruction.result, try backend.add(try cipher(ops[0], index), try cipher(ops[1], index)))
                case .sub:
                    try put(instruction.result, try backend.subtract(try cipher(ops[0], index), try cipher(ops[1], index)))
                case .negate:
                    try put(instruction.result, try backend.negate(try cipher(ops[0], index)))
                case .addPlain:
                    try put(instruction.result, try backend.addPlain(try cipher(ops[0], index), try plain(ops[1], index)))
                case .addConst:
                    try put(instruction.result, try backend.addConstant(try cipher(ops[0], index), instruction.scalar!))
                case .mulPlain:
                    try put(instruction.result, try backend.multiplyPlain(try cipher(ops[0], index), try plain(ops[1], index)))
                case .mulPlainSum:
                    var pairs: [(B.Cipher, B.Plain)] = []
                    pairs.reserveCapacity(ops.count / 2)
                    for pair in stride(from: 0, to: ops.count, by: 2) { pairs.append((try cipher(ops[pair], index), try plain(ops[pair + 1], index))) }
                    try put(instruction.result, try backend.multiplyPlainSum(pairs))
                case .mulConst:
                    try put(instruction.result, try backend.multiplyConstant(
                        try cipher(ops[0], index), instruction.scalar!, scale: instruction.scalarScale!))
                case .mul:
                    try put(instruction.result, try backend.multiply(try cipher(ops[0], index), try cipher(ops[1], index)))
                case .relinearize:
                    try put(instruction.result, try backend.relinearize(try cipher(ops[0], index)))
                case .rescale:
                    try put(instruction.result, try backend.rescale(try cipher(ops[0], index)))
                case .levelDown:
                    try put(instruction.result, try backend.levelDown(try cipher(ops[0], index), to: instruction.targetLevel!))
                case .rotate:
                    try put(instruction.result, try backend.rotate(try cipher(ops[0], index), by: instruction.rotationSteps[0]))
                case .rotateHoisted:
                    let rotated = try backend.rotateHoisted(try cipher(ops[0], index), by: instruction.rotationSteps)
                    for (result, value) in zip(instruction.results, rotated) { try put(result, value) }
                case .conjugate:
                    try put(instruction.result, try backend.conjugate(try cipher(ops[0], index)))
                case .bootstrap:
                    try put(instruction.result, try backend.bootstrap(try cipher(ops[0], index), to: instruction.targetLevel!))
                case .refresh:
                    let function = try RefreshFunction(name: instruction.functionName!)
                    try put(instruction.result, try backend.refresh(
                        try cipher(ops[0], index), function: function, level: instruction.targetLevel!, instruction: index))
                case .mulEncodeSum:
                    try put(instruction.result, try backend.multiplyEncodeSum(try ops.map { try cipher($0, index) }, constants: encodeConstants(instruction)))
                case .linearMap, .gather:
                    try runLanes(instruction, index)
                }
                }
            } catch let error as RuntimeError {
                throw error
            } catch {
                throw RuntimeError.instructionFailed(instruction: index, opcode: instruction.opcode.mnemonic, reason: "\(error)")
            }
            statistics.peakLiveBytes = max(statistics.peakLiveBytes, live)
            statistics.peakLiveValues = max(statistics.peakLiveValues, liveBytes.count)
            // Free what this instruction read for the last time, and results nobody reads.
            for id in ops + instruction.results where lastUse[Int(id.raw)] <= index {
                if let bytes = liveBytes.removeValue(forKey: id.raw) {
                    live -= bytes
                    try settle(Int(id.raw))
                    store.free(Int(id.raw))
                }
                plains.removeValue(forKey: id.raw)
            }
            if durable, CrashInjection.afterInstruction == index { CrashInjection.kill() }
            if let checkpoint, durable, (index + 1) % max(checkpoint.every, 1) == 0, index + 1 < count {
                checkpointsWritten += 1
                try settleAll()
                try Checkpoint.write(store: store, nextInstruction: index + 1, planFingerprint: checkpoint.planFingerprint,
                                     keyFingerprint: checkpoint.keyFingerprint, tableSlot: &tableSlot,
                                     crashMidway: CrashInjection.inCheckpoint == checkpointsWritten)
            }
            if let observer {
                let end = runtimeClockSeconds()
                observer(InstructionEvent(
                    index: index, count: count, opcode: instruction.opcode, start: start, duration: end - start,
                    dramBytes: store.statistics.dramBytes, poolBytes: store.statistics.poolBytes, liveBytes: live,
                    bytesToPool: store.statistics.bytesToPool - movedBefore.0, bytesFromPool: store.statistics.bytesFromPool - movedBefore.1))
            }
        }
        statistics.instructions = count
        statistics.seconds = runtimeClockSeconds() - began
        try settleAll()
        statistics.store = store.statistics
        if let prefetcher {
            statistics.stallSeconds = prefetcher.stallSeconds
            statistics.stalls = prefetcher.stalls
            statistics.prefetchCopies = prefetcher.copies
        }
        var complete: [[B.Cipher]] = []
        for (bindingIndex, binding) in outputs.enumerated() {
            var values: [B.Cipher] = []
            for (ciphertext, value) in binding.enumerated() {
                guard let value else {
                    throw RuntimeError.missingTensor(
                        "the plan never writes ciphertext \(ciphertext) of output '\(program.outputs[bindingIndex].name)'; the plan is incomplete")
                }
                values.append(value)
            }
            complete.append(values)
        }
        return RunResult(outputs: complete, statistics: statistics)
    }
}

/// Monotonic wall-clock seconds.
public func runtimeClockSeconds() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) * 1e-9
}
