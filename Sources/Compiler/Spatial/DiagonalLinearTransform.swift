import CipherIR
import Dispatch

/// One nonzero generalized diagonal of a block of a linear transform: output ciphertext `output`, input ciphertext
/// `input`, rotation offset `offset` ∈ [0, slots) (the block's entry A[s][(s + offset) mod slots] is the
/// diagonal's value at slot s).
public struct DiagonalKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var output: Int
    public var input: Int
    public var offset: Int

    public init(output: Int, input: Int, offset: Int) {
        self.output = output
        self.input = input
        self.offset = offset
    }

    public static func < (lhs: DiagonalKey, rhs: DiagonalKey) -> Bool {
        (lhs.output, lhs.input, lhs.offset) < (rhs.output, rhs.input, rhs.offset)
    }

    public var description: String { "(out \(output), in \(input), offset \(offset))" }
}

/// y = A·x + b between two packings, A stored sparsely by its nonzero generalized diagonals per
/// (output ciphertext, input ciphertext) block: y_o = Σ_i Σ_k d_{o,i,k} ⊙ rot(x_i, k) + b_o.
///
/// Built by `DiagonalTransformBuilder` directly from a layer's structure (never from a dense A). Each diagonal is
/// kept as a `SlotPattern` (grids of placements: a convolution tap's diagonal is one grid with one value per output
/// channel), so memory follows the layer's weights, not diagonals × slots. Each diagonal is zero at slots that hold
/// no output element, so the result keeps the packing invariant (empty slots are zero), and it reads only input
/// slots that hold elements, so garbage in empty input slots never leaks.
public struct DiagonalLinearTransform: Sendable {
    public let slots: Int
    public let inputCiphertexts: Int
    public let outputCiphertexts: Int
    /// Nonzero diagonals, sorted; `patterns[d]` holds the values of `keys[d]`.
    public let keys: [DiagonalKey]
    public let patterns: [SlotPattern]
    /// Bias per output ciphertext (nil: none), zero at slots without an element.
    public let bias: [SlotPattern?]

    init(slots: Int, inputCiphertexts: Int, outputCiphertexts: Int, keys: [DiagonalKey], patterns: [SlotPattern], bias: [SlotPattern?]) {
        precondition(keys.count == patterns.count && bias.count == outputCiphertexts, "diagonal transform parts disagree")
        self.slots = slots
        self.inputCiphertexts = inputCiphertexts
        self.outputCiphertexts = outputCiphertexts
        self.keys = keys
        self.patterns = patterns
        self.bias = bias
    }

    public var diagonalCount: Int { keys.count }

    /// Joins transforms built in parts over disjoint, increasing ranges of output ciphertexts (`keeping:`), each part
    /// holding the diagonals and biases of its own outputs.
    public init(concatenating parts: [DiagonalLinearTransform]) {
        precondition(!parts.isEmpty, "nothing to concatenate")
        let first = parts[0]
        var keys: [DiagonalKey] = [], patterns: [SlotPattern] = []
        var bias = [SlotPattern?](repeating: nil, count: first.outputCiphertexts)
        for part in parts {
            precondition(part.slots == first.slots && part.inputCiphertexts == first.inputCiphertexts
                         && part.outputCiphertexts == first.outputCiphertexts, "parts of one transform disagree")
            precondition(keys.last.map { last in part.keys.first.map { last < $0 } ?? true } ?? true, "parts must cover increasing outputs")
            keys += part.keys
            patterns += part.patterns
            for (output, pattern) in part.bias.enumerated() where pattern != nil {
                precondition(bias[output] == nil, "two parts hold the bias of output \(output)")
                bias[output] = pattern
            }
        }
        self.init(slots: first.slots, inputCiphertexts: first.inputCiphertexts, outputCiphertexts: first.outputCiphertexts,
                  keys: keys, patterns: patterns, bias: bias)
    }

    /// The values of diagonal `index` (length `slots`), materialized.
    public func diagonal(_ index: Int) -> [Double] { patterns[index].materialized() }

    /// Nonzero entries over all diagonals (the nonzeros of A); materializes every diagonal (for tests).
    public var nonzeroCount: Int {
        patterns.reduce(0) { count, pattern in count + pattern.materialized().reduce(0) { $0 + ($1 != 0 ? 1 : 0) } }
    }

