import CipherIR
import TensorIR

/// A tensor held in ciphertexts: ciphertext i is `values[i]`; `layout` (usually `.explicit`) maps the tensor's row-major
/// element e to (ciphertext, slot).
///
/// Invariant: slots not holding an element are ZERO (every lowering keeps it, so later rotations can pull zeros in),
/// unless `garbageSlots` is true (then a mask is needed before rotating other data into those slots).
public struct PackedTensor: Sendable, Equatable {
    public var shape: [Int]
    public var values: [ValueID]
    public var layout: SlotLayout
    public var slots: Int
    public var garbageSlots: Bool
    /// Ciphertexts per value: 1, or the lane count of the batch layout's lane values (ciphertext i is then lane
    /// i % lanes of `values[i / lanes]`).
    public var lanes: Int

    public init(shape: [Int], values: [ValueID], layout: SlotLayout, slots: Int, garbageSlots: Bool = false, lanes: Int = 1) {
        self.shape = shape
        self.values = values
        self.layout = layout
        self.slots = slots
        self.garbageSlots = garbageSlots
        self.lanes = lanes
    }

    /// Number of ciphertexts (values × lanes).
    public var ciphertextCount: Int { values.count * lanes }

    /// Number of tensor elements (product of the shape).
    public var elementCount: Int { shape.reduce(1, *) }

    /// The binding describing this tensor (for inputs and outputs).
    public func binding(name: String) -> TensorBinding {
        TensorBinding(name: name, shape: shape, ciphertextCount: ciphertextCount, slots: slots, layout: layout)
    }

    /// ciphertext·slots + slot of every element, in element order.
    public func flatPositions() -> [Int] {
        binding(name: "_").flatPositions()
    }
}

/// Placeholders the lowering writes where the leveling pass fills in real levels and scales.
public enum UnleveledPlaceholder {
    /// Level of constant-pool entries and refresh targets before leveling.
    public static let level = 0
    /// Scale of constant-pool entries before leveling (any value > 1 the verifier accepts).
    public static let constantScale = 2.0
    /// Encoding scale of `mulConst` scalars before leveling.
    public static let scalarScale = 1.0
}

/// Emits unleveled CipherIR: no rescales, no levels/scales. The leveling pass inserts rescale/levelDown and fills
/// levels, scales, constant-pool encoding levels/scales and mulConst scales afterwards.
///
/// Every emitted value carries its slot count in `program.types`; key requirements (relinearization, rotation steps)
/// are recorded as ops are emitted, so the unleveled program verifies.
public final class LoweringContext {
    public private(set) var program: Program
    public let slots: Int
    /// Pool indices by content hash (a dictionary keyed by the content itself would rehash every vector whenever it
    /// grows).
    private var constantIndicesByHash: [Int: [Int]] = [:]
    private var constantValueByIndex: [Int: ValueID] = [:]

    public init(slots: Int) {
        precondition(slots > 0 && slots & (slots - 1) == 0, "slot count \(slots) must be a power of two")
        self.slots = slots
        self.program = Program()
    }

    private var type: ValueType { ValueType(slots: slots) }

    private func emit(_ opcode: Opcode, _ operands: [ValueID], _ immediate: Immediate = .none) -> ValueID {
        program.emitOne(opcode, operands, immediate, type: type)
    }

    /// Pads (or checks) a plaintext vector to the slot count.
    private func padded(_ values: [Double]) -> [Double] {
        precondition(values.count <= slots, "a plaintext of \(values.count) values does not fit \(slots) slots")
        if values.count == slots { return values }
        return values + [Double](repeating: 0, count: slots - values.count)
    }

    // MARK: program boundary

    /// Declares an input binding and reads its ciphertexts. `positions[e]` = ciphertext·slots + slot of element e.
    /// With `asLanes`, all ciphertexts are read as the lanes of one value.
    public func input(name: String, shape: [Int], positions: [Int], ciphertextCount: Int, asLanes: Bool = false) -> PackedTensor {
        let layout = SlotLayout.explicit(positions.map { Int32($0) })
        let binding = TensorBinding(name: name, shape: shape, ciphertextCount: ciphertextCount, slots: slots, layout: layout)
        let index = program.inputs.count
        program.inputs.append(binding)
        if asLanes {
            let value = program.emitOne(.input, [], .binding(index: index, ciphertext: 0), type: ValueType(slots: slots, lanes: ciphertextCount))
            return PackedTensor(shape: shape, values: [value], layout: layout, slots: slots, lanes: ciphertextCount)
        }
        let values = (0..<ciphertextCount).map { emit(.input, [], .binding(index: index, ciphertext: $0)) }
        return PackedTensor(shape: shape, values: values, layout: layout, slots: slots)
    }

