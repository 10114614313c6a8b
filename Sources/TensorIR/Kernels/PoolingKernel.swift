/// The sizes of a 2-D pooling window sweep over one H×W plane.
struct PoolingGeometry {
    var height: Int
    var width: Int
    var kernelHeight: Int
    var kernelWidth: Int
    var strideHeight: Int
    var strideWidth: Int
    var dilationHeight: Int
    var dilationWidth: Int
    var padTop: Int
    var padLeft: Int
    var padBottom: Int
    var padRight: Int
    var outputHeight: Int
    var outputWidth: Int
}

/// Max and average pooling, one task per plane. A window's taps are (oy·sH − padTop + i·dH, ...); taps
/// outside the input are skipped (max) or counted as zeros (average with countIncludePad, but only
/// up to the declared end padding: taps that ceil mode pushes past it never count, as in onnxruntime).
enum PoolingKernel {
    static func maxPool(input: UnsafePointer<Float>, planes: Int, geometry g: PoolingGeometry,
                        output: UnsafeMutablePointer<Float>, threads: Int) {
        let shared = SharedPointer(output)
        ParallelLoop.forEach(planes, threads: threads) { plane in
            let source = input + plane * g.height * g.width
            let destination = shared.base + plane * g.outputHeight * g.outputWidth
            for oy in 0..<g.outputHeight {
                for ox in 0..<g.outputWidth {
                    var best = -Float.infinity
                    for i in 0..<g.kernelHeight {
                        let y = oy * g.strideHeight - g.padTop + i * g.dilationHeight
                        if y < 0 || y >= g.height { continue }
                        for j in 0..<g.kernelWidth {
                            let x = ox * g.strideWidth - g.padLeft + j * g.dilationWidth
                            if x < 0 || x >= g.width { continue }
                            let value = source[y * g.width + x]
                            // NaN propagates: a comparison with NaN is false, so test it explicitly.
                            if value > best || value.isNaN { best = value }
                        }
                    }
                    destination[oy * g.outputWidth + ox] = best
                }
            }
        }
    }

    static func averagePool(input: UnsafePointer<Float>, planes: Int, geometry g: PoolingGeometry,
                            countIncludePad: Bool, output: UnsafeMutablePointer<Float>, threads: Int) {
        let shared = SharedPointer(output)
        ParallelLoop.forEach(planes, threads: threads) { plane in
            let source = input + plane * g.height * g.width
            let destination = shared.base + plane * g.outputHeight * g.outputWidth
            for oy in 0..<g.outputHeight {
                for ox in 0..<g.outputWidth {
                    var sum = 0.0
                    var inside = 0
                    var rowsInPaddedExtent = 0
                    var columnsInPaddedExtent = 0
                    for i in 0..<g.kernelHeight {
                        let y = oy * g.strideHeight - g.padTop + i * g.dilationHeight
                        if y >= -g.padTop && y < g.height + g.padBottom { rowsInPaddedExtent += 1 }
                    }
                    for j in 0..<g.kernelWidth {
                        let x = ox * g.strideWidth - g.padLeft + j * g.dilationWidth
                        if x >= -g.padLeft && x < g.width + g.padRight { columnsInPaddedExtent += 1 }
                    }
                    for i in 0..<g.kernelHeight {
                        let y = oy * g.strideHeight - g.padTop + i * g.dilationHeight
                        if y < 0 || y >= g.height { continue }
                        for j in 0..<g.kernelWidth {
                            let x = ox * g.strideWidth - g.padLeft + j * g.dilationWidth
                            if x < 0 || x >= g.width { continue }
                            sum += Double(source[y * g.width + x])
                            inside += 1
                        }
                    }
                    let divisor = countIncludePad ? rowsInPaddedExtent * columnsInPaddedExtent : inside
                    destination[oy * g.outputWidth + ox] = divisor > 0 ? Float(sum / Double(divisor)) : 0
                }
            }
        }
    }
}
