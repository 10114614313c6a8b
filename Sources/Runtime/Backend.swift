import CipherIR
import Foundation

/// What the interpreter needs from an execution engine: one method per CipherIR op, plus a codec so
/// that ciphertext values can live in the tiered value store (DRAM or the PMem pool) as raw bytes.
///
/// Three engines implement it: `CKKSBackend` (real encryption), `SimulatorBackend` (plaintext
/// vectors with a CKKS noise model) and `CostModelBackend` (predicted time and memory). Slot
/// semantics: a value with `slots` packed slots is cyclic over those slots (CKKS replicates a
/// `slots`-long vector across the N/2 slots so that rotations by the real ring are cyclic over it).
public protocol Backend: AnyObject {
    /// A ciphertext value (what the value store serializes).
    associatedtype Cipher
    /// A plaintext value (an encoded constant-pool entry; kept in DRAM, cached by the backend).
    associatedtype Plain

    /// Constant-pool entry `index`, encoded at its level and scale (the backend may cache it).
    func constant(_ entry: ConstantEntry, index: Int) throws -> Plain

    func add(_ a: Cipher, _ b: Cipher) throws -> Cipher
    func subtract(_ a: Cipher, _ b: Cipher) throws -> Cipher
    func negate(_ a: Cipher) throws -> Cipher
    func addPlain(_ a: Cipher, _ p: Plain) throws -> Cipher
    /// a + value in every slot (value encoded at a's scale).
    func addConstant(_ a: Cipher, _ value: Double) throws -> Cipher
    func multiplyPlain(_ a: Cipher, _ p: Plain) throws -> Cipher
    /// Σ_i c_i ⊙ p_i (every c_i at one level; the products share one scale).
    func multiplyPlainSum(_ pairs: [(Cipher, Plain)]) throws -> Cipher
    /// a · value in every slot, value encoded at `scale` (result scale = a's · scale).
    func multiplyConstant(_ a: Cipher, _ value: Double, scale: Double) throws -> Cipher
    /// Tensor product (degree 2 until relinearized).
    func multiply(_ a: Cipher, _ b: Cipher) throws -> Cipher
    func relinearize(_ a: Cipher) throws -> Cipher
    func rescale(_ a: Cipher) throws -> Cipher
    func levelDown(_ a: Cipher, to level: Int) throws -> Cipher
    /// Left rotation by `step` slots (negative: right), cyclic over the value's slots.
    func rotate(_ a: Cipher, by step: Int) throws -> Cipher
    /// One rotation per step sharing one key-switch decomposition; results in the order of `steps`.
    func rotateHoisted(_ a: Cipher, by steps: [Int]) throws -> [Cipher]
    func conjugate(_ a: Cipher) throws -> Cipher
    func bootstrap(_ a: Cipher, to level: Int) throws -> Cipher
    /// Client-aided refresh: the key holder decrypts, applies `function` slot-wise, re-encrypts at
    /// `level` with the default scale. `instruction` is for error messages.
    func refresh(_ a: Cipher, function: RefreshFunction, level: Int, instruction: Int) throws -> Cipher
    /// Σ_i c_i ⊙ encode(constants[i]) for `mulEncodeSum` (every c_i at one level, the products at one scale); the
    /// plaintexts are encoded just in time and need not be kept. The default encodes through `constant`.
    func multiplyEncodeSum(_ ciphertexts: [Cipher], constants: [(entry: ConstantEntry, index: Int)]) throws -> Cipher
    /// `linearMap`: result lane j = Σ_i w_ji · input(i) + bias_j with the weights encoded at `scale`, handed to `output`
    /// in lane order. The default multiplies and adds term by term.
    func linearMap(_ map: LaneMap, scale: Double, input: (Int) throws -> Cipher, output: (Cipher) throws -> Void) throws

    /// Bytes `store(_:into:)` writes for `a`.
    func storedByteCount(of a: Cipher) -> Int
    /// Writes `a` as raw bytes (a buffer of exactly `storedByteCount(of: a)` bytes, 64-byte aligned).
    func store(_ a: Cipher, into buffer: UnsafeMutableRawBufferPointer)
    /// Reads a value written by `store`.
    func load(_ buffer: UnsafeRawBufferPointer) throws -> Cipher
    /// Bytes the value occupies in a real CKKS run (for memory accounting: equal to the stored bytes
    /// for CKKS, the predicted ciphertext size for the simulator and the cost model).
    func memoryBytes(of a: Cipher) -> Int
}

extension Backend {
    /// Products and adds one at a time (engines with a fused multiply-accumulate override it).
    public func multiplyPlainSum(_ pairs: [(Cipher, Plain)]) throws -> Cipher {
        guard let first = pairs.first else { throw RuntimeError.instructionFailed(instruction: -1, opcode: "mulPlainSum", reason: "no operands") }
        var sum = try multiplyPlain(first.0, first.1)
        for (cipher, plain) in pairs.dropFirst() { sum = try add(sum, try multiplyPlain(cipher, plain)) }
        return sum
    }
}

extension Backend {
    public func multiplyEncodeSum(_ ciphertexts: [Cipher], constants: [(entry: ConstantEntry, index: Int)]) throws -> Cipher {
        try multiplyPlainSum(zip(ciphertexts, constants).map { ($0, try constant($1.entry, index: $1.index)) })
    }

    public func linearMap(_ map: LaneMap, scale: Double, input: (Int) throws -> Cipher, output: (Cipher) throws -> Void) throws {
        for lane in 0..<map.outputLanes {
            var sum: Cipher? = nil
            try map.forEachTerm(ofLane: lane) { operandLane, weight in
                let product = try multiplyConstant(try input(operandLane), weight, scale: scale)
                sum = try sum.map { try add($0, product) } ?? product
            }
            // A lane without terms is the bias alone: any operand times zero gives the level and scale.
            var value = try sum ?? multiplyConstant(try input(0), 0, scale: scale)
            let bias = map.bias(lane)
            if bias != 0 { value = try addConstant(value, bias) }
            try output(value)
        }
    }
}

/// The functions a key holder applies in a client-aided `refresh`.
public enum RefreshFunction: String, Sendable, CaseIterable {
    case identity
    case relu
    case square
    case sigmoid
    case tanh

    /// The function named `name` in a `refresh` instruction.
    public init(name: String) throws(RuntimeError) {
        guard let function = RefreshFunction(rawValue: name.lowercased()) else { throw .unknownRefreshFunction(name) }
        self = function
    }

    @inline(__always)
    public func apply(_ x: Double) -> Double {
        switch self {
        case .identity: return x
        case .relu: return x > 0 ? x : 0
        case .square: return x * x
        case .sigmoid: return 1 / (1 + Foundation.exp(-x))
        case .tanh: return Foundation.tanh(x)
        }
    }
}
