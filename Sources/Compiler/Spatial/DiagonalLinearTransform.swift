#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
/// zero at slots that hold no output element, so the result keeps the packing invariant (empty slots are zero),
/// and it reads only input slots that hold elements, so garbage in empty input slots never leaks.
public struct DiagonalLinearTransform: Sendable {
    public let slots: Int
    public let inputCiphertexts: Int
    public let outputCiphertexts: Int
    /// Nonzero diagonals, sorted; `diagonal(d)` holds the values of `keys[d]`.
    public let keys: [DiagonalKey]
    /// Bias per output ciphertext (nil: none), zero at slots without an element.
    public let bias: [[Double]?]
    private let storage: DiagonalStorage
    /// Buffer index in `storage` of each key.
    private let bufferIndex: [Int]

    init(slots: Int, inputCiphertexts: Int, outputCiphertexts: Int, keys: [DiagonalKey], storage: DiagonalStorage,
         bufferIndex: [Int], bias: [[Double]?]) {
        precondition(keys.count == bufferIndex.count && bias.count == outputCiphertexts, "diagonal transform parts disagree")
        self.slots = slots
        self.inputCiphertexts = inputCiphertexts
        self.outputCiphertexts = outputCiphertexts
        self.keys = keys
        self.storage = storage
        self.bufferIndex = bufferIndex
        self.bias = bias
    }

    public var diagonalCount: Int { keys.count }

    /// The values of diagonal `index` (length `slots`), valid while the transform lives.
    func diagonalBuffer(_ index: Int) -> UnsafeBufferPointer<Double> {
        UnsafeBufferPointer(start: storage.buffers[bufferIndex[index]], count: slots)
    }

    /// The values of diagonal `index` (length `slots`).
    public func diagonal(_ index: Int) -> [Double] { Array(diagonalBuffer(index)) }

    /// Nonzero entries over all diagonals (the nonzeros of A).
    public var nonzeroCount: Int {
        keys.indices.reduce(0) { count, index in count + diagonalBuffer(index).reduce(0) { $0 + ($1 != 0 ? 1 : 0) } }
    }

    /// Distinct rotation offsets per input ciphertext (what a plain diagonal method would rotate by).
    public var offsetCountPerInput: [Int] {
        var sets = [Set<Int>](repeating: [], count: inputCiphertexts)
        for key in keys { sets[key.input].insert(key.offset) }
        return sets.map(\.count)
    }

    /// Evaluates the transform on plain slot vectors (a reference for tests): inputs[i] has `slots` values.
    public func apply(to inputs: [[Double]]) -> [[Double]] {
        precondition(inputs.count == inputCiphertexts, "transform expects \(inputCiphertexts) ciphertexts, got \(inputs.count)")
        var outputs = bias.map { $0 ?? [Double](repeating: 0, count: slots) }
        for (index, key) in keys.enumerated() {
            let diagonal = diagonalBuffer(index), x = inputs[key.input]
            for s in 0..<slots where diagonal[s] != 0 {
                outputs[key.output][s] += diagonal[s] * x[(s + key.offset) & (slots - 1)]
            }
        }
        return outputs
    }
}

/// Owns the diagonal buffers (zeroed by calloc, so untouched pages of sparse diagonals stay unmapped); written only
/// while a builder fills it, read-only once a transform holds it.
final class DiagonalStorage: @unchecked Sendable {
    let slots: Int
    var indexByKey: [Int: Int] = [:]
    var keys: [DiagonalKey] = []
    var buffers: [UnsafeMutablePointer<Double>] = []
    var exceeded = false
    private var scratchBuffer: UnsafeMutablePointer<Double>? = nil

    init(slots: Int) { self.slots = slots }

    /// Where entries past the budget go (never read).
    func scratch() -> UnsafeMutablePointer<Double> {
        if let scratchBuffer { return scratchBuffer }
        let buffer = UnsafeMutablePointer<Double>.allocate(capacity: slots)
        scratchBuffer = buffer
        return buffer
    }

    deinit {
        for buffer in buffers { free(buffer) }
        scratchBuffer?.deallocate()
    }
}

