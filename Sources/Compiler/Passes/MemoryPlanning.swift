import CipherIR

/// Compile-time placement of values between DRAM and the persistent tier (issue: memory tiering).
///
/// Every value's size is known from its type (a ciphertext at level ℓ: (degree + 1)·(ℓ + 1)·N·8 bytes, a plaintext
/// (ℓ + 1)·N·8) and every use from the instruction stream, so the planner can do what no hardware cache can: when DRAM
/// is full, evict the ciphertext whose next use is furthest in the future (Belady's rule), and bring evicted values
/// back right before they are read. Plaintexts stay in DRAM from their `constant` instruction to their last use (they
/// are encoded just in time, see `RematerializeConstants`), so they count against the budget but are never evicted.
/// Values are freed after their last use. Evaluation keys are read-only and may be read from the pool directly; they
/// are not part of the budget.
public enum MemoryPlanner {
    /// Bytes the runtime's value store adds to each ciphertext (`CKKSBackend.headerBytes`, padded to the store's 64-byte
    /// alignment).
    public static let ciphertextHeaderBytes = 64

    /// The bytes a value of `type` takes in a CKKS run (a ciphertext with the value store's header).
    public static func byteCount(kind: ValueKind, type: ValueType, degree: Int, parameters: PlanParameters) -> Int {
        let limbs = (type.level ?? parameters.maxLevel) + 1
        if kind == .plaintext { return limbs * (1 << parameters.logN) * 8 }
        return (degree + 1) * limbs * (1 << parameters.logN) * 8 + ciphertextHeaderBytes
    }

    /// The schedule for `program` (typed, with parameters) under `budget` bytes of DRAM (nil: no budget, frees only).
    /// Throws `CompilerError.memoryBudget` when some instruction's operands and results alone exceed the budget.
    public static func plan(_ program: Program, budget: Int?) throws -> MemorySchedule {
        guard let parameters = program.parameters else {
            throw CompilerError.levelingFailed(instruction: 0, detail: "memory planning needs the plan's parameters; run select-parameters first")
        }
        let bound = program.valueIDBound
        var bytes = [Int](repeating: 0, count: bound)
        var isCiphertext = [Bool](repeating: false, count: bound)
        var uses = [[Int32]](repeating: [], count: bound)
        for (index, instruction) in program.instructions.enumerated() {
            let traits = instruction.opcode.traits
            for result in instruction.results {
                let id = Int(result.raw)
                let kind = traits.resultKind ?? .ciphertext
                bytes[id] = byteCount(kind: kind, type: program.types[result], degree: traits.degree == .tensor ? 2 : 1, parameters: parameters)
                isCiphertext[id] = kind == .ciphertext
            }
            for operand in distinct(instruction.operands) where operand < bound { uses[operand].append(Int32(index)) }
        }
        var nextUse = [Int](repeating: 0, count: bound)  // index into uses[id]
        var resident = [Bool](repeating: false, count: bound)
        var pooled = [Bool](repeating: false, count: bound)
        var heap = FarthestUseHeap()
        var events: [MemorySchedule.Event] = []
        var dram = 0, pool = 0, peak = 0, poolPeak = 0, evicted = 0, prefetched = 0
        let limit = budget ?? Int.max

        for (index, instruction) in program.instructions.enumerated() {
            let operands = distinct(instruction.operands)
            let missing = operands.filter { pooled[$0] }
            let incoming = missing.reduce(0) { $0 + bytes[$1] } + instruction.results.reduce(0) { $0 + bytes[Int($1.raw)] }
            // Make room: evict the ciphertext read furthest in the future (never one this instruction reads).
            var held: [(use: Int, id: Int)] = []
            while dram + incoming > limit {
                guard let (use, victim) = heap.popFarthest() else {
                    let (minimum, at) = minimumBudget(program)
                    throw CompilerError.memoryBudget(budget: limit, needed: minimum, instruction: at)
                }
                guard resident[victim], uses[victim].count > nextUse[victim], Int(uses[victim][nextUse[victim]]) == use else { continue }
                if use == index {
                    held.append((use, victim))
                    continue
                }
                resident[victim] = false
                pooled[victim] = true
                dram -= bytes[victim]
                pool += bytes[victim]
                evicted += bytes[victim]
                poolPeak = max(poolPeak, pool)
                events.append(.init(instruction: index, kind: .evict, value: ValueID(victim)))
            }
            for entry in held { heap.push(use: entry.use, id: entry.id) }
            for id in missing {
                pooled[id] = false
                resident[id] = true
                pool -= bytes[id]
                dram += bytes[id]
                prefetched += bytes[id]
                events.append(.init(instruction: index, kind: .prefetch, value: ValueID(id)))
            }
            for result in instruction.results {
                let id = Int(result.raw)
                resident[id] = true
                dram += bytes[id]
                if isCiphertext[id], let first = uses[id].first { heap.push(use: Int(first), id: id) }
            }
            peak = max(peak, dram)
            // Advance the operands' next use; free what is read for the last time and results nobody reads.
            for id in operands {
                nextUse[id] += 1
                if nextUse[id] < uses[id].count {
                    if isCiphertext[id] { heap.push(use: Int(uses[id][nextUse[id]]), id: id) }
                } else if resident[id] {
                    resident[id] = false
                    dram -= bytes[id]
                    events.append(.init(instruction: index, kind: .free, value: ValueID(id)))
                }
            }
            for result in instruction.results where uses[Int(result.raw)].isEmpty {
                let id = Int(result.raw)
                resident[id] = false
                dram -= bytes[id]
                events.append(.init(instruction: index, kind: .free, value: result))
            }
        }
        return MemorySchedule(budgetBytes: budget, peakDRAMBytes: peak, peakPoolBytes: poolPeak, bytesEvicted: evicted,
                              bytesPrefetched: prefetched, events: events)
    }

