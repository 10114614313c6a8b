/// A read-only strided view of a Float matrix: element (row, column) is at
/// `base[row * rowStride + column * columnStride]` (a stride of 0 broadcasts).
struct StridedFloatMatrix {
    let base: UnsafePointer<Float>
    let rowStride: Int
    let columnStride: Int

    @inline(__always)
    subscript(row: Int, column: Int) -> Float { base[row &* rowStride &+ column &* columnStride] }
}

/// A read-only strided view of a Double matrix, laid out as `StridedFloatMatrix`.
struct StridedDoubleMatrix {
    let base: UnsafePointer<Double>
    let rowStride: Int
    let columnStride: Int

    @inline(__always)
    subscript(row: Int, column: Int) -> Double { base[row &* rowStride &+ column &* columnStride] }
}

/// C = alpha·A·B + bias with Float operands, products summed in Double over the whole depth, and one
/// rounding to Float per output element.
///
/// Both operands are first packed into Double panels (A: `panelRows` rows interleaved per depth step,
/// B: `panelColumns` columns interleaved) so that the 4×4 micro kernel streams two contiguous arrays
/// and keeps its 16 accumulators in registers; the compiler vectorizes it with SIMD4<Double>. 4×4 is
/// the largest tile whose accumulators fit the 16 SSE registers of the baseline x86-64 target; the loop
/// is then bound by its 8 multiplies + 8 adds per depth step (~6 GMAC/s per core measured).
/// One B panel (depth × 4 doubles) stays in L2 while the micro kernel sweeps the A panels of a tile.
enum GEMMKernel {
    static let panelRows = 4
    static let panelColumns = 4
    /// A parallel task covers this many row panels × column panels of C.
    private static let tileRowPanels = 16
    private static let tileColumnPanels = 16

    static func panelCount(_ extent: Int, _ panel: Int) -> Int { (extent + panel - 1) / panel }

    /// Doubles needed to pack a `rows × depth` A operand.
    static func packedACount(rows: Int, depth: Int) -> Int { panelCount(rows, panelRows) * panelRows * depth }

    /// Doubles needed to pack a `depth × columns` B operand.
    static func packedBCount(depth: Int, columns: Int) -> Int {
        panelCount(columns, panelColumns) * panelColumns * depth
    }

    /// Packs A (`rows × depth`): row panel p, depth step k, lane i goes to `packed[(p·depth + k)·4 + i]`;
    /// lanes past the last row are zero.
    static func packA(_ a: StridedFloatMatrix, rows: Int, depth: Int, into packed: UnsafeMutablePointer<Double>,
                      threads: Int = 1) {
        let panels = panelCount(rows, panelRows)
        let shared = SharedPointer(packed)
        let panelsPerTask = 16
        ParallelLoop.forEach(panelCount(panels, panelsPerTask), threads: threads) { task in
            for panel in (task * panelsPerTask)..<min(panels, (task + 1) * panelsPerTask) {
                let firstRow = panel * panelRows
                let lanes = min(panelRows, rows - firstRow)
                let destination = shared.base + panel * depth * panelRows
                if lanes == panelRows && a.columnStride == 1 {
                    let row0 = a.base + firstRow * a.rowStride, row1 = row0 + a.rowStride
                    let row2 = row1 + a.rowStride, row3 = row2 + a.rowStride
                    for k in 0..<depth {
                        let slot = destination + k * panelRows
                        slot[0] = Double(row0[k])
                        slot[1] = Double(row1[k])
                        slot[2] = Double(row2[k])
                        slot[3] = Double(row3[k])
                    }
                } else {
                    for k in 0..<depth {
                        let slot = destination + k * panelRows
                        for lane in 0..<panelRows {
                            slot[lane] = lane < lanes ? Double(a[firstRow + lane, k]) : 0
                        }
                    }
                }
            }
        }
    }

    /// Packs B (`depth × columns`): column panel q, depth step k, lane j goes to `packed[(q·depth + k)·4 + j]`;
    /// lanes past the last column are zero.
    static func packB(_ b: StridedFloatMatrix, depth: Int, columns: Int, into packed: UnsafeMutablePointer<Double>,
                      threads: Int) {
        let panels = panelCount(columns, panelColumns)
        let shared = SharedPointer(packed)
        let panelsPerTask = 8
        ParallelLoop.forEach(panelCount(panels, panelsPerTask), threads: threads) { task in
            for panel in (task * panelsPerTask)..<min(panels, (task + 1) * panelsPerTask) {
                let firstColumn = panel * panelColumns
                let lanes = min(panelColumns, columns - firstColumn)
                let destination = shared.base + panel * depth * panelColumns
                if lanes == panelColumns && b.columnStride == 1 {
                    for k in 0..<depth {
                        let source = b.base + k * b.rowStride + firstColumn
                        let slot = destination + k * panelColumns
                        slot[0] = Double(source[0])
                        slot[1] = Double(source[1])
                        slot[2] = Double(source[2])
                        slot[3] = Double(source[3])
                    }
                } else {
                    for k in 0..<depth {
                        let slot = destination + k * panelColumns
                        for lane in 0..<panelColumns {
                            slot[lane] = lane < lanes ? Double(b[k, firstColumn + lane]) : 0
                        }
                    }
                }
            }
        }
    }

