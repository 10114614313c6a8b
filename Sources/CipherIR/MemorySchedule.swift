/// The content of a plan's memory section (`MemoryPlan.bytes`): where values live between DRAM and the slow
/// persistent tier, decided at compile time from the instruction stream (ir-spec/plan-format.md, "MEMP").
///
/// Events are sorted by instruction. Before instruction i runs, its `evict` events move values to the pool and its
/// `prefetch` events bring values back to DRAM (a prefetcher may start them earlier: the plan lists them in the order
/// they are needed); after it runs, its `free` events drop values nobody reads again. Replaying the events keeps the
/// DRAM-resident bytes (as the planner counts them) at or below `budgetBytes` at every instruction.
public struct MemorySchedule: Sendable, Equatable {
    public enum EventKind: UInt8, Sendable, Equatable {
        case evict = 1
        case prefetch = 2
        case free = 3
    }

    public struct Event: Sendable, Equatable {
        public var instruction: Int
        public var kind: EventKind
        public var value: ValueID

        public init(instruction: Int, kind: EventKind, value: ValueID) {
            self.instruction = instruction
            self.kind = kind
            self.value = value
        }
    }

    /// The DRAM budget the schedule was made for (nil: no budget; only frees).
    public var budgetBytes: Int?
    /// Peak DRAM-resident bytes when the schedule is followed.
    public var peakDRAMBytes: Int
    /// Peak bytes held in the pool.
    public var peakPoolBytes: Int
    /// Bytes written to the pool (evictions) and read back (prefetches) over the run.
    public var bytesEvicted: Int
    public var bytesPrefetched: Int
    public var events: [Event]

    public init(budgetBytes: Int?, peakDRAMBytes: Int, peakPoolBytes: Int, bytesEvicted: Int, bytesPrefetched: Int, events: [Event]) {
        self.budgetBytes = budgetBytes
        self.peakDRAMBytes = peakDRAMBytes
        self.peakPoolBytes = peakPoolBytes
        self.bytesEvicted = bytesEvicted
        self.bytesPrefetched = bytesPrefetched
        self.events = events
    }

    static let magic: [UInt8] = Array("TMEM".utf8)
    static let version: UInt32 = 1

    /// The memory-section bytes: magic "TMEM", version u32, budget i64 (−1: none), peak DRAM, peak pool, bytes
    /// evicted, bytes prefetched (i64 each), event count u64, then per event instruction u32, value u32, kind u8,
    /// 3 zero bytes.
    public func encoded() -> MemoryPlan {
        var writer = ByteWriter()
        writer.bytes.append(contentsOf: Self.magic)
        writer.u32(Self.version)
        writer.i64(budgetBytes ?? -1)
        writer.i64(peakDRAMBytes)
        writer.i64(peakPoolBytes)
        writer.i64(bytesEvicted)
        writer.i64(bytesPrefetched)
        writer.u64(UInt64(events.count))
        for event in events {
            writer.u32(UInt32(event.instruction))
            writer.u32(event.value.raw)
            writer.u8(event.kind.rawValue)
            writer.u8(0)
            writer.u16(0)
        }
        return MemoryPlan(bytes: writer.bytes)
    }

    /// The schedule in a memory section; nil for an empty section (a plan compiled without memory planning).
    /// Throws a `PlanFileError` naming the MEMP section when the bytes are not a valid schedule for `program`.
    public static func decode(_ plan: MemoryPlan, for program: Program) throws -> MemorySchedule? {
        if plan.isEmpty { return nil }
        let schedule: MemorySchedule = try plan.bytes.withUnsafeBytes { raw in
            var reader = ByteReader(raw, from: 0, to: raw.count, section: "MEMP")
            try reader.need(4, "magic")
            guard Array(raw[0..<4]) == magic else { throw reader.malformed("the memory plan does not start with \"TMEM\"") }
            reader.offset = 4
            let version = try reader.u32("memory plan version")
            guard version == Self.version else {
                throw reader.malformed("memory plan version \(version) is not supported (this build reads \(Self.version)); recompile the model")
            }
            let budget = try reader.i64("budget")
            let peak = try reader.i64("peak DRAM bytes"), poolPeak = try reader.i64("peak pool bytes")
            let evicted = try reader.i64("bytes evicted"), prefetched = try reader.i64("bytes prefetched")
            let count = try reader.u64("event count")
            guard count <= UInt64(reader.remaining / 12) else { throw reader.malformed("\(count) events do not fit the section") }
            var events: [Event] = []
            events.reserveCapacity(Int(count))
            for index in 0..<Int(count) {
                let instruction = Int(try reader.u32("instruction of event \(index)"))
                let value = ValueID(try reader.u32("value of event \(index)"))
                let code = try reader.u8("kind of event \(index)")
                guard try reader.u8("padding") == 0, try reader.u16("padding") == 0 else { throw reader.malformed("event \(index) has nonzero padding") }
                guard let kind = EventKind(rawValue: code) else { throw reader.malformed("event \(index) has unknown kind \(code)") }
                guard instruction < program.instructions.count else {
                    throw reader.malformed("event \(index) refers to instruction \(instruction) but the plan has \(program.instructions.count)")
                }
                if let last = events.last, last.instruction > instruction {
                    throw reader.malformed("events are not sorted by instruction (event \(index))")
                }
                events.append(Event(instruction: instruction, kind: kind, value: value))
            }
            guard reader.isAtEnd else { throw reader.malformed("\(reader.remaining) bytes after the last event") }
            return MemorySchedule(budgetBytes: budget < 0 ? nil : budget, peakDRAMBytes: peak, peakPoolBytes: poolPeak,
                                  bytesEvicted: evicted, bytesPrefetched: prefetched, events: events)
        }
        return schedule
    }
}
