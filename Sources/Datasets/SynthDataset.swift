import Foundation
import Imaging
import TensorCore

/// Writes a phantom dataset: slices, masks, markers and the manifest.
///
/// Layout under `out`:
/// - `images/<class>/slice_000000.png` — lung-window 8-bit slices (ImageFolder layout)
/// - `masks/<class>/slice_000000.png` — lesion masks 0/255 (all zero for normal slices)
/// - `shortcut_masks/<class>/slice_000000.png` — the marker's mask, for slices that carry it
/// - `manifest.csv` — file, class, split (stratified 60/20/20 from the seed), mask, lesion box and
///   area, and generator parameters (`phantom_*` columns, `lesion_diameter_mm`, `shortcut`,
///   `shortcut_mask`, `shortcut_box`, `marker_drawn`).
/// With `alsoClean` (and a shortcut fraction > 0) the same slices without any marker go to
/// `images_clean/<class>/…` and `manifest_clean.csv`: the same rows, splits, masks and marker
/// boxes (`shortcut` still says where the marker was), `marker_drawn` = 0 and `file` pointing at the
/// clean image. A model trained on `manifest.csv` and tested on both shows what the marker bought.
public enum SynthDataset {
    public struct Summary: Sendable {
        public var count: Int
        public var seconds: Double
        public var manifestPath: String
        /// `manifest_clean.csv`, when `alsoClean` was asked for.
        public var cleanManifestPath: String?
        public var perClass: [String: Int]
        public var shortcutCount: Int
    }

    /// The manifest's generator columns.
    public static let extraColumns = [
        "phantom_index", "phantom_seed", "phantom_version", "pixel_mm", "lesion_kind", "lesion_diameter_mm", "lesion_cx", "lesion_cy",
        "lesion_radius_px", "calcified", "spiculated", "touches_pleura", "level", "body_rx", "body_ry", "fat_px", "heart_rx",
        "noise_sigma_hu", "shortcut", "shortcut_corner", "shortcut_mask", "shortcut_box", "marker_drawn"]

    /// Generates `count` slices (in parallel over `Parallel.threads`; bytes do not depend on it).
    public static func generate(out: String, count: Int, size: Int = 512, seed: UInt64 = 0, shortcutFraction: Double = 0,
                                alsoClean: Bool = false, fractions: SplitFractions = .study) throws -> Summary {
        guard count > 0 else { throw DatasetError(path: out, reason: "--count must be positive") }
        guard size >= 64 && size <= 4096 else { throw DatasetError(path: out, reason: "--size must be in 64...4096, got \(size)") }
        guard (0...1).contains(shortcutFraction) else { throw DatasetError(path: out, reason: "--shortcut must be in [0, 1], got \(shortcutFraction)") }
        guard !alsoClean || shortcutFraction > 0 else {
            throw DatasetError(path: out, reason: "--also-clean needs --shortcut > 0 (without markers the clean set is the set itself)")
        }
        let fm = FileManager.default
        let folders = ["images", "masks", "shortcut_masks"] + (alsoClean ? ["images_clean"] : [])
        for c in PhantomGenerator.classes {
            for sub in folders {
                do { try fm.createDirectory(atPath: "\(out)/\(sub)/\(c)", withIntermediateDirectories: true) } catch {
                    throw DatasetError(path: "\(out)/\(sub)/\(c)", reason: "cannot create folder: \(error.localizedDescription)")
                }
            }
        }
        let gen = PhantomGenerator(size: size, seed: seed, shortcutFraction: shortcutFraction)
        let start = Date()
        var rows = [(marked: ManifestItem, clean: ManifestItem?)?](repeating: nil, count: count)
        var errors = [String?](repeating: nil, count: count)
        rows.withUnsafeMutableBufferPointer { rb in
            errors.withUnsafeMutableBufferPointer { eb in
                let r = UncheckedBox(rb), e = UncheckedBox(eb)
                Parallel.forEach(count) { i in
                    do { r.value[i] = try writeSlice(gen, index: i, out: out, alsoClean: alsoClean) } catch { e.value[i] = "\(error)" }
                }
            }
        }
        if let e = errors.compactMap({ $0 }).first { throw DatasetError(path: out, reason: e) }
        let pairs = rows.compactMap { $0 }
        let splits = Splitter.assign(classes: pairs.map(\.marked.classIndex), seed: seed, fractions: fractions)
        func write(_ items: [ManifestItem], _ name: String) throws -> String {
            var items = items
            for i in items.indices { items[i].split = splits[i] }
            let path = (out as NSString).appendingPathComponent(name)
            try Manifest(items: items, extraColumns: extraColumns, directory: out).write(to: path)
            return path
        }
        let path = try write(pairs.map(\.marked), "manifest.csv")
        let cleanPath = alsoClean ? try write(pairs.compactMap(\.clean), "manifest_clean.csv") : nil
        var perClass: [String: Int] = [:]
        for p in pairs { perClass[p.marked.className, default: 0] += 1 }
        return Summary(count: count, seconds: Date().timeIntervalSince(start), manifestPath: path, cleanManifestPath: cleanPath,
                       perClass: perClass, shortcutCount: pairs.filter { $0.marked.extra["shortcut"] == "1" }.count)
    }

    static func writeSlice(_ gen: PhantomGenerator, index i: Int, out: String, alsoClean: Bool) throws -> (ManifestItem, ManifestItem?) {
        let s = gen.slice(i)
        let name = String(format: "slice_%06d.png", i)
        let file = "images/\(s.className)/\(name)", mask = "masks/\(s.className)/\(name)"
        func writeImage(_ pixels: [UInt8], _ path: String) throws -> String {
            let png = try PNG.encode8(pixels, width: s.size, height: s.size, channels: 1, fast: true, name: path)
            try PNG.writeBytes(png, to: "\(out)/\(path)")
            return ContentHash.fnv1a64(png)
        }
        let hash = try writeImage(s.pixels, file)
        _ = try writeImage(s.lesionMask, mask)
        var extra = s.parameters
        extra["phantom_index"] = String(i)
        extra["phantom_seed"] = String(gen.seed)
        extra["phantom_version"] = PhantomGenerator.version
        extra["pixel_mm"] = String(format: "%.4f", gen.pixelMillimetres)
        extra["marker_drawn"] = s.shortcutMask == nil ? "0" : "1"
        if let sm = s.shortcutMask, let b = s.shortcutBox {
            let p = "shortcut_masks/\(s.className)/\(name)"
            _ = try writeImage(sm, p)
            extra["shortcut_mask"] = p
            extra["shortcut_box"] = b.text
        }
        let item = ManifestItem(file: file, className: s.className, classIndex: s.classIndex, split: .train, mask: mask,
                                lesionBox: s.lesionBox, lesionArea: s.lesionArea, width: s.size, height: s.size, hash: hash, extra: extra)
        guard alsoClean else { return (item, nil) }
        var clean = item
        clean.file = "images_clean/\(s.className)/\(name)"
        clean.hash = try writeImage(s.unmarkedPixels, clean.file)
        clean.extra["marker_drawn"] = "0"
        return (item, clean)
    }
}
