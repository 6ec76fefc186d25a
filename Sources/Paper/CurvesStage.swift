import Foundation
import TensorCore
import Imaging
import Datasets
import Evaluation

/// Deletion and insertion curves of one architecture's Grad-CAM (its first seed) on the first test
/// images, one curve per image (the sweeps keep only the areas under them).
public struct CurveSet: Codable, Sendable {
    public var architecture: String
    public var fractions: [Double]
    public var deletion: [[Double]]
    public var insertion: [[Double]]
    public var images: [String]
}

/// Stage 3b: the curves behind the deletion/insertion AUCs, for the figure with CI bands. Keyed by
/// the data, the model and the steps and image count.
public enum CurvesStage {
    public static func run(_ c: PaperConfig, data: PaperData, models: [TrainedModel], version: String, cache: StageCache) throws -> [CurveSet] {
        let test = Array(data.manifest.items(in: .test).prefix(c.analysis.curveImages))
        var out: [CurveSet] = []
        for arch in c.architectures {
            guard let m = models.first(where: { $0.architecture == arch }) else { continue }
            let key = StageCache.key(["curves", data.digest, m.key, "steps=\(c.analysis.deletionSteps)", "images=\(c.analysis.curveImages)",
                                      "size=\(c.training.imageSize)", version])
            let dir = try cache.run(stage: "curves", item: arch, key: key) { work in
                let set = try compute(m, items: test, data: data, config: c)
                try atomicWrite(try JSONEncoder.sorted.encode(set), to: work + "/curves.json")
            }
            guard let d = FileManager.default.contents(atPath: dir + "/curves.json") else { throw PaperError.stage("curves", "\(dir)/curves.json missing") }
            out.append(try JSONDecoder().decode(CurveSet.self, from: d))
        }
        return out
    }

    static func compute(_ m: TrainedModel, items: [ManifestItem], data: PaperData, config c: PaperConfig) throws -> CurveSet {
        let runner = try ModelRunner(m, imageSize: c.training.imageSize, batchSize: c.analysis.batchSize)
        let pre = Preprocessing(size: c.training.imageSize)
        let images = try ModelRunner.load(items.map { data.manifest.resolve($0.file) }, preprocessing: pre)
        let f = runner.logitsFunction
        let logits = try f(images)
        let predicted = try rowArgmax(logits)
        let maps = try runner.gradcam(images, classes: predicted)
        var set = CurveSet(architecture: m.architecture, fractions: [], deletion: [], insertion: [], images: items.map(\.file))
        for i in items.indices {
            let x = try images.slice0(i..<(i + 1)), map = try ModelRunner.plane(maps, i)
            let del = try Faithfulness.deletion(image: x, map: map, targetClass: predicted[i], model: f, steps: c.analysis.deletionSteps,
                                                batchSize: c.analysis.batchSize)
            let ins = try Faithfulness.insertion(image: x, map: map, targetClass: predicted[i], model: f, steps: c.analysis.deletionSteps,
                                                 batchSize: c.analysis.batchSize)
            set.fractions = del.fractions
            set.deletion.append(del.scores); set.insertion.append(ins.scores)
        }
        return set
    }
}
