import ArgumentParser
import Foundation
import TensorCore
import Models
import Explain
import Imaging
import Report

struct Cam: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cam",
        abstract: "Class activation maps (pytorch-grad-cam 1.5 semantics) as .npy and PNG overlays.")

    @OptionGroup var options: ModelOptions

    @Option(help: "Method: \(CAMMethod.allCases.map(\.rawValue).joined(separator: ", ")).")
    var method: String = "gradcam"

    @Option(name: .customLong("layer"), help: "Target layer by PyTorch module path (repeat for several; default: the architecture's usual layer).")
    var layers: [String] = []

    @Option(name: .customLong("target-class"), help: "Class to explain: one index for all images, or a comma-separated index per image (default: predicted).")
    var targetClass: String?

    @Option(help: "Write maps [N,H,W] float32 in [0,1] as .npy.")
    var output: String?

    @Option(name: .customLong("overlay-dir"), help: "Write 0.5·image + 0.5·JET overlays as PNG here.")
    var overlayDir: String?

    @Flag(name: .customLong("aug-smooth"), help: "Average over horizontal flip × {0.9, 1.0, 1.1}.")
    var augSmooth = false

    @Flag(name: .customLong("eigen-smooth"), help: "First principal component of the weighted activations.")
    var eigenSmooth = false

    @Option(name: .customLong("batch-size"), help: "Images per pass (Score-CAM/Ablation-CAM: masked copies per forward, defaults 16/32).")
    var batchSize: Int?

    @Option(name: .customLong("cam-seed"), help: "Seed for RandomCAM.")
    var camSeed: UInt64 = 0

    @Argument(help: "Image files, folders, or .npy arrays [N,3,H,W] / [3,H,W].")
    var inputs: [String]

    func run() throws {
        guard let m = CAMMethod(rawValue: method) else {
            throw ValidationError("unknown method '\(method)'; choose one of \(CAMMethod.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let b = batchSize, b < 1 { throw ValidationError("--batch-size must be ≥ 1") }
        let model = try options.load()
        let (x, names) = try loadInputs(inputs, preprocessing: options.preprocessing)
        let n = x.shape[0]
        var targets: [Int]? = nil
        if let t = targetClass {
            let parts = t.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            let ints = parts.compactMap { Int($0) }
            guard ints.count == parts.count else { throw ValidationError("--target-class: '\(t)' is not a list of integers") }
            guard ints.count == 1 || ints.count == n else {
                throw ValidationError("--target-class: \(ints.count) classes for \(n) images (give one, or one per image)")
            }
            targets = ints.count == 1 ? Array(repeating: ints[0], count: n) : ints
        }
        let explainer = CAMExplainer(model: model)
        let imagesPerPass = m == .scorecam || m == .ablationcam ? 1 : (batchSize ?? 8)
        var maps: [Tensor] = []
        var explained: [Int] = []
        var warnings = Set<String>()
        var start = 0
        while start < n {
            let end = min(n, start + imagesPerPass)
            let opts = CAMOptions(method: m, layers: layers, targetClasses: targets.map { Array($0[start..<end]) },
                                  augSmooth: augSmooth, eigenSmooth: eigenSmooth, batchSize: batchSize, seed: camSeed &+ UInt64(start))
            let r = try explainer.explain(x.slice0(start..<end), opts)
            maps.append(r.maps)
            explained += r.targetClasses
            for w in r.warnings where !warnings.contains(w) { warnings.insert(w); writeStderr("warning: " + w) }
            start = end
        }
        let all = try Tensor.concat0(maps)
        if let output { try NPY.write(all, path: output) }
        if let dir = overlayDir {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let (h, w) = (all.shape[1], all.shape[2])
            for i in 0..<n {
                let img = try x.slice0(i..<(i + 1)).reshaped([3, h, w])
                let map = try all.slice0(i..<(i + 1)).reshaped([h, w])
                let stem = URL(fileURLWithPath: names[i]).deletingPathExtension().lastPathComponent
                    .replacingOccurrences(of: "[", with: "_").replacingOccurrences(of: "]", with: "")
                let path = (dir as NSString).appendingPathComponent(String(format: "%04d_%@_%@.png", i, stem, m.rawValue))
                try PNG.write(Overlay.render(image: img, map: map), to: path)
            }
        }
        print("input\tclass\tmethod")
        for i in 0..<n { print("\(names[i])\t\(explained[i])\t\(m.rawValue)") }
    }
}
