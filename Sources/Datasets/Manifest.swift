import Foundation
import Imaging
import TensorCore

/// A lesion box in pixel coordinates of the original image; `x1`, `y1` exclusive (PIL crop box).
public struct LesionBox: Sendable, Equatable {
    public var x0: Int, y0: Int, x1: Int, y1: Int
    public init(x0: Int, y0: Int, x1: Int, y1: Int) { self.x0 = x0; self.y0 = y0; self.x1 = x1; self.y1 = y1 }
    public var area: Int { max(0, x1 - x0) * max(0, y1 - y0) }
    var text: String { "\(x0) \(y0) \(x1) \(y1)" }
}

/// One image in a manifest.
public struct ManifestItem: Sendable, Equatable {
    /// Path as written in the manifest (relative to the manifest's folder when it was inside it).
    public var file: String
    public var className: String
    public var classIndex: Int
    public var split: Split
    /// Mask PNG path (same convention as `file`), if any.
    public var mask: String?
    /// Lesion bounding box and area (pixels, at the image's own size), if a mask or boxes exist.
    public var lesionBox: LesionBox?
    public var lesionArea: Int?
    /// Boxes from a boxes CSV (their union is the mask when `mask` is nil).
    public var boxes: [LesionBox]
    public var width: Int
    public var height: Int
    public var hash: String
    /// Items with the same non-nil group id are byte-identical duplicates.
    public var duplicateGroup: Int?
    /// Further columns (e.g. phantom generator parameters), in column order.
    public var extra: [String: String]

    public init(file: String, className: String, classIndex: Int, split: Split, mask: String? = nil, lesionBox: LesionBox? = nil,
                lesionArea: Int? = nil, boxes: [LesionBox] = [], width: Int, height: Int, hash: String = "",
                duplicateGroup: Int? = nil, extra: [String: String] = [:]) {
        self.file = file; self.className = className; self.classIndex = classIndex; self.split = split; self.mask = mask
        self.lesionBox = lesionBox; self.lesionArea = lesionArea; self.boxes = boxes; self.width = width; self.height = height
        self.hash = hash; self.duplicateGroup = duplicateGroup; self.extra = extra
    }

    /// Whether a lesion ground truth (mask or boxes) exists.
    public var hasLesionTruth: Bool { mask != nil || !boxes.isEmpty }
}

/// The manifest CSV every step after `synth`/dataset scanning reads: one row per image.
///
/// Columns: `file,class,class_index,split,mask,lesion_x0,lesion_y0,lesion_x1,lesion_y1,lesion_area,
/// boxes,width,height,hash,duplicate_group` then any extra columns. Empty fields mean "none".
/// `boxes` is `x0 y0 x1 y1` groups joined by `;`. Relative paths are relative to the CSV's folder.
public struct Manifest: Sendable {
    public static let columns = ["file", "class", "class_index", "split", "mask", "lesion_x0", "lesion_y0", "lesion_x1",
                                 "lesion_y1", "lesion_area", "boxes", "width", "height", "hash", "duplicate_group"]

    /// Columns a scan adds when it finds DICOM slices (extra columns, so manifests without them
    /// still read): where the slice came from, its size in mm, and the values that made its HU.
    /// `pixel_spacing` is row\column spacing in mm as the file writes it; empty cells: not in the file.
    public static let dicomColumns = ["sop_instance_uid", "series_instance_uid", "frame", "pixel_spacing",
                                      "rescale_slope", "rescale_intercept", "pixel_padding_value", "photometric",
                                      "window_center", "window_width"]
    public static let seriesColumn = "series_instance_uid"

    /// A DICOM slice's values for `dicomColumns`.
    public static func dicomColumnValues(_ s: DicomSlice) -> [String: String] {
        func num(_ v: Double) -> String { v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(v) }
        let i = s.info
        return ["sop_instance_uid": i.sopInstanceUID, "series_instance_uid": i.seriesInstanceUID,
                "frame": i.frames > 1 ? String(s.frame) : "", "pixel_spacing": i.pixelSpacing,
                "rescale_slope": num(i.rescaleSlope), "rescale_intercept": num(i.rescaleIntercept),
                "pixel_padding_value": i.paddingValue.map(String.init) ?? "", "photometric": i.photometric,
                "window_center": i.window.map { num($0.center) } ?? "", "window_width": i.window.map { num($0.width) } ?? ""]
    }

    public var items: [ManifestItem]
    /// Extra column names in order.
    public var extraColumns: [String]
    /// Folder relative paths are resolved against.
    public var directory: String

    public init(items: [ManifestItem], extraColumns: [String] = [], directory: String) {
        self.items = items; self.extraColumns = extraColumns; self.directory = directory
    }

    /// Class names by index.
    public var classes: [String] {
        var byIndex: [Int: String] = [:]
        for it in items { byIndex[it.classIndex] = it.className }
        return byIndex.keys.sorted().compactMap { byIndex[$0] }
    }

