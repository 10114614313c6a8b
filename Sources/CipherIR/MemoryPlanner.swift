/// Why a memory schedule could not be made or does not hold.
public enum MemoryPlanError: Error, Equatable, CustomStringConvertible {
    /// The program has no parameters, so value sizes are unknown.
    case missingParameters
    /// The budget is below the smallest any schedule can keep (`minimum` bytes, needed at `instruction`).
    case belowMinimum(budget: Int, minimum: Int, instruction: Int)
    /// Replaying a schedule found it moving or reading values wrongly.
    case inconsistent(instruction: Int, detail: String)

    public var description: String {
        switch self {
        case .missingParameters:
            return "memory planning needs the plan's parameters (value sizes depend on N and the levels); run select-parameters first"
        case .belowMinimum(let budget, let minimum, let instruction):
            return "a DRAM budget of \(budget) bytes is below the plan's minimum live set of \(minimum) bytes (at instruction \(instruction): the plaintexts alive there and the ciphertexts it reads and writes); raise --dram-budget to at least \(minimum)"
        case .inconsistent(let instruction, let detail):
            return "the memory schedule is inconsistent at instruction \(instruction): it \(detail); the plan is corrupt, recompile it"
        }
    }
}

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
    /// Plaintexts a `mulEncodeSum` encodes at once (the runtime's chunk; the planner counts them as transient DRAM).
    public static let encodeChunk = 4

    /// DRAM an instruction needs beyond its operands and results while it runs: a `mulEncodeSum`'s chunk of plaintexts.
    static func transientBytes(_ instruction: Instruction, program: Program, parameters: PlanParameters) -> Int {
        guard instruction.opcode == .mulEncodeSum, let first = instruction.operands.first else { return 0 }
        let type = program.types[first]
        let plaintext = byteCount(kind: .plaintext, type: ValueType(slots: type.slots, level: type.level), degree: 1, parameters: parameters)
        return min(encodeChunk, instruction.operands.count) * plaintext
    }

    /// The bytes a value of `type` takes in a CKKS run (a ciphertext with the value store's header).
    public static func byteCount(kind: ValueKind, type: ValueType, degree: Int, parameters: PlanParameters) -> Int {
        let limbs = (type.level ?? parameters.maxLevel) + 1
        if kind == .plaintext { return type.laneCount * limbs * (1 << parameters.logN) * 8 }
        return type.laneCount * ((degree + 1) * limbs * (1 << parameters.logN) * 8 + ciphertextHeaderBytes)
    }

    /// The schedule for `program` (typed, with parameters) under `budget` bytes of DRAM (nil: no budget, frees only).
    /// Throws `MemoryPlanError.belowMinimum` (with the plan's exact minimum) when the budget cannot be kept.
    public static func plan(_ program: Program, budget: Int?) throws(MemoryPlanError) -> MemorySchedule {
        guard let parameters = program.parameters else { throw .missingParameters }
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
        // DRAM in use while each instruction runs, and where each value was last evicted (to hoist prefetches).
        var occupancy = [Int](repeating: 0, count: program.instructions.count)
        var evictedAt = [Int](repeating: -1, count: bound)

        for (index, instruction) in program.instructions.enumerated() {
            let operands = distinct(instruction.operands)
            let missing = operands.filter { pooled[$0] }
            let transient = transientBytes(instruction, program: program, parameters: parameters)
            let incoming = missing.reduce(0) { $0 + bytes[$1] } + instruction.results.reduce(0) { $0 + bytes[Int($1.raw)] } + transient
            // Make room: evict the ciphertext read furthest in the future (never one this instruction reads).
            var held: [(use: Int, id: Int)] = []
            while dram + incoming > limit {
                guard let (use, victim) = heap.popFarthest() else {
                    let (minimum, at) = minimumBudget(program)
                    throw .belowMinimum(budget: limit, minimum: minimum, instruction: at)
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
                evictedAt[victim] = index
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
            peak = max(peak, dram + transient)
            occupancy[index] = dram + transient
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
        if budget != nil {
            events = hoistPrefetches(events, bytes: bytes, occupancy: &occupancy, evictedAt: evictedAt, limit: limit)
            peak = occupancy.max() ?? 0
        }
        return MemorySchedule(budgetBytes: budget, peakDRAMBytes: peak, peakPoolBytes: poolPeak, bytesEvicted: evicted,
                              bytesPrefetched: prefetched, events: events)
    }

    /// How many instructions ahead of its use a prefetch may be issued.
    public static let prefetchDistance = 16

    /// Moves each prefetch up to `prefetchDistance` instructions earlier, as far as the budget has room for the value
    /// during the instructions it now spans (and never before its eviction), so the runtime's prefetch thread copies it
    /// while those instructions compute. Events stay sorted by instruction, evictions before prefetches.
    static func hoistPrefetches(_ events: [MemorySchedule.Event], bytes: [Int], occupancy: inout [Int], evictedAt: [Int],
                                limit: Int) -> [MemorySchedule.Event] {
        // Each value's eviction before this prefetch: replay the events in order.
        var lastEviction = [Int: Int]()
        var moved = events
        for (position, event) in events.enumerated() {
            let id = Int(event.value.raw)
            switch event.kind {
            case .evict:
                lastEviction[id] = event.instruction
            case .prefetch:
                let use = event.instruction
                let floor = max((lastEviction[id] ?? evictedAt[id]) + 1, use - prefetchDistance, 0)
                var start = use
                while start > floor && occupancy[start - 1] + bytes[id] <= limit { start -= 1 }
                if start < use {
                    for index in start..<use { occupancy[index] += bytes[id] }
                    moved[position] = .init(instruction: start, kind: .prefetch, value: event.value)
                }
            case .free:
                break
            }
        }
        func rank(_ kind: MemorySchedule.EventKind) -> Int {
            switch kind {
            case .evict: return 0
            case .prefetch: return 1
            case .free: return 2
            }
        }
        return moved.enumerated().sorted {
            ($0.element.instruction, rank($0.element.kind), $0.offset) < ($1.element.instruction, rank($1.element.kind), $1.offset)
        }.map(\.element)
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
            var needed = live + transientBytes(instruction, program: program, parameters: parameters)
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
    public static func replay(_ schedule: MemorySchedule, on program: Program) throws(MemoryPlanError) -> Int {
        guard let parameters = program.parameters else { throw .missingParameters }
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
                    guard resident.remove(event.value) != nil else { throw .inconsistent(instruction: index, detail: "evicts \(event.value), which is not in DRAM") }
                    dram -= bytes[event.value] ?? 0
                case .prefetch:
                    guard resident.insert(event.value).inserted else { throw .inconsistent(instruction: index, detail: "prefetches \(event.value), which is already in DRAM") }
                    dram += bytes[event.value] ?? 0
                case .free:
                    frees.append(event.value)
                }
            }
            for operand in instruction.operands where !resident.contains(operand) {
                throw .inconsistent(instruction: index, detail: "leaves operand \(operand) out of DRAM")
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
