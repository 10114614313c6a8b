import CipherIR
import Foundation

/// Milliseconds per CKKS operation measured at one parameter set (the reference), scaled by the
/// cost model to any ring degree and level.
///
/// JSON (as printed by `tessera bench ckks --json`): an object with the keys `ntt`, `encode`,
/// `encrypt`, `add`, `mul_plain`, `mul_relin`, `rescale`, `rotate`, `rotate_hoisted` in
/// milliseconds (top level or under `ops_ms`), optionally `bootstrap` and `refresh`, and the
/// parameters they were measured at: `logN`, `q_bits` (or `qBits`), `p_bits` (or `pBits`),
/// `dnum`. Missing parameters mean "measured with the plan's own parameters".
public struct CostTable: Sendable, Equatable {
    /// Reference parameters (nil: the plan's own).
    public var logN: Int?
    public var qLimbs: Int?
    public var pLimbs: Int?
    public var dnum: Int?
    /// Milliseconds per operation at the reference parameters, top level, one thread.
    public var milliseconds: [String: Double]

    public static let requiredKeys = ["encode", "encrypt", "add", "mul_plain", "mul_relin", "rescale", "rotate", "rotate_hoisted"]

    public init(logN: Int?, qLimbs: Int?, pLimbs: Int?, dnum: Int?, milliseconds: [String: Double]) {
        self.logN = logN
        self.qLimbs = qLimbs
        self.pLimbs = pLimbs
        self.dnum = dnum
        self.milliseconds = milliseconds
    }

    /// Estimates for one core of a current x86 server at N = 2^15 with 14 primes of ~50 bits, one
    /// special prime, one prime per digit (SEAL's layout); `bootstrap` is Tessera's own, measured at N = 2^16 with
    /// 2^15 slots (about 15 s on one core, 10–11 s on two) and scaled to N = 2^15; replace with a measured table
    /// (`tessera bench ckks --json > table.json`, then `--cost-table table.json`).
    public static let defaults = CostTable(
        logN: 15, qLimbs: 14, pLimbs: 1, dnum: 14,
        milliseconds: [
            "ntt": 0.35, "encode": 6, "encrypt": 15, "add": 0.5, "mul_plain": 1.0, "mul_relin": 40, "rescale": 8,
            "rotate": 35, "rotate_hoisted": 20, "bootstrap": 7_000, "refresh": 50,
        ])

    /// Reads a cost table from `tessera bench ckks --json` output.
    public init(json data: Data) throws(RuntimeError) {
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch { throw .invalidCostTable("not JSON (\(error.localizedDescription))") }
        guard let root = object as? [String: Any] else { throw .invalidCostTable("the top level is not a JSON object") }
        let ops = (root["ops_ms"] as? [String: Any]) ?? root
        var milliseconds = CostTable.defaults.milliseconds
        for key in Set(CostTable.requiredKeys + ["ntt", "bootstrap", "refresh"]) {
            guard let raw = ops[key] else {
                if CostTable.requiredKeys.contains(key) { throw .invalidCostTable("the key \"\(key)\" (milliseconds) is missing") }
                continue
            }
            guard let value = (raw as? NSNumber)?.doubleValue, value.isFinite, value >= 0 else {
                throw .invalidCostTable("\"\(key)\" is not a non-negative number of milliseconds")
            }
            milliseconds[key] = value
        }
        func int(_ keys: String...) -> Int? { keys.lazy.compactMap { (root[$0] as? NSNumber)?.intValue }.first }
        func count(_ keys: String...) -> Int? { keys.lazy.compactMap { (root[$0] as? [Any])?.count }.first }
        self.init(logN: int("logN", "log_n"), qLimbs: count("q_bits", "qBits"), pLimbs: count("p_bits", "pBits"),
                  dnum: int("dnum"), milliseconds: milliseconds)
    }

    public init(contentsOf path: String) throws(RuntimeError) {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw .io(path: path, operation: "read", reason: error.localizedDescription)
        }
        try self.init(json: data)
    }
}

/// What the cost model knows about a value.
public struct CostValue: Sendable, Equatable {
    public var level: Int
    public var degree: Int
    public var scale: Double
}

/// Predicts the time and memory of a plan without running CKKS: sums per-op costs from a
/// `CostTable` scaled to each op's level (linear ops ∝ N·limbs, NTT-bound ops ∝ N·log N·limbs, key
/// switching ∝ N·log N·(ℓ+1+K)·(digits+2)), and tracks the bytes of live ciphertexts.
public final class CostModelBackend: Backend {
    public typealias Cipher = CostValue
    public typealias Plain = CostValue

