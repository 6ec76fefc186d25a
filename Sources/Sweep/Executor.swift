import Foundation
import TensorCore
import NN
import Models
import Explain
import Imaging
import Datasets
import Report
import Evaluation

/// What a run did.
public struct ExecutionReport: Sendable, Equatable {
    /// Units computed in this run / found complete in the store.
    public var unitsComputed = 0
    public var unitsReused = 0
    /// Rows appended in this run.
    public var rowsWritten = 0
    public init() {}
}

/// Runs work units and appends their rows to a store.
///
/// A unit whose expected rows (`Plan.expectedRows`) are all current in the store is skipped.
/// Models are loaded once per weights and kept while units of their architecture run; each
/// cascade stage's randomised model is built once per weights and reused by every batch; maps
/// that later units need (cascade originals, Consist across weights, cross-architecture IoU) are
/// kept only until their last use, and recomputed when a unit runs without them (a resumed or
/// sharded run), which gives the same numbers.
public final class Executor {
    public let plan: Plan
    /// Warnings and notes (stderr in the CLI).
    public var log: (String) -> Void = { _ in }
    /// One line of progress per unit.
    public var progress: (String) -> Void = { _ in }
    /// Images whose file could not be decoded, with the reason (they have no rows).
    public private(set) var unreadable: [String: String] = [:]

    private var itemsByFile: [String: ManifestItem] = [:]
    private var models: [Int: ImageClassifier] = [:]
    private var unfolded: [Int: ImageClassifier] = [:]
    private var randomized: (weights: Int, stage: Int, model: ImageClassifier)? = nil
    struct MapKey: Hashable { let image: Int, weights: Int, method: Int }
    private var maps: [MapKey: Tensor] = [:]
    private var lastUse: [MapKey: Int] = [:]
    private var releaseAt: [Int: [MapKey]] = [:]
    private var warned = Set<String>()

    public init(plan: Plan) {
        self.plan = plan
        for it in plan.manifest.items where itemsByFile[it.file] == nil { itemsByFile[it.file] = it }
    }

    var methods: [CAMMethod] { plan.resolved.methods }
    var metrics: [MetricName] { plan.resolved.metrics }
    var config: SweepConfig { plan.config }

    /// Runs `units` (any subset of `plan.units`, in the given order) into `store`.
    @discardableResult
    public func run(_ units: [WorkUnit], store: Store) throws -> ExecutionReport {
        var report = ExecutionReport()
        planLastUse(units)
        // Cost still ahead of each position, summed once: the ETA must not rescan the rest of a
        // 10⁶-unit list after every unit.
        var costAfter = [Double](repeating: 0, count: units.count + 1)
        for p in stride(from: units.count - 1, through: 0, by: -1) { costAfter[p] = costAfter[p + 1] + units[p].cost }
        let totalCost = max(costAfter[0], 1e-9)
        var doneCost = 0.0
        let start = Date()
        for (position, unit) in units.enumerated() {
            let expected = plan.expectedRows(unit)
            if expected.allSatisfy({ store.contains($0.id) }) {
                report.unitsReused += 1
            } else {
                report.rowsWritten += try execute(unit, position: position, expected: expected, store: store)
                report.unitsComputed += 1
                doneCost += unit.cost
            }
            for k in releaseAt[position] ?? [] { maps[k] = nil }
            let elapsed = Date().timeIntervalSince(start)
            let remaining = costAfter[position + 1]
            let eta = doneCost > 0 ? elapsed / doneCost * min(remaining, totalCost) : 0
            progress(String(format: "[%@] unit %d/%d  elapsed %.0fs  ETA %.0fs", label(unit), position + 1, units.count, elapsed, eta))
        }
        models = [:]; unfolded = [:]; randomized = nil; maps = [:]
        return report
    }

    func label(_ u: WorkUnit) -> String {
        let w = plan.weights[u.weights[0]]
        switch u.kind {
        case .model: return "\(w.architecture) \(w.tag)"
        case .cascade: return "\(w.architecture) \(w.tag) cascade \(u.stage ?? 0)"
        case .consist: return "\(w.architecture) consist"
        case .crossArchitecture: return "cross-architecture"
        }
    }

