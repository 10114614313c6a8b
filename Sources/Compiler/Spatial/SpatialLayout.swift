import CipherIR

/// Multiplexed channel-major packing of one image's [1, C, H, W] tensor across the slots of a few ciphertexts
/// (Lee et al., ICML 2022; Orion's "single-shot multiplexing").
///
/// Channels are grouped into planes of `multiplex²` channels. A plane is a grid of rows of `gridWidth` slots;
/// channel c (plane c / multiplex², sub-position (a, b) = ((c mod multiplex²) / multiplex, c mod multiplex)) puts
/// its element (h, w) at grid row gap·h + a, column gap·w + b. A dense packing has gap = multiplex = 1; a stride-s
/// convolution writes its output with gap·s on the same grid, so the output pixel (h, w) sits where the input pixel
/// (s·h, s·w) was, and (multiplexed, multiplex = gap) the channels fill the gaps. That keeps every offset
/// pos_in − pos_out independent of (h, w): few diagonals. Pooling keeps the input's multiplex (each channel stays
/// on its sub-position: one offset per window tap for all channels) and leaves the gaps empty.
///
/// Planes start `planeStride` slots apart inside a ciphertext (`slots / planeStride` planes per ciphertext, none
/// straddling two); a plane larger than a ciphertext (ResNet-50's 224×224 input) takes `planeStride / slots` whole
/// ciphertexts. Slots not holding an element are zero.
public struct SpatialLayout: Sendable, Hashable, CustomStringConvertible {
    public var channels: Int
    public var height: Int
    public var width: Int
    /// Spatial stride of one channel's pixels in the grid (1: dense).
    public var gap: Int
    /// Channels interleaved per grid direction (1 ≤ multiplex ≤ gap): a plane holds multiplex² channels.
    public var multiplex: Int
    /// Slots per grid row (≥ gap·width).
    public var gridWidth: Int
    /// Distance between consecutive planes: ≤ slots (several planes per ciphertext) or a multiple of slots.
    public var planeStride: Int
    public var slots: Int

    public init(channels: Int, height: Int, width: Int, gap: Int, multiplex: Int? = nil, gridWidth: Int, planeStride: Int, slots: Int) {
        precondition(channels > 0 && height > 0 && width > 0 && gap > 0, "a spatial layout needs positive extents")
        let multiplex = multiplex ?? gap
        precondition(multiplex >= 1 && multiplex <= gap, "multiplex \(multiplex) must lie in 1…gap (\(gap))")
        precondition(gridWidth >= gap * width, "grid row of \(gridWidth) slots cannot hold \(width) pixels at gap \(gap)")
        precondition(planeStride <= slots || planeStride % slots == 0, "plane stride \(planeStride) must fit or tile \(slots) slots")
        self.channels = channels
        self.height = height
        self.width = width
        self.gap = gap
        self.multiplex = multiplex
        self.gridWidth = gridWidth
        self.planeStride = planeStride
        self.slots = slots
    }

    /// The dense packing (gap 1) of a [1, C, H, W] tensor: channel c's H×W plane starts at c·H·W (planes aligned to
    /// ciphertexts: a plane never straddles two unless it is larger than one, then it starts a new ciphertext).
    /// A plane larger than a ciphertext gets grid rows of a power-of-two width when that wastes at most a quarter of
    /// the row (224 → 256), so ciphertext boundaries fall between rows and a convolution tap's rectangle splits only
    /// by whole rows (otherwise the rows that straddle a boundary are stored entry by entry).
    public static func dense(channels: Int, height: Int, width: Int, slots: Int) -> SpatialLayout {
        var gridWidth = width
        if height * width > slots {
            var power = 1
            while power < width { power <<= 1 }
            if power <= slots && 4 * power <= 5 * width { gridWidth = power }
        }
        return SpatialLayout(channels: channels, height: height, width: width, gap: 1, gridWidth: gridWidth,
                             planeStride: alignedPlaneStride(gridSize: height * gridWidth, slots: slots), slots: slots)
    }

    /// The plane stride for a grid of `gridSize` slots: itself when it fits a ciphertext, else whole ciphertexts.
    static func alignedPlaneStride(gridSize: Int, slots: Int) -> Int {
        gridSize <= slots ? gridSize : (gridSize + slots - 1) / slots * slots
    }

    public var channelsPerPlane: Int { multiplex * multiplex }
    public var planeCount: Int { (channels + channelsPerPlane - 1) / channelsPerPlane }
    /// Grid rows a plane can hold without reaching the next plane.
    public var gridRowCapacity: Int { planeStride / gridWidth }

    /// Flat position (ciphertext·slots + slot) of the first slot of plane `plane`.
    @inline(__always)
    public func planeStart(_ plane: Int) -> Int {
        if planeStride > slots { return plane * planeStride }
        let perCiphertext = slots / planeStride
        return (plane / perCiphertext) * slots + (plane % perCiphertext) * planeStride
    }