    /// The smallest budget any schedule can keep, and the instruction that needs it: plaintexts alive there (never
    /// evicted) plus the ciphertexts the instruction reads and writes. One pass.
    public static func minimumBudget(_ program: Program) -> (bytes: Int, instruction: Int) {
        guard let parameters = program.parameters else { return (0, 0) }
        let lastUse = program.lastUses()
        var plaintextBytes = [Int: Int]()
        var live = 0, best = (bytes: 0, instruction: 0)
        for (index, instruction) in program.instructions.enumerated() {
            let traits = instruction.opcode.traits
            var needed = live
            for id in distinct(instruction.operands) where plaintextBytes[id] == nil {
                let type = program.types[ValueID(id)]
                needed += byteCount(kind: .ciphertext, type: type, degree: 1, parameters: parameters)
            }
            for result in instruction.results {
                let kind = traits.resultKind ?? .ciphertext
                let size = byteCount(kind: kind, type: program.types[result], degree: traits.degree == .tensor ? 2 : 1, parameters: parameters)
                needed += size
                if kind == .plaintext && lastUse[Int(result.raw)] > index {
                    plaintextBytes[Int(result.raw)] = size
                    live += size
                }
            }
            if needed > best.bytes { best = (needed, index) }
            for id in distinct(instruction.operands) where lastUse[id] == index {
                if let size = plaintextBytes.removeValue(forKey: id) { live -= size }
            }
        }
        return best
    }

    /// The distinct operand ids in first-use order (deterministic, unlike a Set's order).
    static func distinct(_ operands: [ValueID]) -> [Int] {
        var result: [Int] = []
        result.reserveCapacity(operands.count)
        for operand in operands where !result.contains(Int(operand.raw)) { result.append(Int(operand.raw)) }
        return result
    }

    /// Replays `schedule` on `program` and returns the largest DRAM-resident byte count (the planner's accounting):
    /// an independent check that a schedule keeps its budget and reads only resident values.
    public static func replay(_ schedule: MemorySchedule, on program: Program) throws -> Int {
        guard let parameters = program.parameters else { throw CompilerError.levelingFailed(instruction: 0, detail: "no parameters") }
        var resident = Set<ValueID>(), bytes: [ValueID: Int] = [:]
        var dram = 0, peak = 0, cursor = 0
        let events = schedule.events
        for (index, instruction) in program.instructions.enumerated() {
            var frees: [ValueID] = []
            while cursor < events.count && events[cursor].instruction == index {
                let event = events[cursor]
                cursor += 1
                switch event.kind {
                case .evict:
                    guard resident.remove(event.value) != nil else { throw CompilerError.memoryBudget(budget: -1, needed: 0, instruction: index) }
                    dram -= bytes[event.value] ?? 0
                case .prefetch:
                    guard resident.insert(event.value).inserted else { throw CompilerError.memoryBudget(budget: -1, needed: 0, instruction: index) }
                    dram += bytes[event.value] ?? 0
                case .free:
                    frees.append(event.value)
                }
            }
            for operand in instruction.operands where !resident.contains(operand) {
                throw CompilerError.levelingFailed(instruction: index, detail: "the memory schedule leaves operand \(operand) out of DRAM")
            }
            let traits = instruction.opcode.traits
            for result in instruction.results {
                let size = byteCount(kind: traits.resultKind ?? .ciphertext, type: program.types[result], degree: traits.degree == .tensor ? 2 : 1,
                                     parameters: parameters)
                bytes[result] = size
                resident.insert(result)
                dram += size
            }
            peak = max(peak, dram)
            for value in frees where resident.remove(value) != nil { dram -= bytes[value] ?? 0 }
        }
        return peak
    }
}