    /// Placements over all diagonals (what the plan stores for this transform).
    public var placementCount: Int { patterns.reduce(0) { $0 + $1.placementCount } }

    /// Distinct rotation offsets per input ciphertext (what a plain diagonal method would rotate by).
    public var offsetCountPerInput: [Int] {
        var sets = [Set<Int>](repeating: [], count: inputCiphertexts)
        for key in keys { sets[key.input].insert(key.offset) }
        return sets.map(\.count)
    }

    /// Evaluates the transform on plain slot vectors (a reference for tests): inputs[i] has `slots` values.
    public func apply(to inputs: [[Double]]) -> [[Double]] {
        precondition(inputs.count == inputCiphertexts, "transform expects \(inputCiphertexts) ciphertexts, got \(inputs.count)")
        var outputs = bias.map { $0?.materialized() ?? [Double](repeating: 0, count: slots) }
        for (index, key) in keys.enumerated() {
            let diagonal = patterns[index].materialized(), x = inputs[key.input]
            for s in 0..<slots where diagonal[s] != 0 {
                outputs[key.output][s] += diagonal[s] * x[(s + key.offset) & (slots - 1)]
            }
        }
        return outputs
    }
}

/// Accumulates the entries A[p_out][p_in] of a linear transform between two flat packings (position =
/// ciphertext·slots + slot) into per-block diagonal patterns: single entries, or whole rows × columns rectangles of
/// one value (a convolution weight over the tap's valid output pixels) as one placement. Placements go to flat
/// arrays and are grouped by diagonal and grid shape in `finish`. A value type so that the hot loop runs on a local
/// variable without dynamic access checks.
public struct DiagonalTransformBuilder {
    public let slots: Int
    public let inputCiphertexts: Int
    public let outputCiphertexts: Int
    /// Output ciphertexts whose entries this builder keeps (others are skipped: a parallel build's share).
    public let keptOutputs: Range<Int>
    private let slotShift: Int
    private let slotMask: Int
    private var indexByKey = IntTable()
    private var keys: [DiagonalKey] = []
    /// Grid shapes (rows, rowStride, columns, columnStride) by id.
    private var shapes: [GridShape] = []
    private var shapeIDs: [GridShape: Int32] = [:]
    private var lastShape = GridShape(rows: 1, rowStride: 0, columns: 1, columnStride: 0)
    private var lastShapeID: Int32 = -1
    // One entry per placement.
    private var placementDiagonal: [Int32] = []
    private var placements: [Placement] = []
    // Bias placements: output ciphertext, shape, start, value.
    private var biasPlacements: [(output: Int, placement: Placement)] = []
    private var lastPackedKey = -1
    private var lastDiagonal: Int32 = -1
    private var storedBytes = 0
    /// The most pattern bytes this builder stores; past it, entries are dropped and `exceededBudget` is set.
    public let budgetBytes: Int
    public private(set) var exceededBudget = false

    /// Pattern memory one transform may take by default (2 GiB: ResNet-50's largest layer takes a few MiB).
    public static let defaultBudgetBytes = 2 << 30
    /// Bytes counted per diagonal besides its placements.
    static let diagonalOverheadBytes = 96
    /// Bytes counted per placement (start and value).
    static let placementBytes = 12

    struct Placement {
        var shape: Int32
        var start: Int32
        var value: Double
    }

    struct GridShape: Hashable {
        var rows: Int
        var rowStride: Int
        var columns: Int
        var columnStride: Int
    }

    /// Diagonals allocated so far.
    public var diagonalCount: Int { keys.count }

    /// `keeping`: the output ciphertexts whose entries are kept (default all; parallel builds give each thread a range
    /// and join the parts with `DiagonalLinearTransform(concatenating:)`).
    public init(slots: Int, inputCiphertexts: Int, outputCiphertexts: Int, keeping: Range<Int>? = nil,
                budgetBytes: Int = DiagonalTransformBuilder.defaultBudgetBytes) {
        precondition(slots > 0 && slots & (slots - 1) == 0, "slot count \(slots) must be a power of two")
        self.slots = slots
        self.inputCiphertexts = inputCiphertexts
        self.outputCiphertexts = outputCiphertexts
        self.keptOutputs = keeping ?? 0..<outputCiphertexts
        self.slotShift = slots.trailingZeroBitCount
        self.slotMask = slots - 1
        self.budgetBytes = budgetBytes
    }

