// Sweep: the run driver above the metrics library.
//
// Public API (stable; `camaudit evaluate`, `sweep`, `merge` and the workers build on it):
//
//   let config = try SweepConfig.read(path: "SWEEP.json")          // or built from evaluate's options
//   let plan = try Plan.expand(config)                              // deterministic; reads image and weights bytes
//   plan.units: [WorkUnit]                                          // in execution order
//   unit.key    — content key (digest of image content hashes, weights digests, every parameter, preprocessing)
//   unit.cost   — estimated cost (≈ model forwards, scaled by architecture and image size), for balanced shards
//   unit.index  — position in plan.units (stable for one config)
//   plan.expectedRows(unit) — the rows (content key + readable key) the unit writes: completeness checks
//   plan.missing — images of the manifest with no readable file (named, counted, make the run incomplete)
//   plan.describe(units) — the text `--dry-run` prints
//
//   let store = try Store(directory: out, wait: false)              // flock on OUT/.lock for the store's life;
//                                                                   // a second writer gets SweepError.locked
//   store.contains(id), store.append(row), store.rows, store.repairedBytes, Store.read(path:) (no lock)
//   let executor = Executor(plan: plan)
//   let report = try executor.run(units, store: store)              // skips finished units, writes rows
//   try Summary.write(rows: store.rows, directory: out, incomplete: plan.missing.merging(executor.unreadable) { a, _ in a })
//   try RunRecord.write(config, to: out)                            // OUT/config.json
//
// Rows are keyed by content (`ResultRow.id`), never by file names; Summary reads rows, never the plan.

import Foundation
import TensorCore
import Models
import Explain
import Imaging
import Datasets
import Evaluation

/// One image of the plan, identified by content.
public struct PlannedImage: Sendable, Codable, Hashable {
    /// Path as written in the manifest (the results' `image` column).
    public let file: String
    /// Digest of the image bytes, the mask bytes or boxes, and the class.
    public let id: String
    public let classIndex: Int
    public let className: String
}

/// One set of weights of one architecture.
public struct PlannedWeights: Sendable, Codable, Hashable {
    public let architecture: String
    /// The results' `weights` column: the checkpoint's file name, or `random-seedS`.
    public let tag: String
    /// Checkpoint path, or nil for random weights.
    public let path: String?
    public let seed: UInt64?
    /// SHA-256 of the checkpoint bytes, or of (architecture, seed, classes) for random weights.
    public let digest: String
    /// Which state dict of the checkpoint is loaded (part of `digest` when set).
    public var checkpointKey: String? = nil
    public var stripPrefix: String? = nil
    public var arch: Architecture { Architecture(rawValue: architecture)! }
}

/// One piece of work: computed, stored and resumed as a whole.
public struct WorkUnit: Sendable, Codable, Hashable {
    public enum Kind: String, Sendable, Codable {
        /// One image batch × one weights: predictions, maps of every method, per-map metrics,
        /// method agreement.
        case model
        /// One image batch × one weights × one cascade stage (its randomised model is built once
        /// per run and stage, then reused by every batch).
        case cascade
        /// One image batch × one architecture: Consist across its weights.
        case consist
        /// One image batch: agreement across architectures (their first weights).
        case crossArchitecture
    }
    public let index: Int
    public let kind: Kind
    /// Indices into `Plan.images`.
    public let images: [Int]
    /// Indices into `Plan.weights` (one for model/cascade, the architecture's for consist, each
    /// architecture's first for crossArchitecture).
    public let weights: [Int]
    public let stage: Int?
    public let key: String
    public let cost: Double
}

/// A row a unit is expected to write.
public struct ExpectedRow: Sendable, Hashable {
    public let id: String
    public let key: ResultKey
}

/// Whom a row is about: the results' model, weights and method columns, and the weights' part of
/// its content key.
public struct RowSubject: Sendable, Hashable {
    public let model: String
    public let weights: String
    public let weightsID: String
    public let method: String
}