    /// For every map a later unit compares, the position of its last reader (and, per position, the
    /// maps to drop after it, so releasing costs nothing at positions with no last reader). A model
    /// unit's comparisons read the maps it computes itself.
    func planLastUse(_ units: [WorkUnit]) {
        lastUse = [:]
        maps = [:]
        for (p, u) in units.enumerated() where u.kind != .model {
            for c in plan.comparisons(in: u) {
                for site in c.sites {
                    for case let .trained(w, m) in site.maps { for i in u.images { lastUse[MapKey(image: i, weights: w, method: m)] = p } }
                }
            }
        }
        releaseAt = [:]
        for (k, p) in lastUse { releaseAt[p, default: []].append(k) }
    }

    // MARK: - inputs

    struct Decoded {
        var indices: [Int]
        var images: Tensor
        var masks: [Tensor?]
    }

    /// Decodes a unit's images; unreadable ones are skipped, named and counted, never fatal.
    func decode(_ indices: [Int]) throws -> Decoded? {
        var good: [Int] = [], tensors: [Tensor] = [], masks: [Tensor?] = []
        for i in indices {
            let img = plan.images[i]
            guard let item = itemsByFile[img.file] else { continue }
            do {
                let t = try plan.preprocessing.load(plan.manifest.resolve(item.file))
                let m = try plan.manifest.lesionMaskTensor(item, preprocessing: plan.preprocessing)
                tensors.append(try t.reshaped([1] + t.shape))
                masks.append(m)
                good.append(i)
            } catch {
                if unreadable[img.file] == nil { unreadable[img.file] = "\(error)"; log("skipping \(img.file): \(error)") }
            }
        }
        guard !good.isEmpty else { return nil }
        return Decoded(indices: good, images: try Tensor.concat0(tensors), masks: masks)
    }

    /// The folded model of weights `j` (loaded once while its architecture's units run).
    func model(_ j: Int, evictOthers: Bool = true) throws -> ImageClassifier {
        if let m = models[j] { return m }
        let w = plan.weights[j]
        if evictOthers {
            models = models.filter { plan.weights[$0.key].architecture == w.architecture }
            unfolded = unfolded.filter { plan.weights[$0.key].architecture == w.architecture }
            if let r = randomized, plan.weights[r.weights].architecture != w.architecture { randomized = nil }
        }
        let m = try build(j)
        try m.foldBatchNorms()
        models[j] = m
        return m
    }

    func build(_ j: Int) throws -> ImageClassifier {
        let w = plan.weights[j]
        if let path = w.path {
            let defaults = CheckpointDefaults.current
            let (model, notes) = try loadModel(w.arch, weights: path, imageSize: config.imageSize,
                                               selection: CheckpointSelection(key: w.checkpointKey, stripPrefix: w.stripPrefix),
                                               numClasses: defaults.numClasses)
            if let report = defaults.report { notes.forEach(report) }
            return model
        }
        let m = try makeModel(w.arch, numClasses: plan.numClasses, imageSize: config.imageSize)
        m.initialize(seed: w.seed ?? 0)
        return m
    }

    func logitsFunction(_ model: ImageClassifier) -> LogitsFunction { Self.batchedLogits(model, batchSize: config.batchSize) }

    /// The model's logits of a batch of any size, computed `batchSize` images at a time.
    public static func batchedLogits(_ model: ImageClassifier, batchSize bs: Int) -> LogitsFunction {
        return { x in
            var outs: [Tensor] = []
            var s = 0
            while s < x.shape[0] {
                let e = min(x.shape[0], s + bs)
                outs.append(try model.logits(x.slice0(s..<e)).value)
                s = e
            }
            return try Tensor.concat0(outs)
        }
    }

    /// The run's CAM settings: its layer (nil: the architecture's default) and seed.
    func camOptions(_ method: CAMMethod, _ classes: [Int]) -> CAMOptions {
        CAMOptions(method: method, layers: plan.resolved.layer.map { [$0] } ?? [], targetClasses: classes, seed: config.camSeed)
    }

    func explain(_ explainer: CAMExplainer, _ images: Tensor, _ method: CAMMethod, _ classes: [Int], arch: String) throws -> Tensor {
        let r = try explainer.explain(images, camOptions(method, classes))
        for w in r.warnings where !warned.contains(w) { warned.insert(w); log("warning: \(arch): \(w)") }
        return r.maps
    }

