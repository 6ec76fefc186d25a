import Foundation
import TensorCore

/// Loaders for the PyTorch / pytorch-grad-cam reference fixtures written by
/// `scripts/gen_fixtures.py` (layout and sampling rules: scripts/README.md).
///
/// Paths inside an index are relative to the index's folder. Every loader throws
/// `Fixtures.FixtureError` naming the file and telling which script regenerates it.
public enum Fixtures {
    /// The fixture format these loaders understand; indexes carry `fixture_version`.
    public static let version = 1
    /// The command that rewrites every fixture.
    public static let regenerate = "/tmp/tv/bin/python scripts/gen_fixtures.py"
    /// The five architectures of the study, by torchvision builder name.
    public static let archs = ["resnet50", "resnet101", "densenet161", "efficientnet_b0", "vit_b_16"]

    public struct FixtureError: Error, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "\(path): \(reason) (regenerate with `\(Fixtures.regenerate)`)" }
    }

    // MARK: - paths and raw files

    /// `Tests/Fixtures/models`.
    public static var modelsDirectory: String { fixturesDirectory + "/models" }
    /// `Tests/Fixtures/cams`.
    public static var camsDirectory: String { fixturesDirectory + "/cams" }

    /// Joins a folder and a relative path from an index, normalising `..` components.
    public static func resolve(_ folder: String, _ relative: String) -> String {
        URL(fileURLWithPath: folder).appendingPathComponent(relative).standardizedFileURL.path
    }

    /// Reads a `.npy` array (any dtype `NPY` reads becomes Float).
    public static func npy(_ path: String) throws -> Tensor {
        guard FileManager.default.fileExists(atPath: path) else {
            throw FixtureError(path: path, reason: "fixture file missing")
        }
        return try NPY.read(path: path)
    }

    /// Reads a `.npy` array of indices (stored as int32) as Ints.
    public static func indices(_ path: String) throws -> [Int] {
        try npy(path).values.map { Int($0) }
    }

    /// Decodes a JSON index into `T` (snake_case keys become camelCase) and checks its version.
    public static func decode<T: Decodable & Versioned>(_ type: T.Type, path: String) throws -> T {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FixtureError(path: path, reason: "fixture index missing")
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let value: T
        do { value = try decoder.decode(T.self, from: data) } catch {
            throw FixtureError(path: path, reason: "cannot decode index: \(error)")
        }
        guard value.fixtureVersion == version else {
            throw FixtureError(path: path, reason: "fixture version \(value.fixtureVersion), loaders expect \(version)")
        }
        return value
    }

    /// Parses any JSON file into Foundation objects (for fields the typed indexes do not model).
    public static func jsonObject(_ path: String) throws -> Any {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FixtureError(path: path, reason: "fixture file missing")
        }
        do { return try JSONSerialization.jsonObject(with: data) } catch {
            throw FixtureError(path: path, reason: "invalid JSON: \(error)")
        }
    }

    /// The fixed input image batch as the models saw it: uint8 pixels / 255 (torchvision's
    /// ToTensor, no normalisation). `size` is 224 ([2,3,224,224]), 160 ([2,3,160,160]) or 112 ([1,3,112,112]).
    public static func input(size: Int) throws -> Tensor {
        let t = try npy(modelsDirectory + "/input_\(size).npy")
        for i in 0..<t.count { t.data[i] = t.data[i] / 255 }
        return t
    }

    // MARK: - model fixtures

    /// `Tests/Fixtures/models/<arch>/index.json`.
    public static func model(_ arch: String) throws -> ModelIndex {
        var m = try decode(ModelIndex.self, path: modelsDirectory + "/\(arch)/index.json")
        m.folder = modelsDirectory + "/\(arch)"
        return m
    }

    /// `Tests/Fixtures/models/deterministic_params.json`.
    public static func deterministicParams() throws -> ParamsIndex {
        try decode(ParamsIndex.self, path: modelsDirectory + "/deterministic_params.json")
    }

    // MARK: - CAM fixtures

    /// `Tests/Fixtures/cams/<arch>/index.json`.
    public static func cams(_ arch: String) throws -> CamIndex {
        var c = try decode(CamIndex.self, path: camsDirectory + "/\(arch)/index.json")
        c.folder = camsDirectory + "/\(arch)"
        return c
    }
}

