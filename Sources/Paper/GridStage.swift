import Foundation
import TensorCore
import Imaging
import Datasets
import Evaluation
import Report

/// The chosen slices of the Grad-CAM grid and the overlays drawn for them.
public struct GridResult: Codable, Sendable {
    public struct Row: Codable, Sendable {
        public var label: String
        public var file: String
        /// Why this slice: how many architectures classified it correctly.
        public var reason: String
        public var input: String
        public var mask: String?
        /// Overlay PNG per architecture (column order), with the predicted class.
        public var overlays: [String]
        public var predicted: [String]
    }
    public var columns: [String]
    /// Each column's map size [h, w] at its target layer before upsampling (nil in grids cached
    /// before it was recorded).
    public var mapSizes: [[Int]]?

    /// "h×w" of column `k`'s map grid.
    public func mapSize(_ k: Int) -> String? { mapSizes.map { "\($0[k][0])×\($0[k][1])" } }
    public var rows: [Row]
}

/// Stage 6a: the study's figure — rows malignant, normal, benign; columns the input and each
/// architecture's Grad-CAM overlay (0.5·image + 0.5·JET, its first seed). Per class the test slice
/// classified correctly by the most architectures is chosen (ties: the first in manifest order), and
/// the report states the choice.
public enum GridStage {
    /// Row order of the study's figure; other class names follow in the manifest's order.
    static let studyOrder = ["malignant", "normal", "benign"]

    public static func chooseRows(_ manifest: Manifest, mainRows: [ResultRow], firstWeights: Set<String>) -> [(label: String, item: ManifestItem, correct: Int)] {
        let classes = studyOrder.filter(manifest.classes.contains) + manifest.classes.filter { !studyOrder.contains($0) }
        var correct: [String: Int] = [:]
        for r in mainRows where r.key.metric == FactMetric.correct && firstWeights.contains(r.key.weights) && r.value == 1 { correct[r.key.image, default: 0] += 1 }
        let test = manifest.items(in: .test)
        return classes.compactMap { cls in
            let items = test.filter { $0.className == cls }
            guard let best = items.enumerated().max(by: { (correct[$0.element.file] ?? 0, -$0.offset) < (correct[$1.element.file] ?? 0, -$1.offset) }) else { return nil }
            return (cls, best.element, correct[best.element.file] ?? 0)
        }
    }

    public static func run(_ c: PaperConfig, data: PaperData, models: [TrainedModel], mainRows: [ResultRow], version: String,
                           cache: StageCache) throws -> GridResult {
        let firsts = c.architectures.compactMap { a in models.first { $0.architecture == a } }
        let chosen = chooseRows(data.manifest, mainRows: mainRows, firstWeights: Set(firsts.map { ($0.checkpoint as NSString).lastPathComponent }))
        let key = StageCache.key(["grid", data.digest, "size=\(c.training.imageSize)", version] + firsts.map(\.key) + chosen.map(\.item.file))
        let dir = try cache.run(stage: "grid", item: "gradcam", key: key) { work in
            let pre = Preprocessing(size: c.training.imageSize)
            let images = try ModelRunner.load(chosen.map { data.manifest.resolve($0.item.file) }, preprocessing: pre)
            var rows: [GridResult.Row] = []
            var mapSizes: [[Int]] = []
            for (r, ch) in chosen.enumerated() {
                let x = try images.slice0(r..<(r + 1)).reshaped(Array(images.shape.dropFirst()))
                let input = "input_\(r).png"
                try PNG.write(try Overlay.render(image: x, map: Tensor(zeros: [x.shape[1], x.shape[2]]), imageWeight: 1), to: work + "/" + input)
                var maskName: String? = nil
                if let m = try data.manifest.lesionMaskTensor(ch.item, preprocessing: pre), ModelRunner.positives(m) > 0 {
                    maskName = "mask_\(r).png"
                    try PNG.writeBytes(try PNG.encode8((0..<m.count).map { m.data[$0] > 0 ? 255 : 0 }, width: m.shape[1], height: m.shape[0], channels: 1),
                                       to: work + "/" + maskName!)
                }
                rows.append(.init(label: ch.label, file: ch.item.file,
                                  reason: "correct for \(ch.correct) of \(firsts.count) architectures (first seed)",
                                  input: input, mask: maskName, overlays: [], predicted: []))
            }
            for m in firsts {
                let runner = try ModelRunner(m, imageSize: c.training.imageSize, batchSize: c.analysis.batchSize)
                let predicted = try rowArgmax(runner.logitsFunction(images))
                let result = try runner.gradcamResult(images, classes: predicted)
                let maps = result.maps
                mapSizes.append(result.layerSizes.first ?? [images.shape[2], images.shape[3]])
                for r in rows.indices {
                    let x = try images.slice0(r..<(r + 1)).reshaped(Array(images.shape.dropFirst()))
                    let name = "\(m.architecture)_\(r).png"
                    try PNG.write(try Overlay.render(image: x, map: ModelRunner.plane(maps, r)), to: work + "/" + name)
                    rows[r].overlays.append(name)
                    let k = predicted[r]
                    rows[r].predicted.append(k < data.manifest.classes.count ? data.manifest.classes[k] : "class \(k)")
                }
            }
            try atomicWrite(try JSONEncoder.sorted.encode(GridResult(columns: firsts.map(\.architecture), mapSizes: mapSizes, rows: rows)), to: work + "/grid.json")
        }
        guard let d = FileManager.default.contents(atPath: dir + "/grid.json") else { throw PaperError.stage("grid", "\(dir)/grid.json missing") }
        var g = try JSONDecoder().decode(GridResult.self, from: d)
        for r in g.rows.indices {
            g.rows[r].input = dir + "/" + g.rows[r].input
            g.rows[r].mask = g.rows[r].mask.map { dir + "/" + $0 }
            g.rows[r].overlays = g.rows[r].overlays.map { dir + "/" + $0 }
        }
        return g
    }
}
