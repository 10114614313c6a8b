/// Attributes of a 2-D convolution over NCHW tensors. Pads are [top, left, bottom, right]
/// (ONNX's [x1_begin, x2_begin, x1_end, x2_end]); auto_pad is resolved to explicit pads on import.
public struct ConvAttributes: Sendable, Equatable, Hashable {
    public var kernel: [Int]       // [kH, kW]
    public var strides: [Int]      // [sH, sW]
    public var dilations: [Int]    // [dH, dW]
    public var pads: [Int]         // [top, left, bottom, right]
    public var group: Int

    public init(kernel: [Int], strides: [Int] = [1, 1], dilations: [Int] = [1, 1], pads: [Int] = [0, 0, 0, 0], group: Int = 1) {
        self.kernel = kernel
        self.strides = strides
        self.dilations = dilations
        self.pads = pads
        self.group = group
    }
}

/// Attributes of MaxPool / AveragePool over NCHW tensors; pads as in `ConvAttributes`.
public struct PoolAttributes: Sendable, Equatable, Hashable {
    public var kernel: [Int]
    public var strides: [Int]
    public var dilations: [Int]
    public var pads: [Int]
    public var ceilMode: Bool
    /// AveragePool only: whether padded zeros count in the divisor.
    public var countIncludePad: Bool

    public init(kernel: [Int], strides: [Int] = [1, 1], dilations: [Int] = [1, 1], pads: [Int] = [0, 0, 0, 0],
                ceilMode: Bool = false, countIncludePad: Bool = false) {
        self.kernel = kernel
        self.strides = strides
        self.dilations = dilations
        self.pads = pads
        self.ceilMode = ceilMode
        self.countIncludePad = countIncludePad
    }
}

/// The closed set of tensor operations. Operands are listed per case; optional operands are
/// simply absent from `Node.inputs`.
public enum Operation: Sendable, Equatable {
    /// A graph input (no operands).
    case input
    /// A constant tensor (no operands).
    case constant(Tensor)
    /// x[N,C,H,W], w[M,C/group,kH,kW], (b[M])
    case conv(ConvAttributes)
    /// x, scale[C], bias[C], mean[C], var[C]; channel axis 1.
    case batchNormalization(epsilon: Float)
    /// x, scale[C], shift[C]: y = x·scale + shift per channel (axis 1). Folded BatchNormalization.
    case affine
    case relu
    /// Clamp to [min, max]; nil bound means unbounded.
    case clip(min: Float?, max: Float?)
    case sigmoid
    case maxPool(PoolAttributes)
    case averagePool(PoolAttributes)
    case globalAveragePool
    /// Elementwise with numpy (multidirectional) broadcasting.
    case add
    case sub
    case mul
    /// a, b, (c): alpha·A'·B' + beta·C.
    case gemm(alpha: Float, beta: Float, transA: Bool, transB: Bool)
    /// a, b with numpy matmul semantics.
    case matMul
    /// x[..., K], weight[N, K], (bias[N]): y = x·weightᵀ + bias. Gemm and MatMul+Add after unification.
    case linear
    /// x → [prod(dims[0..<axis]), prod(dims[axis...])]
    case flatten(axis: Int)
    /// data, shape(int64): 0 copies the input dim (unless allowZero), -1 is inferred.
    case reshape(allowZero: Bool)
    case identity
    /// Inference-mode dropout: identity.
    case dropout
    /// Constant padding; pads in ONNX order [x1_begin, x2_begin, ..., x1_end, x2_end] over all axes.
    case pad(pads: [Int], value: Float)
    case concat(axis: Int)

    /// The stable mnemonic used by the text IR and by diagnostics.
    public var mnemonic: String {
        switch self {
        case .input: return "input"
        case .constant: return "constant"
        case .conv: return "conv"
        case .batchNormalization: return "batch_norm"
        case .affine: return "affine"
        case .relu: return "relu"
        case .clip: return "clip"
        case .sigmoid: return "sigmoid"
        case .maxPool: return "max_pool"
        case .averagePool: return "average_pool"
        case .globalAveragePool: return "global_average_pool"
        case .add: return "add"
        case .sub: return "sub"
        case .mul: return "mul"
        case .gemm: return "gemm"
        case .matMul: return "matmul"
        case .linear: return "linear"
        case .flatten: return "flatten"
        case .reshape: return "reshape"
        case .identity: return "identity"
        case .dropout: return "dropout"
        case .pad: return "pad"
        case .concat: return "concat"
        }
    }
}