    /// C[m, n] = Float(alpha · Σ_k A[m, k]·B[k, n] + bias[m, n]) for packed operands; C row m starts at
    /// `output + m·outputRowStride` and is contiguous. Parallel over tiles of C.
    static func multiply(packedA: UnsafePointer<Double>, packedB: UnsafePointer<Double>,
                         rows: Int, columns: Int, depth: Int, alpha: Double = 1, bias: StridedDoubleMatrix? = nil,
                         output: UnsafeMutablePointer<Float>, outputRowStride: Int, threads: Int) {
        let rowPanels = panelCount(rows, panelRows)
        let columnPanels = panelCount(columns, panelColumns)
        let rowTiles = panelCount(rowPanels, tileRowPanels)
        let columnTiles = panelCount(columnPanels, tileColumnPanels)
        let shared = SharedPointer(output)
        ParallelLoop.forEach(rowTiles * columnTiles, threads: threads) { tile in
            let rowTile = tile % rowTiles
            let columnTile = tile / rowTiles
            let rowPanelRange = (rowTile * tileRowPanels)..<min(rowPanels, (rowTile + 1) * tileRowPanels)
            let columnPanelRange = (columnTile * tileColumnPanels)..<min(columnPanels, (columnTile + 1) * tileColumnPanels)
            for columnPanel in columnPanelRange {
                let bPanel = packedB + columnPanel * depth * panelColumns
                let firstColumn = columnPanel * panelColumns
                let columnCount = min(panelColumns, columns - firstColumn)
                for rowPanel in rowPanelRange {
                    let aPanel = packedA + rowPanel * depth * panelRows
                    let sums = microKernel(aPanel, bPanel, depth: depth)
                    let firstRow = rowPanel * panelRows
                    let rowCount = min(panelRows, rows - firstRow)
                    for lane in 0..<rowCount {
                        let row = firstRow + lane
                        let sum: SIMD4<Double>
                        switch lane {
                        case 0: sum = sums.0
                        case 1: sum = sums.1
                        case 2: sum = sums.2
                        default: sum = sums.3
                        }
                        let destination = shared.base + row * outputRowStride + firstColumn
                        for column in 0..<columnCount {
                            var value = alpha * sum[column]
                            if let bias { value += bias[row, firstColumn + column] }
                            destination[column] = Float(value)
                        }
                    }
                }
            }
        }
    }

    /// The 4×4 block of Σ_k A[i, k]·B[k, j] for one A panel and one B panel (row i of the block is tuple element i).
    @inline(__always)
    private static func microKernel(_ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>, depth: Int)
        -> (SIMD4<Double>, SIMD4<Double>, SIMD4<Double>, SIMD4<Double>) {
        var c0 = SIMD4<Double>(), c1 = SIMD4<Double>(), c2 = SIMD4<Double>(), c3 = SIMD4<Double>()
        let aRaw = UnsafeRawPointer(a)
        let bRaw = UnsafeRawPointer(b)
        var offset = 0
        for _ in 0..<depth {
            let bv = bRaw.loadUnaligned(fromByteOffset: offset, as: SIMD4<Double>.self)
            let av = aRaw.loadUnaligned(fromByteOffset: offset, as: SIMD4<Double>.self)
            c0 += bv * av[0]
            c1 += bv * av[1]
            c2 += bv * av[2]
            c3 += bv * av[3]
            offset &+= 32
        }
        return (c0, c1, c2, c3)
    }

    /// Packs both operands and multiplies: C = alpha·A·B + bias with A `rows × depth`, B `depth × columns`.
    static func multiply(_ a: StridedFloatMatrix, _ b: StridedFloatMatrix, rows: Int, columns: Int, depth: Int,
                         alpha: Double = 1, bias: StridedDoubleMatrix? = nil,
                         output: UnsafeMutablePointer<Float>, outputRowStride: Int, threads: Int) {
        let packedA = UnsafeMutablePointer<Double>.allocate(capacity: max(1, packedACount(rows: rows, depth: depth)))
        defer { packedA.deallocate() }
        let packedB = UnsafeMutablePointer<Double>.allocate(capacity: max(1, packedBCount(depth: depth, columns: columns)))
        defer { packedB.deallocate() }
        packA(a, rows: rows, depth: depth, into: packedA, threads: threads)
        packB(b, depth: depth, columns: columns, into: packedB, threads: threads)
        multiply(packedA: packedA, packedB: packedB, rows: rows, columns: columns, depth: depth, alpha: alpha,
                 bias: bias, output: output, outputRowStride: outputRowStride, threads: threads)
    }
}
