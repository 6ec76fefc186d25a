// swift-tools-version:6.0
import PackageDescription

// Layers, bottom to top: system libraries (Modules/) → TensorCore → Autograd → NN → Models →
// Explain → Evaluation → camaudit CLI. ImageIO and Data sit beside the model stack; Report draws
// figures (overlays, colormaps) from tensors and images.
let package = Package(
    name: "camaudit",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "camaudit", targets: ["camaudit"]),
        .library(name: "CamAuditKit", targets: ["TensorCore", "Autograd", "NN", "Models", "Explain", "ImageIO", "Data", "Evaluation", "Report"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", exact: "0.9.20"),
    ],
    targets: [
        // MARK: system libraries
        .systemLibrary(name: "CBLAS", path: "Modules/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]),
        .systemLibrary(name: "CPNG", path: "Modules/CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"])]),
        .target(name: "CJPEG", path: "Modules/CJPEG",
                linkerSettings: [.linkedLibrary("jpeg")]),

        // MARK: library
        .target(name: "TensorCore", dependencies: ["CBLAS"],
                swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]),
        .target(name: "Autograd", dependencies: ["TensorCore"]),
        .target(name: "NN", dependencies: ["TensorCore", "Autograd", "ZIPFoundation"]),
        .target(name: "Models", dependencies: ["TensorCore", "Autograd", "NN"]),
        .target(name: "Explain", dependencies: ["TensorCore", "Autograd", "NN", "Models"]),
        .target(name: "ImageIO", dependencies: ["TensorCore", "CPNG", "CJPEG"]),
        .target(name: "Data", dependencies: ["TensorCore", "ImageIO"]),
        .target(name: "Report", dependencies: ["TensorCore", "ImageIO"]),
        .target(name: "Evaluation", dependencies: ["TensorCore", "NN", "Models", "Explain", "ImageIO", "Data", "Report"]),
        .executableTarget(name: "camaudit", dependencies: [
            "TensorCore", "Autograd", "NN", "Models", "Explain", "ImageIO", "Data", "Evaluation", "Report",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // MARK: tests
        .target(name: "TestSupport", dependencies: ["TensorCore"], path: "Tests/TestSupport"),
        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore", "TestSupport"]),
        .testTarget(name: "AutogradTests", dependencies: ["TensorCore", "Autograd", "NN", "TestSupport"]),
        .testTarget(name: "NNTests", dependencies: ["TensorCore", "Autograd", "NN", "TestSupport"]),
        .testTarget(name: "ModelsTests", dependencies: ["TensorCore", "Autograd", "NN", "Models", "TestSupport"]),
        .testTarget(name: "ExplainTests", dependencies: ["TensorCore", "Autograd", "NN", "Models", "Explain", "TestSupport"]),
        .testTarget(name: "ImageIOTests", dependencies: ["TensorCore", "ImageIO", "TestSupport"]),
        .testTarget(name: "DataTests", dependencies: ["TensorCore", "ImageIO", "Data", "TestSupport"]),
        .testTarget(name: "EvaluationTests", dependencies: ["TensorCore", "NN", "Models", "Evaluation", "Data", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