/// Indexes that carry a fixture format version.
public protocol Versioned { var fixtureVersion: Int { get } }

// MARK: - model index

/// One architecture's forward reference: logits and stage activations for the 224×224 batch of 2.
public struct ModelIndex: Decodable, Versioned, Sendable {
    public let fixtureVersion: Int
    public let command: String
    public let torch: String
    public let torchvision: String
    public let arch: String
    public let numClasses: Int
    public let batch: Int
    public let imageSize: Int
    public let input: String
    public let logits: String
    public let logitsValues: [[Double]]
    public let predicted: [Int]
    /// The module path of pytorch-grad-cam's default target layer for this arch.
    public let gradcamLayer: String
    public let activations: [Activation]
    /// vit_b_16 only: the model built with image_size=160 on `input_160.npy`.
    public let imageSize160: Vit160?
    /// The folder the index was read from (set by the loader).
    public var folder: String = ""

    enum CodingKeys: String, CodingKey {
        case fixtureVersion, command, torch, torchvision, arch, numClasses, batch, imageSize, input, logits
        case logitsValues, predicted, gradcamLayer, activations, imageSize160
    }

    public struct Vit160: Decodable, Sendable {
        public let input: String
        public let logits: String
        public let logitsValues: [[Double]]
        public let posEmbeddingShape: [Int]
    }

    /// A hooked module output: stored whole when small, otherwise 512 sampled elements plus
    /// per-channel sums (NCHW: over H·W; NTC: over tokens).
    public struct Activation: Decodable, Sendable {
        public let name: String
        public let shape: [Int]
        /// "NCHW", "NTC" or "NC".
        public let layout: String
        public let mean: Double
        public let std: Double
        public let absmax: Double
        public let full: String?
        public let sampleIndices: String?
        public let sampleValues: String?
        public let channelSums: String?
    }

    /// The reference logits [batch, numClasses].
    public func logitsTensor() throws -> Tensor { try Fixtures.npy(Fixtures.resolve(folder, logits)) }

    /// The activation entry for a module path.
    public func activation(_ name: String) throws -> Activation {
        guard let a = activations.first(where: { $0.name == name }) else {
            throw Fixtures.FixtureError(path: folder + "/index.json", reason: "no activation named \(name); have \(activations.map(\.name))")
        }
        return a
    }

    /// Compares `actual` (the full activation tensor of our model) with the fixture entry: the
    /// whole tensor, or the sampled elements and the per-channel sums. Returns nil when within
    /// tolerance, else a message naming the layer and the worst element. Channel sums are compared
    /// with `atol` scaled by the number of summed elements.
    public func compare(_ actual: Tensor, with entry: Activation, rtol: Float = 1e-3, atol: Float = 1e-3) throws -> String? {
        guard actual.shape == entry.shape else {
            return "\(arch) \(entry.name): shape \(actual.shape) vs reference \(entry.shape)"
        }
        if let full = entry.full {
            let ref = try Fixtures.npy(Fixtures.resolve(folder, full))
            return closeness(actual.values, ref.values, rtol: rtol, atol: atol).map { "\(arch) \(entry.name) (full): \($0)" }
        }
        if let idxFile = entry.sampleIndices, let valFile = entry.sampleValues {
            let idx = try Fixtures.indices(Fixtures.resolve(folder, idxFile))
            let ref = try Fixtures.npy(Fixtures.resolve(folder, valFile)).values
            let got = idx.map { actual.data[$0] }
            if let msg = closeness(got, ref, rtol: rtol, atol: atol) { return "\(arch) \(entry.name) (sampled): \(msg)" }
        }
        if let sumFile = entry.channelSums {
            let ref = try Fixtures.npy(Fixtures.resolve(folder, sumFile))
            let sums = Self.channelSums(actual, layout: entry.layout)
            let perSum = Float(actual.count / max(ref.count, 1))
            if let msg = closeness(sums, ref.values, rtol: rtol, atol: atol * perSum.squareRoot()) {
                return "\(arch) \(entry.name) (channel sums): \(msg)"
            }
        }
        return nil
    }

