/// Elementwise binary operations with numpy (multidirectional) broadcasting.
enum BroadcastKernel {
    /// The numpy broadcast of two shapes, or nil when a pair of aligned dimensions differs and neither is 1.
    static func shape(_ lhs: [Int], _ rhs: [Int]) -> [Int]? {
        let rank = max(lhs.count, rhs.count)
        var result = [Int](repeating: 1, count: rank)
        for axis in 0..<rank {
            let a = axis < rank - lhs.count ? 1 : lhs[axis - (rank - lhs.count)]
            let b = axis < rank - rhs.count ? 1 : rhs[axis - (rank - rhs.count)]
            if a == b || b == 1 { result[axis] = a } else if a == 1 { result[axis] = b } else { return nil }
        }
        return result
    }

    /// Element strides of a C-order tensor of `shape` read as a tensor of `target` (0 on broadcast axes).
    static func strides(of shape: [Int], broadcastTo target: [Int]) -> [Int] {
        var result = [Int](repeating: 0, count: target.count)
        var elementStride = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            let targetAxis = axis + target.count - shape.count
            result[targetAxis] = shape[axis] == 1 ? 0 : elementStride
            elementStride *= shape[axis]
        }
        return result
    }

    /// `operation(lhs[i], rhs[i])` over the broadcast shape `shape` (which the caller computed with `shape(_:_:)`).
    @inline(__always)
    static func apply<Element>(_ lhs: [Element], _ lhsShape: [Int], _ rhs: [Element], _ rhsShape: [Int], shape: [Int],
                               _ operation: (Element, Element) -> Element) -> [Element] {
        let count = shape.reduce(1, *)
        if count == 0 { return [] }
        if lhsShape == rhsShape {
            return lhs.withUnsafeBufferPointer { a in
                rhs.withUnsafeBufferPointer { b in
                    [Element](unsafeUninitializedCapacity: count) { out, initialized in
                        for index in 0..<count { out.initializeElement(at: index, to: operation(a[index], b[index])) }
                        initialized = count
                    }
                }
            }
        }
        let rank = shape.count
        let lhsStrides = strides(of: lhsShape, broadcastTo: shape)
        let rhsStrides = strides(of: rhsShape, broadcastTo: shape)
        let inner = rank == 0 ? 1 : shape[rank - 1]
        let lhsInner = rank == 0 ? 0 : lhsStrides[rank - 1]
        let rhsInner = rank == 0 ? 0 : rhsStrides[rank - 1]
        let outer = count / inner
        return lhs.withUnsafeBufferPointer { a in
            rhs.withUnsafeBufferPointer { b in
                [Element](unsafeUninitializedCapacity: count) { out, initialized in
                    var index = [Int](repeating: 0, count: max(0, rank - 1))
                    var lhsOffset = 0
                    var rhsOffset = 0
                    for row in 0..<outer {
                        let base = row * inner
                        for i in 0..<inner {
                            out.initializeElement(at: base + i, to: operation(a[lhsOffset + i * lhsInner], b[rhsOffset + i * rhsInner]))
                        }
                        // Odometer over the outer axes.
                        var axis = rank - 2
                        while axis >= 0 {
                            index[axis] += 1
                            lhsOffset += lhsStrides[axis]
                            rhsOffset += rhsStrides[axis]
                            if index[axis] < shape[axis] { break }
                            lhsOffset -= lhsStrides[axis] * shape[axis]
                            rhsOffset -= rhsStrides[axis] * shape[axis]
                            index[axis] = 0
                            axis -= 1
                        }
                    }
                    initialized = count
                }
            }
        }
    }
}