    public let parameters: PlanParameters
    public let table: CostTable
    /// Predicted milliseconds so far, and per op.
    public private(set) var milliseconds = 0.0
    public private(set) var millisecondsByOp: [Opcode: Double] = [:]
    public private(set) var countByOp: [Opcode: Int] = [:]
    /// Bytes of the encoded constants (each entry once: they are cached).
    public private(set) var constantBytes = 0
    private var encoded = Set<Int>()

    private let degree: Double
    private let logN: Double
    private let referenceDegree: Double
    private let referenceLogN: Double
    private let referenceLimbs: Double
    private let referenceKeySwitchWork: Double

    public init(parameters: PlanParameters, table: CostTable = .defaults) {
        self.parameters = parameters
        self.table = table
        degree = Double(1 << parameters.logN)
        logN = Double(parameters.logN)
        let refLogN = table.logN ?? parameters.logN
        referenceDegree = Double(1 << refLogN)
        referenceLogN = Double(refLogN)
        let refLimbs = table.qLimbs ?? parameters.qBits.count
        referenceLimbs = Double(refLimbs)
        referenceKeySwitchWork = CostModelBackend.keySwitchWork(
            level: refLimbs - 1, limbs: refLimbs, special: table.pLimbs ?? parameters.pBits.count, dnum: table.dnum ?? parameters.dnum)
    }

    static func keySwitchWork(level: Int, limbs: Int, special: Int, dnum: Int) -> Double {
        let digitSize = (limbs + max(dnum, 1) - 1) / max(dnum, 1)
        let digits = (level + digitSize) / max(digitSize, 1)
        return Double(level + 1 + special) * Double(digits + 2)
    }

    private func ms(_ key: String) -> Double { table.milliseconds[key] ?? CostTable.defaults.milliseconds[key] ?? 0 }
    /// Linear in N and the number of limbs.
    private func linear(_ key: String, level: Int) -> Double { ms(key) * degree / referenceDegree * Double(level + 1) / referenceLimbs }
    /// N·log N per limb.
    private func transform(_ key: String, level: Int) -> Double {
        ms(key) * degree * logN / (referenceDegree * referenceLogN) * Double(level + 1) / referenceLimbs
    }
    private func keySwitchFactor(level: Int) -> Double {
        let work = CostModelBackend.keySwitchWork(level: level, limbs: parameters.qBits.count, special: parameters.pBits.count, dnum: parameters.dnum)
        return degree * logN / (referenceDegree * referenceLogN) * work / referenceKeySwitchWork
    }

    /// Predicted milliseconds of one instruction of `opcode` on an operand at `level`.
    public func cost(_ opcode: Opcode, level: Int, steps: Int = 1) -> Double {
        switch opcode {
        case .input, .output: return 0
        // Moving onto the target level's exact scale: a scalar multiply and a rescale by the last dropped prime.
        case .levelDown: return linear("mul_plain", level: level) + transform("rescale", level: level)
        case .constant: return transform("encode", level: level)
        case .add, .sub, .negate, .addPlain, .addConst: return linear("add", level: level)
        case .mulPlain, .mulConst: return linear("mul_plain", level: level)
        case .mulPlainSum: return Double(steps) * linear("mul_plain", level: level) + Double(max(steps - 1, 0)) * linear("add", level: level)
        case .mul: return 2 * linear("mul_plain", level: level)
        case .relinearize: return max(ms("mul_relin") - 2 * ms("mul_plain"), 0) * keySwitchFactor(level: level)
        case .rescale: return transform("rescale", level: level)
        case .rotate, .conjugate: return ms("rotate") * keySwitchFactor(level: level)
        case .rotateHoisted:
            let shared = max(ms("rotate") - ms("rotate_hoisted"), 0)
            return (shared + Double(steps) * ms("rotate_hoisted")) * keySwitchFactor(level: level)
        case .bootstrap: return ms("bootstrap") * degree * logN / (referenceDegree * referenceLogN)
        case .refresh: return ms("refresh") * degree * logN / (referenceDegree * referenceLogN)
        // Per term (see `linearMap(_:scale:input:output:)`); gather only copies.
        case .linearMap: return linear("mul_plain", level: level) + linear("add", level: level)
        case .mulEncodeSum:
            return Double(steps) * (transform("encode", level: level) + linear("mul_plain", level: level)) + Double(max(steps - 1, 0)) * linear("add", level: level)
        case .gather: return 0
        }
    }