    /// A[outputPosition][inputPosition] += value. Positions must lie inside the builder's ciphertexts.
    @inline(__always)
    public mutating func accumulate(outputPosition: Int, inputPosition: Int, value: Double) {
        guard value != 0 else { return }
        place(outputSlotStart: outputPosition & slotMask, outputCiphertext: outputPosition >> slotShift,
              inputSlotStart: inputPosition & slotMask, inputCiphertext: inputPosition >> slotShift,
              shape: GridShape(rows: 1, rowStride: 0, columns: 1, columnStride: 0), value: value)
    }

    /// A[outputStart + r·outputRowStride + c·outputColumnStride][inputStart + r·inputRowStride + c·inputColumnStride] += value
    /// for 0 ≤ r < rows, 0 ≤ c < columns (strides ≥ 0). One placement when the rectangle keeps one offset inside one
    /// (output, input) ciphertext pair; otherwise split into blocks of rows that do, then rows, then entries.
    public mutating func accumulate(outputStart: Int, inputStart: Int, rows: Int, outputRowStride: Int, inputRowStride: Int,
                                    columns: Int, outputColumnStride: Int, inputColumnStride: Int, value: Double) {
        guard value != 0, rows > 0, columns > 0 else { return }
        let sameColumns = columns == 1 || outputColumnStride == inputColumnStride
        let sameRows = rows == 1 || outputRowStride == inputRowStride
        guard sameColumns else {
            for r in 0..<rows {
                for c in 0..<columns {
                    accumulate(outputPosition: outputStart + r * outputRowStride + c * outputColumnStride,
                               inputPosition: inputStart + r * inputRowStride + c * inputColumnStride, value: value)
                }
            }
            return
        }
        let outputSpan = (columns - 1) * outputColumnStride, inputSpan = (columns - 1) * inputColumnStride
        // Greedy blocks of consecutive rows whose entries all stay in one (output, input) ciphertext pair.
        var first = 0
        while first < rows {
            let outputRow = outputStart + first * outputRowStride, inputRow = inputStart + first * inputRowStride
            let outputCiphertext = outputRow >> slotShift, inputCiphertext = inputRow >> slotShift
            guard (outputRow + outputSpan) >> slotShift == outputCiphertext, (inputRow + inputSpan) >> slotShift == inputCiphertext else {
                // This row straddles a ciphertext boundary: its entries one by one.
                for c in 0..<columns {
                    accumulate(outputPosition: outputRow + c * outputColumnStride, inputPosition: inputRow + c * inputColumnStride, value: value)
                }
                first += 1
                continue
            }
            var last = first
            if sameRows {
                while last + 1 < rows {
                    let nextOutput = outputRow + (last + 1 - first) * outputRowStride, nextInput = inputRow + (last + 1 - first) * inputRowStride
                    guard (nextOutput + outputSpan) >> slotShift == outputCiphertext, (nextInput + inputSpan) >> slotShift == inputCiphertext else { break }
                    last += 1
                }
            }
            let blockRows = last - first + 1
            place(outputSlotStart: outputRow & slotMask, outputCiphertext: outputCiphertext, inputSlotStart: inputRow & slotMask,
                  inputCiphertext: inputCiphertext,
                  shape: GridShape(rows: blockRows, rowStride: blockRows == 1 ? 0 : outputRowStride, columns: columns,
                                   columnStride: columns == 1 ? 0 : outputColumnStride), value: value)
            first = last + 1
        }
    }

    @inline(__always)
    private mutating func shapeID(_ shape: GridShape) -> Int32 {
        if shape == lastShape && lastShapeID >= 0 { return lastShapeID }
        let id: Int32
        if let existing = shapeIDs[shape] {
            id = existing
        } else {
            id = Int32(shapes.count)
            shapes.append(shape)
            shapeIDs[shape] = id
        }
        lastShape = shape
        lastShapeID = id
        return id
    }