    func plane(_ maps: Tensor, _ i: Int) throws -> Tensor { try maps.slice0(i..<(i + 1)).reshaped([maps.shape[1], maps.shape[2]]).copy() }

    func keep(_ key: MapKey, _ map: Tensor, position: Int) {
        if let last = lastUse[key], last > position { maps[key] = map }
    }

    /// Maps of `images` for weights `j` and method `m`: cached, or computed now (resumed or sharded runs).
    func mapsOf(_ images: [Int], weights j: Int, method m: Int, position: Int) throws -> [Int: Tensor] {
        var out: [Int: Tensor] = [:]
        var todo: [Int] = []
        for i in images { if let t = maps[MapKey(image: i, weights: j, method: m)] { out[i] = t } else { todo.append(i) } }
        guard !todo.isEmpty, let d = try decode(todo) else { return out }
        let model = try model(j, evictOthers: false)
        let predicted = try rowArgmax(logitsFunction(model)(d.images))
        let all = try explain(CAMExplainer(model: model), d.images, methods[m], predicted, arch: plan.weights[j].architecture)
        for (k, i) in d.indices.enumerated() {
            let p = try plane(all, k)
            out[i] = p
            keep(MapKey(image: i, weights: j, method: m), p, position: position)
        }
        return out
    }

    /// Plan images `indices` (the readable ones) preprocessed `[1, C, H, W]`, with weights `j`'s map
    /// `[H, W]` by method `m` for the class it predicts: the maps a report's gallery shows.
    public func imagesAndMaps(_ indices: [Int], weights j: Int, method m: Int) throws -> [(index: Int, image: Tensor, map: Tensor)] {
        guard let d = try decode(indices) else { return [] }
        let maps = try mapsOf(d.indices, weights: j, method: m, position: -1)
        var out: [(index: Int, image: Tensor, map: Tensor)] = []
        for (k, i) in d.indices.enumerated() {
            if let map = maps[i] { out.append((i, try d.images.slice0(k..<(k + 1)), map)) }
        }
        return out
    }

    // MARK: - units

    final class Writer {
        let plan: Plan
        let store: Store
        var written = 0
        init(plan: Plan, store: Store) { self.plan = plan; self.store = store }
        func put(_ image: PlannedImage, _ s: RowSubject, _ r: RowName, _ o: Outcome) {
            let e = plan.expectedRow(image, s, r)
            pending.append(ResultRow(key: e.key, value: o.value, reason: o.reason, id: e.id))
        }
        /// A unit's rows, appended when the unit ends in the order the plan lists them
        /// (`Plan.expectedRows`): the order of a results file then depends only on the plan, so
        /// merged shards equal a single run's file row for row.
        var pending: [ResultRow] = []
        func flush(_ expected: [ExpectedRow]) throws {
            var order: [String: Int] = [:]
            for (i, e) in expected.enumerated() where order[e.id] == nil { order[e.id] = i }
            let sorted = pending.enumerated().sorted { (order[$0.element.id] ?? Int.max, $0.offset) < (order[$1.element.id] ?? Int.max, $1.offset) }
            for (_, row) in sorted where try store.append(row) { written += 1 }
            pending = []
        }
    }

    /// The maps one unit's comparisons read, each computed (or taken from the run's cache) once
    /// and dropped after its last reader in the unit.
    final class UnitMaps {
        private var known: [MapRef: [Int: Tensor]] = [:]
        private let compute: (MapRef) throws -> [Int: Tensor]
        init(compute: @escaping (MapRef) throws -> [Int: Tensor]) { self.compute = compute }
        func set(_ r: MapRef, _ m: [Int: Tensor]) { known[r] = m }
        func drop(_ r: MapRef) { known[r] = nil }
        func callAsFunction(_ r: MapRef) throws -> [Int: Tensor] {
            if let m = known[r] { return m }
            let m = try compute(r)
            known[r] = m
            return m
        }
    }