/// Accumulates the entries A[p_out][p_in] of a linear transform between two flat packings (position =
/// ciphertext·slots + slot) into per-block diagonals. Entries of one layer usually share few offsets, so the
/// diagonal used last is cached and the hash table is touched only when the key changes. A value type so that
/// the hot loop (one call per weight × output pixel) runs on a local variable without dynamic access checks.
public struct DiagonalTransformBuilder {
    public let slots: Int
    public let inputCiphertexts: Int
    public let outputCiphertexts: Int
    private let slotShift: Int
    private let slotMask: Int
    private let storage: DiagonalStorage
    private var bias: [[Double]?]
    private var lastPackedKey = -1
    private var lastBuffer: UnsafeMutablePointer<Double>? = nil
    /// The most diagonals this builder allocates; past it, entries are dropped and `exceededBudget` is set.
    public let maximumDiagonals: Int

    /// Plaintext diagonal memory one transform may take by default (8 GiB of Doubles).
    public static let defaultBudgetBytes = 8 << 30

    /// True when the transform needed more than `maximumDiagonals` diagonals (its result is then incomplete).
    public var exceededBudget: Bool { storage.exceeded }
    /// Diagonals allocated so far.
    public var diagonalCount: Int { storage.buffers.count }

    public init(slots: Int, inputCiphertexts: Int, outputCiphertexts: Int, budgetBytes: Int = DiagonalTransformBuilder.defaultBudgetBytes) {
        precondition(slots > 0 && slots & (slots - 1) == 0, "slot count \(slots) must be a power of two")
        self.slots = slots
        self.inputCiphertexts = inputCiphertexts
        self.outputCiphertexts = outputCiphertexts
        self.slotShift = slots.trailingZeroBitCount
        self.slotMask = slots - 1
        self.storage = DiagonalStorage(slots: slots)
        self.maximumDiagonals = max(1, budgetBytes / (slots * MemoryLayout<Double>.stride))
        self.bias = [[Double]?](repeating: nil, count: outputCiphertexts)
    }

    /// A[outputPosition][inputPosition] += value. Positions must lie inside the builder's ciphertexts.
    @inline(__always)
    public mutating func accumulate(outputPosition: Int, inputPosition: Int, value: Double) {
        let outputSlot = outputPosition & slotMask
        let offset = ((inputPosition & slotMask) &- outputSlot) & slotMask
        let packed = (((outputPosition >> slotShift) &* inputCiphertexts &+ (inputPosition >> slotShift)) << slotShift) | offset
        if packed != lastPackedKey {
            lastPackedKey = packed
            lastBuffer = buffer(for: packed)
        }
        lastBuffer.unsafelyUnwrapped[outputSlot] += value
    }

    private func buffer(for packed: Int) -> UnsafeMutablePointer<Double> {
        if let existing = storage.indexByKey[packed] { return storage.buffers[existing] }
        if storage.buffers.count >= maximumDiagonals {
            storage.exceeded = true
            return storage.scratch()
        }
        let block = packed >> slotShift
        precondition(block / inputCiphertexts < outputCiphertexts, "entry outside the transform's \(outputCiphertexts) output ciphertexts")
        storage.indexByKey[packed] = storage.buffers.count
        storage.keys.append(DiagonalKey(output: block / inputCiphertexts, input: block % inputCiphertexts, offset: packed & slotMask))
        guard let raw = calloc(slots, MemoryLayout<Double>.stride) else { fatalError("out of memory for a \(slots)-slot diagonal") }
        let buffer = raw.assumingMemoryBound(to: Double.self)
        storage.buffers.append(buffer)
        return buffer
    }

    /// b[outputPosition] += value.
    public mutating func addBias(outputPosition: Int, value: Double) {
        guard value != 0 else { return }
        let output = outputPosition >> slotShift
        if bias[output] == nil { bias[output] = [Double](repeating: 0, count: slots) }
        bias[output]![outputPosition & slotMask] += value
    }

    /// The transform, diagonals sorted by key; diagonals that summed to zero everywhere are dropped.
    public func finish() -> DiagonalLinearTransform {
        let keys = storage.keys, buffers = storage.buffers
        let order = keys.indices.filter { index in
            UnsafeBufferPointer(start: buffers[index], count: slots).contains { $0 != 0 }
        }.sorted { keys[$0] < keys[$1] }
        let cleanBias = bias.map { vector -> [Double]? in
            guard let vector, vector.contains(where: { $0 != 0 }) else { return nil }
            return vector
        }
        return DiagonalLinearTransform(slots: slots, inputCiphertexts: inputCiphertexts, outputCiphertexts: outputCiphertexts,
                                       keys: order.map { keys[$0] }, storage: storage, bufferIndex: order, bias: cleanBias)
    }
}