    private func charge(_ opcode: Opcode, level: Int, steps: Int = 1) {
        let value = cost(opcode, level: level, steps: steps)
        milliseconds += value
        millisecondsByOp[opcode, default: 0] += value
        countByOp[opcode, default: 0] += 1
    }

    public func multiplyEncodeSum(_ ciphertexts: [CostValue], constants: [(entry: ConstantEntry, index: Int)]) throws -> CostValue {
        guard let a = ciphertexts.first, let first = constants.first else {
            throw RuntimeError.instructionFailed(instruction: -1, opcode: "mulEncodeSum", reason: "no operands")
        }
        charge(.mulEncodeSum, level: a.level, steps: ciphertexts.count)
        return CostValue(level: a.level, degree: 1, scale: a.scale * first.entry.scale)
    }

    /// A `linearMap` costs a scalar multiply per term and an add per term beyond each lane's first, counted from the
    /// map's structure (ResNet-50's batch-layout convolutions expand to billions of terms).
    public func linearMap(_ map: LaneMap, scale: Double, input: (Int) throws -> CostValue, output: (CostValue) throws -> Void) throws {
        let operand = try input(0)
        let terms = Double(map.termCount)
        let lanes = Double(map.outputLanes)
        let biases = Double((0..<map.outputLanes).reduce(0) { $0 + (map.bias($1) != 0 ? 1 : 0) })
        let value = terms * cost(.mulConst, level: operand.level) + max(terms - lanes, 0) * cost(.add, level: operand.level)
            + biases * cost(.addConst, level: operand.level)
        milliseconds += value
        millisecondsByOp[.linearMap, default: 0] += value
        countByOp[.linearMap, default: 0] += 1
        let result = CostValue(level: operand.level, degree: 1, scale: operand.scale * scale)
        for _ in 0..<map.outputLanes { try output(result) }
    }

    /// A fresh input at `level`/`scale`.
    public func input(level: Int, scale: Double) -> CostValue { CostValue(level: level, degree: 1, scale: scale) }

    public func constant(_ entry: ConstantEntry, index: Int) throws -> CostValue {
        if encoded.insert(index).inserted {
            charge(.constant, level: entry.level)
            constantBytes += (entry.level + 1) * Int(degree) * 8
        }
        return CostValue(level: entry.level, degree: 0, scale: entry.scale)
    }

    private func same(_ op: Opcode, _ a: CostValue, degree: Int? = nil, scale: Double? = nil, level: Int? = nil) -> CostValue {
        charge(op, level: a.level)
        return CostValue(level: level ?? a.level, degree: degree ?? a.degree, scale: scale ?? a.scale)
    }

    public func add(_ a: CostValue, _ b: CostValue) throws -> CostValue { same(.add, a, degree: max(a.degree, b.degree)) }
    public func subtract(_ a: CostValue, _ b: CostValue) throws -> CostValue { same(.sub, a, degree: max(a.degree, b.degree)) }
    public func negate(_ a: CostValue) throws -> CostValue { same(.negate, a) }
    public func addPlain(_ a: CostValue, _ p: CostValue) throws -> CostValue { same(.addPlain, a) }
    public func addConstant(_ a: CostValue, _ value: Double) throws -> CostValue { same(.addConst, a) }
    public func multiplyPlain(_ a: CostValue, _ p: CostValue) throws -> CostValue { same(.mulPlain, a, scale: a.scale * p.scale) }
    public func multiplyPlainSum(_ pairs: [(CostValue, CostValue)]) throws -> CostValue {
        guard let (a, p) = pairs.first else { throw RuntimeError.instructionFailed(instruction: -1, opcode: "mulPlainSum", reason: "no operands") }
        charge(.mulPlainSum, level: a.level, steps: pairs.count)
        return CostValue(level: a.level, degree: pairs.map(\.0.degree).max() ?? 1, scale: a.scale * p.scale)
    }
    public func multiplyConstant(_ a: CostValue, _ value: Double, scale: Double) throws -> CostValue { same(.mulConst, a, scale: a.scale * scale) }
    public func multiply(_ a: CostValue, _ b: CostValue) throws -> CostValue { same(.mul, a, degree: 2, scale: a.scale * b.scale) }
    public func relinearize(_ a: CostValue) throws -> CostValue { same(.relinearize, a, degree: 1) }
    public func rescale(_ a: CostValue) throws -> CostValue {
        same(.rescale, a, scale: a.scale / parameters.nominalPrime(atLevel: a.level), level: a.level - 1)
    }
    public func levelDown(_ a: CostValue, to level: Int) throws -> CostValue { same(.levelDown, a, level: level) }
    public func rotate(_ a: CostValue, by step: Int) throws -> CostValue { same(.rotate, a) }
    public func rotateHoisted(_ a: CostValue, by steps: [Int]) throws -> [CostValue] {
        charge(.rotateHoisted, level: a.level, steps: steps.count)
        return steps.map { _ in a }
    }
    public func conjugate(_ a: CostValue) throws -> CostValue { same(.conjugate, a) }
    public func bootstrap(_ a: CostValue, to level: Int) throws -> CostValue {
        same(.bootstrap, a, scale: parameters.defaultScale, level: level)
    }
    public func refresh(_ a: CostValue, function: RefreshFunction, level: Int, instruction: Int) throws -> CostValue {
        same(.refresh, a, degree: 1, scale: parameters.defaultScale, level: level)
    }

