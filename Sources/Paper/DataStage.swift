import Foundation
import TensorCore
import Imaging
import Datasets
import Sweep

/// The data the pipeline trains and explains on.
public struct PaperData: Sendable {
    public var manifestPath: String
    public var manifest: Manifest
    /// Phantoms (exact lesion masks, shortcut markers) or the user's folder.
    public var isPhantom: Bool
    /// SHA-256 of the data stage's key: every later stage's key includes it.
    public var digest: String
    /// Test images with a marker: file → the same slice without it (`clean/…`), phantoms only.
    public var cleanPairs: [String: String]
}

/// Stage 1: phantoms with shortcut markers (and the marker-free twin of every marked test slice),
/// or a scanned folder split duplicate-safe.
public enum DataStage {
    public static func run(_ spec: DataSpec, cache: StageCache, log: (String) -> Void) throws -> PaperData {
        if let folder = spec.folder { return try scanFolder(folder, spec: spec, cache: cache, log: log) }
        guard let p = spec.phantom else { throw PaperError.invalid("no data given") }
        let specJSON = String(decoding: try JSONEncoder.sorted.encode(p), as: UTF8.self)
        let key = StageCache.key(["data", "phantom", PhantomGenerator.version, specJSON])
        let dir = try cache.run(stage: "data", item: "phantoms", key: key) { work in
            _ = try SynthDataset.generate(out: work, count: p.count, size: p.size, seed: p.seed, shortcutFraction: p.shortcutFraction)
            let m = try Manifest.read(path: work + "/manifest.csv")
            try writeCleanTwins(m, spec: p, out: work)
        }
        let manifest = try Manifest.read(path: dir + "/manifest.csv")
        var pairs: [String: String] = [:]
        for it in manifest.items(in: .test) where it.extra["shortcut"] == "1" { pairs[it.file] = dir + "/" + cleanPath(it.file) }
        return PaperData(manifestPath: dir + "/manifest.csv", manifest: manifest, isPhantom: true, digest: key, cleanPairs: pairs)
    }

    static func cleanPath(_ file: String) -> String { "clean/" + file }

    /// The marker is burned in last, after the slice is rendered from its own streams: the same slice
    /// drawn with no marker is the marked one with the marker's pixels restored.
    static func writeCleanTwins(_ m: Manifest, spec p: PhantomSpec, out: String) throws {
        let clean = PhantomGenerator(size: p.size, seed: p.seed, shortcutFraction: 0)
        for it in m.items(in: .test) where it.extra["shortcut"] == "1" {
            guard let idx = it.extra["phantom_index"].flatMap(Int.init) else {
                throw PaperError.stage("data", "\(it.file): no phantom_index in the manifest")
            }
            let s = clean.slice(idx)
            let path = out + "/" + cleanPath(it.file)
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try PNG.writeBytes(try PNG.encode8(s.pixels, width: s.size, height: s.size, channels: 1, fast: true, name: path), to: path)
        }
    }

    /// A user folder: scanned (bad files listed), split stratified and duplicate-safe; the key is the
    /// scan's manifest (file names, classes, content hashes, split) and the masks' bytes.
    static func scanFolder(_ folder: String, spec: DataSpec, cache: StageCache, log: (String) -> Void) throws -> PaperData {
        let scanned = try DatasetScanner.scan(root: folder, options: ScanOptions(maskFolder: spec.masks))
        log(scanned.summary)
        guard scanned.classes.count >= 2 else {
            throw PaperError.stage("data", "\(folder): \(scanned.items.count) readable images in \(scanned.classes.count) class folders; the study needs at least two classes")
        }
        let manifest = scanned.manifest(seed: spec.splitSeed)
        var parts = ["data", "folder", manifest.csv()]
        for it in manifest.items { if let m = it.mask { parts.append(try ContentDigest.hex(file: manifest.resolve(m))) } }
        let key = StageCache.key(parts)
        let dir = try cache.run(stage: "data", item: "folder", key: key) { work in
            try manifest.write(to: work + "/manifest.csv")
        }
        let m = try Manifest.read(path: dir + "/manifest.csv")
        return PaperData(manifestPath: dir + "/manifest.csv", manifest: m, isPhantom: false, digest: key, cleanPairs: [:])
    }
}

extension JSONEncoder {
    /// Sorted keys, no escaped slashes: the canonical form digests read.
    static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }
}