/// A map of one image that a comparison reads: of weights `weights` and method `method` (indices
/// into `Plan.weights` and the resolved methods), by the trained model or by the cascade unit's
/// randomised one.
public enum MapRef: Sendable, Hashable {
    case trained(weights: Int, method: Int)
    case randomized(weights: Int, method: Int)
}

/// One comparison a unit makes on each of its images: whom its rows are about, the architecture
/// whose parameter values and row names apply, and the maps compared (in the order `MetricScope` states).
public struct ComparisonSite: Sendable {
    public let subject: RowSubject
    public let arch: Architecture
    public let maps: [MapRef]
}

/// What a model unit records about an image besides metrics.
public enum ImageFact: Sendable { case truth, predicted, correct }

/// A sweep configuration expanded into work units.
public struct Plan: Sendable {
    public let config: SweepConfig
    public let resolved: SweepConfig.Resolved
    public let manifest: Manifest
    public let images: [PlannedImage]
    public let weights: [PlannedWeights]
    public let units: [WorkUnit]
    /// Manifest images without a readable file (or mask): file → reason.
    public let missing: [String: String]
    /// Class count of random models.
    public let numClasses: Int
    public let preprocessing: Preprocessing
    /// Everything besides image, weights, method and metric that defines the numbers.
    public let context: String
    /// Threshold and step grids, and the image size, expanded into values.
    public let thresholds: [Float]
    public let steps: [Int]

