import CipherIR
import CKKS
import Compiler
import Foundation
import PersistentMemory
import Testing

@testable import Runtime

/// The compile-time memory schedule (Belady placement under a DRAM budget): the planner keeps its budget at every
/// instruction (checked by an independent replay and at run time), and a run that follows it gives output
/// ciphertexts byte-identical to a run with everything in DRAM, for every budget down to the minimum live set.
@Suite struct MemoryScheduleTests {
    static func peak(_ program: Program) throws -> Int { try MemoryPlanner.plan(program, budget: nil).peakDRAMBytes }

    /// The smallest budget the planner accepts (binary search between 0 and the unconstrained peak).
    static func minimumBudget(_ program: Program) throws -> Int {
        var low = 0, high = try peak(program)
        while low < high {
            let middle = (low + high) / 2
            if (try? MemoryPlanner.plan(program, budget: middle)) != nil { high = middle } else { low = middle + 1 }
        }
        return high
    }

    @Test(arguments: ["matrix_vector", "polynomial", "dot_product"])
    func budgetsAreKeptAndChecked(name: String) throws {
        let program = try Examples.program(name)
        let peak = try Self.peak(program)
        let minimum = try Self.minimumBudget(program)
        #expect(minimum <= peak)
        // The one-pass minimum (what the budget error reports) is exactly the smallest accepted budget.
        #expect(MemoryPlanner.minimumBudget(program).bytes == minimum)
        for budget in Set([peak, (peak + minimum) / 2, minimum]) {
            let schedule = try MemoryPlanner.plan(program, budget: budget)
            #expect(schedule.peakDRAMBytes <= budget)
            #expect(try MemoryPlanner.replay(schedule, on: program) <= budget)
            if budget < peak { #expect(schedule.bytesEvicted > 0 && schedule.bytesPrefetched > 0) }
            // Prefetches are issued ahead of the instruction that reads the value where the budget leaves room.
            let ahead = schedule.events.filter { event in
                event.kind == .prefetch
                    && !program.instructions[event.instruction].operands.contains(event.value)
            }
            if budget == (peak + minimum) / 2 && schedule.bytesPrefetched > 0 { #expect(!ahead.isEmpty, "no prefetch was hoisted") }
            // The schedule survives the plan file.
            var planned = program
            planned.memoryPlan = schedule.encoded()
            #expect(try MemorySchedule.decode(try PlanFile.decode(PlanFile.encode(planned)).memoryPlan, for: planned) == schedule)
        }
        #expect(throws: MemoryPlanError.self) { try MemoryPlanner.plan(program, budget: minimum - 1) }
    }

    @Test(arguments: ["matrix_vector", "polynomial"])
    func followingTheScheduleGivesIdenticalBytes(name: String) throws {
        let fixture = try CKKSFixture(name)
        let reference = try fixture.run()
        let program = fixture.session.program
        let slotSize = ValueStoreSetup.largestCiphertextBytes(program.parameters!)
        for budget in [try Self.peak(program), try Self.minimumBudget(program)] {
            var planned = program
            let schedule = try MemoryPlanner.plan(program, budget: budget)
            planned.memoryPlan = schedule.encoded()
            let session = PlanSession(program: planned, parameters: fixture.session.parameters)
            let path = temporaryPath("schedule-pool")
            defer { unlink(path) }
            let store = try ValueStoreSetup.makeStore(poolPath: path, poolSize: nil, dramBudget: nil, slotSize: slotSize, defaultSlots: 16,
                                                      ownerTag: .none, followingPlan: true)
            defer { store.pool?.close() }
            let result = try PlanRunner.runCKKS(session: session, inputs: fixture.ciphertexts, relinearizationKey: fixture.keys.relinearizationKey,
                                                galoisKeys: fixture.keys.galoisKeys, store: store)
            #expect(fixture.bytes(result.outputs) == fixture.bytes(reference.outputs))
            // At run time the store never held more than the plan's budget in DRAM.
            #expect(result.statistics.store.peakDRAMBytes <= budget)
            if schedule.bytesEvicted > 0 { #expect(result.statistics.store.evictions > 0) }
            // The prefetch thread copied every scheduled prefetch.
            if schedule.bytesPrefetched > 0 { #expect(result.statistics.prefetchCopies > 0 && result.statistics.store.fetches >= result.statistics.prefetchCopies) }
        }
    }

    /// The trace shows the schedule's tier moves on their own row, next to the instruction spans.
    @Test func traceShowsTierMoves() throws {
        let fixture = try CKKSFixture("polynomial")
        var planned = fixture.session.program
        let schedule = try MemoryPlanner.plan(planned, budget: try Self.minimumBudget(planned))
        #expect(schedule.bytesEvicted > 0)
        planned.memoryPlan = schedule.encoded()
        let path = temporaryPath("trace-pool")
        defer { unlink(path) }
        let store = try ValueStoreSetup.makeStore(poolPath: path, poolSize: nil, dramBudget: nil,
                                                  slotSize: ValueStoreSetup.largestCiphertextBytes(planned.parameters!), defaultSlots: 16,
                                                  ownerTag: .none, followingPlan: true)
        defer { store.pool?.close() }
        let trace = TraceRecorder()
        _ = try PlanRunner.runCKKS(session: PlanSession(program: planned, parameters: fixture.session.parameters), inputs: fixture.ciphertexts,
                                   relinearizationKey: fixture.keys.relinearizationKey, galoisKeys: fixture.keys.galoisKeys, store: store,
                                   observer: { trace.record($0) })
        let parsed = try JSONSerialization.jsonObject(with: Data(trace.json.utf8)) as? [String: Any]
        let moves = (parsed?["traceEvents"] as? [[String: Any]] ?? []).filter { $0["cat"] as? String == "tier" }
        let written = moves.compactMap { ($0["args"] as? [String: Any])?["bytes_to_pool"] as? Int }.reduce(0, +)
        #expect(!moves.isEmpty && moves.allSatisfy { $0["tid"] as? Int == 2 })
        // The store writes each evicted value once (its header is smaller than the planner's padded one).
        #expect(written > 0 && written <= schedule.bytesEvicted)
    }

    @Test func plannerCountsTheStoreHeader() {
        // The header (32 bytes) padded to the store's 64-byte alignment.
        #expect(MemoryPlanner.ciphertextHeaderBytes == (CKKSBackend.headerBytes + 63) / 64 * 64)
    }

    @Test func corruptSchedulesAreRefused() throws {
        let program = try Examples.program("matrix_vector")
        var bytes = try MemoryPlanner.plan(program, budget: nil).encoded().bytes
        bytes[0] = UInt8(ascii: "X")
        #expect(throws: PlanFileError.self) { try MemorySchedule.decode(MemoryPlan(bytes: bytes), for: program) }
        var truncated = try MemoryPlanner.plan(program, budget: nil).encoded().bytes
        truncated.removeLast(3)
        #expect(throws: PlanFileError.self) { try MemorySchedule.decode(MemoryPlan(bytes: truncated), for: program) }
    }
}