    /// Declares an output binding for `tensor` and writes its ciphertexts.
    public func output(name: String, _ tensor: PackedTensor) {
        let index = program.outputs.count
        program.outputs.append(tensor.binding(name: name))
        for (position, value) in tensor.values.enumerated() {
            program.emit(.output, [value], .binding(index: index, ciphertext: position * tensor.lanes))
        }
    }

    // MARK: constants

    /// A new pool entry (deduplicated by content) and its `constant` value.
    public func constant(_ values: [Double]) -> ValueID {
        constant(content: .dense(padded(values)))
    }

    /// A pool entry stored as a slot pattern (deduplicated by content) and its `constant` value.
    public func constant(pattern: SlotPattern) -> ValueID {
        precondition(pattern.length == slots, "a pattern of \(pattern.length) slots in a \(slots)-slot program")
        return constant(content: .pattern(pattern))
    }

    private func constant(content: ConstantEntry.Content) -> ValueID {
        let index: Int
        let hash = Self.quickHash(content)
        if let existing = constantIndicesByHash[hash]?.first(where: { program.constants[$0].content == content }) {
            index = existing
        } else {
            index = program.constants.count
            program.constants.append(ConstantEntry(content: content, level: UnleveledPlaceholder.level, scale: UnleveledPlaceholder.constantScale))
            constantIndicesByHash[hash, default: []].append(index)
        }
        if let value = constantValueByIndex[index] { return value }
        let value = emit(.constant, [], .constantIndex(index))
        constantValueByIndex[index] = value
        return value
    }

    /// A hash of a content's shape and ends (equal contents hash equally; `==` settles collisions): hashing every
    /// placement of ResNet-50's patterns would cost seconds.
    static func quickHash(_ content: ConstantEntry.Content) -> Int {
        var hasher = Hasher()
        switch content {
        case .dense(let values):
            hasher.combine(0)
            hasher.combine(values.count)
            let step = max(1, values.count / 16)
            for index in stride(from: 0, to: values.count, by: step) { hasher.combine(values[index]) }
        case .pattern(let pattern):
            hasher.combine(1)
            hasher.combine(pattern.length)
            hasher.combine(pattern.rotation)
            for grid in pattern.grids {
                hasher.combine(grid.rows)
                hasher.combine(grid.rowStride)
                hasher.combine(grid.columns)
                hasher.combine(grid.columnStride)
                hasher.combine(grid.starts.count)
                let step = max(1, grid.starts.count / 8)
                for index in stride(from: 0, to: grid.starts.count, by: step) {
                    hasher.combine(grid.starts[index])
                    hasher.combine(grid.values[index])
                }
            }
        }
        return hasher.finalize()
    }

    // MARK: arithmetic

    public func add(_ a: ValueID, _ b: ValueID) -> ValueID { emit(.add, [a, b]) }
    public func sub(_ a: ValueID, _ b: ValueID) -> ValueID { emit(.sub, [a, b]) }
    public func negate(_ a: ValueID) -> ValueID { emit(.negate, [a]) }

    public func addPlain(_ ct: ValueID, _ values: [Double]) -> ValueID {
        let plaintext = constant(values)
        return emit(.addPlain, [ct, plaintext])
    }

    public func addPlain(_ ct: ValueID, pattern: SlotPattern) -> ValueID {
        emit(.addPlain, [ct, constant(pattern: pattern)])
    }

    /// ct × plaintext stored as a slot pattern: one level.
    public func mulPlain(_ ct: ValueID, pattern: SlotPattern) -> ValueID {
        emit(.mulPlain, [ct, constant(pattern: pattern)])
    }

    /// Σ ct_i ⊙ pattern_i as one `mulPlainSum` (a single pair is a `mulPlain`): one level.
    public func mulPlainSum(_ pairs: [(ValueID, SlotPattern)]) -> ValueID {
        precondition(!pairs.isEmpty, "a sum of products needs at least one pair")
        if pairs.count == 1 { return mulPlain(pairs[0].0, pattern: pairs[0].1) }
        var operands: [ValueID] = []
        operands.reserveCapacity(2 * pairs.count)
        for (ct, pattern) in pairs {
            operands.append(ct)
            operands.append(constant(pattern: pattern))
        }
        return emit(.mulPlainSum, operands)
    }

