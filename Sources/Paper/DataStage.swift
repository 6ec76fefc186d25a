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

/// Stage 1: phantoms with shortcut markers (and the generator's marker-free twin of every slice),
/// or a scanned folder split duplicate-safe.
public enum DataStage {
    public static func run(_ spec: DataSpec, cache: StageCache, log: (String) -> Void) throws -> PaperData {
        if let folder = spec.folder { return try scanFolder(folder, spec: spec, cache: cache, log: log) }
        guard let p = spec.phantom else { throw PaperError.invalid("no data given") }
        let specJSON = String(decoding: try JSONEncoder.sorted.encode(p), as: UTF8.self)
        let key = StageCache.key(["data", "phantom", PhantomGenerator.version, specJSON])
        let dir = try cache.run(stage: "data", item: "phantoms", key: key) { work in
            _ = try SynthDataset.generate(out: work, count: p.count, size: p.size, seed: p.seed, shortcutFraction: p.shortcutFraction,
                                          alsoClean: p.shortcutFraction > 0)
        }
        let manifest = try Manifest.read(path: dir + "/manifest.csv")
        // The generator's marked/clean pairs: the same rows, the clean one drawn without the marker.
        var pairs: [String: String] = [:]
        if FileManager.default.fileExists(atPath: dir + "/" + cleanManifestName) {
            let clean = try Manifest.read(path: dir + "/" + cleanManifestName)
            var cleanByIndex: [String: String] = [:]
            for it in clean.items { if let i = it.extra["phantom_index"] { cleanByIndex[i] = clean.resolve(it.file) } }
            for it in manifest.items(in: .test) where it.extra["shortcut"] == "1" {
                if let i = it.extra["phantom_index"], let c = cleanByIndex[i] { pairs[it.file] = c }
            }
        }
        return PaperData(manifestPath: dir + "/manifest.csv", manifest: manifest, isPhantom: true, digest: key, cleanPairs: pairs)
    }

    static let cleanManifestName = "manifest_clean.csv"

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
