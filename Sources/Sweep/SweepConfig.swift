import Foundation
import TensorCore
import Explain
import Imaging
import Datasets
import Models

/// A sweep: data × models (with their weights) × CAM methods × metrics × parameter grids.
/// Stored as SWEEP.json (`camaudit evaluate --save-config`, and config.json beside every run's
/// results). Every field but `data` and `models` may be left out of a hand-written file; the
/// defaults are `camaudit evaluate`'s.
public struct SweepConfig: Codable, Equatable, Sendable {
    public static let currentVersion = 1
    /// Images per forward batch by default (`camaudit evaluate --batch-size`, the bench's deletion timing).
    public static let defaultBatchSize = 8

    /// Where the images come from.
    public struct DataSource: Codable, Equatable, Sendable {
        /// A manifest.csv, or a dataset folder (IQ-OTH/NCCD or class-per-folder) scanned at plan time.
        public var path: String
        /// Only items of this split (train, val, test); nil: all.
        public var split: String?
        /// At most this many images (after the split filter); nil: all.
        public var limit: Int?
        /// Seed for splitting a scanned folder.
        public var splitSeed: UInt64
        /// Refuse bad files in a scanned folder instead of skipping them.
        public var strict: Bool
        /// A scanned folder's lesion masks (folder of PNGs) and boxes (CSV file,x0,y0,x1,y1).
        public var masks: String?
        public var boxes: String?
        public init(path: String, split: String? = nil, limit: Int? = nil, splitSeed: UInt64 = 42, strict: Bool = false,
                    masks: String? = nil, boxes: String? = nil) {
            self.path = path; self.split = split; self.limit = limit; self.splitSeed = splitSeed; self.strict = strict
            self.masks = masks; self.boxes = boxes
        }
    }

    /// One architecture and the weights to evaluate it with.
    public struct ModelEntry: Codable, Equatable, Sendable {
        /// torchvision name (`resnet50`, …).
        public var architecture: String
        /// Checkpoints (.safetensors / .pth); empty: random weights, one model per seed of `seeds`.
        public var weights: [String]
        /// Where the state dict sits in a training checkpoint (`--checkpoint-key`); nil: found automatically.
        public var checkpointKey: String? = nil
        /// Load only the keys with this prefix, without it (`--strip-prefix`).
        public var stripPrefix: String? = nil
        public init(architecture: String, weights: [String] = [], checkpointKey: String? = nil, stripPrefix: String? = nil) {
            self.architecture = architecture; self.weights = weights; self.checkpointKey = checkpointKey; self.stripPrefix = stripPrefix
        }
    }

    /// Parameters whose every value is run (each value gives its own rows).
    public struct Grid: Codable, Equatable, Sendable {
        /// Deletion/insertion steps.
        public var steps: [Int]
        /// Binarisation thresholds τ in [0, 1].
        public var threshold: [Float]
        public init(steps: [Int] = [50], threshold: [Float] = [0.5]) { self.steps = steps; self.threshold = threshold }
    }

    /// How image files become model inputs (besides `imageSize`).
    public struct PreprocessingSpec: Codable, Equatable, Sendable {
        /// Apply ImageNet mean/std.
        public var imagenetNormalize: Bool
        /// Display window of 16-bit CT: lung, mediastinum, bone or `center,width` in HU.
        public var window: String
        /// Stored value of 0 HU in 16-bit images (HU = stored − huOffset).
        public var huOffset: Int
        public init(imagenetNormalize: Bool = false, window: String = "lung", huOffset: Int = 1024) {
            self.imagenetNormalize = imagenetNormalize; self.window = window; self.huOffset = huOffset
        }
        enum CodingKeys: String, CodingKey { case imagenetNormalize, window, huOffset }
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            imagenetNormalize = try c.decodeIfPresent(Bool.self, forKey: .imagenetNormalize) ?? false
            window = try c.decodeIfPresent(String.self, forKey: .window) ?? "lung"
            huOffset = try c.decodeIfPresent(Int.self, forKey: .huOffset) ?? 1024
        }