    func execute(_ unit: WorkUnit, position: Int, expected: [ExpectedRow], store: Store) throws -> Int {
        let out = Writer(plan: plan, store: store)
        // Trained maps: the run's cache, else computed now; randomised ones: the cascade unit's model.
        var randomizedMaps: ((Int) throws -> [Int: Tensor])? = nil
        let unitMaps = UnitMaps { [unowned self] ref in
            switch ref {
            case let .trained(w, m): return try self.mapsOf(unit.images, weights: w, method: m, position: position)
            case let .randomized(_, m):
                guard let r = randomizedMaps else { throw SweepError.io(path: store.path, detail: "unit \(unit.index) has no randomised model (internal error)") }
                return try r(m)
            }
        }
        var readable = true
        switch unit.kind {
        case .model: readable = try runModel(unit, position: position, out, unitMaps)
        case .cascade:
            randomizedMaps = try randomizedMapsOf(unit)
            readable = randomizedMaps != nil
        case .consist, .crossArchitecture: break
        }
        if readable { try runComparisons(unit, unitMaps, out) }
        try out.flush(expected)
        // Every expected row of a readable image must now be stored: the plan and the executor
        // derive rows from the same declarations, and this keeps them honest.
        let unreadableFiles = Set(unreadable.keys)
        if let lost = expected.first(where: { !store.contains($0.id) && !unreadableFiles.contains($0.key.image) }) {
            throw SweepError.io(path: store.path, detail: "unit \(unit.index) did not produce the row \(lost.key) (internal error)")
        }
        return out.written
    }

    /// Facts and every per-map metric of one batch and weights: one forward of the clean images and
    /// one map per method, shared by all metrics. Leaves the maps in `unitMaps` for the unit's
    /// comparisons; false when no image is readable.
    func runModel(_ unit: WorkUnit, position: Int, _ out: Writer, _ unitMaps: UnitMaps) throws -> Bool {
        guard let d = try decode(unit.images) else { return false }
        let j = unit.weights[0]
        let w = plan.weights[j]
        let arch = w.arch
        let model = try model(j)
        let logitsFn = logitsFunction(model)
        let logits = try logitsFn(d.images)
        let predicted = try rowArgmax(logits)
        let k = logits.shape[1]
        let probs = try softmaxLastDim(logits)
        let imgs = d.indices.map { plan.images[$0] }
        for (i, img) in imgs.enumerated() {
            for f in plan.facts(img, weights: j) {
                let o: Outcome
                switch f.fact {
                case .truth: o = Outcome(value: Double(img.classIndex), reason: "")
                case .predicted: o = Outcome(value: Double(predicted[i]), reason: "")
                case .correct: o = img.classIndex < k ? Outcome(value: predicted[i] == img.classIndex ? 1 : 0, reason: "") : .undefined(Undefined.classOutOfRange)
                }
                out.put(img, f.subject, f.row, o)
            }
        }
        let perMap = metrics.map(\.spec).compactMap { spec in spec.function.perMap.map { (spec: spec, compute: $0.compute) } }
        let explainer = CAMExplainer(model: model)
        for (mi, method) in methods.enumerated() {
            let maps = try explain(explainer, d.images, method, predicted, arch: w.architecture)
            let planes = try d.indices.indices.map { try plane(maps, $0) }
            let constant = planes.map(isConstantMap)
            for (k2, i) in d.indices.enumerated() { keep(MapKey(image: i, weights: j, method: mi), planes[k2], position: position) }
            unitMaps.set(.trained(weights: j, method: mi), Dictionary(uniqueKeysWithValues: zip(d.indices, planes)))
            let cfg = config
            let base = camOptions(method, [])
            let batch = MapBatch(images: d.images, maps: maps, masks: d.masks, predicted: predicted, logits: logits, probs: probs,
                                 model: logitsFn, explain: { x, cls in
                                     var o = base
                                     o.targetClasses = cls
                                     return try explainer.explain(x, o).maps
                                 }, batchSize: cfg.batchSize)
            let subject = plan.subject(weights: j, method: method.rawValue)
            for (spec, compute) in perMap {
                for pv in plan.parameterValues(spec, arch: arch) {
                    let names = spec.rows(pv, arch)
                    let outcomes = try compute(batch, pv)
                    for i in 0..<imgs.count {
                        precondition(outcomes[i].count == names.count, "\(spec.name.rawValue): \(outcomes[i].count) outcomes for \(names.count) rows")
                        for (r, o) in zip(names, outcomes[i]) { out.put(imgs[i], subject, r, constant[i] ? .undefined(Undefined.constantMap) : o) }
                    }
                }
            }
            if let o = config.overlays {
                for (k2, i) in d.indices.enumerated() where i < o.perModel {
                    try writeOverlay(dir: o.directory, weights: w, method: method, file: imgs[k2].file, image: d.images.slice0(k2..<(k2 + 1)),
                                     map: planes[k2])
                }
            }
        }
        return true
    }

