import CipherIR
import Foundation
import PolyApprox
import TensorIR

/// A lowered graph value: encrypted (packed) or a plaintext constant (weights, shapes).
public enum LoweredValue {
    case packed(PackedTensor)
    case plain(Tensor)
}

/// Lowers nonlinear layers on single ciphertexts, layout-independent: client-aided `refresh` (`--activations
/// client`), or PolyApprox approximations lowered through their evaluation plans (ReLU by a composite minimax sign
/// of precision `--relu-alpha` or one minimax polynomial of `--relu-degree`; Clip/ReLU6 from two ReLUs; Sigmoid by a
/// minimax polynomial; max(a, b) by the composite sign). Input ranges come from calibration
/// (`options.activationBounds`) or a conservative default with a warning.
final class ActivationLowering {
    let context: LoweringContext
    let options: CompilerOptions
    let state: CompilationState
    private var warned = Set<String>()
    private var approximations: [String: Approximation] = [:]

    /// Degree of the Sigmoid minimax polynomial.
    static let sigmoidDegree = 15
    /// α of the composite sign when neither --relu-alpha nor --relu-degree is given.
    static let defaultAlpha = 13

    init(context: LoweringContext, options: CompilerOptions, state: CompilationState) {
        self.context = context
        self.options = options
        self.state = state
    }

    private var isClient: Bool { options.activations == .client }

    /// max |input| of the activation `node` (calibrated, or the default with a warning).
    func bound(for node: Node) -> Double {
        if let calibrated = options.activationBounds[node.name], calibrated > 0 { return calibrated }
        if warned.insert(node.name).inserted {
            state.warn("no calibrated range for '\(node.name)' (\(node.operation.mnemonic)); assuming |x| ≤ \(options.defaultActivationBound). Pass --calibration SAMPLES.npy for accurate approximations")
        }
        return options.defaultActivationBound
    }

    func apply(_ operation: TensorIR.Operation, to x: ValueID, node: Node) throws -> ValueID {
        switch operation {
        case .relu:
            if isClient { return context.refresh(x, function: "relu") }
            let b = bound(for: node)
            return lower(try approximation("relu", node: node) {
                if let degree = options.reluDegree { return try ActivationApproximation.relu(range: -b...b, degree: degree) }
                return try ActivationApproximation.relu(range: -b...b, alpha: options.reluAlpha ?? Self.defaultAlpha)
            }, [x])
        case .clip(let low, let high):
            return try clip(x, low: low.map(Double.init), high: high.map(Double.init), node: node)
        case .sigmoid:
            if isClient { return context.refresh(x, function: "sigmoid") }
            let b = bound(for: node)
            return lower(try approximation("sigmoid", node: node) {
                try ActivationApproximation.sigmoid(range: -b...b, degree: options.reluDegree ?? Self.sigmoidDegree)
            }, [x])
        default:
            throw CompilerError.unsupportedOperation(node: node.name, operation: operation.mnemonic, layout: options.layout.rawValue,
                                                     hint: "it is not an activation")
        }
    }

    /// ReLU(x) for |x| ≤ bound (client: a refresh).
    private func relu(_ x: ValueID, bound b: Double, node: Node) throws -> ValueID {
        if isClient { return context.refresh(x, function: "relu") }
        return lower(try approximation("relu", node: node, bound: b) {
            if let degree = options.reluDegree { return try ActivationApproximation.relu(range: -b...b, degree: degree) }
            return try ActivationApproximation.relu(range: -b...b, alpha: options.reluAlpha ?? Self.defaultAlpha)
        }, [x])
    }

    /// Clip(x): both bounds → PolyApprox's clip (two composite ReLUs); one bound → one ReLU; client → refreshes of
    /// "relu" (min + relu(x − min) − relu(x − max)), which every key holder serves.
    func clip(_ x: ValueID, low: Double?, high: Double?, node: Node) throws -> ValueID {
        if let low, let high, !isClient {
            let b = bound(for: node)
            return lower(try approximation("clip", node: node) {
                let range = min(-b, low - 1)...max(b, high + 1)
                if let degree = options.reluDegree { return try ActivationApproximation.clip(min: low, max: high, range: range, degree: degree) }
                return try ActivationApproximation.clip(min: low, max: high, range: range, alpha: options.reluAlpha ?? Self.defaultAlpha)
            }, [x])
        }
        let extra = max(abs(low ?? 0), abs(high ?? 0))
        let b = isClient ? 1 : bound(for: node) + extra
        switch (low, high) {
        case (nil, nil):
            return x
        case (let low?, nil):
            let shifted = low == 0 ? x : context.addConst(x, -low)
            let r = try relu(shifted, bound: b, node: node)
            return low == 0 ? r : context.addConst(r, low)
        case (nil, let high?):
            return context.sub(x, try relu(context.addConst(x, -high), bound: b, node: node))
        case (let low?, let high?):
            let shifted = low == 0 ? x : context.addConst(x, -low)
            let difference = context.sub(try relu(shifted, bound: b, node: node),
                                         try relu(context.addConst(x, -high), bound: b, node: node))
            return low == 0 ? difference : context.addConst(difference, low)
        }
    }

    /// max over `values` by a balanced tree of max(a, b) (client: b + refresh_relu(a − b)).
    func maximum(of values: [ValueID], node: Node) throws -> ValueID {
        var level = values
        while level.count > 1 {
            var next: [ValueID] = []
            var index = 0
            while index + 1 < level.count {
                let (a, c) = (level[index], level[index + 1])
                if isClient {
                    next.append(context.add(c, context.refresh(context.sub(a, c), function: "relu")))
                } else {
                    let b = bound(for: node)
                    next.append(lower(try approximation("max", node: node) {
                        try ActivationApproximation.maxOf2(range: -b...b, alpha: options.reluAlpha ?? Self.defaultAlpha)
                    }, [a, c]))
                }
                index += 2
            }
            if index < level.count { next.append(level[index]) }
            level = next
        }
        return level[0]
    }

    /// Lowers the approximation's plan and records, for bootstrap placement, the levels each of its cut points needs
    /// (`EvaluationPlan.cutPoints`: its inputs, and the values a composite narrows to between stages) and that the
    /// output needs one level for the product that reads it. A deep activation is then refreshed where it is one
    /// ciphertext wide, never power by power.
    private func lower(_ approximation: Approximation, _ inputs: [ValueID]) -> ValueID {
        let plan = approximation.plan
        let slots = EvaluationPlanLowering(context: context).lowerSlots(plan, inputs: inputs)
        func need(_ value: ValueID, _ depth: Int) { state.activationDepths[value] = max(state.activationDepths[value] ?? 0, depth) }
        for cut in plan.cutPoints { need(slots[cut.slot], cut.depthToNext) }
        let output = slots[plan.output]
        need(output, 1)
        return output
    }

    /// The approximation for `kind` at this node's bound, built once per (kind, bound) and reported.
    private func approximation(_ kind: String, node: Node, bound explicit: Double? = nil,
                               _ make: () throws -> Approximation) throws -> Approximation {
        let key = "\(kind):\(explicit ?? bound(for: node)):\(options.reluAlpha ?? -1):\(options.reluDegree ?? -1)"
        if let cached = approximations[key] { return cached }
        do {
            let approximation = try make()
            approximations[key] = approximation
            state.report.append("approximation: \(approximation) (first used by '\(node.name)')")
            return approximation
        } catch {
            throw CompilerError.approximation(node: node.name, detail: "no \(kind) approximation: \(error)")
        }
    }
}
