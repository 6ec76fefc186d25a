import ArgumentParser
import Foundation
import TensorCore
import Models
import Explain
import Imaging
import Report
import Sweep

struct Cam: ParsableCommand, RunsModel {
    static let configuration = CommandConfiguration(
        commandName: "cam",
        abstract: "Class activation maps (pytorch-grad-cam 1.5 semantics) as .npy and PNG overlays.")

    @OptionGroup var options: ModelOptions
    @OptionGroup var image: ImageOptions

    @Option(help: "Method: \(CAMMethod.allCases.map(\.rawValue).joined(separator: ", ")) (default gradcam).")
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

    @Option(name: .customLong("batch-size"), help: "Images per pass, default 8 (Score-CAM/Ablation-CAM: masked copies per forward, defaults 16/32); \(OptionRange.batchSize).",
            transform: intOption(OptionRange.batchSize))
    var batchSize: Int?

    @Option(name: .customLong("cam-seed"), help: "Seed for RandomCAM (0...2^64-1, default 0).", transform: seedOption)
    var camSeed: UInt64 = 0

    @Flag(help: "Refuse an unreadable image instead of skipping it.")
    var strict = false

    @Argument(help: "Image files, folders, or .npy arrays: HU slices [H,W] / [1,H,W] / [N,1,H,W] or preprocessed [N,3,H,W] / [3,H,W].")
    var inputs: [String]

    func run() throws {
        guard let m = CAMMethod(rawValue: method) else {
            throw ValidationError("unknown method '\(method)'; choose one of \(CAMMethod.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        // Everything that can be refused is refused before the model is built or a map computed.
        if let output { try checkWritableFile(output, option: "--output") }
        if let overlayDir { try OutputFolder.check(overlayDir, option: "--overlay-dir", inputs: inputs.map { ($0, "the input") }, writes: []) }
        let imagesPerPass = m.spec.batchesImages ? 1 : (batchSize ?? 8)
        let copiesPerPass = m.spec.batchesImages ? (batchSize ?? m.spec.defaultBatchSize ?? 1) : imagesPerPass
        try options.checkMemory(images: copiesPerPass * (augSmooth ? 6 : 1), backward: true)
        var set = try InputSet(inputs, preprocessing: options.preprocessing(image), strict: strict)
        let n = set.items.count
        var targets: [Int]? = nil
        if let t = targetClass {
            let parts = t.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            let ints = parts.compactMap { Int($0) }
            guard ints.count == parts.count else { throw ValidationError("--target-class: '\(t)' is not a list of integers") }
            guard ints.count == 1 || ints.count == n else {
                throw ValidationError("--target-class: \(ints.count) classes for \(n) images (give one, or one per image)")
            }
            targets = ints.count == 1 ? Array(repeating: ints[0], count: n) : ints
        }
        let model = try options.load()
        if let bad = targets?.first(where: { $0 < 0 || $0 >= model.numClasses }) {
            throw ValidationError("--target-class \(bad) is out of range: the model has \(model.numClasses) classes (0...\(model.numClasses - 1))")
        }
        let explainer = CAMExplainer(model: model)
        var maps: [Tensor] = []
        var explained: [Int] = []
        var done: [Int] = []
        var warnings = Set<String>()
        let progress = ProgressLine(total: n, label: "cam (\(m.rawValue))")
        var start = 0
        while start < n {
            let end = min(n, start + imagesPerPass)
            defer { start = end; progress.update(end) }
            guard let (x, kept) = try set.batch(start..<end) else { continue }
            let opts = CAMOptions(method: m, layers: layers, targetClasses: targets.map { t in kept.map { t[$0] } },
                                  augSmooth: augSmooth, eigenSmooth: eigenSmooth, batchSize: batchSize, seed: camSeed &+ UInt64(start))
            let r = try explainer.explain(x, opts)
            maps.append(r.maps)
            explained += r.targetClasses
            for w in r.warnings where !warnings.contains(w) { warnings.insert(w); writeStderr("warning: " + w) }
            for n in r.notes where !warnings.contains(n) { warnings.insert(n); writeStderr("note: " + n) }
            if let dir = overlayDir { try writeOverlays(images: x, maps: r.maps, items: kept.map { set.items[$0] }, dir: dir, method: m) }
            done += kept
        }
        progress.finish()
        set.reportSkipped()
        guard !maps.isEmpty else { throw CLIError("none of the \(n) input(s) could be read") }
        let all = try Tensor.concat0(maps)
        if let output { try NPY.write(all, path: output) }
        print("input\tclass\tmethod")
        for (j, i) in done.enumerated() { print("\(set.items[i].name)\t\(explained[j])\t\(m.rawValue)") }
    }

    /// Overlays named by `OverlayName`'s rule (the image's path relative to its input folder,
    /// extension kept), the one `evaluate` and `sweep` follow.
    func writeOverlays(images x: Tensor, maps: Tensor, items: [InputSet.Item], dir: String, method: CAMMethod) throws {
        let (h, w) = (maps.shape[1], maps.shape[2])
        for (i, item) in items.enumerated() {
            let img = try x.slice0(i..<(i + 1)).reshaped([3, h, w])
            let map = try maps.slice0(i..<(i + 1)).reshaped([h, w])
            let path = (dir as NSString).appendingPathComponent(OverlayName.relativePath(file: item.outputName, root: nil, method: method.rawValue))
            let folder = parentFolder(path)
            do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
                throw CLIError("--overlay-dir \(folder): cannot create folder (\(error.localizedDescription))")
            }
            try PNG.write(Overlay.render(image: img, map: map), to: path)
        }
    }
}
