import Foundation
import Imaging
import TensorCore

/// Writes a phantom dataset: slices, masks, tags and the manifest.
///
/// Layout under `out`:
/// - `images/<class>/slice_000000.png` — lung-window 8-bit slices (ImageFolder layout)
/// - `masks/<class>/slice_000000.png` — lesion masks 0/255 (all zero for normal slices)
/// - `shortcut_masks/<class>/slice_000000.png` — the tag's mask, for slices that carry it
/// - `manifest.csv` — file, class, split (stratified 60/20/20 from the seed), mask, lesion box and
///   area, and generator parameters (`phantom_*` columns, `shortcut`, `shortcut_mask`, `shortcut_box`).
public enum SynthDataset {
    public struct Summary: Sendable {
        public var count: Int
        public var seconds: Double
        public var manifestPath: String
        public var perClass: [String: Int]
        public var shortcutCount: Int
    }

    /// Generates `count` slices (in parallel over `Parallel.threads`; bytes do not depend on it).
    public static func generate(out: String, count: Int, size: Int = 512, seed: UInt64 = 0, shortcutFraction: Double = 0,
                                fractions: SplitFractions = .study) throws -> Summary {
        guard count > 0 else { throw DatasetError(path: out, reason: "--count must be positive") }
        guard size >= 64 && size <= 4096 else { throw DatasetError(path: out, reason: "--size must be in 64...4096, got \(size)") }
        guard (0...1).contains(shortcutFraction) else { throw DatasetError(path: out, reason: "--shortcut must be in [0, 1], got \(shortcutFraction)") }
        let fm = FileManager.default
        for c in PhantomGenerator.classes {
            for sub in ["images", "masks", "shortcut_masks"] {
                do { try fm.createDirectory(atPath: "\(out)/\(sub)/\(c)", withIntermediateDirectories: true) } catch {
                    throw DatasetError(path: "\(out)/\(sub)/\(c)", reason: "cannot create folder: \(error.localizedDescription)")
                }
            }
        }
        let gen = PhantomGenerator(size: size, seed: seed, shortcutFraction: shortcutFraction)
        let start = Date()
        var rows = [ManifestItem?](repeating: nil, count: count)
        var errors = [String?](repeating: nil, count: count)
        rows.withUnsafeMutableBufferPointer { rb in
            errors.withUnsafeMutableBufferPointer { eb in
                let r = UncheckedBox(rb), e = UncheckedBox(eb)
                Parallel.forEach(count) { i in
                    do { r.value[i] = try writeSlice(gen, index: i, out: out) } catch { e.value[i] = "\(error)" }
                }
            }
        }
        if let e = errors.compactMap({ $0 }).first { throw DatasetError(path: out, reason: e) }
        var items = rows.compactMap { $0 }
        let splits = Splitter.assign(classes: items.map(\.classIndex), seed: seed, fractions: fractions)
        for i in items.indices { items[i].split = splits[i] }
        let extras = ["phantom_index", "phantom_seed", "phantom_version", "lesion_kind", "lesion_cx", "lesion_cy", "lesion_radius_px",
                      "calcified", "spiculated", "touches_pleura", "level", "body_rx", "body_ry", "fat_px", "heart_rx",
                      "noise_sigma_hu", "shortcut", "shortcut_corner", "shortcut_mask", "shortcut_box"]
        let manifest = Manifest(items: items, extraColumns: extras, directory: out)
        let path = (out as NSString).appendingPathComponent("manifest.csv")
        try manifest.write(to: path)
        var perClass: [String: Int] = [:]
        for it in items { perClass[it.className, default: 0] += 1 }
        return Summary(count: count, seconds: Date().timeIntervalSince(start), manifestPath: path, perClass: perClass,
                       shortcutCount: items.filter { $0.extra["shortcut"] == "1" }.count)
    }

    static func writeSlice(_ gen: PhantomGenerator, index i: Int, out: String) throws -> ManifestItem {
        let s = gen.slice(i)
        let name = String(format: "slice_%06d.png", i)
        let file = "images/\(s.className)/\(name)", mask = "masks/\(s.className)/\(name)"
        let png = try PNG.encode8(s.pixels, width: s.size, height: s.size, channels: 1, fast: true, name: file)
        try PNG.writeBytes(png, to: "\(out)/\(file)")
        try PNG.writeBytes(try PNG.encode8(s.lesionMask, width: s.size, height: s.size, channels: 1, fast: true, name: mask), to: "\(out)/\(mask)")
        var extra = s.parameters
        extra["phantom_index"] = String(i)
        extra["phantom_seed"] = String(gen.seed)
        extra["phantom_version"] = PhantomGenerator.version
        if let sm = s.shortcutMask, let b = s.shortcutBox {
            let p = "shortcut_masks/\(s.className)/\(name)"
            try PNG.writeBytes(try PNG.encode8(sm, width: s.size, height: s.size, channels: 1, fast: true, name: p), to: "\(out)/\(p)")
            extra["shortcut_mask"] = p
            extra["shortcut_box"] = b.text
        }
        return ManifestItem(file: file, className: s.className, classIndex: s.classIndex, split: .train, mask: mask,
                            lesionBox: s.lesionBox, lesionArea: s.lesionArea, width: s.size, height: s.size,
                            hash: ContentHash.fnv1a64(png), extra: extra)
    }
}
