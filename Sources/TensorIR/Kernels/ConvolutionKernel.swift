/// The sizes of one 2-D convolution of an NCHW image, per group.
struct ConvolutionGeometry {
    /// Input channels per group.
    var channels: Int
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
    var outputHeight: Int
    var outputWidth: Int

    /// Length of one patch: the GEMM depth.
    var depth: Int { channels * kernelHeight * kernelWidth }
    var outputPixels: Int { outputHeight * outputWidth }
    var isPointwise: Bool {
        kernelHeight == 1 && kernelWidth == 1 && strideHeight == 1 && strideWidth == 1 && padTop == 0 && padLeft == 0
            && outputHeight == height && outputWidth == width
    }
}

/// Convolution as im2col + GEMM (patches packed straight into GEMM panels), and a direct kernel for
/// depthwise convolution (one input channel per group), where a GEMM of depth kH·kW would not pay.
enum ConvolutionKernel {
    /// y[b, m] = bias[m] + Σ w[m, c, ky, kx]·x[b, g·Cg + c, oy·s − pad + ky·d, ...] for every image b.
    /// - input: `batch × (groups·geometry.channels) × H × W`; weights: `outputChannels × Cg × kH × kW`;
    ///   bias: `outputChannels` doubles or nil; output: `batch × outputChannels × OH × OW`.
    static func convolve(input: UnsafePointer<Float>, batch: Int, weights: UnsafePointer<Float>, outputChannels: Int,
                         groups: Int, bias: UnsafePointer<Double>?, geometry: ConvolutionGeometry,
                         output: UnsafeMutablePointer<Float>, threads: Int) {
        let outputsPerGroup = outputChannels / groups
        if geometry.channels == 1 {
            depthwise(input: input, batch: batch, weights: weights, outputChannels: outputChannels, groups: groups,
                      bias: bias, geometry: geometry, output: output, threads: threads)
            return
        }
        let depth = geometry.depth
        let pixels = geometry.outputPixels
        let inputPlane = geometry.height * geometry.width
        let aCount = GEMMKernel.packedACount(rows: outputsPerGroup, depth: depth)
        let packedA = UnsafeMutablePointer<Double>.allocate(capacity: max(1, aCount * groups))
        defer { packedA.deallocate() }
        for group in 0..<groups {
            GEMMKernel.packA(StridedFloatMatrix(base: weights + group * outputsPerGroup * depth, rowStride: depth, columnStride: 1),
                             rows: outputsPerGroup, depth: depth, into: packedA + group * aCount, threads: threads)
        }
        let packedB = UnsafeMutablePointer<Double>.allocate(capacity: max(1, GEMMKernel.packedBCount(depth: depth, columns: pixels)))
        defer { packedB.deallocate() }
        for image in 0..<batch {
            for group in 0..<groups {
                let groupInput = input + (image * groups + group) * geometry.channels * inputPlane
                if geometry.isPointwise {
                    GEMMKernel.packB(StridedFloatMatrix(base: groupInput, rowStride: inputPlane, columnStride: 1),
                                     depth: depth, columns: pixels, into: packedB, threads: threads)
                } else {
                    packPatches(groupInput, geometry: geometry, into: packedB, threads: threads)
                }
                let rowBias = bias.map { StridedDoubleMatrix(base: $0 + group * outputsPerGroup, rowStride: 1, columnStride: 0) }
                GEMMKernel.multiply(packedA: packedA + group * aCount, packedB: packedB, rows: outputsPerGroup,
                                    columns: pixels, depth: depth, bias: rowBias,
                                    output: output + (image * outputChannels + group * outputsPerGroup) * pixels,
                                    outputRowStride: pixels, threads: threads)
            }
        }
    }

