// swift-tools-version:6.0
import PackageDescription
import Foundation

/// The vector ISA our Swift code is compiled for. OpenBLAS picks its kernels at run time, but
/// Swift compiles for baseline x86-64 (SSE2) unless told otherwise, which leaves the elementwise,
/// pooling, depthwise and metric loops at 4 lanes without FMA. On an x86-64 Linux build machine
/// whose CPU has AVX2 and FMA we compile for `haswell` (AVX2, FMA, BMI2: every x86 server CPU
/// since 2013). `CAMAUDIT_TARGET_CPU` overrides: an LLVM CPU name (`znver4`, `skylake-avx512`,
/// …), or `x86-64` for a binary that must run on any x86-64 machine.
func targetCPUFlags() -> [String] {
    if let cpu = ProcessInfo.processInfo.environment["CAMAUDIT_TARGET_CPU"], !cpu.isEmpty {
        return ["-target-cpu", cpu]
    }
    #if os(Linux) && arch(x86_64)
    guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let flagsLine = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return [] }
    let flags = Set(flagsLine.split(separator: " ").map(String.init))
    return ["avx", "avx2", "fma", "bmi2", "f16c"].allSatisfy(flags.contains) ? ["-target-cpu", "haswell"] : []
    #else
    return []
    #endif
}
let cpuSettings: [SwiftSetting] = targetCPUFlags().isEmpty ? [] : [.unsafeFlags(targetCPUFlags())]