    @inline(__always)
    private mutating func place(outputSlotStart: Int, outputCiphertext: Int, inputSlotStart: Int, inputCiphertext: Int,
                                shape: GridShape, value: Double) {
        guard keptOutputs.contains(outputCiphertext) else { return }
        let offset = (inputSlotStart &- outputSlotStart) & slotMask
        let packed = ((outputCiphertext &* inputCiphertexts &+ inputCiphertext) << slotShift) | offset
        if packed != lastPackedKey {
            guard let diagonal = diagonal(for: packed, output: outputCiphertext, input: inputCiphertext, offset: offset) else { return }
            lastPackedKey = packed
            lastDiagonal = diagonal
        }
        guard storedBytes + Self.placementBytes <= budgetBytes else {
            exceededBudget = true
            return
        }
        storedBytes += Self.placementBytes
        placementDiagonal.append(lastDiagonal)
        placements.append(Placement(shape: shapeID(shape), start: Int32(truncatingIfNeeded: outputSlotStart), value: value))
    }

    private mutating func diagonal(for packed: Int, output: Int, input: Int, offset: Int) -> Int32? {
        if let existing = indexByKey.value(for: packed) { return existing }
        precondition(output < outputCiphertexts && input < inputCiphertexts,
                     "entry outside the transform's \(outputCiphertexts)×\(inputCiphertexts) ciphertext blocks")
        guard storedBytes + Self.diagonalOverheadBytes <= budgetBytes else {
            exceededBudget = true
            return nil
        }
        storedBytes += Self.diagonalOverheadBytes
        let index = Int32(keys.count)
        indexByKey.insert(packed, index)
        keys.append(DiagonalKey(output: output, input: input, offset: offset))
        return index
    }

    /// b[outputPosition] += value.
    public mutating func addBias(outputPosition: Int, value: Double) {
        addBias(outputStart: outputPosition, rows: 1, rowStride: 0, columns: 1, columnStride: 0, value: value)
    }

    /// b[outputStart + r·rowStride + c·columnStride] += value for 0 ≤ r < rows, 0 ≤ c < columns (strides ≥ 0).
    public mutating func addBias(outputStart: Int, rows: Int, rowStride: Int, columns: Int, columnStride: Int, value: Double) {
        guard value != 0, rows > 0, columns > 0 else { return }
        let end = outputStart + (rows - 1) * rowStride + (columns - 1) * columnStride
        if outputStart >> slotShift == end >> slotShift {
            guard keptOutputs.contains(outputStart >> slotShift) else { return }
            let shape = GridShape(rows: rows, rowStride: rows == 1 ? 0 : rowStride, columns: columns, columnStride: columns == 1 ? 0 : columnStride)
            biasPlacements.append((outputStart >> slotShift, Placement(shape: shapeID(shape), start: Int32(truncatingIfNeeded: outputStart & slotMask), value: value)))
        } else if rows > 1 {
            for r in 0..<rows { addBias(outputStart: outputStart + r * rowStride, rows: 1, rowStride: 0, columns: columns, columnStride: columnStride, value: value) }
        } else {
            for c in 0..<columns { addBias(outputStart: outputStart + c * columnStride, rows: 1, rowStride: 0, columns: 1, columnStride: 0, value: value) }
        }
    }

    /// Groups placements of one pattern by grid shape (in first-use order; a diagonal has one or two shapes).
    private func pattern(_ placements: ArraySlice<Placement>) -> SlotPattern {
        var grids: [SlotGrid] = []
        var gridShapes: [Int32] = []
        for placement in placements {
            var index = gridShapes.count - 1
            while index >= 0 && gridShapes[index] != placement.shape { index -= 1 }
            if index < 0 {
                index = grids.count
                gridShapes.append(placement.shape)
                let shape = shapes[Int(placement.shape)]
                grids.append(SlotGrid(rows: shape.rows, rowStride: shape.rowStride, columns: shape.columns, columnStride: shape.columnStride))
                if placements.count > 1 {
                    grids[index].starts.reserveCapacity(placements.count)
                    grids[index].values.reserveCapacity(placements.count)
                }
            }
            grids[index].starts.append(placement.start)
            grids[index].values.append(placement.value)
        }
        return SlotPattern(length: slots, grids: grids)
    }

