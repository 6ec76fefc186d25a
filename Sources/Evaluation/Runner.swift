import Foundation
import TensorCore
import NN
import Models
import Explain
import Imaging
import Datasets
import Report

/// The metrics `camaudit evaluate` can compute, with the conventions each number follows.
public enum MetricName: String, CaseIterable, Sendable {
    /// The study's LocAcc: |[L ≥ τ] ∩ M| / |M| (undefined for an empty mask).
    case locacc
    /// Pointing game: the map's first argmax lies in the mask.
    case pointing
    /// Energy-based pointing game: share of map mass inside the mask.
    case energy
    /// IoU and Dice of [L ≥ τ] with the mask.
    case iou, dice
    /// IoU of the top-10% pixels with the mask.
    case iou_top10
    /// Relevance rank accuracy (share of the |M| highest pixels inside M).
    case rank
    /// ROC-AUC of map values against the mask.
    case auc
    /// The study's Faith: f(x)_y − f(x ⊙ (1 − L))_y, raw logits, y predicted.
    case faith
    /// RISE deletion / insertion AUC (softmax probability, zero baseline / blur start).
    case deletion, insertion
    /// Average drop (%) and increase in confidence (Chattopadhyay et al.), softmax probability.
    case drop, increase
    /// ROAD with noisy linear imputation: mean score change over percentiles 10…90, MoRF and LeRF.
    case road_morf, road_lerf
    /// The study's Consist: mean IoU of [L ≥ τ] across weights of one architecture vs the first.
    case consist
    /// IoU of maps under horizontal flip / shift / rotation, mapped back (mean over the three).
    case augment_iou
    /// Cascading parameter randomisation from the head (Adebayo et al. 2018): Spearman and SSIM of
    /// the map after re-initialising blocks 0…k (`Architecture.cascadeBlocks`) against the original.
    case cascade
    /// Random-logit test: Spearman and SSIM of the map for a random other class against the map
    /// for the predicted class.
    case random_logit
    /// Agreement between CAM methods on the same image and weights: IoU of [L ≥ τ] and Spearman,
    /// for every pair of methods (method column "a~b").
    case cross_method
    /// Agreement between architectures on the same image and method: IoU of [L ≥ τ] for every pair
    /// (model column "a~b", each architecture's first weights). The binarised maps are kept as PNG
    /// in OUT/binary_maps so the comparison survives resumed runs.
    case cross_arch

    /// The default set: the study's three measures and the cheap standard ones.
    public static let defaults: [MetricName] = [.locacc, .pointing, .energy, .iou, .auc, .faith, .deletion, .insertion, .drop,
                                                .increase, .consist]
    var needsMask: Bool { [.locacc, .pointing, .energy, .iou, .dice, .iou_top10, .rank, .auc].contains(self) }
}

/// What one evaluation run covers.
public struct EvaluationPlan: Sendable {
    public var architectures: [Architecture]
    /// Checkpoints applied to every architecture in turn (each must fit it); empty → random weights.
    public var weights: [String] = []
    /// Seeds of random models when no weights are given (several give the Consist measure).
    public var randomSeeds: [UInt64] = [0, 1]
    public var numClasses: Int = 3
    public var methods: [CAMMethod] = [.gradcam]
    public var metrics: [MetricName] = MetricName.defaults
    public var imageSize: Int = 224
    public var imagenetNormalize = false
    /// Only items of this split (nil: all).
    public var split: Split? = nil
    public var limit: Int? = nil
    public var batchSize: Int = 8
    /// Deletion/insertion steps (RISE default 50).
    public var steps: Int = 50
    public var threshold: Float = 0.5
    public var overlayDir: String? = nil
    public var overlaysPerModel: Int = 6
    public var camSeed: UInt64 = 0

    public init(architectures: [Architecture]) { self.architectures = architectures }
}

