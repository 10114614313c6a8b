/// The tensor-level pipeline, readable top to bottom. `tessera` runs `standard` after import and
/// before lowering; `--print-after-all` passes `printAfterEach`.
public enum TensorPipeline {
    /// The passes in the order they run. Why this order:
    /// - shapes first, because every rewrite checks operand shapes;
    /// - identities next, so later patterns see producer → consumer directly;
    /// - constant folding before pattern rewrites, so weights computed in the graph (a reshaped
    ///   or scaled constant) become plain constants the rewrites can read;
    /// - Gemm and MatMul(+Add) become `linear` before BatchNormalization folding, so a BN after a
    ///   MatMul folds into the `linear` it produced;
    /// - dead nodes last (the rewrites leave the nodes they replaced unused), then shapes again as a check.
    public static let standard: [any TensorPass] = [
        InferShapes(),
        RemoveIdentities(),
        FoldConstants(),
        GemmToLinear(),
        MatMulToLinear(),
        FoldBatchNormalization(),
        RemoveDeadNodes(),
        InferShapes(),
    ]

    /// Runs `passes` in order on `graph`. `printAfterEach` receives the pass name and the graph
    /// after that pass. A failing pass leaves `graph` as the previous pass left it.
    public static func run(_ graph: inout TensorGraph, passes: [any TensorPass],
                           printAfterEach: ((String, TensorGraph) -> Void)? = nil) throws {
        for pass in passes {
            var working = graph
            try pass.run(&working)
            #if DEBUG
            try verify(working, after: pass.name)
            #endif
            graph = working
            printAfterEach?(pass.name, graph)
        }
    }

    /// The brief's signature: runs `standard`.
    public static func run(_ graph: inout TensorGraph, printAfterEach: ((String, TensorGraph) -> Void)? = nil) throws {
        try run(&graph, passes: standard, printAfterEach: printAfterEach)
    }

    /// Checks what every pass promises: operands defined before use, outputs defined, and — once
    /// every node is typed — types that shape inference reproduces. Run after each pass in debug builds.
    public static func verify(_ graph: TensorGraph, after pass: String) throws {
        var defined = Set<NodeID>()
        for node in graph.nodes {
            for input in node.inputs where !defined.contains(input) {
                throw TensorIRError.invalidGraph(node: node.name, detail: "after pass '\(pass)': operand \(input) is not defined before its use")
            }
            defined.insert(node.id)
        }
        for output in graph.outputs where !defined.contains(output) {
            throw TensorIRError.invalidGraph(node: "\(output)", detail: "after pass '\(pass)': graph output \(output) is not defined")
        }
        guard graph.nodes.allSatisfy({ $0.type != nil }) else { return }
        var retyped = graph
        try ShapeInference.run(&retyped)
        for (node, check) in zip(graph.nodes, retyped.nodes) where node.type != check.type {
            throw TensorIRError.invalidGraph(node: node.name, detail: "after pass '\(pass)': recorded type \(node.type.map(\.description) ?? "?") but shape inference gives \(check.type.map(\.description) ?? "?")")
        }
    }
}