    public func items(in split: Split) -> [ManifestItem] { items.filter { $0.split == split } }

    /// Absolute (or caller-relative) path of a manifest path.
    public func resolve(_ p: String) -> String {
        p.hasPrefix("/") ? p : (directory as NSString).appendingPathComponent(p)
    }

    /// The CSV text.
    public func csv() -> String {
        var s = CSV.line(Manifest.columns + extraColumns)
        for it in items {
            let b = it.lesionBox
            let boxCols: [String] = b.map { [String($0.x0), String($0.y0), String($0.x1), String($0.y1)] } ?? ["", "", "", ""]
            let area: String = it.lesionArea.map { String($0) } ?? ""
            let group: String = it.duplicateGroup.map { String($0) } ?? ""
            let boxes: String = it.boxes.map(\.text).joined(separator: ";")
            var f: [String] = [it.file, it.className, String(it.classIndex), it.split.rawValue, it.mask ?? ""]
            f += boxCols
            f += [area, boxes, String(it.width), String(it.height), it.hash, group]
            f += extraColumns.map { it.extra[$0] ?? "" }
            s += CSV.line(f)
        }
        return s
    }

    /// The same manifest with `file` and `mask` paths rewritten relative to `newDirectory` (absolute
    /// when outside it), so a CSV written there still points at the images.
    public func relocated(to newDirectory: String) -> Manifest {
        let target = URL(fileURLWithPath: newDirectory).standardizedFileURL.path
        func rel(_ p: String) -> String {
            let abs = URL(fileURLWithPath: resolve(p)).standardizedFileURL.path
            let prefix = target.hasSuffix("/") ? target : target + "/"
            return abs.hasPrefix(prefix) ? String(abs.dropFirst(prefix.count)) : abs
        }
        var out = self
        out.directory = newDirectory
        for i in out.items.indices {
            out.items[i].file = rel(items[i].file)
            out.items[i].mask = items[i].mask.map(rel)
        }
        return out
    }