    /// Per-channel sums in Double: NCHW → [N, C] over H·W; NTC → [N, C] over T.
    public static func channelSums(_ t: Tensor, layout: String) -> [Float] {
        guard t.rank >= 3 else { return t.values }
        let n = t.shape[0]
        var out = [Float]()
        if layout == "NTC" {
            let tokens = t.shape[1], c = t.shape[2]
            var acc = [Double](repeating: 0, count: c)
            for b in 0..<n {
                for i in 0..<c { acc[i] = 0 }
                for tok in 0..<tokens { for i in 0..<c { acc[i] += Double(t.data[(b * tokens + tok) * c + i]) } }
                out += acc.map { Float($0) }
            }
        } else {
            let c = t.shape[1], hw = t.count / (n * c)
            for plane in 0..<(n * c) {
                var s = 0.0
                for j in 0..<hw { s += Double(t.data[plane * hw + j]) }
                out.append(Float(s))
            }
        }
        return out
    }
}

// MARK: - deterministic-parameter cross-check

/// Values of the deterministic generator computed by NumPy, for the Swift side to reproduce.
public struct ParamsIndex: Decodable, Versioned, Sendable {
    public let fixtureVersion: Int
    public let gain: Double
    public let values: [Sample]
    public let uniform: [Uniform]
    public let tensorSums: [TensorSum]

    public struct Sample: Decodable, Sendable {
        public let key: String
        public let shape: [Int]
        public let index: Int
        public let value: Double
    }

    public struct Uniform: Decodable, Sendable {
        public let key: String
        /// 16 hex digits.
        public let fnv1a64: String
        public let u: [Double]
    }

    public struct TensorSum: Decodable, Sendable {
        public let key: String
        public let shape: [Int]
        public let sum: Double
        public let sumAbs: Double
    }
}

// MARK: - CAM index

/// pytorch-grad-cam maps for one architecture: the 224×224 batch of 2 with explicit targets
/// (image 0 → class 0, image 1 → class 1) and with targets None (predicted class).
public struct CamIndex: Decodable, Versioned, Sendable {
    public let fixtureVersion: Int
    public let gradCam: String
    public let arch: String
    public let batch: Int
    public let imageSize: Int
    public let input: String
    /// Sorted flat pixel indices into an H×W map (int32 .npy), shared by every sampled case.
    public let pixels: String
    public let defaultLayer: String
    public let logits: [[Double]]
    public let predicted: [Int]
    public let explicitTargets: [Int]
    public let cases: [Case]
    public let eigenProjection: EigenProjection?
    public let inplaceReluProbe: InplaceReluProbe?
    public let logits112: [[Double]]?
    /// The folder the index was read from (set by the loader).
    public var folder: String = ""

    enum CodingKeys: String, CodingKey {
        case fixtureVersion, gradCam, arch, batch, imageSize, input, pixels, defaultLayer, logits, predicted
        case explicitTargets, cases, eigenProjection, inplaceReluProbe, logits112
    }

    public struct Options: Decodable, Sendable {
        public let augSmooth: Bool?
        public let eigenSmooth: Bool?
        public let batchSize: Int?
    }