    /// Expands a configuration. Reads the manifest (or scans the folder), hashes every image and
    /// checkpoint; the units come in execution order: per architecture, per weights its model units
    /// then its cascade units; then the architecture's consist units; cross-architecture units last.
    public static func expand(_ config: SweepConfig, manifest given: Manifest? = nil, log: (String) -> Void = { _ in }) throws -> Plan {
        let r = try config.resolve()
        let manifest: Manifest
        if let given { manifest = given } else { manifest = try loadManifest(config.data, log: log) }
        var items = r.split.map { manifest.items(in: $0) } ?? manifest.items
        if let limit = config.data.limit { items = Array(items.prefix(limit)) }
        guard !items.isEmpty else {
            throw SweepError.invalidConfig(field: "data", detail: "no images to evaluate in \(config.data.path)\(r.split.map { " (split \($0.rawValue))" } ?? "")")
        }
        // Images by content.
        var images: [PlannedImage] = []
        var missing: [String: String] = [:]
        for item in items {
            do { images.append(try identify(item, in: manifest)) } catch {
                let why: String
                if case let SweepError.io(path, detail)? = error as? SweepError { why = path == manifest.resolve(item.file) ? detail : "\(path): \(detail)" } else { why = "\(error)" }
                missing[item.file] = why
                log("missing: \(item.file): \(why)")
            }
        }
        let numClasses = config.numClasses ?? max(2, manifest.classes.count)
        // Weights by content.
        var weights: [PlannedWeights] = []
        var byArch: [[Int]] = []
        var digests: [String: String] = [:]
        for (a, arch) in r.architectures.enumerated() {
            var idx: [Int] = []
            let paths = r.weights[a]
            if paths.isEmpty {
                for seed in config.seeds {
                    idx.append(weights.count)
                    weights.append(PlannedWeights(architecture: arch.rawValue, tag: "random-seed\(seed)", path: nil, seed: seed,
                                                  digest: ContentDigest.hex("random|\(arch.rawValue)|seed=\(seed)|classes=\(numClasses)")))
                }
            } else {
                let names = paths.map { URL(fileURLWithPath: $0).lastPathComponent }
                for p in paths {
                    guard FileManager.default.fileExists(atPath: p) else { throw SweepError.invalidConfig(field: "weights", detail: "\(p): no such file") }
                    let d: String
                    if let known = digests[p] { d = known } else { d = try ContentDigest.hex(file: p); digests[p] = d }
                    let entry = config.models.first { $0.architecture == arch.rawValue }
                    let key = entry?.checkpointKey, prefix = entry?.stripPrefix
                    // The same file read with another --checkpoint-key or --strip-prefix is other weights.
                    let selected = key == nil && prefix == nil ? d : ContentDigest.hex("\(d)|key=\(key ?? "")|strip=\(prefix ?? "")")
                    let name = URL(fileURLWithPath: p).lastPathComponent
                    idx.append(weights.count)
                    // Two checkpoints with one file name keep their paths apart in the results.
                    weights.append(PlannedWeights(architecture: arch.rawValue, tag: names.filter { $0 == name }.count > 1 ? p : name,
                                                  path: p, seed: nil, digest: selected, checkpointKey: key, stripPrefix: prefix))
                }
            }
            byArch.append(idx)
        }
        let pre = try config.preprocessing.preprocessing(size: config.imageSize)
        // A layer other than the default joins the context; the default adds nothing, so its keys stay.
        let context = "v1|pre=\(pre)|camSeed=\(config.camSeed)" + (r.layer.map { "|layer=\($0)" } ?? "")
        let scopes = Set(r.metrics.map(\.spec.scope))
        // Units.
        var units: [WorkUnit] = []
        let batches: [[Int]] = stride(from: 0, to: images.count, by: config.batchSize).map { Array($0..<min(images.count, $0 + config.batchSize)) }
        let scale = Double(config.imageSize * config.imageSize) / (224.0 * 224.0)
        // Per image and map: the cost of every per-map metric over its grid.
        var perMapCost = 0.0
        for spec in r.metrics.map(\.spec) {
            guard let cost = spec.function.perMap?.cost else { continue }
            let stepsGrid = spec.parameters.contains(.steps) ? config.grid.steps : [config.grid.steps[0]]
            let tauCount = Double(spec.parameters.contains(.threshold) ? config.grid.threshold.count : 1)
            for st in stepsGrid {
                perMapCost += tauCount * cost(ParameterValues(threshold: config.grid.threshold[0], steps: st, stage: 0,
                                                              imageSize: config.imageSize, camSeed: config.camSeed))
            }
        }
        let methodCost = r.methods.reduce(0.0) { $0 + camCost($1) }
        // The hash state after the text every unit of one kind and stage starts with, computed once
        // per kind and stage (a 10⁶-unit plan would otherwise rebuild that text 10⁶ times).
        var prefixes: [String: ContentDigest] = [:]
        func add(_ kind: WorkUnit.Kind, _ batch: [Int], _ w: [Int], stage: Int? = nil, cost: Double) {
            let prefixKey = "\(kind.rawValue)|\(stage ?? -1)"
            var h: ContentDigest
            if let known = prefixes[prefixKey] { h = known } else {
                h = ContentDigest()
                h.update("\(context)|kind=\(kind.rawValue)|stage=\(stage.map(String.init) ?? "-")|methods=\(r.methods.map(\.rawValue))|metrics=\(r.metrics.map(\.rawValue))")
                h.update("|tau=\(config.grid.threshold)|steps=\(config.grid.steps)|classes=\(numClasses)")
                prefixes[prefixKey] = h
            }
            for i in batch { h.update("|img=\(images[i].id)") }
            for j in w { h.update("|w=\(weights[j].architecture):\(weights[j].digest)") }
            units.append(WorkUnit(index: units.count, kind: kind, images: batch, weights: w, stage: stage, key: h.finalizeHex(), cost: cost))
        }
        for (a, arch) in r.architectures.enumerated() {
            let flops = archCost(arch) * scale
            for w in byArch[a] {
                for b in batches {
                    add(.model, b, [w], cost: flops * Double(b.count) * (1 + methodCost + Double(r.methods.count) * perMapCost))
                }
                if scopes.contains(.cascade) {
                    for stage in 0..<arch.cascadeBlocks.count {
                        for b in batches { add(.cascade, b, [w], stage: stage, cost: flops * Double(b.count) * methodCost * 2) }
                    }
                }
            }
            if scopes.contains(.acrossWeights) && byArch[a].count > 1 {
                for b in batches { add(.consist, b, byArch[a], cost: 0.01 * Double(b.count)) }
            }
        }
        if scopes.contains(.acrossArchitectures) && r.architectures.count > 1 {
            let firsts = byArch.compactMap(\.first)
            if firsts.count > 1 { for b in batches { add(.crossArchitecture, b, firsts, cost: 0.01 * Double(b.count)) } }
        }
        return Plan(config: config, resolved: r, manifest: manifest, images: images, weights: weights, units: units, missing: missing,
                    numClasses: numClasses, preprocessing: pre, context: context, thresholds: config.grid.threshold, steps: config.grid.steps)
    }

