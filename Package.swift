// swift-tools-version:6.1
import PackageDescription

// Hot loops (NTT, key switching, convolution) rely on whole-module optimization in release builds and on
// unchecked arithmetic only where the code uses wrapping operators explicitly. Debug builds of these targets are
// optimized too, so `swift test` runs CKKS and the reference executor at a useful speed (checks stay on).
// On x86-64, LLVM's cmov converter turns the conditional subtractions of modular arithmetic into branches that
// mispredict on random residues; keeping cmov makes CKKS key switching about 10% faster.
#if arch(x86_64)
let releaseCodegen: [String] = ["-Xllvm", "-x86-cmov-converter=false"]
#else
let releaseCodegen: [String] = []
#endif
let fastMath: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-wmo"] + releaseCodegen, .when(configuration: .release)),
    .unsafeFlags(["-O"], .when(configuration: .debug)),
]

let package = Package(
    name: "Tessera",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tessera", targets: ["tessera"]),
        .library(name: "TensorIR", targets: ["TensorIR"]),
        .library(name: "ONNXFrontend", targets: ["ONNXFrontend"]),
        .library(name: "CKKS", targets: ["CKKS"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.0.0"),
    ],
    targets: [
        // C bindings
        .systemLibrary(
            name: "CProtobufC",
            pkgConfig: "libprotobuf-c",
            providers: [.apt(["libprotobuf-c-dev"])]
        ),
        .target(
            name: "ONNXProto",
            dependencies: ["CProtobufC"],
            exclude: ["proto", "README.md"],
            linkerSettings: [.linkedLibrary("protobuf-c")]
        ),
        // arithmetic and scheme
        // AVX-512 NTT kernels (x86-64, chosen at run time; portable Swift loops elsewhere)
        .target(name: "CModularKernels", cSettings: [.unsafeFlags(["-O3"])]),
        .target(name: "ModularArithmetic", dependencies: ["CModularKernels"], swiftSettings: fastMath),
        .target(
            name: "CKKS",
            dependencies: ["ModularArithmetic", .product(name: "Numerics", package: "swift-numerics")],
            swiftSettings: fastMath
        ),
        // math
        .target(name: "PolyApprox", swiftSettings: fastMath),
        // tensor IR and front end
        .target(name: "TensorIR", swiftSettings: fastMath),
        .target(name: "ONNXFrontend", dependencies: ["TensorIR", "ONNXProto", "CProtobufC"]),
        // cipher IR, persistent memory, runtime
        .target(name: "CipherIR"),
        .systemLibrary(name: "CPmem2", pkgConfig: "libpmem2", providers: [.apt(["libpmem2-dev"])]),
        .target(name: "PersistentMemory", dependencies: ["CPmem2"], linkerSettings: [.linkedLibrary("pmem2")]),
        .target(
            name: "Compiler",
            dependencies: ["TensorIR", "CipherIR", "PolyApprox", "CKKS"],
            swiftSettings: fastMath
        ),
        .target(
            name: "Runtime",
            dependencies: ["CipherIR", "CKKS", "PersistentMemory", "TensorIR"],
            swiftSettings: fastMath
        ),
        // tool
        .executableTarget(
            name: "tessera",
            dependencies: [
                "TensorIR", "ONNXFrontend", "CKKS", "ModularArithmetic", "CipherIR", "Runtime", "PersistentMemory", "Compiler", "PolyApprox",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: fastMath
        ),
        // tests
        .testTarget(name: "TensorIRTests", dependencies: ["TensorIR"]),
        .testTarget(name: "ONNXFrontendTests", dependencies: ["ONNXFrontend", "TensorIR"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ModularArithmeticTests", dependencies: ["ModularArithmetic"]),
        .testTarget(name: "CKKSTests", dependencies: ["CKKS", "ModularArithmetic"]),
        .testTarget(name: "CipherIRTests", dependencies: ["CipherIR"]),
        .testTarget(name: "PersistentMemoryTests", dependencies: ["PersistentMemory"]),
        .testTarget(name: "PolyApproxTests", dependencies: ["PolyApprox"]),
        .testTarget(name: "CompilerTests", dependencies: ["Compiler", "TensorIR", "CipherIR", "PolyApprox"]),
        .testTarget(name: "RuntimeTests", dependencies: ["Runtime", "CipherIR", "CKKS", "PersistentMemory", "Compiler", "TensorIR"]),
        .testTarget(name: "TesseraCLITests", dependencies: ["tessera"]),
    ]
)
