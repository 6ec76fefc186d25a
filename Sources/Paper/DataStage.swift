import Foundation
import TensorCore
import Imaging
import Datasets
import Sweep

/// The data the pipeline trains and explains on.
public struct PaperData: Sendable {
    public var manifestPath: String
    public var manifest: Manifest
    /// Phantoms (exact lesion masks) or the user's folder.
    public var isPhantom: Bool
    /// SHA-256 of the data stage's key: every later stage's key includes it.
    public var digest: String
    /// The shortcut experiment's set (phantoms with a marker fraction > 0): the same slices, a share
    /// of them carrying the class-correlated corner marker.
    public var marked: MarkedSet? = nil
}

/// The same phantom slices with the class-correlated marker burned into a share of them, and for each
/// marked test slice its marker-free twin (the slice of the main set).
public struct MarkedSet: Sendable {
    public var manifestPath: String
    public var manifest: Manifest
    public var digest: String
    /// Marked test image (manifest-relative file) → the path of the same slice without the marker.
    public var cleanPairs: [String: String]

    /// As training data for the shortcut models.
    public var data: PaperData { PaperData(manifestPath: manifestPath, manifest: manifest, isPhantom: true, digest: digest) }
}

/// Stage 1: phantoms — the main set without markers, on which the study's models are trained and
/// explained, and beside it the same slices with class-correlated markers for the shortcut
/// experiment — or a scanned folder split duplicate-safe.
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
        // The generator writes the marked slices as manifest.csv and, with a marker fraction > 0,
        // their marker-free twins (the same rows and splits) as manifest_clean.csv.
        let markedManifest = try Manifest.read(path: dir + "/manifest.csv")
        guard FileManager.default.fileExists(atPath: dir + "/" + cleanManifestName) else {
            return PaperData(manifestPath: dir + "/manifest.csv", manifest: markedManifest, isPhantom: true, digest: key)
        }
        let clean = try Manifest.read(path: dir + "/" + cleanManifestName)
        var cleanByIndex: [String: String] = [:]
        for it in clean.items { if let i = it.extra["phantom_index"] { cleanByIndex[i] = clean.resolve(it.file) } }
        var pairs: [String: String] = [:]
        for it in markedManifest.items(in: .test) where it.extra["shortcut"] == "1" {
            if let i = it.extra["phantom_index"], let c = cleanByIndex[i] { pairs[it.file] = c }
        }
        let marked = MarkedSet(manifestPath: dir + "/manifest.csv", manifest: markedManifest,
                               digest: StageCache.key([key, "marked"]), cleanPairs: pairs)
        return PaperData(manifestPath: dir + "/" + cleanManifestName, manifest: clean, isPhantom: true,
                         digest: StageCache.key([key, "clean"]), marked: marked)
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
        try manifest.check(for: .training, source: folder, warn: log)
        var parts = ["data", "folder", manifest.csv()]
        for it in manifest.items { if let m = it.mask { parts.append(try ContentDigest.hex(file: manifest.resolve(m))) } }
        let key = StageCache.key(parts)
        let dir = try cache.run(stage: "data", item: "folder", key: key) { work in
            try manifest.write(to: work + "/manifest.csv")
        }
        let m = try Manifest.read(path: dir + "/manifest.csv")
        return PaperData(manifestPath: dir + "/manifest.csv", manifest: m, isPhantom: false, digest: key)
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
