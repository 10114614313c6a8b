import CipherIR

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
                          constants: program.constants, laneMaps: program.laneMaps, memoryPlan: program.memoryPlan)
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

/// Under `--dram-budget`, chooses per constant between a pre-encoded plaintext value (the `constant` instruction, its
/// plaintext alive in DRAM until its last use) and encoding just in time inside the instruction that uses it
/// (`mulEncodeSum`, which encodes a few plaintexts at a time and keeps none). The cost model: a constant read once costs
/// one encoding either way, so just in time is never slower and needs no DRAM between uses, and is chosen; a constant
/// read several times stays pre-encoded, since each further use would cost another encoding
/// (`RematerializeConstants` already split uses far apart). A `mulPlainSum` or `mulPlain` whose plaintexts are all
/// read once becomes a `mulEncodeSum`.
public struct ChooseConstantEncoding: CipherPass {
    public init() {}
    public var name: String { "choose-constant-encoding" }

    public func run(_ program: inout Program, state: CompilationState) throws {
        guard state.options.dramBudget != nil else { return }
        var pool: [ValueID: Int] = [:]
        var uses: [ValueID: Int] = [:]
        for instruction in program.instructions {
            if instruction.opcode == .constant, let index = instruction.constantIndex { pool[instruction.result] = index }
            for operand in instruction.operands where pool[operand] != nil { uses[operand, default: 0] += 1 }
        }
        func justInTime(_ instruction: Instruction) -> Bool {
            guard instruction.opcode == .mulPlainSum || instruction.opcode == .mulPlain else { return false }
            return stride(from: 1, to: instruction.operands.count, by: 2).allSatisfy { uses[instruction.operands[$0]] == 1 }
        }
        let chosen = program.instructions.filter(justInTime)
        guard !chosen.isEmpty else { return }
        var dropped = Set<ValueID>()
        for instruction in chosen { for position in stride(from: 1, to: instruction.operands.count, by: 2) { dropped.insert(instruction.operands[position]) } }
        var out = Program(parameters: program.parameters, keys: program.keys, inputs: program.inputs, outputs: program.outputs,
                          constants: program.constants, laneMaps: program.laneMaps, memoryPlan: program.memoryPlan)
        var map: [ValueID: ValueID] = [:]
        func mapped(_ old: ValueID) throws -> ValueID {
            guard let new = map[old] else {
                throw CompilerError.levelingFailed(instruction: out.instructions.count, detail: "\(old) is used before its definition")
            }
            return new
        }
        for instruction in program.instructions {
            if instruction.opcode == .constant && dropped.contains(instruction.result) { continue }
            let types = instruction.results.map { program.types[$0] }
            let results: [ValueID]
            if justInTime(instruction) {
                let ciphertexts = try stride(from: 0, to: instruction.operands.count, by: 2).map { try mapped(instruction.operands[$0]) }
                let indices = stride(from: 1, to: instruction.operands.count, by: 2).map { pool[instruction.operands[$0]]! }
                results = out.emit(.mulEncodeSum, ciphertexts, .constantIndices(indices), types: types)
            } else {
                results = out.emit(instruction.opcode, try instruction.operands.map(mapped), instruction.immediate, types: types)
            }
            for (old, new) in zip(instruction.results, results) { map[old] = new }
        }
        state.report.append("constants: \(dropped.count) plaintexts read once are encoded just in time inside \(chosen.count) mulEncodeSum instructions; \(uses.values.filter { $0 > 1 }.count) read more than once stay pre-encoded")
        program = out
    }
}

/// Records the memory schedule for `--dram-budget` (or, without a budget, the frees and the peak) in the plan.
public struct PlanMemory: CipherPass {
    public init() {}
    public var name: String { "plan-memory" }

    public func run(_ program: inout Program, state: CompilationState) throws {
        let schedule: MemorySchedule
        do {
            schedule = try MemoryPlanner.plan(program, budget: state.options.dramBudget)
        } catch .belowMinimum(let budget, let minimum, let instruction) {
            throw CompilerError.memoryBudget(budget: budget, needed: minimum, instruction: instruction)
        } catch {
            throw CompilerError.levelingFailed(instruction: 0, detail: "\(error)")
        }
        program.memoryPlan = schedule.encoded()
        var line = "memory: peak DRAM \(schedule.peakDRAMBytes >> 20) MiB"
        if let budget = schedule.budgetBytes {
            line += " under a \(budget >> 20) MiB budget; pool peak \(schedule.peakPoolBytes >> 20) MiB, \(schedule.bytesEvicted >> 20) MiB evicted, \(schedule.bytesPrefetched >> 20) MiB prefetched"
        }
        state.report.append(line)
    }
}