    /// The cascade unit's randomised model (built once per weights and stage, reused by every
    /// batch) and, per method, its maps of the unit's readable images; nil when none is readable.
    func randomizedMapsOf(_ unit: WorkUnit) throws -> ((Int) throws -> [Int: Tensor])? {
        let j = unit.weights[0], stage = unit.stage ?? 0
        let w = plan.weights[j]
        guard let d = try decode(unit.images) else { return nil }
        let original = try model(j)
        let predicted = try rowArgmax(logitsFunction(original)(d.images))
        let rmodel: ImageClassifier
        if let r = randomized, r.weights == j, r.stage == stage { rmodel = r.model } else {
            randomized = nil
            let base: ImageClassifier
            if let u = unfolded[j] { base = u } else { base = try build(j); unfolded[j] = base }
            let prefixes = w.arch.cascadeBlocks[0...stage].flatMap { $0 }
            rmodel = try base.randomized(prefixes: prefixes, seed: config.camSeed &+ 7919, imageSize: config.imageSize)
            randomized = (j, stage, rmodel)
        }
        let rexplainer = CAMExplainer(model: rmodel)
        return { [unowned self] m in
            let rmaps = try self.explain(rexplainer, d.images, self.methods[m], predicted, arch: w.architecture)
            var out: [Int: Tensor] = [:]
            for (k, i) in d.indices.enumerated() { out[i] = try self.plane(rmaps, k) }
            return out
        }
    }

    /// Every requested comparison metric of the unit, whatever its scope: per site and image, the
    /// maps the site names, compared by the metric's function.
    func runComparisons(_ unit: WorkUnit, _ unitMaps: UnitMaps, _ out: Writer) throws {
        for (spec, sites) in plan.comparisons(in: unit) {
            guard let compare = spec.function.comparison else { continue }
            var lastReader: [MapRef: Int] = [:]
            for (s, site) in sites.enumerated() { for r in site.maps { lastReader[r] = s } }
            for (s, site) in sites.enumerated() {
                let inputs = try site.maps.map { try unitMaps($0) }
                for pv in plan.parameterValues(spec, arch: site.arch, stage: unit.stage) {
                    let names = spec.rows(pv, site.arch)
                    for i in unit.images {
                        let maps = inputs.compactMap { $0[i] }
                        guard maps.count == inputs.count else { continue }
                        let outcomes = try compare(maps, pv)
                        precondition(outcomes.count == names.count, "\(spec.name.rawValue): \(outcomes.count) outcomes for \(names.count) rows")
                        for (r, o) in zip(names, outcomes) { out.put(plan.images[i], site.subject, r, o) }
                    }
                }
                for r in site.maps where lastReader[r] == s { unitMaps.drop(r) }
            }
        }
    }

    // MARK: - overlays

    /// Where an image's overlay goes: DIR/ARCH/WEIGHTS/ then `OverlayName`'s rule (the image's path
    /// relative to `root`, its extension kept).
    public static func overlayPath(dir: String, architecture: String, tag: String, method: String, file: String, root: String? = nil) -> String {
        let safeTag = tag.replacingOccurrences(of: "/", with: "__")
        return "\(dir)/\(architecture)/\(safeTag)/" + OverlayName.relativePath(file: file, root: root, method: method)
    }

    func writeOverlay(dir: String, weights: PlannedWeights, method: CAMMethod, file: String, image: Tensor, map: Tensor) throws {
        let path = Executor.overlayPath(dir: dir, architecture: weights.architecture, tag: weights.tag, method: method.rawValue,
                                        file: plan.manifest.resolve(file), root: plan.dataRoot)
        do {
            try FileManager.default.createDirectory(atPath: parentFolder(path), withIntermediateDirectories: true)
        } catch { throw SweepError.io(path: path, detail: "cannot create the overlay folder: \(error.localizedDescription)") }
        let img = try image.reshaped(Array(image.shape.dropFirst()))
        try PNG.write(Overlay.render(image: img, map: map), to: path)
    }
}