        /// The preprocessing these settings describe at `size`.
        public func preprocessing(size: Int) throws -> Preprocessing {
            var p = Preprocessing(size: size, imagenetNormalize: imagenetNormalize)
            do { p.window = try HUWindow.named(window) } catch {
                throw SweepError.invalidConfig(field: "window", detail: "expected lung, mediastinum, bone, file, none or center,width in HU, got '\(window)'")
            }
            p.windowFromFile = HUWindow.isFromFile(window)
            guard (0...65535).contains(huOffset) else { throw SweepError.invalidConfig(field: "hu-offset", detail: "must be in 0...65535, got \(huOffset)") }
            p.rescaleIntercept = -Double(huOffset)
            return p
        }
    }

    /// Overlay PNGs of the first images of every model × weights × method.
    public struct Overlays: Codable, Equatable, Sendable {
        public var directory: String
        public var perModel: Int
        public init(directory: String, perModel: Int = 6) { self.directory = directory; self.perModel = perModel }
    }

    public var version: Int = SweepConfig.currentVersion
    public var data: DataSource
    public var models: [ModelEntry]
    public var methods: [String] = [CAMMethod.gradcam.rawValue]
    public var metrics: [String] = MetricName.defaults.map(\.rawValue)
    public var grid = Grid()
    public var imageSize: Int = 224
    /// Seeds of random models (architectures without weights).
    public var seeds: [UInt64] = [0, 1]
    /// Class count of random models; nil: the manifest's class count (at least 2).
    public var numClasses: Int? = nil
    /// Seed of the stochastic CAM methods and metrics (RISE masks, ROAD noise, random logits, cascade).
    public var camSeed: UInt64 = 0
    public var preprocessing = PreprocessingSpec()
    /// Images per forward batch and per work unit.
    public var batchSize: Int = SweepConfig.defaultBatchSize
    public var overlays: Overlays? = nil
    /// The CAM target layer by PyTorch module path (`camaudit cam --layer`), for every architecture;
    /// nil: each architecture's usual layer. Part of every row's content key when it differs from
    /// that default, so rows of two layers never mix and runs at the default keep their keys.
    public var layer: String? = nil

    public init(data: DataSource, models: [ModelEntry]) { self.data = data; self.models = models }

    enum CodingKeys: String, CodingKey {
        case version, data, models, methods, metrics, grid, imageSize, seeds, numClasses, camSeed, preprocessing, batchSize, overlays, layer
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        version = try c.decodeIfPresent(Int.self, forKey: .version) ?? SweepConfig.currentVersion
        data = try c.decode(DataSource.self, forKey: .data)
        models = try c.decode([ModelEntry].self, forKey: .models)
        let d = SweepConfig(data: data, models: models)
        methods = try c.decodeIfPresent([String].self, forKey: .methods) ?? d.methods
        metrics = try c.decodeIfPresent([String].self, forKey: .metrics) ?? d.metrics
        grid = try c.decodeIfPresent(Grid.self, forKey: .grid) ?? d.grid
        imageSize = try c.decodeIfPresent(Int.self, forKey: .imageSize) ?? d.imageSize
        seeds = try c.decodeIfPresent([UInt64].self, forKey: .seeds) ?? d.seeds
        numClasses = try c.decodeIfPresent(Int.self, forKey: .numClasses)
        camSeed = try c.decodeIfPresent(UInt64.self, forKey: .camSeed) ?? d.camSeed
        preprocessing = try c.decodeIfPresent(PreprocessingSpec.self, forKey: .preprocessing) ?? d.preprocessing
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? d.batchSize
        overlays = try c.decodeIfPresent(Overlays.self, forKey: .overlays)
        layer = try c.decodeIfPresent(String.self, forKey: .layer)
    }

    // MARK: - files

    /// Reads SWEEP.json; errors name the file, the field and the value. A field this version does
    /// not know (a typo) is refused, naming the nearest known one, rather than silently ignored.
    public static func read(path: String) throws -> SweepConfig {
        guard let data = FileManager.default.contents(atPath: path) else { throw SweepError.io(path: path, detail: "cannot read sweep configuration") }
        let raw: Any
        do { raw = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) } catch {
            throw SweepError.io(path: path, detail: "not valid JSON: \(error.localizedDescription)")
        }
        let unknown = unknownFields(raw, schema: schema, at: "")
        if !unknown.isEmpty { throw SweepError.io(path: path, detail: unknown.joined(separator: "; ")) }
        do { return try JSONDecoder().decode(SweepConfig.self, from: data) } catch let DecodingError.keyNotFound(k, ctx) {
            throw SweepError.io(path: path, detail: "missing field '\(dotted(ctx.codingPath + [k]))'")
        } catch let DecodingError.typeMismatch(type, ctx) {
            throw SweepError.io(path: path, detail: "\(dotted(ctx.codingPath)) must be \(typeName(type)), got \(jsonText(value(raw, at: ctx.codingPath)))")
        } catch let DecodingError.valueNotFound(type, ctx) {
            throw SweepError.io(path: path, detail: "\(dotted(ctx.codingPath)) must be \(typeName(type)), got null")
        } catch let DecodingError.dataCorrupted(ctx) where !ctx.codingPath.isEmpty {
            let v = value(raw, at: ctx.codingPath)
            let what = (v as? NSNumber).map { $0.doubleValue.rounded() != $0.doubleValue ? "must be an integer" : "is out of range" } ?? "is not valid"
            throw SweepError.io(path: path, detail: "\(dotted(ctx.codingPath)) \(what), got \(jsonText(v))")
        } catch {
            if let (field, v) = fractionalInteger(raw, schema: schema, at: "") {
                throw SweepError.io(path: path, detail: "\(field) must be an integer, got \(jsonText(v))")
            }
            throw SweepError.io(path: path, detail: "not a sweep configuration: \(error)")
        }
    }

    /// Every field SWEEP.json may hold, with a value of its type: the encoding of a configuration
    /// with every optional field set, so the list follows the Codable conformances by itself.
    static var schema: Any {
        var c = SweepConfig(data: .init(path: "p", split: "test", limit: 1, masks: "m", boxes: "b"),
                            models: [.init(architecture: "a", weights: ["w"], checkpointKey: "k", stripPrefix: "s")])
        c.numClasses = 2
        c.overlays = .init(directory: "o")
        c.layer = "l"
        return (try? c.json()).flatMap { try? JSONSerialization.jsonObject(with: $0) } ?? [String: Any]()
    }

    /// Fields of `value` the schema does not know, each with the nearest known name.
    static func unknownFields(_ value: Any, schema: Any, at path: String) -> [String] {
        if let list = value as? [Any], let s = (schema as? [Any])?.first {
            return list.enumerated().flatMap { unknownFields($1, schema: s, at: "\(path)[\($0)]") }
        }
        guard let object = value as? [String: Any], let known = schema as? [String: Any] else { return [] }
        var out: [String] = []
        for key in object.keys.sorted() {
            let field = path.isEmpty ? key : path + "." + key
            if let s = known[key] { out += unknownFields(object[key]!, schema: s, at: field); continue }
            let nearest = known.keys.min { (editDistance($0.lowercased(), key.lowercased()), $0) < (editDistance($1.lowercased(), key.lowercased()), $1) }
            out.append("unknown field '\(field)'" + (nearest.map { " (did you mean '\(path.isEmpty ? $0 : path + "." + $0)'?)" } ?? "")
                       + "; known fields here: \(known.keys.sorted().joined(separator: ", "))")
        }
        return out
    }

    /// The first number with a fraction where the schema holds an integer (for decoders that do
    /// not say which field they stopped at).
    static func fractionalInteger(_ value: Any, schema: Any, at path: String) -> (String, Any)? {
        if let list = value as? [Any], let s = (schema as? [Any])?.first {
            for (i, v) in list.enumerated() { if let hit = fractionalInteger(v, schema: s, at: "\(path)[\(i)]") { return hit } }
            return nil
        }
        if let object = value as? [String: Any], let known = schema as? [String: Any] {
            for key in object.keys.sorted() {
                guard let s = known[key] else { continue }
                if let hit = fractionalInteger(object[key]!, schema: s, at: path.isEmpty ? key : path + "." + key) { return hit }
            }
            return nil
        }
        if let n = value as? NSNumber, let s = schema as? NSNumber, !(value is Bool),
           s.doubleValue.rounded() == s.doubleValue, n.doubleValue.rounded() != n.doubleValue {
            return (path, value)
        }
        return nil
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let x = Array(a), y = Array(b)
        guard !x.isEmpty else { return y.count }
        guard !y.isEmpty else { return x.count }
        var row = Array(0...y.count)
        for i in 1...x.count {
            var diagonal = row[0]
            row[0] = i
            for j in 1...y.count {
                let above = row[j]
                row[j] = min(above + 1, row[j - 1] + 1, diagonal + (x[i - 1] == y[j - 1] ? 0 : 1))
                diagonal = above
            }
        }
        return row[y.count]
    }

    static func dotted(_ path: [CodingKey]) -> String {
        path.reduce("") { s, k in k.intValue.map { "\(s)[\($0)]" } ?? (s.isEmpty ? k.stringValue : s + "." + k.stringValue) }
    }

    static func value(_ raw: Any, at path: [CodingKey]) -> Any? {
        var v: Any? = raw
        for k in path {
            if let i = k.intValue, let list = v as? [Any] { v = i < list.count ? list[i] : nil } else { v = (v as? [String: Any])?[k.stringValue] }
        }
        return v
    }

    static func jsonText(_ v: Any?) -> String {
        guard let v else { return "nothing" }
        if v is NSNull { return "null" }
        if let d = try? JSONSerialization.data(withJSONObject: v, options: [.fragmentsAllowed, .sortedKeys, .withoutEscapingSlashes]) {
            return String(decoding: d, as: UTF8.self)
        }
        return "\(v)"
    }

    static func typeName(_ t: Any.Type) -> String {
        switch t {
        case is Int.Type, is UInt64.Type, is Int64.Type, is UInt.Type: return "an integer"
        case is Float.Type, is Double.Type: return "a number"
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        default:
            let n = "\(t)"
            return n.hasPrefix("Array") ? "a list" : n.hasPrefix("Dictionary") ? "an object" : "a \(n)"
        }
    }

    /// The JSON text (sorted keys, pretty, trailing newline).
    public func json() throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try enc.encode(self) + Data("\n".utf8)
    }

    // MARK: - validation

    /// The configuration checked and typed. Every refusal names the field and its valid range.
    public struct Resolved: Sendable {
        public let architectures: [Architecture]
        /// Weights per architecture, in `architectures` order (empty: random seeds).
        public let weights: [[String]]
        public let methods: [CAMMethod]
        public let metrics: [MetricName]
        public let split: Split?
        /// The CAM layer when it is not every architecture's default (nil: the defaults), checked
        /// against each architecture's modules.
        public let layer: String?
    }

    public func resolve() throws -> Resolved {
        guard version == SweepConfig.currentVersion else {
            throw SweepError.invalidConfig(field: "version", detail: "this camaudit reads version \(SweepConfig.currentVersion), got \(version)")
        }
        guard !data.path.isEmpty else { throw SweepError.invalidConfig(field: "data", detail: "no data path given") }
        guard !models.isEmpty else { throw SweepError.invalidConfig(field: "model", detail: "no architecture given; choose from \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")) or all") }
        var archs: [Architecture] = []
        for m in models {
            guard let a = Architecture(rawValue: m.architecture) else {
                throw SweepError.invalidConfig(field: "model", detail: "unknown architecture '\(m.architecture)'; choose from \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")) or all")
            }
            guard !archs.contains(a) else { throw SweepError.invalidConfig(field: "model", detail: "\(a.rawValue) is listed twice") }
            for w in m.weights where w.isEmpty { throw SweepError.invalidConfig(field: "weights", detail: "empty checkpoint path for \(a.rawValue)") }
            archs.append(a)
        }
        guard !methods.isEmpty else { throw SweepError.invalidConfig(field: "methods", detail: "no CAM method given; choose from \(CAMMethod.allCases.map(\.rawValue).joined(separator: ", "))") }
        let ms: [CAMMethod] = try methods.map {
            guard let m = CAMMethod(rawValue: $0) else {
                throw SweepError.invalidConfig(field: "methods", detail: "unknown method '\($0)'; choose from \(CAMMethod.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return m
        }
        guard !metrics.isEmpty else { throw SweepError.invalidConfig(field: "metrics", detail: "no metric given; choose from \(MetricName.allCases.map(\.rawValue).joined(separator: ", "))") }
        let mets: [MetricName] = try metrics.map {
            guard let m = MetricName(rawValue: $0) else {
                throw SweepError.invalidConfig(field: "metrics", detail: "unknown metric '\($0)'; choose from \(MetricName.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return m
        }
        if models.contains(where: { $0.weights.isEmpty }) && seeds.isEmpty {
            throw SweepError.invalidConfig(field: "seeds", detail: "no seed given for random weights (e.g. 0,1), or give --weights")
        }
        guard !grid.steps.isEmpty, grid.steps.allSatisfy({ (1...10_000).contains($0) }) else {
            throw SweepError.invalidConfig(field: "steps", detail: "every value must be in 1...10000, got \(grid.steps)")
        }
        guard !grid.threshold.isEmpty, grid.threshold.allSatisfy({ $0.isFinite && $0 >= 0 && $0 <= 1 }) else {
            throw SweepError.invalidConfig(field: "threshold", detail: "every value must be in [0, 1], got \(grid.threshold.map { "\($0)" })")
        }
        guard (16...4096).contains(imageSize) else {
            throw SweepError.invalidConfig(field: "image-size", detail: "must be in 16...4096, got \(imageSize)")
        }
        for a in archs {
            do { try a.checkImageSize(imageSize) } catch let e as TensorError { throw SweepError.invalidConfig(field: "image-size", detail: e.description) }
        }
        guard (1...4096).contains(batchSize) else { throw SweepError.invalidConfig(field: "batch-size", detail: "must be in 1...4096, got \(batchSize)") }
        if let limit = data.limit, limit < 1 { throw SweepError.invalidConfig(field: "limit", detail: "must be ≥ 1 (leave it out for all images), got \(limit)") }
        if let k = numClasses, !(2...100_000).contains(k) { throw SweepError.invalidConfig(field: "num-classes", detail: "must be in 2...100000, got \(k)") }
        if let o = overlays {
            guard !o.directory.isEmpty else { throw SweepError.invalidConfig(field: "overlay-dir", detail: "empty path") }
            guard o.perModel >= 0 else { throw SweepError.invalidConfig(field: "overlays.perModel", detail: "must be ≥ 0, got \(o.perModel)") }
        }
        _ = try preprocessing.preprocessing(size: imageSize)
        var split: Split? = nil
        if let s = data.split {
            guard let v = Split(rawValue: s) else { throw SweepError.invalidConfig(field: "split", detail: "must be train, val or test, got '\(s)'") }
            split = v
        }
        var camLayer: String? = nil
        if let layer {
            for a in archs {
                do { try CAMExplainer.checkLayers([layer], architecture: a, imageSize: imageSize) } catch {
                    throw SweepError.invalidConfig(field: "layer", detail: "\(error)")
                }
            }
            // The default layer named explicitly is the default: its rows keep their keys.
            if archs.contains(where: { $0.defaultCAMLayer != layer }) { camLayer = layer }
        }
        return Resolved(architectures: archs, weights: models.map(\.weights), methods: ms, metrics: mets, split: split, layer: camLayer)
    }
}

extension SweepConfig {
    /// Weights per architecture from repeated `--weights` values: `ARCH=a.safetensors,b.pth` for one
    /// architecture, or a bare list for every architecture without its own entry. An entry whose
    /// text before `=` is not an architecture name is a bare path (file names may hold `=`).
    /// - Returns: for each of `architectures`, its checkpoints (empty: random weights).
    public static func parseWeights(_ entries: [String], architectures: [String]) throws -> [[String]] {
        var perArch: [String: [String]] = [:]
        var bare: [String]? = nil
        func list(_ s: Substring) -> [String] { s.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
        for entry in entries {
            if let eq = entry.firstIndex(of: "="), Architecture(rawValue: String(entry[..<eq])) != nil {
                let arch = String(entry[..<eq])
                guard architectures.contains(arch) else {
                    throw SweepError.invalidConfig(field: "weights", detail: "\(arch)=… given, but \(arch) is not among the models (\(architectures.joined(separator: ",")))")
                }
                guard perArch[arch] == nil else { throw SweepError.invalidConfig(field: "weights", detail: "\(arch) is given twice") }
                let files = list(entry[entry.index(after: eq)...])
                guard !files.isEmpty else { throw SweepError.invalidConfig(field: "weights", detail: "\(arch)=: no checkpoint given") }
                perArch[arch] = files
            } else {
                guard bare == nil else {
                    throw SweepError.invalidConfig(field: "weights", detail: "only one list without ARCH= is allowed (it applies to every architecture without its own); use ARCH=FILES per architecture")
                }
                let files = list(entry[...])
                guard !files.isEmpty else { throw SweepError.invalidConfig(field: "weights", detail: "no checkpoint given") }
                bare = files
            }
        }
        return architectures.map { perArch[$0] ?? bare ?? [] }
    }
}

extension SweepConfig {
    /// The fields in which `other` differs from this configuration, as `field: ours vs theirs`
    /// (dotted paths into SWEEP.json, values as JSON).
    public func differences(from other: SweepConfig) -> [String] {
        func object(_ c: SweepConfig) -> Any? { (try? c.json()).flatMap { try? JSONSerialization.jsonObject(with: $0) } }
        func text(_ v: Any?) -> String {
            guard let v, !(v is NSNull) else { return "(none)" }
            if let d = try? JSONSerialization.data(withJSONObject: v, options: [.sortedKeys, .fragmentsAllowed, .withoutEscapingSlashes]) {
                return String(decoding: d, as: UTF8.self)
            }
            return "\(v)"
        }
        var out: [String] = []
        func walk(_ a: Any?, _ b: Any?, _ path: String) {
            if let x = a as? [String: Any], let y = b as? [String: Any] {
                for k in Set(x.keys).union(y.keys).sorted() { walk(x[k], y[k], path.isEmpty ? k : path + "." + k) }
            } else if text(a) != text(b) {
                out.append("\(path): \(text(a)) vs \(text(b))")
            }
        }
        walk(object(self), object(other), "")
        return out.isEmpty ? ["(equal)"] : out
    }
}