/// Runs a plan over a manifest, appending rows to `results.csv` in `outDir` (resumable), then writes
/// summary.json, summary.md and classification.json.
public final class EvaluationRunner {
    public let plan: EvaluationPlan
    public let manifest: Manifest
    public let outDir: String
    /// Progress and warnings (stderr in the CLI).
    public var log: (String) -> Void = { _ in }
    public var progress: (String) -> Void = { _ in }
    public private(set) var skippedItems: [String] = []

    public init(plan: EvaluationPlan, manifest: Manifest, outDir: String) {
        self.plan = plan
        self.manifest = manifest
        self.outDir = outDir
    }

    var items: [ManifestItem] {
        var xs = plan.split.map { manifest.items(in: $0) } ?? manifest.items
        if let limit = plan.limit { xs = Array(xs.prefix(limit)) }
        return xs
    }

    /// Runs everything not already in results.csv. Returns the number of rows written in this run.
    @discardableResult
    public func run() throws -> Int {
        try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)
        let store = try ResultsStore(path: outDir + "/results.csv")
        let items = self.items
        guard !items.isEmpty else { throw EvaluationError.invalidArgument(op: "evaluate", detail: "no images to evaluate in \(manifest.directory)") }
        let pre = Preprocessing(size: plan.imageSize, imagenetNormalize: plan.imagenetNormalize)
        var written = 0
        let start = Date()
        let totalUnits = plan.architectures.count * items.count
        var doneUnits = 0
        var warned = Set<String>()
        for arch in plan.architectures {
            let models = try loadModels(arch)
            let tags = models.map(\.tag)
            firstTag = tags.first ?? ""
            var overlaysLeft = plan.overlaysPerModel
            var b = 0
            while b < items.count {
                let batch = Array(items[b..<min(items.count, b + plan.batchSize)])
                b += batch.count
                let needed = batch.flatMap { expectedKeys(arch: arch, item: $0, tags: tags) }
                if needed.allSatisfy(store.contains) {
                    doneUnits += batch.count
                    continue
                }
                // Decode; bad images are skipped, counted and listed, never fatal.
                var good: [ManifestItem] = []
                var tensors: [Tensor] = []
                var masks: [Tensor?] = []
                for item in batch {
                    do {
                        let t = try pre.load(manifest.resolve(item.file))
                        let m = try manifest.lesionMaskTensor(item, preprocessing: pre)
                        good.append(item)
                        tensors.append(try t.reshaped([1] + t.shape))
                        masks.append(m)
                    } catch {
                        if !skippedItems.contains(item.file) { skippedItems.append(item.file); log("skipping \(item.file): \(error)") }
                    }
                }
                doneUnits += batch.count
                guard !good.isEmpty else { continue }
                let images = try Tensor.concat0(tensors)
                var mapsByMethod: [CAMMethod: [Tensor]] = [:]
                for (tag, model) in models {
                    let rows = try evaluateBatch(arch: arch, tag: tag, model: model, items: good, images: images, masks: masks,
                                                 store: store, warned: &warned, mapsOut: &mapsByMethod,
                                                 overlays: &overlaysLeft)
                    written += rows
                }
                if plan.metrics.contains(.consist) && models.count > 1 {
                    for method in plan.methods {
                        guard let perTag = mapsByMethod[method], perTag.count == models.count else { continue }
                        for (i, item) in good.enumerated() {
                            let key = ResultKey(image: item.file, model: arch.rawValue, weights: "all", method: method.rawValue,
                                                metric: MetricName.consist.rawValue, params: "tau=\(plan.threshold);ref=\(tags[0]);runs=\(tags.count)")
                            if store.contains(key) { continue }
                            let maps = try perTag.map { try $0.slice0(i..<(i + 1)).reshaped(Array($0.shape.dropFirst())) }
                            let v = try Consistency.consist(maps: maps, threshold: plan.threshold)
                            if try store.append(ResultRow(key: key, value: v)) { written += 1 }
                        }
                    }
                }
                let elapsed = Date().timeIntervalSince(start)
                let eta = doneUnits > 0 ? elapsed / Double(doneUnits) * Double(totalUnits - doneUnits) : 0
                progress(String(format: "[%@] %d/%d images  elapsed %.0fs  ETA %.0fs", arch.rawValue, doneUnits, totalUnits, elapsed, eta))
            }
        }
        if plan.metrics.contains(.cross_arch) && plan.architectures.count > 1 { written += try crossArchitectureRows(store) }
        try writeSummaries(store)
        return written
    }


    /// Unfolded copies of the models, kept only when the cascade needs to re-initialise blocks.
    var unfolded: [String: ImageClassifier] = [:]
    /// The reference weights of the current architecture (cross-architecture maps use them).
    var firstTag = ""

    /// Where the binarised map of an image is kept for the cross-architecture comparison.
    func binaryMapPath(arch: Architecture, method: CAMMethod, item: ManifestItem) -> String {
        let stem = (item.file as NSString).deletingPathExtension.replacingOccurrences(of: "/", with: "__")
        return "\(outDir)/binary_maps/\(arch.rawValue)/\(method.rawValue)/\(stem).png"
    }

    /// Pairwise IoU of the architectures' binarised maps (from OUT/binary_maps), for every image and
    /// method where at least two architectures have one.
    func crossArchitectureRows(_ store: ResultsStore) throws -> Int {
        var written = 0
        let archs = plan.architectures
        for item in items {
            for method in plan.methods {
                for a in 0..<archs.count {
                    for b in (a + 1)..<archs.count {
                        let key = ResultKey(image: item.file, model: "\(archs[a].rawValue)~\(archs[b].rawValue)", weights: "first",
                                            method: method.rawValue, metric: "arch_iou", params: "tau=\(plan.threshold)")
                        if store.contains(key) { continue }
                        let pa = binaryMapPath(arch: archs[a], method: method, item: item)
                        let pb = binaryMapPath(arch: archs[b], method: method, item: item)
                        guard FileManager.default.fileExists(atPath: pa), FileManager.default.fileExists(atPath: pb) else { continue }
                        let ia = try PNG.read(path: pa).tensor(), ib = try PNG.read(path: pb).tensor()
                        let v = try Similarity.binaryIoU(ia, ib, threshold: 0.5)
                        if try store.append(ResultRow(key: key, value: v)) { written += 1 }
                    }
                }
            }
        }
        return written
    }

    func loadModels(_ arch: Architecture) throws -> [(tag: String, model: ImageClassifier)] {
        unfolded = [:]
        let keepUnfolded = plan.metrics.contains(.cascade)
        func prepare(_ tag: String, _ build: () throws -> ImageClassifier) throws -> (tag: String, model: ImageClassifier) {
            if keepUnfolded { unfolded[tag] = try build() }
            let m = try build()
            try m.foldBatchNorms()
            return (tag, m)
        }
        if plan.weights.isEmpty {
            return try plan.randomSeeds.map { seed in
                try prepare("random-seed\(seed)") {
                    let m = try makeModel(arch, numClasses: plan.numClasses, imageSize: plan.imageSize)
                    m.initialize(seed: seed)
                    return m
                }
            }
        }
        return try plan.weights.map { path in
            try prepare(URL(fileURLWithPath: path).lastPathComponent) {
                try loadModel(arch, weights: path, imageSize: arch == .vit_b_16 ? plan.imageSize : nil)
            }
        }
    }

    /// The (metric, params) rows a metric writes per image and method.
    func rowNames(_ metric: MetricName, arch: Architecture) -> [(String, String)] {
        switch metric {
        case .cascade:
            return arch.cascadeBlocks.enumerated().flatMap { (k, block) in
                ["cascade_spearman", "cascade_ssim"].map { ($0, "stage=\(k);upto=\(block[0]);seed=\(plan.camSeed)") }
            }
        case .random_logit:
            return [("random_logit_spearman", "seed=\(plan.camSeed)"), ("random_logit_ssim", "seed=\(plan.camSeed)")]
        default:
            return [(metric.rawValue, params(metric))]
        }
    }

    /// The rows one image contributes for one architecture (used to skip finished work on resume).
    func expectedKeys(arch: Architecture, item: ManifestItem, tags: [String]) -> [ResultKey] {
        var keys: [ResultKey] = []
        for tag in tags {
            keys.append(ResultKey(image: item.file, model: arch.rawValue, weights: tag, method: "-", metric: "predicted"))
            for method in plan.methods {
                for metric in plan.metrics where ![.consist, .cross_method, .cross_arch].contains(metric) {
                    for (name, p) in rowNames(metric, arch: arch) {
                        keys.append(ResultKey(image: item.file, model: arch.rawValue, weights: tag, method: method.rawValue,
                                              metric: name, params: p))
                    }
                }
            }
        }
        if plan.metrics.contains(.cross_method) && plan.methods.count > 1 {
            for tag in tags {
                for a in 0..<plan.methods.count {
                    for b in (a + 1)..<plan.methods.count {
                        let pair = "\(plan.methods[a].rawValue)~\(plan.methods[b].rawValue)"
                        keys.append(ResultKey(image: item.file, model: arch.rawValue, weights: tag, method: pair, metric: "method_iou", params: "tau=\(plan.threshold)"))
                        keys.append(ResultKey(image: item.file, model: arch.rawValue, weights: tag, method: pair, metric: "method_spearman"))
                    }
                }
            }
        }
        if plan.metrics.contains(.cross_arch) && !tags.isEmpty {
            for method in plan.methods where !FileManager.default.fileExists(atPath: binaryMapPath(arch: arch, method: method, item: item)) {
                // A missing binarised map means this image still has to be run for the comparison.
                keys.append(ResultKey(image: item.file, model: arch.rawValue, weights: "binary-map-missing", method: method.rawValue, metric: "-"))
            }
        }
        if plan.metrics.contains(.consist) && tags.count > 1 {
            for method in plan.methods {
                keys.append(ResultKey(image: item.file, model: arch.rawValue, weights: "all", method: method.rawValue,
                                      metric: MetricName.consist.rawValue, params: "tau=\(plan.threshold);ref=\(tags[0]);runs=\(tags.count)"))
            }
        }
        return keys
    }

    /// The parameters that define a metric's number, written beside it.
    func params(_ m: MetricName) -> String {
        switch m {
        case .locacc, .iou, .dice: return "tau=\(plan.threshold);size=\(plan.imageSize)"
        case .iou_top10: return "top=10%;size=\(plan.imageSize)"
        case .pointing: return "tolerance=0"
        case .faith: return "logit;class=predicted"
        case .deletion: return "steps=\(plan.steps);baseline=zero;score=softmax"
        case .insertion: return "steps=\(plan.steps);start=blur11s5;score=softmax"
        case .drop, .increase: return "score=softmax;class=predicted"
        case .road_morf, .road_lerf: return "percentiles=10..90;noise=0.01;score=softmax"
        case .augment_iou: return "hflip,shift16,rot10;tau=\(plan.threshold)"
        default: return ""
        }
    }

    func evaluateBatch(arch: Architecture, tag: String, model: ImageClassifier, items: [ManifestItem], images: Tensor,
                       masks: [Tensor?], store: ResultsStore, warned: inout Set<String>,
                       mapsOut: inout [CAMMethod: [Tensor]], overlays: inout Int) throws -> Int {
        var written = 0
        func put(_ item: ManifestItem, _ method: String, _ metric: String, _ params: String, _ v: Double?) throws {
            let key = ResultKey(image: item.file, model: arch.rawValue, weights: tag, method: method, metric: metric, params: params)
            if try store.append(ResultRow(key: key, value: v)) { written += 1 }
        }
        let logitsFn: LogitsFunction = { x in
            var outs: [Tensor] = []
            var s = 0
            while s < x.shape[0] {
                let e = min(x.shape[0], s + max(1, self.plan.batchSize))
                outs.append(try model.logits(x.slice0(s..<e)).value)
                s = e
            }
            return try Tensor.concat0(outs)
        }
        let logits = try logitsFn(images)
        let predicted = try predictedClasses(logits)
        let k = logits.shape[1]
        for (i, item) in items.enumerated() {
            try put(item, "-", "predicted", "", Double(predicted[i]))
            if item.classIndex < k { try put(item, "-", "correct", "", predicted[i] == item.classIndex ? 1 : 0) }
        }
        let probs = try softmaxLastDim(logits)
        let explainer = CAMExplainer(model: model)
        let (h, w) = (images.shape[2], images.shape[3])
        for method in plan.methods {
            let opts = CAMOptions(method: method, targetClasses: predicted, seed: plan.camSeed)
            let result = try explainer.explain(images, opts)
            for wmsg in result.warnings where !warned.contains(wmsg) { warned.insert(wmsg); log("warning: \(arch.rawValue): \(wmsg)") }
            let maps = result.maps
            mapsOut[method, default: []].append(maps)
            let m = method.rawValue
            var faith: [Double]? = nil, change: [ConfidenceChange]? = nil
            if plan.metrics.contains(.faith) {
                faith = try Faithfulness.faith(images: images, maps: maps, model: logitsFn, classes: predicted, cleanLogits: logits,
                                               batchSize: plan.batchSize)
            }
            if plan.metrics.contains(.drop) || plan.metrics.contains(.increase) {
                change = try Faithfulness.confidenceChange(images: images, maps: maps, model: logitsFn, classes: predicted,
                                                           cleanLogits: logits, batchSize: plan.batchSize)
            }
            var cascadeRows: [[(String, String, Double?)]] = Array(repeating: [], count: items.count)
            if plan.metrics.contains(.cascade), let original = unfolded[tag] {
                var prefixes: [String] = []
                for (k, block) in arch.cascadeBlocks.enumerated() {
                    prefixes += block
                    let randomized = try original.randomized(prefixes: prefixes, seed: plan.camSeed &+ 7919, imageSize: plan.imageSize)
                    let rmaps = try CAMExplainer(model: randomized).explain(images, CAMOptions(method: method, targetClasses: predicted, seed: plan.camSeed)).maps
                    for i in 0..<items.count {
                        let sim = try Sanity.similarity(original: maps.slice0(i..<(i + 1)).reshaped([h, w]),
                                                        other: rmaps.slice0(i..<(i + 1)).reshaped([h, w]))
                        let p = "stage=\(k);upto=\(block[0]);seed=\(plan.camSeed)"
                        cascadeRows[i] += [("cascade_spearman", p, sim.spearman), ("cascade_ssim", p, sim.ssim)]
                    }
                }
            }
            var randomLogit: [(Int, MapSimilarity)] = []
            if plan.metrics.contains(.random_logit) && k > 1 {
                let explain: MapFunction = { x, cls in
                    try explainer.explain(x, CAMOptions(method: method, targetClasses: cls, seed: self.plan.camSeed)).maps
                }
                randomLogit = try Sanity.randomLogit(images: images, classes: predicted, numClasses: k, explain: explain, maps: maps,
                                                     seed: plan.camSeed, batchSize: plan.batchSize)
            }
            for (i, item) in items.enumerated() {
                let map = try maps.slice0(i..<(i + 1)).reshaped([h, w])
                let image = try images.slice0(i..<(i + 1))
                let clean = Double(probs.data[i * k + predicted[i]])
                for metric in plan.metrics {
                    let p = params(metric)
                    switch metric {
                    case .consist, .cross_method, .cross_arch: continue
                    case .cascade:
                        for (name, p, v) in cascadeRows[i] { try put(item, m, name, p, v) }
                    case .random_logit:
                        let sim = i < randomLogit.count ? randomLogit[i].1 : nil
                        try put(item, m, "random_logit_spearman", "seed=\(plan.camSeed)", sim?.spearman)
                        try put(item, m, "random_logit_ssim", "seed=\(plan.camSeed)", sim?.ssim)
                    case .locacc, .pointing, .energy, .iou, .dice, .iou_top10, .rank, .auc:
                        guard let mask = masks[i] else { try put(item, m, metric.rawValue, p, nil); continue }
                        let v: Double?
                        switch metric {
                        case .locacc: v = try Localization.locAcc(map: map, mask: mask, threshold: plan.threshold)
                        case .pointing: v = try Localization.pointingGame(map: map, mask: mask)
                        case .energy: v = try Localization.energyPointingGame(map: map, mask: mask)
                        case .iou: v = try Localization.overlapAtThreshold(map: map, mask: mask, threshold: plan.threshold).iou
                        case .dice: v = try Localization.overlapAtThreshold(map: map, mask: mask, threshold: plan.threshold).dice
                        case .iou_top10: v = try Localization.overlapAtTopPercent(map: map, mask: mask, percent: 10).iou
                        case .rank: v = try Localization.relevanceRankAccuracy(map: map, mask: mask)
                        default: v = try Localization.rocAUC(map: map, mask: mask)
                        }
                        try put(item, m, metric.rawValue, p, v)
                    case .faith: try put(item, m, metric.rawValue, p, faith?[i])
                    case .drop: try put(item, m, metric.rawValue, p, change?[i].dropPercent)
                    case .increase: try put(item, m, metric.rawValue, p, change?[i].increased)
                    case .deletion:
                        let c = try Faithfulness.deletion(image: image, map: map, targetClass: predicted[i], model: logitsFn,
                                                          steps: plan.steps, cleanScore: clean, batchSize: plan.batchSize)
                        try put(item, m, metric.rawValue, p, c.auc)
                    case .insertion:
                        let c = try Faithfulness.insertion(image: image, map: map, targetClass: predicted[i], model: logitsFn,
                                                           steps: plan.steps, cleanScore: clean, batchSize: plan.batchSize)
                        try put(item, m, metric.rawValue, p, c.auc)
                    case .road_morf, .road_lerf:
                        let r = try Faithfulness.road(image: image, map: map, targetClass: predicted[i], model: logitsFn,
                                                      order: metric == .road_morf ? .mostRelevantFirst : .leastRelevantFirst,
                                                      seed: plan.camSeed, cleanScore: clean, batchSize: plan.batchSize)
                        try put(item, m, metric.rawValue, p, r.isEmpty ? nil : r.reduce(0, +) / Double(r.count))
                    case .augment_iou:
                        let explain: MapFunction = { x, cls in
                            try explainer.explain(x, CAMOptions(method: method, targetClasses: cls, seed: self.plan.camSeed)).maps
                        }
                        let scores = try Consistency.underAugmentations(images: image, classes: [predicted[i]], explain: explain,
                                                                        referenceMaps: try maps.slice0(i..<(i + 1)), threshold: plan.threshold)
                        let ious = scores.first?.compactMap(\.iou) ?? []
                        try put(item, m, metric.rawValue, p, ious.isEmpty ? nil : ious.reduce(0, +) / Double(ious.count))
                    }
                }
                if let dir = plan.overlayDir, overlays > 0 {
                    try writeOverlay(dir: dir, arch: arch, tag: tag, method: method, item: item, image: image, map: map)
                }
            }
        }
        if plan.overlayDir != nil { overlays -= items.count }
        if plan.metrics.contains(.cross_method) && plan.methods.count > 1 {
            let last = plan.methods.map { mapsOut[$0]?.last }
            for a in 0..<plan.methods.count {
                for b in (a + 1)..<plan.methods.count {
                    guard let ma = last[a], let mb = last[b] else { continue }
                    let pair = "\(plan.methods[a].rawValue)~\(plan.methods[b].rawValue)"
                    for (i, item) in items.enumerated() {
                        let x = try ma.slice0(i..<(i + 1)).reshaped([h, w]), y = try mb.slice0(i..<(i + 1)).reshaped([h, w])
                        try put(item, pair, "method_iou", "tau=\(plan.threshold)", try Similarity.binaryIoU(x, y, threshold: plan.threshold))
                        try put(item, pair, "method_spearman", "", try Similarity.spearman(x, y))
                    }
                }
            }
        }
        if plan.metrics.contains(.cross_arch) && tag == firstTag {
            for method in plan.methods {
                guard let maps = mapsOut[method]?.last else { continue }
                for (i, item) in items.enumerated() {
                    let map = try maps.slice0(i..<(i + 1)).reshaped([h, w])
                    let bits = Tensor(uninitialized: [h, w])
                    for j in 0..<bits.count { bits.data[j] = map.data[j] >= plan.threshold ? 255 : 0 }
                    let path = binaryMapPath(arch: arch, method: method, item: item)
                    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                    try PNG.write(try Image(width: w, height: h, channels: 1, bytes: bits.values.map { UInt8($0) }), to: path)
                }
            }
        }
        return written
    }

    func writeOverlay(dir: String, arch: Architecture, tag: String, method: CAMMethod, item: ManifestItem, image: Tensor, map: Tensor) throws {
        let folder = "\(dir)/\(arch.rawValue)/\(tag)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let stem = URL(fileURLWithPath: item.file).deletingPathExtension().lastPathComponent.replacingOccurrences(of: " ", with: "_")
        let img = try image.reshaped(Array(image.shape.dropFirst()))
        try PNG.write(Overlay.render(image: img, map: map), to: "\(folder)/\(stem)_\(method.rawValue).png")
    }

    /// summary.json / summary.md (per group mean, median, bootstrap CI; Wilcoxon-Holm comparisons)
    /// and classification.json (accuracy, macro-F1, per-class sensitivity/specificity, confusion).
    func writeSummaries(_ store: ResultsStore) throws {
        try Summary.write(rows: store.rows, directory: outDir)
        var reports: [[String: Any]] = []
        var truthByFile: [String: Int] = [:]
        for item in manifest.items { truthByFile[item.file] = item.classIndex }
        let predictedRows = store.rows.filter { $0.key.metric == "predicted" }
        let groups = Dictionary(grouping: predictedRows) { "\($0.key.model)\t\($0.key.weights)" }
        for (g, rows) in groups.sorted(by: { $0.key < $1.key }) {
            let pairs = rows.compactMap { r -> (Int, Int)? in
                guard let t = truthByFile[r.key.image], let v = r.value else { return nil }
                return (t, Int(v))
            }
            let k = max(manifest.classes.count, (pairs.map { max($0.0, $0.1) }.max() ?? 0) + 1)
            guard let rep = try? ClassificationReport(truth: pairs.map(\.0), predicted: pairs.map(\.1), numClasses: k) else { continue }
            let parts = g.split(separator: "\t").map(String.init)
            reports.append(["model": parts[0], "weights": parts.count > 1 ? parts[1] : "", "n": pairs.count, "classes": manifest.classes,
                            "accuracy": rep.accuracy, "macro_f1": rep.macroF1, "confusion": rep.confusion,
                            "sensitivity": rep.sensitivity.map { $0 ?? Double.nan }.map { $0.isNaN ? NSNull() as Any : $0 as Any },
                            "specificity": rep.specificity.map { $0 ?? Double.nan }.map { $0.isNaN ? NSNull() as Any : $0 as Any }])
        }
        let data = try JSONSerialization.data(withJSONObject: ["models": reports, "skipped_images": skippedItems],
                                              options: [.prettyPrinted, .sortedKeys])
        try atomicWrite(data, to: outDir + "/classification.json")
    }
}
