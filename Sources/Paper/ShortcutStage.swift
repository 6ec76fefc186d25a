import Foundation
import TensorCore
import Imaging
import Datasets
import Evaluation

/// The shortcut experiment for one trained model: on the test slices carrying the class-correlated
/// marker, where its Grad-CAM energy lands and what its accuracy is with and without the marker.
public struct ShortcutResult: Codable, Sendable {
    public var architecture: String
    public var seed: UInt64
    /// "marked": a shortcut model, trained on the marked slices; "clean": the study's model of that
    /// architecture, trained without markers — the control.
    public var trainedOn: String
    /// Marked test slices.
    public var images: Int
    public var accuracyMarked: Double
    /// The same slices with the marker removed (drawn again without it).
    public var accuracyClean: Double
    /// Energy pointing game: share of the map's mass inside the marker / the lesion (per slice;
    /// lesion only for slices with a lesion).
    public var markerEnergy: [Double]
    public var lesionEnergy: [Double]
    /// Share of the image the marker / the lesion covers: the energy a uniform map would put there.
    public var markerArea: Double
    public var lesionArea: Double

    /// The two kinds of model compared, in report order, with their labels.
    public static let trainings = [("marked", "marked slices (shortcut model)"), ("clean", "no markers (control)")]
}

/// Stage 5: beyond the study — one model per architecture trained on phantoms whose corner marker is
/// correlated with the class, beside the study's model trained without markers as the control. Keyed
/// by the marked set and the model; phantoms only (a user's folder has no marker).
public enum ShortcutStage {
    public static func run(_ c: PaperConfig, marked: MarkedSet?, shortcutModels: [TrainedModel], controls: [TrainedModel],
                           version: String, cache: StageCache) throws -> [ShortcutResult] {
        guard let set = marked else { return [] }
        let items = set.manifest.items(in: .test).filter { set.cleanPairs[$0.file] != nil && $0.extra["shortcut_mask"] != nil }
        guard !items.isEmpty else { return [] }
        var out: [ShortcutResult] = []
        for (m, trainedOn) in shortcutModels.map({ ($0, "marked") }) + controls.map({ ($0, "clean") }) {
            let key = StageCache.key(["shortcut", set.digest, m.key, "size=\(c.training.imageSize)", version])
            let dir = try cache.run(stage: "shortcut", item: trainedOn + "-" + TrainStage.item(m.architecture, m.seed), key: key) { work in
                let r = try compute(m, trainedOn: trainedOn, items: items, set: set, config: c)
                try atomicWrite(try JSONEncoder.sorted.encode(r), to: work + "/shortcut.json")
            }
            guard let d = FileManager.default.contents(atPath: dir + "/shortcut.json") else { throw PaperError.stage("shortcut", "\(dir)/shortcut.json missing") }
            out.append(try JSONDecoder().decode(ShortcutResult.self, from: d))
        }
        return out
    }

    static func compute(_ m: TrainedModel, trainedOn: String, items: [ManifestItem], set data: MarkedSet, config c: PaperConfig) throws -> ShortcutResult {
        let runner = try ModelRunner(m, imageSize: c.training.imageSize, batchSize: c.analysis.batchSize)
        let pre = Preprocessing(size: c.training.imageSize)
        let f = runner.logitsFunction
        let markedImages = try ModelRunner.load(items.map { data.manifest.resolve($0.file) }, preprocessing: pre)
        let cleanImages = try ModelRunner.load(items.map { data.cleanPairs[$0.file]! }, preprocessing: pre)
        let predMarked = try rowArgmax(f(markedImages))
        let predClean = try rowArgmax(f(cleanImages))
        let maps = try runner.gradcam(markedImages, classes: predMarked)
        var markerEnergy: [Double] = [], lesionEnergy: [Double] = [], markerArea = 0.0, lesionArea = 0.0, lesionCount = 0
        for (i, it) in items.enumerated() {
            let map = try ModelRunner.plane(maps, i)
            let marker = try pre.loadMask(data.manifest.resolve(it.extra["shortcut_mask"]!))
            markerArea += Double(ModelRunner.positives(marker)) / Double(marker.count)
            if let e = try Localization.energyPointingGame(map: map, mask: marker) { markerEnergy.append(e) }
            if let lesion = try data.manifest.lesionMaskTensor(it, preprocessing: pre), ModelRunner.positives(lesion) > 0 {
                lesionArea += Double(ModelRunner.positives(lesion)) / Double(lesion.count); lesionCount += 1
                if let e = try Localization.energyPointingGame(map: map, mask: lesion) { lesionEnergy.append(e) }
            }
        }
        let n = Double(items.count)
        let truth = items.map(\.classIndex)
        return ShortcutResult(architecture: m.architecture, seed: m.seed, trainedOn: trainedOn, images: items.count,
                              accuracyMarked: Double(zip(predMarked, truth).filter { $0 == $1 }.count) / n,
                              accuracyClean: Double(zip(predClean, truth).filter { $0 == $1 }.count) / n,
                              markerEnergy: markerEnergy, lesionEnergy: lesionEnergy, markerArea: markerArea / n,
                              lesionArea: lesionCount > 0 ? lesionArea / Double(lesionCount) : 0)
    }
}