    /// Flat position of element (c, h, w).
    @inline(__always)
    public func position(channel c: Int, row h: Int, column w: Int) -> Int {
        let minor = c % channelsPerPlane
        return planeStart(c / channelsPerPlane) + (gap * h + minor / multiplex) * gridWidth + gap * w + minor % multiplex
    }

    /// Every element's flat position in row-major (c, h, w) order.
    public func positions() -> [Int] {
        var result = [Int]()
        result.reserveCapacity(channels * height * width)
        for c in 0..<channels {
            for h in 0..<height {
                for w in 0..<width { result.append(position(channel: c, row: h, column: w)) }
            }
        }
        return result
    }

    /// Ciphertexts needed: up to the one holding the last plane's last row.
    public var ciphertextCount: Int {
        let last = position(channel: channels - 1, row: height - 1, column: width - 1)
        let lastPlaneEnd = planeStart(planeCount - 1) + (gap * height) * gridWidth - 1
        return max(last, lastPlaneEnd) / slots + 1
    }

    /// Whether every element of every plane stays inside its plane (rows fit below the plane stride).
    public var isConsistent: Bool {
        gap * width <= gridWidth && gap * height <= gridRowCapacity
    }

    /// The layout of a window operation's output (conv, pooling) with `channels` channels of `height`×`width`
    /// computed with stride `stride` from an input in this layout: the same grid, gap·stride, so output (h, w)
    /// lands on input (stride·h, stride·w); `multiplexed` fills the gaps with channels (multiplex = new gap),
    /// otherwise each channel keeps its sub-position. Nil when the output does not fit the grid.
    public func windowOutput(channels: Int, height: Int, width: Int, stride: Int, multiplexed: Bool) -> SpatialLayout? {
        let newGap = gap * stride
        guard channels > 0, height > 0, width > 0, newGap * width <= gridWidth, newGap * height <= gridRowCapacity else { return nil }
        return SpatialLayout(channels: channels, height: height, width: width, gap: newGap, multiplex: multiplexed ? newGap : multiplex,
                             gridWidth: gridWidth, planeStride: planeStride, slots: slots)
    }

    /// Recognizes the spatial layout that places a [1, C, H, W] (or [C, H, W]) tensor at `positions`, or nil when
    /// the positions follow no spatial layout (a later window op then writes a dense output layout).
    public static func recognize(shape: [Int], positions: [Int], slots: Int) -> SpatialLayout? {
        let dims: [Int]
        if shape.count == 4, shape[0] == 1 { dims = Array(shape[1...]) }
        else if shape.count == 3 { dims = shape }
        else { return nil }
        let (channels, height, width) = (dims[0], dims[1], dims[2])
        guard channels > 0, height > 0, width > 0, positions.count == channels * height * width, positions[0] == 0 else { return nil }
        func at(_ c: Int, _ h: Int, _ w: Int) -> Int { positions[(c * height + h) * width + w] }
        var gaps: [Int] = []
        if width >= 2 { gaps = [at(0, 0, 1)] } else { gaps = (0...10).map { 1 << $0 } }
        for gap in gaps where gap >= 1 {
            // Channels 0, 1, … sit on consecutive slots of the first grid row up to the multiplex.
            var consecutive = 1
            while consecutive < min(channels, gap) && at(consecutive, 0, 0) == consecutive { consecutive += 1 }
            let multiplex = consecutive == min(channels, gap) ? gap : consecutive
            let gridWidth: Int
            if height >= 2 {
                let rowStep = at(0, 1, 0)
                guard rowStep % gap == 0 else { continue }
                gridWidth = rowStep / gap
            } else if multiplex >= 2 && channels > multiplex {
                gridWidth = at(multiplex, 0, 0)
            } else {
                gridWidth = gap * width
            }
            guard gridWidth >= gap * width else { continue }
            let planeStride: Int
            if channels > multiplex * multiplex {
                planeStride = at(multiplex * multiplex, 0, 0)
                guard planeStride > 0, planeStride <= slots || planeStride % slots == 0 else { continue }
            } else {
                planeStride = alignedPlaneStride(gridSize: gap * height * gridWidth, slots: slots)
            }
            let candidate = SpatialLayout(channels: channels, height: height, width: width, gap: gap, multiplex: multiplex,
                                          gridWidth: gridWidth, planeStride: planeStride, slots: slots)
            guard candidate.isConsistent, candidate.positions() == positions else { continue }
            return candidate
        }
        return nil
    }

    public var description: String {
        "spatial[\(channels)×\(height)×\(width), gap \(gap), multiplex \(multiplex), grid row \(gridWidth), plane stride \(planeStride), \(ciphertextCount) ct of \(slots)]"
    }
}

/// Flat positions (ciphertext·slots + slot) of every element of a tensor of `shape` in `layout`.
func flatPositions(of layout: SlotLayout, shape: [Int], slots: Int) -> [Int] {
    if case .explicit(let positions) = layout { return positions.map { Int($0) } }
    let count = shape.reduce(1, *)
    let binding = TensorBinding(name: "_", shape: shape, ciphertextCount: max(1, (count + slots - 1) / slots), slots: slots, layout: layout)
    return binding.flatPositions()
}