    /// The transform, diagonals sorted by key.
    public func finish() -> DiagonalLinearTransform {
        // Counting sort of the placement records by diagonal (one scattered write each, then sequential reads).
        var bucketStart = [Int](repeating: 0, count: keys.count + 1)
        for diagonal in placementDiagonal { bucketStart[Int(diagonal) + 1] += 1 }
        for index in 0..<keys.count { bucketStart[index + 1] += bucketStart[index] }
        var fill = bucketStart
        let sorted = [Placement](unsafeUninitializedCapacity: placements.count) { buffer, initialized in
            for (placement, diagonal) in zip(placements, placementDiagonal) {
                buffer[fill[Int(diagonal)]] = placement
                fill[Int(diagonal)] += 1
            }
            initialized = placements.count
        }
        let order = keys.indices.sorted { keys[$0] < keys[$1] }
        let patterns = order.map { diagonal in pattern(sorted[bucketStart[diagonal]..<bucketStart[diagonal + 1]]) }
        var biasByOutput = [[Placement]](repeating: [], count: outputCiphertexts)
        for (output, placement) in biasPlacements { biasByOutput[output].append(placement) }
        return DiagonalLinearTransform(
            slots: slots, inputCiphertexts: inputCiphertexts, outputCiphertexts: outputCiphertexts, keys: order.map { keys[$0] },
            patterns: patterns, bias: biasByOutput.map { $0.isEmpty ? nil : pattern($0[...]) })
    }
}

/// Open-addressing hash table from non-negative Int keys to Int32 values with a multiplicative hash: the builder
/// looks up a diagonal once per weight (25 M times for ResNet-50), where `Dictionary`'s seeded SipHash dominates.
struct IntTable {
    private var keys: [Int] = [Int](repeating: -1, count: 1024)
    private var values: [Int32] = [Int32](repeating: 0, count: 1024)
    private var shift = 64 - 10
    private(set) var count = 0

    @inline(__always)
    private func slot(_ key: Int) -> Int { Int(truncatingIfNeeded: (UInt64(bitPattern: Int64(key)) &* 0x9E37_79B9_7F4A_7C15) >> UInt64(shift)) }

    @inline(__always)
    func value(for key: Int) -> Int32? {
        let mask = keys.count - 1
        var index = slot(key)
        while true {
            let found = keys[index]
            if found == key { return values[index] }
            if found < 0 { return nil }
            index = (index + 1) & mask
        }
    }

    /// Inserts a key that is not present (precondition: key ≥ 0).
    mutating func insert(_ key: Int, _ value: Int32) {
        if (count + 1) * 2 > keys.count { grow() }
        let mask = keys.count - 1
        var index = slot(key)
        while keys[index] >= 0 { index = (index + 1) & mask }
        keys[index] = key
        values[index] = value
        count += 1
    }

    private mutating func grow() {
        let oldKeys = keys, oldValues = values
        keys = [Int](repeating: -1, count: oldKeys.count * 2)
        values = [Int32](repeating: 0, count: oldKeys.count * 2)
        shift -= 1
        count = 0
        for (key, value) in zip(oldKeys, oldValues) where key >= 0 { insert(key, value) }
    }
}

/// Runs `body(worker)` for workers 0..<workers on as many threads and returns the results in worker order.
enum ParallelBuild {
    /// Holds the body and the result slots; each worker writes only its own slot, and the caller reads them after
    /// `concurrentPerform` returns, so the unchecked sharing is race-free.
    private final class Work<T>: @unchecked Sendable {
        let body: (Int) throws -> T
        var results: [Result<T, Error>?]
        init(body: @escaping (Int) throws -> T, workers: Int) {
            self.body = body
            self.results = [Result<T, Error>?](repeating: nil, count: workers)
        }
    }

    static func run<T>(workers: Int, _ body: (Int) throws -> T) rethrows -> [T] {
        if workers <= 1 { return [try body(0)] }
        return try withoutActuallyEscaping(body) { body in
            let work = Work(body: body, workers: workers)
            work.results.withUnsafeMutableBufferPointer { slots in
                nonisolated(unsafe) let slots = slots
                DispatchQueue.concurrentPerform(iterations: workers) { worker in
                    slots[worker] = Result { try work.body(worker) }
                }
            }
            return try work.results.map { try $0!.get() }
        }
    }
}