    /// im2col into GEMM B panels: B[k, n] with k = (c·kH + ky)·kW + kx and n = oy·OW + ox is the input pixel
    /// (oy·sH − padTop + ky·dH, ox·sW − padLeft + kx·dW) of channel c, or 0 in the padding.
    static func packPatches(_ input: UnsafePointer<Float>, geometry g: ConvolutionGeometry,
                            into packed: UnsafeMutablePointer<Double>, threads: Int) {
        let lanes = GEMMKernel.panelColumns
        let pixels = g.outputPixels
        let panels = GEMMKernel.panelCount(pixels, lanes)
        let depth = g.depth
        let shared = SharedPointer(packed)
        let panelsPerTask = 8
        let outside = Int.min / 4
        ParallelLoop.forEach(GEMMKernel.panelCount(panels, panelsPerTask), threads: threads) { task in
            for panel in (task * panelsPerTask)..<min(panels, (task + 1) * panelsPerTask) {
                // Top-left input coordinate of each lane's patch; lanes past the end read only padding.
                var rowBase = SIMD4<Int>(repeating: outside)
                var columnBase = SIMD4<Int>(repeating: outside)
                for lane in 0..<lanes {
                    let pixel = panel * lanes + lane
                    if pixel < pixels {
                        rowBase[lane] = (pixel / g.outputWidth) * g.strideHeight - g.padTop
                        columnBase[lane] = (pixel % g.outputWidth) * g.strideWidth - g.padLeft
                    }
                }
                // When the four pixels lie in one output row, a tap reads one input row at a fixed stride.
                let oneRow = rowBase[0] == rowBase[3] && rowBase[0] != outside
                var slot = shared.base + panel * depth * lanes
                for channel in 0..<g.channels {
                    let plane = input + channel * g.height * g.width
                    for ky in 0..<g.kernelHeight {
                        let rows = rowBase &+ ky * g.dilationHeight
                        for kx in 0..<g.kernelWidth {
                            let columns = columnBase &+ kx * g.dilationWidth
                            let y = rows[0]
                            if oneRow && y >= 0 && y < g.height && columns[0] >= 0 && columns[3] < g.width {
                                let source = plane + y * g.width + columns[0]
                                slot[0] = Double(source[0])
                                slot[1] = Double(source[g.strideWidth])
                                slot[2] = Double(source[2 * g.strideWidth])
                                slot[3] = Double(source[3 * g.strideWidth])
                            } else {
                                for lane in 0..<lanes {
                                    let y = rows[lane], x = columns[lane]
                                    slot[lane] = (y >= 0 && y < g.height && x >= 0 && x < g.width)
                                        ? Double(plane[y * g.width + x]) : 0
                                }
                            }
                            slot += lanes
                        }
                    }
                }
            }
        }
    }

    /// Direct convolution when every group has one input channel (depthwise, possibly with a channel multiplier).
    static func depthwise(input: UnsafePointer<Float>, batch: Int, weights: UnsafePointer<Float>, outputChannels: Int,
                          groups: Int, bias: UnsafePointer<Double>?, geometry g: ConvolutionGeometry,
                          output: UnsafeMutablePointer<Float>, threads: Int) {
        let outputsPerGroup = outputChannels / groups
        let taps = g.kernelHeight * g.kernelWidth
        let inputPlane = g.height * g.width
        let shared = SharedPointer(output)
        ParallelLoop.forEach(batch * outputChannels, threads: threads) { plane in
            let image = plane / outputChannels
            let channel = plane % outputChannels
            let source = input + (image * groups + channel / outputsPerGroup) * inputPlane
            let kernel = weights + channel * taps
            let destination = shared.base + plane * g.outputPixels
            let start = bias?[channel] ?? 0
            for oy in 0..<g.outputHeight {
                for ox in 0..<g.outputWidth {
                    var sum = start
                    for ky in 0..<g.kernelHeight {
                        let y = oy * g.strideHeight - g.padTop + ky * g.dilationHeight
                        if y < 0 || y >= g.height { continue }
                        for kx in 0..<g.kernelWidth {
                            let x = ox * g.strideWidth - g.padLeft + kx * g.dilationWidth
                            if x < 0 || x >= g.width { continue }
                            sum += Double(kernel[ky * g.kernelWidth + kx]) * Double(source[y * g.width + x])
                        }
                    }
                    destination[oy * g.outputWidth + ox] = Float(sum)
                }
            }
        }
    }
}