    /// Writes the CSV atomically; paths are rewritten relative to the CSV's folder.
    public func write(to path: String) throws {
        let dir = parentFolder(path)
        let text = relocated(to: dir.isEmpty ? "." : dir).csv()
        do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
            throw DatasetError(path: path, reason: "cannot write manifest: \(error.localizedDescription)")
        }
    }

    /// Reads a manifest; relative paths resolve against the CSV's folder.
    public static func read(path: String) throws -> Manifest {
        let (header, rows) = try CSV.readTable(path: path)
        for col in ["file", "class", "split"] where !header.contains(col) {
            throw DatasetError(path: path, reason: "manifest has no '\(col)' column (header: \(header.joined(separator: ",")))")
        }
        let extras = header.filter { !columns.contains($0) }
        var items: [ManifestItem] = []
        var classIndex: [String: Int] = [:]
        func int(_ r: [String: String], _ k: String, _ line: Int) throws -> Int? {
            guard let v = r[k], !v.isEmpty else { return nil }
            guard let i = Int(v) else { throw DatasetError(path: path, reason: "row \(line): column \(k) is not an integer: '\(v)'") }
            return i
        }
        for (k, r) in rows.enumerated() {
            let line = k + 2
            guard let file = r["file"], !file.isEmpty else { throw DatasetError(path: path, reason: "row \(line): empty file") }
            let cls = r["class"] ?? ""
            guard let split = Split(rawValue: r["split"] ?? "") else {
                throw DatasetError(path: path, reason: "row \(line): split must be train, val or test, got '\(r["split"] ?? "")'")
            }
            guard !cls.isEmpty else { throw DatasetError(path: path, reason: "row \(line): empty class") }
            let ci: Int
            if let v = try int(r, "class_index", line) { ci = v } else {
                ci = -1  // numbered below, once every class name is known
            }
            if let known = classIndex[cls], known != ci {
                throw DatasetError(path: path, reason: "row \(line): class '\(cls)' has class_index \(ci < 0 ? "(empty)" : String(ci)) here and \(known < 0 ? "(empty)" : String(known)) on an earlier row")
            }
            classIndex[cls] = ci
            var box: LesionBox? = nil
            if let x0 = try int(r, "lesion_x0", line), let y0 = try int(r, "lesion_y0", line),
               let x1 = try int(r, "lesion_x1", line), let y1 = try int(r, "lesion_y1", line) {
                box = LesionBox(x0: x0, y0: y0, x1: x1, y1: y1)
            }
            var boxes: [LesionBox] = []
            for part in (r["boxes"] ?? "").split(separator: ";") {
                let v = part.split(separator: " ").compactMap { Int($0) }
                guard v.count == 4 else { throw DatasetError(path: path, reason: "row \(line): bad box '\(part)'") }
                boxes.append(LesionBox(x0: v[0], y0: v[1], x1: v[2], y1: v[3]))
            }
            var extra: [String: String] = [:]
            for e in extras { extra[e] = r[e] ?? "" }
            let mask = r["mask"].flatMap { $0.isEmpty ? nil : $0 }
            items.append(ManifestItem(file: file, className: cls, classIndex: ci, split: split, mask: mask, lesionBox: box,
                                      lesionArea: try int(r, "lesion_area", line), boxes: boxes,
                                      width: try int(r, "width", line) ?? 0, height: try int(r, "height", line) ?? 0,
                                      hash: r["hash"] ?? "", duplicateGroup: try int(r, "duplicate_group", line), extra: extra))
        }
        try numberClasses(&items, classIndex, path: path)
        let dir = parentFolder(path)
        return Manifest(items: items, extraColumns: extras, directory: dir.isEmpty ? "." : dir)
    }

    /// The class order rule: with a `class_index` column, its values are the model's output indices
    /// and must be exactly 0..<K, one name each; without it (every row empty), classes are numbered
    /// in sorted name order, as torchvision's `ImageFolder` numbers its folders.
    static func numberClasses(_ items: inout [ManifestItem], _ classIndex: [String: Int], path: String) throws {
        let given = classIndex.filter { $0.value >= 0 }
        if given.isEmpty {
            let order = Dictionary(uniqueKeysWithValues: classIndex.keys.sorted().enumerated().map { ($1, $0) })
            for i in items.indices { items[i].classIndex = order[items[i].className] ?? 0 }
            return
        }
        if let missing = classIndex.first(where: { $0.value < 0 })?.key {
            throw DatasetError(path: path, reason: "class '\(missing)' has no class_index while other classes have one; fill the column for every row or for none")
        }
        let k = classIndex.count
        var byIndex: [Int: String] = [:]
        for (name, ci) in classIndex.sorted(by: { $0.key < $1.key }) {
            guard (0..<k).contains(ci) else {
                throw DatasetError(path: path, reason: "class '\(name)' has class_index \(ci), outside the class list: \(k) classes need indices 0...\(k - 1)")
            }
            if let other = byIndex[ci] {
                throw DatasetError(path: path, reason: "class_index \(ci) names two classes, '\(other)' and '\(name)'")
            }
            byIndex[ci] = name
        }
    }

    /// The item's lesion mask at its own resolution as a binary image [height, width] (0/255),
    /// from its mask PNG or its boxes; nil when it has neither.
    public func lesionMask(_ item: ManifestItem, maxPixels: Int? = ImageFile.defaultMaxPixels) throws -> Image? {
        if let m = item.mask {
            let img = try ImageFile.read(resolve(m), maxPixels: maxPixels)
            return img.channels == 1 ? img : img.grey()
        }
        guard !item.boxes.isEmpty, item.width > 0, item.height > 0 else { return nil }
        return try MaskTools.maskFromBoxes(item.boxes, width: item.width, height: item.height)
    }

    /// The item's lesion mask resized (nearest) to the preprocessing size → Tensor [H, W] of 0/1.
    public func lesionMaskTensor(_ item: ManifestItem, preprocessing: Preprocessing = Preprocessing()) throws -> Tensor? {
        try lesionMask(item, maxPixels: preprocessing.maxPixels).map { preprocessing.mask($0) }
    }
}

/// Mask helpers.
public enum MaskTools {
    /// A 0/255 grey mask with the union of boxes (clipped to the image) filled.
    public static func maskFromBoxes(_ boxes: [LesionBox], width: Int, height: Int) throws -> Image {
        var s = [UInt8](repeating: 0, count: width * height)
        for b in boxes {
            for y in max(0, b.y0)..<max(max(0, b.y0), min(height, b.y1)) {
                for x in max(0, b.x0)..<max(max(0, b.x0), min(width, b.x1)) { s[y * width + x] = 255 }
            }
        }
        return try Image(width: width, height: height, channels: 1, bytes: s)
    }

    /// Bounding box (x1, y1 exclusive) and pixel count of the non-zero pixels of channel 0; nil if empty.
    public static func extent(_ img: Image) -> (box: LesionBox, area: Int)? {
        var x0 = Int.max, y0 = Int.max, x1 = -1, y1 = -1, area = 0
        for y in 0..<img.height {
            for x in 0..<img.width where img.sample((y * img.width + x) * img.channels) != 0 {
                area += 1
                x0 = min(x0, x); y0 = min(y0, y); x1 = max(x1, x); y1 = max(y1, y)
            }
        }
        return area == 0 ? nil : (LesionBox(x0: x0, y0: y0, x1: x1 + 1, y1: y1 + 1), area)
    }
}

/// Dataset and manifest errors; the message names the file or folder.
public struct DatasetError: Error, CustomStringConvertible, LocalizedError, Equatable {
    public let path: String
    public let reason: String
    public init(path: String, reason: String) { self.path = path; self.reason = reason }
    public var description: String { "\(path): \(reason)" }
    public var errorDescription: String? { description }
}