// Layers, bottom to top: system libraries (Modules/) → TensorCore → Autograd → NN → Models →
// Explain → Sweep (run driver; Evaluation is its metrics library) → camaudit CLI. Imaging and Datasets sit beside the model stack; Report draws
// figures (overlays, colormaps) from tensors and images.
let package = Package(
    name: "camaudit",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "camaudit", targets: ["camaudit"]),
        .library(name: "CamAuditKit", targets: ["TensorCore", "Autograd", "NN", "Models", "Explain", "Imaging", "Datasets", "Evaluation", "Report", "Training", "Sweep"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", exact: "0.9.20"),
        // SHA-256 for content keys (checkpoint and image digests).
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
    ],
    targets: [
        // MARK: system libraries
        .systemLibrary(name: "CBLAS", path: "Modules/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]),
        .systemLibrary(name: "CPNG", path: "Modules/CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"])]),
        .target(name: "CJPEG", path: "Modules/CJPEG",
                linkerSettings: [.linkedLibrary("jpeg")]),
        // DICOM through DCMTK (Debian's libdcmtk-dev; no pkg-config file that resolves): a C++ shim
        // with a C interface, so no C++ exception crosses into Swift. The codec libraries decode
        // JPEG lossless/baseline (dcmjpeg), JPEG-LS (dcmjpls) and RLE (dcmdata).
        .target(name: "CDicom", path: "Modules/CDicom",
                linkerSettings: [.linkedLibrary("dcmjpls"), .linkedLibrary("dcmjpeg"), .linkedLibrary("dcmdata"),
                                 .linkedLibrary("oflog"), .linkedLibrary("ofstd")]),

        // MARK: library
        .target(name: "TensorCore", dependencies: ["CBLAS"],
                swiftSettings: cpuSettings + [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]),
        .target(name: "Autograd", dependencies: ["TensorCore"], swiftSettings: cpuSettings),
        .target(name: "NN", dependencies: ["TensorCore", "Autograd", "ZIPFoundation"], swiftSettings: cpuSettings),
        .target(name: "Models", dependencies: ["TensorCore", "Autograd", "NN"], swiftSettings: cpuSettings),
        .target(name: "Explain", dependencies: ["TensorCore", "Autograd", "NN", "Models"], swiftSettings: cpuSettings),
        .target(name: "Imaging", dependencies: ["TensorCore", "CPNG", "CJPEG", "CDicom"], swiftSettings: cpuSettings),
        .target(name: "Datasets", dependencies: ["TensorCore", "Imaging"], swiftSettings: cpuSettings),
        .target(name: "Report", dependencies: ["TensorCore", "Imaging", "Datasets"], swiftSettings: cpuSettings),
        .target(name: "Evaluation", dependencies: ["TensorCore"], swiftSettings: cpuSettings),
        .target(name: "Training", dependencies: ["TensorCore", "Autograd", "NN", "Models", "Imaging", "Datasets", "Evaluation"], swiftSettings: cpuSettings),
        // The run driver above the metrics: sweep configuration, plan of work units, executor, results store.
        .target(name: "Sweep", dependencies: ["TensorCore", "NN", "Models", "Explain", "Imaging", "Datasets", "Report", "Evaluation",
                                       .product(name: "Crypto", package: "swift-crypto")],
                swiftSettings: cpuSettings),
        // The study end to end (`camaudit paper`): cached stages over Training, Sweep and Report.
        .target(name: "Paper", dependencies: ["TensorCore", "NN", "Models", "Explain", "Imaging", "Datasets", "Evaluation", "Report", "Training", "Sweep"],
                swiftSettings: cpuSettings),
        // A user's model → checks with verdicts → the audit report (`camaudit audit`).
        .target(name: "Audit", dependencies: ["TensorCore", "Imaging", "Evaluation", "Report", "Sweep"], swiftSettings: cpuSettings),
        .executableTarget(name: "camaudit", dependencies: [
            "TensorCore", "Autograd", "NN", "Models", "Explain", "Imaging", "Datasets", "Evaluation", "Report", "Training", "Sweep", "Paper", "Audit",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: cpuSettings),

        // MARK: tests
        .target(name: "TestSupport", dependencies: ["TensorCore"], path: "Tests/TestSupport"),
        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore", "TestSupport"]),
        .testTarget(name: "AutogradTests", dependencies: ["TensorCore", "Autograd", "NN", "TestSupport"]),
        .testTarget(name: "NNTests", dependencies: ["TensorCore", "Autograd", "NN", "Models", "TestSupport"]),
        .testTarget(name: "ModelsTests", dependencies: ["TensorCore", "Autograd", "NN", "Models", "TestSupport"]),
        .testTarget(name: "ExplainTests", dependencies: ["TensorCore", "Autograd", "NN", "Models", "Explain", "TestSupport"]),
        .testTarget(name: "ImagingTests", dependencies: ["TensorCore", "Imaging", "TestSupport"]),
        .testTarget(name: "DatasetsTests", dependencies: ["TensorCore", "Imaging", "Datasets", "TestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["TensorCore", "Autograd", "NN", "Models", "Imaging", "Datasets", "Training", "TestSupport"]),
        .testTarget(name: "EvaluationTests", dependencies: ["TensorCore", "NN", "Models", "Evaluation", "Datasets", "TestSupport"]),
        // Runs the built `camaudit` binary as a user would (build it first: `swift build -c release`).
        .testTarget(name: "CLITests", dependencies: ["TensorCore", "Imaging", "Training", "TestSupport"]),
        .testTarget(name: "PaperTests", dependencies: ["TensorCore", "Imaging", "Datasets", "Models", "Evaluation", "Report", "Training", "Sweep", "Paper", "TestSupport"]),
        // Figures and report documents; the rendering tests need rsvg-convert and chromium (`make deps`).
        .testTarget(name: "ReportTests", dependencies: ["TensorCore", "Imaging", "Report", "TestSupport"]),
        // `camaudit audit` end to end on phantoms (runs the built binary) and its report in Chromium.
        .testTarget(name: "AuditTests", dependencies: ["TensorCore", "Imaging", "Evaluation", "Report", "Sweep", "Audit", "TestSupport"]),
        .testTarget(name: "SweepTests", dependencies: ["TensorCore", "NN", "Models", "Explain", "Imaging", "Datasets", "Evaluation", "Sweep", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