    /// ct × plaintext: one level.
    public func mulPlain(_ ct: ValueID, _ values: [Double]) -> ValueID {
        let plaintext = constant(values)
        return emit(.mulPlain, [ct, plaintext])
    }

    /// ct × scalar: one level.
    public func mulConst(_ ct: ValueID, _ value: Double) -> ValueID {
        emit(.mulConst, [ct], .scaledScalar(value: value, scale: UnleveledPlaceholder.scalarScale))
    }

    public func addConst(_ ct: ValueID, _ value: Double) -> ValueID {
        emit(.addConst, [ct], .scalar(value))
    }

    /// ct × ct, relinearized (emits `mul` + `relinearize`).
    public func mul(_ a: ValueID, _ b: ValueID) -> ValueID {
        program.keys.relinearization = true
        let product = emit(.mul, [a, b])
        return emit(.relinearize, [product])
    }

    /// A step normalized to (−slots/2, slots/2].
    public func normalizedStep(_ step: Int) -> Int {
        var k = step % slots
        if k < 0 { k += slots }
        if k > slots / 2 { k -= slots }
        return k
    }

    /// rotate(x, k)[i] = x[(i + k) mod slots]. Step 0 returns `ct`.
    public func rotate(_ ct: ValueID, by step: Int) -> ValueID {
        let k = normalizedStep(step)
        if k == 0 { return ct }
        program.keys.insertRotationStep(k)
        return emit(.rotate, [ct], .rotationStep(k))
    }

    /// One rotation per step sharing a decomposition; results in `steps` order (0 and repeated steps allowed).
    public func rotateHoisted(_ ct: ValueID, by steps: [Int]) -> [ValueID] {
        let normalized = steps.map(normalizedStep)
        var distinct: [Int] = []
        for k in normalized where k != 0 && !distinct.contains(k) { distinct.append(k) }
        var byStep: [Int: ValueID] = [0: ct]
        if distinct.count == 1 {
            byStep[distinct[0]] = rotate(ct, by: distinct[0])
        } else if distinct.count > 1 {
            for k in distinct { program.keys.insertRotationStep(k) }
            let results = program.emit(.rotateHoisted, [ct], .rotationSteps(distinct), types: Array(repeating: type, count: distinct.count))
            for (k, value) in zip(distinct, results) { byStep[k] = value }
        }
        return normalized.map { byStep[$0]! }
    }

    /// Client-aided: the key holder applies `function` slot-wise and re-encrypts (resets the level).
    public func refresh(_ ct: ValueID, function: String) -> ValueID {
        emit(.refresh, [ct], .refresh(function: function, level: UnleveledPlaceholder.level))
    }

    // MARK: lanes

    /// The lane count of `value`.
    public func lanes(of value: ValueID) -> Int { program.lanes(of: value) }

    /// A `linearMap` of `map` over the operands' lanes (concatenated): one level.
    public func linearMap(_ operands: [ValueID], _ map: LaneMap) -> ValueID {
        precondition(operands.reduce(0) { $0 + lanes(of: $1) } == map.inputLanes, "operand lanes do not match the map")
        let index = program.laneMaps.count
        program.laneMaps.append(map)
        return emit(.linearMap, operands, .scaledLaneMap(index: index, scale: UnleveledPlaceholder.scalarScale))
    }

    /// Result lane j = operand lane indices[j] (operands concatenated); no arithmetic. The identity selection of a
    /// single operand returns it.
    public func gather(_ operands: [ValueID], _ indices: [Int32]) -> ValueID {
        let total = operands.reduce(0) { $0 + lanes(of: $1) }
        if operands.count == 1, indices.count == total, indices.enumerated().allSatisfy({ $0.offset == Int($0.element) }) { return operands[0] }
        let index = program.laneMaps.count
        program.laneMaps.append(LaneMap(inputLanes: total, kind: .gather(indices: indices)))
        return emit(.gather, operands, .laneMap(index))
    }

    /// Balanced add tree; nil for no values.
    public func sum(_ values: [ValueID]) -> ValueID? {
        guard !values.isEmpty else { return nil }
        var level = values
        while level.count > 1 {
            var next: [ValueID] = []
            next.reserveCapacity((level.count + 1) / 2)
            var index = 0
            while index + 1 < level.count {
                next.append(add(level[index], level[index + 1]))
                index += 2
            }
            if index < level.count { next.append(level[index]) }
            level = next
        }
        return level[0]
    }

    /// Hands the finished program over (e.g. after the last output).
    public func finish() -> Program { program }
}
