/// A structured real vector, stored by its structure instead of its `length` values: the sum of `grids`, then
/// rotated left by `rotation`.
///
/// A grid places each of its values on a rows × columns lattice: value v at start p adds v to the slots
/// p + r·rowStride + c·columnStride for 0 ≤ r < rows, 0 ≤ c < columns. A diagonal of a convolution in the
/// spatial layout is one grid (the kernel tap's valid output rows and columns) with one (start, value) per output
/// channel, so ResNet-50's diagonals take bytes proportional to its weights, not to its slot count × diagonals.
/// Materialized (by the runtime, just before encoding) as
///
///     sum[s] = Σ_grids Σ_{(p, v)} Σ_{r, c: p + r·rowStride + c·columnStride = s} v
///     values[s] = sum[(s + rotation) mod length]
///
/// The form is canonical only up to reordering; two patterns are equal when their fields are.
public struct SlotPattern: Sendable, Hashable, Codable {
    /// The vector's length (the plaintext's slot count).
    public var length: Int
    /// Left rotation applied after the grids are summed, 0 ≤ rotation < length.
    public var rotation: Int
    public var grids: [SlotGrid]

    public init(length: Int, rotation: Int = 0, grids: [SlotGrid]) {
        self.length = length
        self.rotation = rotation
        self.grids = grids
    }

    /// (start, value) placements over all grids.
    public var placementCount: Int { grids.reduce(0) { $0 + $1.starts.count } }

    /// Bytes this pattern takes in a plan file's constant pool (what `tessera estimate` adds up).
    public var storedBytes: Int { 16 + grids.reduce(0) { $0 + 40 + $1.starts.count * 12 } }

    /// Why the pattern is invalid (a placement outside the vector, a negative stride, a non-finite value,
    /// mismatched start and value counts), or nil. O(grids + placements).
    public var validationError: String? {
        guard length > 0 else { return "pattern length \(length) must be positive" }
        guard rotation >= 0 && rotation < length else { return "pattern rotation \(rotation) must lie in 0..<\(length)" }
        for (index, grid) in grids.enumerated() {
            guard grid.rows >= 1, grid.columns >= 1, grid.rowStride >= 0, grid.columnStride >= 0 else {
                return "grid \(index) needs at least one row and column and non-negative strides (has \(grid.rows)×\(grid.columns), strides \(grid.rowStride), \(grid.columnStride))"
            }
            guard grid.starts.count == grid.values.count else {
                return "grid \(index) has \(grid.starts.count) starts but \(grid.values.count) values"
            }
            let (span, overflow) = (grid.rows - 1).multipliedReportingOverflow(by: grid.rowStride)
            let (columnSpan, overflow2) = (grid.columns - 1).multipliedReportingOverflow(by: grid.columnStride)
            guard !overflow, !overflow2, span <= length, columnSpan <= length, span + columnSpan < length else {
                return "grid \(index) spans more than the \(length) slots"
            }
            let extent = span + columnSpan
            for (start, value) in zip(grid.starts, grid.values) {
                guard start >= 0, Int(start) + extent < length else {
                    return "grid \(index) places a value at \(start), which reaches past the \(length) slots"
                }
                guard value.isFinite else { return "grid \(index) holds the non-finite value \(value)" }
            }
        }
        return nil
    }

    /// Writes the vector into `output` (length `length`); `scratch` (length `length`) is overwritten.
    /// Precondition: the pattern is valid.
    public func materialize(into output: UnsafeMutableBufferPointer<Double>, scratch: UnsafeMutableBufferPointer<Double>) {
        precondition(output.count == length && scratch.count == length, "pattern of \(length) slots")
        let sum = rotation == 0 ? output : scratch
        sum.update(repeating: 0)
        let base = sum.baseAddress!
        for grid in grids {
            let rows = grid.rows, columns = grid.columns, rowStride = grid.rowStride, columnStride = grid.columnStride
            grid.starts.withUnsafeBufferPointer { starts in
                grid.values.withUnsafeBufferPointer { values in
                    for index in 0..<starts.count {
                        let value = values[index]
                        var row = base + Int(starts[index])
                        for _ in 0..<rows {
                            if columnStride == 1 {
                                for c in 0..<columns { row[c] += value }
                            } else {
                                var slot = row
                                for _ in 0..<columns {
                                    slot.pointee += value
                                    slot += columnStride
                                }
                            }
                            row += rowStride
                        }
                    }
                }
            }
        }
        if rotation != 0 {
            let head = length - rotation
            // output[s] = sum[(s + rotation) mod length]
            output.baseAddress!.update(from: base + rotation, count: head)
            (output.baseAddress! + head).update(from: base, count: rotation)
        }
    }

    /// The materialized vector.
    public func materialized() -> [Double] {
        [Double](unsafeUninitializedCapacity: length) { output, initialized in
            let scratch = UnsafeMutableBufferPointer<Double>.allocate(capacity: length)
            defer { scratch.deallocate() }
            materialize(into: output, scratch: scratch)
            initialized = length
        }
    }

    /// The same vector rotated left by `k` more slots (rot(v, k)[s] = v[(s + k) mod length]).
    public func rotated(by k: Int) -> SlotPattern {
        var copy = self
        copy.rotation = ((rotation + k) % length + length) % length
        return copy
    }
}

/// Values placed on one rows × columns lattice shape (see `SlotPattern`).
public struct SlotGrid: Sendable, Hashable, Codable {
    public var rows: Int
    public var rowStride: Int
    public var columns: Int
    public var columnStride: Int
    /// First slot of each placement.
    public var starts: [Int32]
    /// The value of each placement (same count as `starts`).
    public var values: [Double]

    public init(rows: Int, rowStride: Int, columns: Int, columnStride: Int, starts: [Int32] = [], values: [Double] = []) {
        self.rows = rows
        self.rowStride = rowStride
        self.columns = columns
        self.columnStride = columnStride
        self.starts = starts
        self.values = values
    }
}
