/// Why a linear node could not be lowered in the spatial layout; each message names the node and the fix.
public enum SpatialLoweringError: Error, Equatable, CustomStringConvertible {
    /// The op is not a linear layer the spatial lowering handles.
    case unsupportedOperation(node: String, operation: String)
    /// A weight, bias, scale or shape operand is computed at run time instead of being a constant.
    case nonConstantOperand(node: String, role: String)
    /// The spatial layout packs one image; the tensor has a batch dimension other than 1.
    case batchNotOne(node: String, shape: [Int])
    /// Operand shapes or attributes the lowering cannot reconcile.
    case shapeMismatch(node: String, detail: String)
    /// The layer's plaintext diagonals (as slot patterns) would not fit the memory budget.
    case tooManyDiagonals(node: String, diagonals: Int, slots: Int, budgetBytes: Int)
    /// The driver passed a different number of packed operands than the node's non-constant operands.
    case operandCount(node: String, expected: Int, got: Int)

    public var description: String {
        switch self {
        case .unsupportedOperation(let node, let operation):
            return "spatial lowering: node \"\(node)\" is a \(operation), which is not a linear layer of the spatial layout; lower it as an activation or use --layout batch"
        case .nonConstantOperand(let node, let role):
            return "spatial lowering: the \(role) of node \"\(node)\" is computed at run time; only constant weights are supported (run the tensor passes to fold constants)"
        case .batchNotOne(let node, let shape):
            return "spatial lowering: node \"\(node)\" has shape \(shape) with batch \(shape.first ?? 0); the spatial layout encrypts one image at a time (use --layout batch for batches)"
        case .shapeMismatch(let node, let detail):
            return "spatial lowering: node \"\(node)\": \(detail); rerun shape inference or check the model"
        case .tooManyDiagonals(let node, let diagonals, let slots, let budgetBytes):
            return "spatial lowering: node \"\(node)\" needs more plaintext diagonal storage than the \(budgetBytes >> 20) MiB budget (\(diagonals) diagonals of \(slots) slots stored so far); compile it with --layout batch or a smaller input"
        case .operandCount(let node, let expected, let got):
            return "spatial lowering: node \"\(node)\" needs \(expected) packed operand(s) but got \(got); pass the packed tensors of its non-constant operands in order"
        }
    }
}