    /// The manifest of a data source: a manifest CSV, or a folder scanned (and split) now.
    /// The folder the data's paths are relative to: the scanned dataset folder, or the manifest's
    /// folder (overlays are named relative to it).
    public var dataRoot: String {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: config.data.path, isDirectory: &isDir), isDir.boolValue { return config.data.path }
        let dir = parentFolder(config.data.path)
        return dir.isEmpty ? "." : dir
    }

    public static func loadManifest(_ data: SweepConfig.DataSource, log: (String) -> Void = { _ in }) throws -> Manifest {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: data.path, isDirectory: &isDir) else {
            throw SweepError.io(path: data.path, detail: "no such file or folder")
        }
        let manifest: Manifest
        if isDir.boolValue {
            let scanned = try DatasetScanner.scan(root: data.path, options: ScanOptions(maskFolder: data.masks, boxesCSV: data.boxes, strict: data.strict))
            log(scanned.summary)
            manifest = scanned.manifest(seed: data.splitSeed)
        } else {
            manifest = try Manifest.read(path: data.path)
        }
        try manifest.check(for: .evaluation, source: data.path, warn: log)
        return manifest
    }

    /// Content identity of one manifest item: its image bytes, its mask bytes or boxes, its class.
    static func identify(_ item: ManifestItem, in manifest: Manifest) throws -> PlannedImage {
        // A frame of a multi-frame DICOM file (`file#frame=K`) is its file's bytes and its number.
        let (path, frame) = ImageFile.frameAddress(manifest.resolve(item.file))
        guard let bytes = FileManager.default.contents(atPath: path) else {
            throw SweepError.io(path: path, detail: FileManager.default.fileExists(atPath: path) ? "cannot read image" : "image file not found")
        }
        var h = ContentDigest()
        h.update("image:")
        h.update(bytes)
        if let frame { h.update("|frame=\(frame)") }
        if let m = item.mask {
            let mp = manifest.resolve(m)
            guard let mb = FileManager.default.contents(atPath: mp) else { throw SweepError.io(path: mp, detail: "mask file not found") }
            h.update("|mask:")
            h.update(mb)
        }
        if !item.boxes.isEmpty { h.update("|boxes:" + item.boxes.map { "\($0.x0) \($0.y0) \($0.x1) \($0.y1)" }.joined(separator: ";")) }
        h.update("|class=\(item.classIndex)")
        return PlannedImage(file: item.file, id: h.finalizeHex(), classIndex: item.classIndex, className: item.className)
    }

    /// Relative cost of one forward (multiply-accumulates at 224², the architecture's declaration).
    static func archCost(_ a: Architecture) -> Double { a.spec.cost.gmacs224 }

    /// Forwards (and backwards) one CAM of a method takes per image, roughly (its declaration).
    static func camCost(_ m: CAMMethod) -> Double { m.spec.cost }

    // MARK: - rows

    /// The content key of one row.
    public func rowID(image: PlannedImage, model: String, weights: String, method: String, metric: String, params: String) -> String {
        let truncated = ContentDigest.hex("\(context)|img=\(image.id)|model=\(model)|w=\(weights)|method=\(method)|metric=\(metric)|params=\(params)")
        return String(truncated.prefix(32))
    }

    /// The content key and readable key of one row.
    public func expectedRow(_ image: PlannedImage, _ s: RowSubject, _ r: RowName) -> ExpectedRow {
        ExpectedRow(id: rowID(image: image, model: s.model, weights: s.weightsID, method: s.method, metric: r.metric, params: r.params),
                    key: ResultKey(image: image.file, model: s.model, weights: s.weights, method: s.method, metric: r.metric, params: r.params))
    }

    /// Parameter values of a metric, over the grids of the parameters it uses.
    public func parameterValues(_ spec: MetricSpec, arch: Architecture, stage: Int? = nil) -> [ParameterValues] {
        let base = ParameterValues(threshold: thresholds[0], steps: steps[0], stage: stage ?? 0, imageSize: config.imageSize, camSeed: config.camSeed)
        var out = [base]
        if spec.parameters.contains(.threshold) { out = out.flatMap { v in thresholds.map { var x = v; x.threshold = $0; return x } } }
        if spec.parameters.contains(.steps) { out = out.flatMap { v in steps.map { var x = v; x.steps = $0; return x } } }
        return out
    }

    /// The CAM target layer of weights `j`: the configuration's, else its architecture's default.
    public func camLayer(weights j: Int) -> String { resolved.layer ?? weights[j].arch.defaultCAMLayer }

    /// Methods in order, and their pairs `a~b` for cross-method rows.
    public var methodPairs: [(Int, Int)] {
        let n = resolved.methods.count
        return (0..<n).flatMap { a in ((a + 1)..<n).map { (a, $0) } }
    }

    /// The rows about weights `j` (its architecture, tag and digest) for `method` ("-": the model's own facts).
    public func subject(weights j: Int, method: String) -> RowSubject {
        let w = weights[j]
        return RowSubject(model: w.architecture, weights: w.tag, weightsID: w.digest, method: method)
    }

    /// The facts a model unit records about an image before any metric, with their subjects: the
    /// true class (about the image alone), then weights `j`'s predicted class and whether it is right.
    public func facts(_ image: PlannedImage, weights j: Int) -> [(fact: ImageFact, subject: RowSubject, row: RowName)] {
        let model = subject(weights: j, method: "-")
        return [(.truth, RowSubject(model: "-", weights: "-", weightsID: "-", method: "-"), RowName(metric: FactMetric.truth, params: "class=\(image.className)")),
                (.predicted, model, RowName(metric: FactMetric.predicted, params: "")),
                (.correct, model, RowName(metric: FactMetric.correct, params: ""))]
    }

    /// The comparisons metrics of `scope` make in `unit` on each of its images (none for per-map
    /// metrics or in another kind of unit), in the order their rows are listed.
    public func comparisonSites(_ scope: MetricScope, in unit: WorkUnit) -> [ComparisonSite] {
        guard scope.unitKind == unit.kind else { return [] }
        let methods = resolved.methods.map(\.rawValue)
        switch scope {
        case .perMap:
            return []
        case .acrossMethods:
            let j = unit.weights[0]
            return methodPairs.map { a, b in
                ComparisonSite(subject: subject(weights: j, method: "\(methods[a])~\(methods[b])"), arch: weights[j].arch,
                               maps: [.trained(weights: j, method: a), .trained(weights: j, method: b)])
            }
        case .cascade:
            let j = unit.weights[0]
            return methods.indices.map { m in
                ComparisonSite(subject: subject(weights: j, method: methods[m]), arch: weights[j].arch,
                               maps: [.trained(weights: j, method: m), .randomized(weights: j, method: m)])
            }
        case .acrossWeights:
            let first = weights[unit.weights[0]]
            let all = unit.weights.map { weights[$0].digest }.joined(separator: "+")
            return methods.indices.map { m in
                ComparisonSite(subject: RowSubject(model: first.architecture, weights: "all", weightsID: all, method: methods[m]), arch: first.arch,
                               maps: unit.weights.map { .trained(weights: $0, method: m) })
            }
        case .acrossArchitectures:
            var out: [ComparisonSite] = []
            for m in methods.indices {
                for a in unit.weights.indices {
                    for b in (a + 1)..<unit.weights.count {
                        let x = weights[unit.weights[a]], y = weights[unit.weights[b]]
                        out.append(ComparisonSite(subject: RowSubject(model: "\(x.architecture)~\(y.architecture)", weights: "first",
                                                                      weightsID: x.digest + "+" + y.digest, method: methods[m]),
                                                  arch: x.arch, maps: [.trained(weights: unit.weights[a], method: m), .trained(weights: unit.weights[b], method: m)]))
                    }
                }
            }
            return out
        }
    }

    /// The requested metrics a kind of unit compares maps for, each with its scope's sites in `unit`.
    func comparisons(in unit: WorkUnit) -> [(spec: MetricSpec, sites: [ComparisonSite])] {
        let specs = resolved.metrics.map(\.spec).filter { $0.function.comparison != nil && $0.scope.unitKind == unit.kind }
        var sites: [MetricScope: [ComparisonSite]] = [:]
        for s in specs where sites[s.scope] == nil { sites[s.scope] = comparisonSites(s.scope, in: unit) }
        return specs.map { ($0, sites[$0.scope] ?? []) }
    }

    /// The rows a unit writes. Derived from the metric declarations, as the executor's rows are, so
    /// the two cannot drift.
    public func expectedRows(_ unit: WorkUnit) -> [ExpectedRow] {
        var out: [ExpectedRow] = []
        let perMap = unit.kind == .model ? resolved.metrics.map(\.spec).filter { $0.scope == .perMap } : []
        let comparisons = comparisons(in: unit)
        for i in unit.images {
            let img = images[i]
            if unit.kind == .model {
                let j = unit.weights[0], arch = weights[j].arch
                for f in facts(img, weights: j) { out.append(expectedRow(img, f.subject, f.row)) }
                for method in resolved.methods {
                    let s = subject(weights: j, method: method.rawValue)
                    for spec in perMap {
                        for pv in parameterValues(spec, arch: arch) { for r in spec.rows(pv, arch) { out.append(expectedRow(img, s, r)) } }
                    }
                }
            }
            for (spec, sites) in comparisons {
                for site in sites {
                    for pv in parameterValues(spec, arch: site.arch, stage: unit.stage) {
                        for r in spec.rows(pv, site.arch) { out.append(expectedRow(img, site.subject, r)) }
                    }
                }
            }
        }
        return out
    }

    /// What `--dry-run` prints: the units with their cost, and the totals.
    public func describe(_ subset: [WorkUnit]? = nil) -> String {
        let us = subset ?? units
        var s = "plan: \(images.count) images, \(weights.count) weights, \(resolved.methods.count) methods, \(resolved.metrics.count) metrics → \(us.count) units\n"
        if !missing.isEmpty { s += "missing images (\(missing.count)): " + missing.keys.sorted().joined(separator: ", ") + "\n" }
        s += "unit  kind               cost        images  weights                       key\n"
        for u in us {
            let w = u.weights.map { "\(weights[$0].architecture)/\(weights[$0].tag)" }.joined(separator: ",")
            let kind = u.kind.rawValue + (u.stage.map { "[\($0)]" } ?? "")
            s += String(format: "%4d  %@ %10.1f  %6d  %@ %@\n", u.index, kind.padding(toLength: 18, withPad: " ", startingAt: 0),
                        u.cost, u.images.count, w.padding(toLength: 30, withPad: " ", startingAt: 0), String(u.key.prefix(16)))
        }
        s += String(format: "total cost %.1f (≈ model forwards at 224² of ResNet-50 scale)\n", us.reduce(0) { $0 + $1.cost })
        return s
    }
}