    public func storedByteCount(of a: CostValue) -> Int { 24 }
    public func store(_ a: CostValue, into buffer: UnsafeMutableRawBufferPointer) {
        buffer.storeBytes(of: Int64(a.level), toByteOffset: 0, as: Int64.self)
        buffer.storeBytes(of: Int64(a.degree), toByteOffset: 8, as: Int64.self)
        buffer.storeBytes(of: a.scale, toByteOffset: 16, as: Double.self)
    }
    public func load(_ buffer: UnsafeRawBufferPointer) throws -> CostValue {
        CostValue(level: Int(buffer.load(fromByteOffset: 0, as: Int64.self)), degree: Int(buffer.load(fromByteOffset: 8, as: Int64.self)),
                  scale: buffer.load(fromByteOffset: 16, as: Double.self))
    }
    /// The ciphertext's bytes in a CKKS run: (degree + 1)·(ℓ + 1)·N·8.
    public func memoryBytes(of a: CostValue) -> Int { (a.degree + 1) * (a.level + 1) * Int(degree) * 8 }
}

/// Sizes of the evaluation keys a plan needs, each key trimmed to the highest level the plan uses it at
/// (`Program.keyLevels`), as `PlanSession.generateKeys` makes them.
public struct KeySizes: Sendable, Equatable {
    public var relinearizationBytes: Int
    /// All Galois keys (rotations and conjugation) together.
    public var galoisBytes: Int
    public var galoisKeyCount: Int
    public var publicKeyBytes: Int
    /// The relinearization key's level (nil: the plan needs none).
    public var relinearizationLevel: Int?
    /// The highest level of any Galois key (nil: the plan needs none).
    public var highestGaloisLevel: Int?
    public var totalEvaluationKeyBytes: Int { relinearizationBytes + galoisBytes }

    /// Key sizes for `program`: a key-switching key at level ℓ holds `digitCount(ℓ)` pairs of polynomials over
    /// Q_ℓ·P (ℓ + 1 + K limbs of N words), with digitCount(ℓ) = ⌊ℓ / α⌋ + 1 and α = ⌈(L + 1) / dnum⌉ primes per
    /// digit, as `CKKSParameters.digitCount(atLevel:)` counts them.
    public init(program: Program, parameters: PlanParameters) {
        let n = 1 << parameters.logN
        let digitSize = max((parameters.qBits.count + parameters.dnum - 1) / max(parameters.dnum, 1), 1)
        func keyBytes(atLevel level: Int) -> Int {
            let digits = (level + digitSize) / digitSize
            return digits * 2 * (level + 1 + parameters.pBits.count) * n * 8
        }
        let levels = program.keyLevels()
        relinearizationLevel = levels.relinearizationKeyLevel(for: program.keys)
        relinearizationBytes = relinearizationLevel.map(keyBytes(atLevel:)) ?? 0
        let galoisLevels = levels.galoisKeyLevels(for: program.keys, slots: max(n / 2, 1))
        galoisKeyCount = galoisLevels.count
        galoisBytes = galoisLevels.values.reduce(0) { $0 + keyBytes(atLevel: $1) }
        highestGaloisLevel = galoisLevels.values.max()
        publicKeyBytes = 2 * parameters.qBits.count * n * 8
    }
}
