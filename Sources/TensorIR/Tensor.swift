/// The element type of a tensor as the IR sees it. Network activations and weights are float32;
/// shape-like constants (Reshape targets, Pad amounts) are int64.
public enum ElementType: String, Sendable, Codable, Equatable {
    case float32
    case int64
}

/// A dense, C-order (row-major) tensor held in memory.
///
/// Float tensors store `Float` (4 bytes per element, so ResNet-50's 25.6 M weights take ~100 MB);
/// the reference executor accumulates in `Double`.
public struct Tensor: Sendable, Equatable {
    public enum Storage: Sendable, Equatable {
        case float32([Float])
        case int64([Int64])
    }

    public var shape: [Int]
    public var storage: Storage

    public init(shape: [Int], floats: [Float]) {
        precondition(shape.reduce(1, *) == floats.count, "shape \(shape) does not match \(floats.count) elements")
        self.shape = shape
        self.storage = .float32(floats)
    }

    public init(shape: [Int], int64s: [Int64]) {
        precondition(shape.reduce(1, *) == int64s.count, "shape \(shape) does not match \(int64s.count) elements")
        self.shape = shape
        self.storage = .int64(int64s)
    }

    public static func zeros(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, floats: [Float](repeating: 0, count: shape.reduce(1, *)))
    }

    public var elementType: ElementType {
        switch storage {
        case .float32: return .float32
        case .int64: return .int64
        }
    }

    public var count: Int { shape.reduce(1, *) }
    public var rank: Int { shape.count }

    /// The elements as Float (int64 elements converted).
    public var floats: [Float] {
        switch storage {
        case .float32(let values): return values
        case .int64(let values): return values.map { Float($0) }
        }
    }

    /// The elements as Int64 (float elements truncated toward zero).
    public var int64s: [Int64] {
        switch storage {
        case .float32(let values): return values.map { Int64($0) }
        case .int64(let values): return values
        }
    }

    public var type: TensorType { TensorType(elementType: elementType, shape: shape) }
}

/// Element type plus static shape of a value. Every dimension is known after shape inference
/// (symbolic batch dimensions are bound to a concrete size when the graph is imported).
public struct TensorType: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
    public var elementType: ElementType
    public var shape: [Int]

    public init(elementType: ElementType = .float32, shape: [Int]) {
        self.elementType = elementType
        self.shape = shape
    }

    public var count: Int { shape.reduce(1, *) }

    /// `f32[1,3,224,224]`, the spelling used by the text IR.
    public var description: String {
        let prefix = elementType == .float32 ? "f32" : "i64"
        return "\(prefix)[\(shape.map(String.init).joined(separator: ","))]"
    }
}