    /// One CAM run. `error` is set (and the rest nil) when the method did not run on this arch.
    public struct Case: Decodable, Sendable {
        public let name: String
        public let method: String
        public let error: String?
        public let targets: [Int]?
        public let resolvedTargets: [Int]?
        public let layers: [String]?
        public let reshapeTransform: String?
        public let options: Options?
        /// Target-layer activation shapes as pytorch-grad-cam saw them (after the reshape transform).
        public let activationShapes: [[Int]]?
        /// [N, H, W] of the whole map.
        public let mapShape: [Int]?
        public let seconds: Double?
        public let allZero: Bool?
        /// Whole maps [N, H, W] (resnet50 GradCAM only).
        public let full: String?
        /// Sampled maps [N, pixels.count]; `pixels` overrides the index's pixel file when set.
        public let sampled: String?
        public let pixels: String?
        /// Overrides the index's input (the 112×112 ScoreCAM / AblationCAM cases).
        public let input: String?
    }

    public struct EigenProjection: Decodable, Sendable {
        public let file: String
        public let shape: [Int]
        public let note: String
    }

    /// What pytorch-grad-cam's hooks on densenet's features[-1] held on CPU.
    public struct InplaceReluProbe: Decodable, Sendable {
        public let activationsPreRelu: Bool
        public let activationsPostRelu: Bool
        public let gradientsReluMasked: Bool
        public let gradientsUnmasked: Bool
        public let fractionNegativePreRelu: Double
        public let note: String
    }

    /// The case with this name.
    public func `case`(_ name: String) throws -> Case {
        guard let c = cases.first(where: { $0.name == name }) else {
            throw Fixtures.FixtureError(path: folder + "/index.json", reason: "no case \(name); have \(cases.map(\.name))")
        }
        return c
    }

    /// The input batch a case was computed on, as float32 in [0, 1].
    public func inputTensor(for c: Case) throws -> Tensor {
        let t = try Fixtures.npy(Fixtures.resolve(folder, c.input ?? input))
        for i in 0..<t.count { t.data[i] = t.data[i] / 255 }
        return t
    }

    /// The reference map values and the flat pixel indices (into H×W) they sit at, per image:
    /// `values[n]` pairs with `pixels`. Full maps give every pixel.
    public func reference(for c: Case) throws -> (pixels: [Int], values: [[Float]]) {
        guard let shape = c.mapShape, shape.count == 3 else {
            throw Fixtures.FixtureError(path: folder + "/index.json", reason: "case \(c.name) has no map (error: \(c.error ?? "none"))")
        }
        let n = shape[0], hw = shape[1] * shape[2]
        if let full = c.full {
            let t = try Fixtures.npy(Fixtures.resolve(folder, full))
            let v = t.values
            return (Array(0..<hw), (0..<n).map { Array(v[($0 * hw)..<(($0 + 1) * hw)]) })
        }
        guard let sampled = c.sampled else {
            throw Fixtures.FixtureError(path: folder + "/index.json", reason: "case \(c.name) names no map file")
        }
        let px = try Fixtures.indices(Fixtures.resolve(folder, c.pixels ?? pixels))
        let v = try Fixtures.npy(Fixtures.resolve(folder, sampled)).values
        guard v.count == n * px.count else {
            throw Fixtures.FixtureError(path: Fixtures.resolve(folder, sampled), reason: "\(v.count) values for \(n) maps × \(px.count) pixels")
        }
        return (px, (0..<n).map { Array(v[($0 * px.count)..<(($0 + 1) * px.count)]) })
    }

    /// Compares our maps [N, H, W] with a case's reference at its pixels; nil when close.
    public func compare(_ maps: Tensor, with c: Case, atol: Float = 1e-3) throws -> String? {
        guard maps.shape == c.mapShape else {
            return "\(arch) \(c.name): map shape \(maps.shape) vs reference \(c.mapShape ?? [])"
        }
        let (px, ref) = try reference(for: c)
        let hw = maps.shape[1] * maps.shape[2]
        for (n, r) in ref.enumerated() {
            let got = px.map { maps.data[n * hw + $0] }
            if let msg = closeness(got, r, rtol: 0, atol: atol) { return "\(arch) \(c.name) image \(n): \(msg)" }
        }
        return nil
    }
}
