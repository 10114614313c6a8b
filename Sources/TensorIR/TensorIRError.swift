/// Problems found in a tensor graph or its data. Each message names the thing and what to do.
public enum TensorIRError: Error, Equatable, CustomStringConvertible {
    /// An operand or attribute has a shape the operation cannot accept.
    case shapeMismatch(node: String, operation: String, detail: String)
    /// A graph input was given data of the wrong shape or type.
    case inputMismatch(name: String, expected: TensorType, got: TensorType)
    /// An input the graph needs was not provided.
    case missingInput(name: String)
    /// The graph is malformed (operand count, attribute value).
    case invalidGraph(node: String, detail: String)

    public var description: String {
        switch self {
        case .shapeMismatch(let node, let operation, let detail):
            return "node '\(node)' (\(operation)): \(detail)"
        case .inputMismatch(let name, let expected, let got):
            return "input '\(name)' expects \(expected) but was given \(got); provide an array of that shape and dtype"
        case .missingInput(let name):
            return "input '\(name)' was not provided; pass it with --input"
        case .invalidGraph(let node, let detail):
            return "node '\(node)': \(detail)"
        }
    }
}