/// Max-heap of (next use, value) with lazy deletion (stale entries are skipped by the caller).
struct FarthestUseHeap {
    private var items: [(use: Int, id: Int)] = []

    mutating func push(use: Int, id: Int) {
        items.append((use, id))
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[parent].use < items[child].use else { break }
            items.swapAt(parent, child)
            child = parent
        }
    }

    mutating func popFarthest() -> (use: Int, id: Int)? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var largest = parent
                if left < items.count && items[left].use > items[largest].use { largest = left }
                if right < items.count && items[right].use > items[largest].use { largest = right }
                if largest == parent { break }
                items.swapAt(parent, largest)
                parent = largest
            }
        }
        return top
    }
}

/// Under `--dram-budget`, re-encodes a plaintext constant right before a use that comes long after the previous one (a
/// fresh `constant` instruction instead of keeping the encoded plaintext alive in DRAM in between): plaintexts are
/// cheap to encode and expensive to hold (ResNet-50's shared diagonals would otherwise keep gigabytes alive: 4.7 GiB
/// peak without, 2.1 GiB with a distance of 4096 instructions).
public struct RematerializeConstants: CipherPass {
    /// Uses further apart than this many instructions get their own encoding.
    public let distance: Int
    public init(distance: Int = 4096) { self.distance = distance }
    public var name: String { "rematerialize-constants" }

    public func run(_ program: inout Program, state: CompilationState) throws {
        // Re-encoding costs time at run time; it is worth it only when DRAM is budgeted.
        guard state.options.dramBudget != nil else { return }
        var source: [ValueID: (pool: Int, type: ValueType)] = [:]
        for instruction in program.instructions where instruction.opcode == .constant {
            if let pool = instruction.constantIndex { source[instruction.result] = (pool, program.types[instruction.result]) }
        }
        guard !source.isEmpty else { return }
        var out = Program(parameters: program.parameters, keys: program.keys, inputs: program.inputs, outputs: program.outputs,
                          constants: program.constants, memoryPlan: program.memoryPlan)
        // The id of each old value in the new program, and for plaintexts the last new instruction that read them.
        var map: [ValueID: ValueID] = [:]
        var lastRead: [ValueID: Int] = [:]
        var rematerialized = 0
        for instruction in program.instructions {
            if instruction.opcode == .constant {
                let id = out.emitOne(.constant, [], instruction.immediate, type: program.types[instruction.result])
                map[instruction.result] = id
                lastRead[instruction.result] = out.instructions.count - 1
                continue
            }
            var operands: [ValueID] = []
            operands.reserveCapacity(instruction.operands.count)
            for operand in instruction.operands {
                if let (pool, type) = source[operand], let last = lastRead[operand], out.instructions.count - last > distance {
                    map[operand] = out.emitOne(.constant, [], .constantIndex(pool), type: type)
                    rematerialized += 1
                }
                if source[operand] != nil { lastRead[operand] = out.instructions.count }
                guard let mapped = map[operand] else {
                    throw CompilerError.levelingFailed(instruction: out.instructions.count, detail: "\(operand) is used before its definition")
                }
                operands.append(mapped)
            }
            let types = instruction.results.map { program.types[$0] }
            let results = out.emit(instruction.opcode, operands, instruction.immediate, types: types)
            for (old, new) in zip(instruction.results, results) { map[old] = new }
        }
        if rematerialized > 0 { state.report.append("constants: \(rematerialized) plaintexts re-encoded just in time (uses more than \(distance) instructions apart)") }
        program = out
    }
}

/// Records the memory schedule for `--dram-budget` (or, without a budget, the frees and the peak) in the plan.
public struct PlanMemory: CipherPass {
    public init() {}
    public var name: String { "plan-memory" }

    public func run(_ program: inout Program, state: CompilationState) throws {
        let schedule = try MemoryPlanner.plan(program, budget: state.options.dramBudget)
        program.memoryPlan = schedule.encoded()
        var line = "memory: peak DRAM \(schedule.peakDRAMBytes >> 20) MiB"
        if let budget = schedule.budgetBytes {
            line += " under a \(budget >> 20) MiB budget; pool peak \(schedule.peakPoolBytes >> 20) MiB, \(schedule.bytesEvicted >> 20) MiB evicted, \(schedule.bytesPrefetched >> 20) MiB prefetched"
        }
        state.report.append(line)
    }
}
