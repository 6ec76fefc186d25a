import Foundation
import Imaging
import TensorCore

/// How class folders are found.
public enum DatasetLayout: String, Sendable {
    /// IQ-OTH/NCCD if its folders are present, else ImageFolder.
    case auto
    /// `Bengin cases`, `Malignant cases`, `Normal cases` (spelling as distributed) → benign, malignant, normal.
    case iqothnccd
    /// torchvision ImageFolder: one sub-folder per class, classes sorted by name, files found recursively.
    case imageFolder
}

/// Options for `DatasetScanner.scan`.
public struct ScanOptions: Sendable {
    public var layout: DatasetLayout = .auto
    /// A folder of PNG masks: `<masks>/<relative path>.png`, `<masks>/<class folder>/<stem>.png` or `<masks>/<stem>.png`.
    public var maskFolder: String? = nil
    /// A CSV with columns file,x0,y0,x1,y1 (pixels, x1/y1 exclusive; several rows per file are united).
    public var boxesCSV: String? = nil
    /// Throw on the first bad file instead of skipping and listing it.
    public var strict: Bool = false
    public var maxPixels: Int? = ImageFile.defaultMaxPixels
    public init(layout: DatasetLayout = .auto, maskFolder: String? = nil, boxesCSV: String? = nil, strict: Bool = false,
                maxPixels: Int? = ImageFile.defaultMaxPixels) {
        self.layout = layout; self.maskFolder = maskFolder; self.boxesCSV = boxesCSV; self.strict = strict; self.maxPixels = maxPixels
    }
}

/// A file the scan skipped, with the reason (one message naming the file).
public struct BadFile: Sendable, Equatable, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}

/// The result of scanning a dataset folder.
public struct ScannedDataset: Sendable {
    public var root: String
    public var layout: DatasetLayout
    /// Class names by index.
    public var classes: [String]
    /// Readable images, sorted by class then path; `file` relative to `root`.
    public var items: [ManifestItem]
    public var badFiles: [BadFile]
    /// Groups of item indices whose files are byte-identical (each group ≥ 2 items).
    public var duplicateGroups: [[Int]]
    /// Groups of DICOM slices with one SeriesInstanceUID (each group ≥ 2 items): one scan, so one split.
    public var seriesGroups: [[Int]] = []

    /// Assigns stratified splits that keep duplicates and series together and returns the manifest
    /// (paths relative to `root`; DICOM columns when any item is DICOM).
    public func manifest(seed: UInt64, fractions: SplitFractions = .study) -> Manifest {
        let splits = Splitter.assign(classes: items.map(\.classIndex), groups: duplicateGroups + seriesGroups, seed: seed, fractions: fractions)
        var out = items
        for i in out.indices { out[i].split = splits[i] }
        let dicom = items.contains { $0.extra[Manifest.dicomColumns[0]] != nil }
        return Manifest(items: out, extraColumns: dicom ? Manifest.dicomColumns : [], directory: root)
    }

    /// Human-readable summary: counts per class, bad files, duplicates.
    public var summary: String {
        var s = "\(root): \(items.count) images in \(classes.count) classes (\(layout.rawValue) layout)\n"
        for (i, c) in classes.enumerated() { s += "  \(c): \(items.filter { $0.classIndex == i }.count)\n" }
        if !seriesGroups.isEmpty {
            s += "  \(seriesGroups.count) DICOM series of several slices (each kept in one split)\n"
        }
        if !duplicateGroups.isEmpty {
            s += "  \(duplicateGroups.count) groups of identical files (kept in one split):\n"
            for g in duplicateGroups { s += "    " + g.map { items[$0].file }.joined(separator: " = ") + "\n" }
        }
        if !badFiles.isEmpty {
            s += "  \(badFiles.count) bad files skipped:\n"
            for b in badFiles { s += "    \(b)\n" }
        }
        return s
    }
}

public enum DatasetScanner {
    /// IQ-OTH/NCCD folder names as distributed, and the class names we give them.
    public static let iqothnccdFolders: [(folder: String, className: String)] = [
        ("Bengin cases", "benign"), ("Malignant cases", "malignant"), ("Normal cases", "normal"),
    ]

    /// Scans a dataset folder: finds classes, decodes every image (bad ones are listed, or thrown
    /// when `strict`), attaches masks or boxes, and finds byte-identical duplicates.
    public static func scan(root: String, options: ScanOptions = ScanOptions()) throws -> ScannedDataset {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDir), isDir.boolValue else {
            throw DatasetError(path: root, reason: "dataset folder not found")
        }
        let (base, layout, classFolders) = try findClasses(root: root, layout: options.layout)
        // Files per class, relative to base.
        var entries: [(rel: String, cls: Int, folder: String)] = []
        // A name with a line break or an undecodable byte cannot be a results cell and be read back
        // as the same name: skipped and listed here, before any work, instead of failing mid-run.
        var unstorable: [BadFile] = []
        for (ci, cf) in classFolders.enumerated() {
            let dir = (base as NSString).appendingPathComponent(cf.folder)
            for f in ImageFile.listSlices(in: dir) {
                let rel = String(f.dropFirst(base.count + 1))
                guard CSV.isStorable(rel) else {
                    let shown = rel.unicodeScalars.map { CSV.isStorable(String($0)) ? String($0) : $0.escaped(asASCII: true) }.joined()
                    let b = BadFile(path: (base as NSString).appendingPathComponent(shown),
                                    reason: "the name holds a line break, a control character or bytes that are not UTF-8, which results.csv cannot store; rename the file")
                    if options.strict { throw DatasetError(path: b.path, reason: b.reason) }
                    unstorable.append(b)
                    continue
                }
                entries.append((rel, ci, cf.folder))
            }
        }
        let boxes = try options.boxesCSV.map { try readBoxes($0) } ?? [:]
        var usedBoxKeys = Set<String>()

        // Decode in parallel: every slot written by exactly one worker.
        struct Probe { var item: ManifestItem?; var bad: BadFile? }
        var probes = [Probe](repeating: Probe(item: nil, bad: nil), count: entries.count)
        // A relative mask folder is the caller's (the shell's), not the dataset root's: anchor it
        // now, or masks outside the root would be recorded relative to the wrong folder.
        let maskFolder = options.maskFolder.map { $0.hasPrefix("/") ? $0 : FileManager.default.currentDirectoryPath + "/" + $0 }
        let maxPixels = options.maxPixels
        let classNames = classFolders.map(\.className)
        probes.withUnsafeMutableBufferPointer { buf in
            let box = UncheckedBox(buf)
            Parallel.forEach(entries.count) { i in
                let e = entries[i]
                let path = (base as NSString).appendingPathComponent(e.rel)
                do {
                    let (file, frame) = ImageFile.frameAddress(path)
                    let bytes = try ImageFile.readBytes(file)
                    let img = try ImageFile.decodeAny(bytes, frame: frame, maxPixels: maxPixels, name: path)
                    // Frames of one file share its bytes but are different slices.
                    var item = ManifestItem(file: e.rel, className: classNames[e.cls], classIndex: e.cls, split: .train,
                                            width: img.width, height: img.height,
                                            hash: ContentHash.fnv1a64(bytes) + (frame.map { "#frame=\($0)" } ?? ""))
                    if case .dicom(let slice) = img { item.extra = Manifest.dicomColumnValues(slice) }
                    if let mf = maskFolder, let mp = findMask(folder: mf, rel: e.rel, classFolder: e.folder) {
                        let m = try ImageFile.read(mp, maxPixels: maxPixels)
                        guard m.width == img.width, m.height == img.height else {
                            throw DatasetError(path: mp, reason: "mask size mismatch: mask \(m.width)x\(m.height), image \(path) is \(img.width)x\(img.height)")
                        }
                        item.mask = mp.hasPrefix(base + "/") ? String(mp.dropFirst(base.count + 1)) : mp
                        if let ext = MaskTools.extent(m) { item.lesionBox = ext.box; item.lesionArea = ext.area } else { item.lesionArea = 0 }
                    }
                    box.value[i].item = item
                } catch {
                    box.value[i].bad = BadFile(path: path, reason: reasonText(error, path: path))
                }
            }
        }
        var items: [ManifestItem] = []
        var bad: [BadFile] = unstorable
        for p in probes {
            if let b = p.bad {
                if options.strict { throw DatasetError(path: b.path, reason: b.reason) }
                bad.append(b)
            } else if var it = p.item {
                let key = boxKey(for: it.file, in: boxes)
                if let k = key, let bs = boxes[k] {
                    usedBoxKeys.insert(k)
                    if let wrong = bs.first(where: { $0.x1 <= $0.x0 || $0.y1 <= $0.y0 || $0.x0 < 0 || $0.y0 < 0 || $0.x1 > it.width || $0.y1 > it.height }) {
                        let b = BadFile(path: (base as NSString).appendingPathComponent(it.file),
                                        reason: "box \(wrong.text) is empty or outside the \(it.width)x\(it.height) image (boxes from \(options.boxesCSV ?? ""))")
                        if options.strict { throw DatasetError(path: b.path, reason: b.reason) }
                        bad.append(b)
                        continue
                    }
                    it.boxes = bs
                    if it.mask == nil, let m = try? MaskTools.maskFromBoxes(bs, width: it.width, height: it.height), let ext = MaskTools.extent(m) {
                        it.lesionBox = ext.box; it.lesionArea = ext.area
                    }
                }
                items.append(it)
            }
        }
        for k in boxes.keys.sorted() where !usedBoxKeys.contains(k) {
            let b = BadFile(path: options.boxesCSV ?? "", reason: "box row for '\(k)' matches no readable image")
            if options.strict { throw DatasetError(path: b.path, reason: b.reason) }
            bad.append(b)
        }
        let groups = try duplicates(items, base: base)
        for (g, members) in groups.enumerated() { for i in members { items[i].duplicateGroup = g } }
        return ScannedDataset(root: base, layout: layout, classes: classNames, items: items, badFiles: bad, duplicateGroups: groups,
                              seriesGroups: series(items))
    }

    /// Items with one non-empty SeriesInstanceUID, in groups of two or more, in item order.
    static func series(_ items: [ManifestItem]) -> [[Int]] {
        var byUID: [String: [Int]] = [:]
        for (i, it) in items.enumerated() {
            if let uid = it.extra[Manifest.seriesColumn], !uid.isEmpty { byUID[uid, default: []].append(i) }
        }
        return byUID.values.filter { $0.count > 1 }.sorted { $0[0] < $1[0] }
    }

    // MARK: - helpers

    static func reasonText(_ error: Error, path: String) -> String {
        switch error {
        case let e as ImagingError: return e.path == path ? e.reason : e.description
        case let e as DatasetError: return e.path == path ? e.reason : e.description
        default: return "\(error)"
        }
    }

    static func subfolders(_ dir: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.filter { n in
            var d: ObjCBool = false
            return !n.hasPrefix(".") && FileManager.default.fileExists(atPath: (dir as NSString).appendingPathComponent(n), isDirectory: &d) && d.boolValue
        }.sorted()
    }

    /// Returns (base folder holding the class folders, layout, class folders with class names).
    static func findClasses(root: String, layout: DatasetLayout) throws -> (String, DatasetLayout, [(folder: String, className: String)]) {
        let root = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
        var base = root
        var subs = subfolders(root)
        // The distributed zip holds one folder "The IQ-OTHNCCD lung cancer dataset/".
        if layout != .imageFolder, subs.count == 1, !iqothnccdFolders.contains(where: { $0.folder == subs[0] }) {
            let inner = (root as NSString).appendingPathComponent(subs[0])
            if subfolders(inner).contains(where: { s in iqothnccdFolders.contains { $0.folder == s } }) {
                base = inner
                subs = subfolders(inner)
            }
        }
        let present = iqothnccdFolders.filter { subs.contains($0.folder) }
        if layout == .iqothnccd || (layout == .auto && !present.isEmpty) {
            let missing = iqothnccdFolders.filter { !subs.contains($0.folder) }.map(\.folder)
            guard missing.isEmpty else {
                throw DatasetError(path: base, reason: "IQ-OTH/NCCD layout: missing class folder(s) \(missing.map { "'\($0)'" }.joined(separator: ", "))")
            }
            return (base, .iqothnccd, iqothnccdFolders)
        }
        guard !subs.isEmpty else {
            throw DatasetError(path: base, reason: "no class folders (expected one sub-folder per class, or the IQ-OTH/NCCD folders)")
        }
        return (base, .imageFolder, subs.map { ($0, $0) })
    }

    static func findMask(folder: String, rel: String, classFolder: String) -> String? {
        let stem = ((rel as NSString).lastPathComponent as NSString).deletingPathExtension
        let relStem = (rel as NSString).deletingPathExtension
        for c in [relStem + ".png", classFolder + "/" + stem + ".png", stem + ".png"] {
            let p = (folder as NSString).appendingPathComponent(c)
            if FileManager.default.fileExists(atPath: p) { return p }
        }
        return nil
    }

    /// Boxes CSV → boxes per file key (as written in the CSV).
    static func readBoxes(_ path: String) throws -> [String: [LesionBox]] {
        let (header, rows) = try CSV.readTable(path: path)
        for c in ["file", "x0", "y0", "x1", "y1"] where !header.contains(c) {
            throw DatasetError(path: path, reason: "boxes CSV needs columns file,x0,y0,x1,y1 (missing '\(c)')")
        }
        var out: [String: [LesionBox]] = [:]
        for (k, r) in rows.enumerated() {
            let v = ["x0", "y0", "x1", "y1"].map { Double(r[$0] ?? "") }
            guard let file = r["file"], !file.isEmpty, v.allSatisfy({ $0 != nil && $0!.isFinite }) else {
                throw DatasetError(path: path, reason: "row \(k + 2): need a file name and four numbers")
            }
            // Fractional pixel boxes round outward so the mask covers them.
            let b = LesionBox(x0: Int(v[0]!.rounded(.down)), y0: Int(v[1]!.rounded(.down)), x1: Int(v[2]!.rounded(.up)), y1: Int(v[3]!.rounded(.up)))
            out[file, default: []].append(b)
        }
        return out
    }

    /// Box rows match an image by relative path, or by file name alone.
    static func boxKey(for rel: String, in boxes: [String: [LesionBox]]) -> String? {
        if boxes[rel] != nil { return rel }
        let name = (rel as NSString).lastPathComponent
        return boxes[name] != nil ? name : nil
    }

    /// Groups of byte-identical files: same hash, confirmed by comparing bytes.
    static func duplicates(_ items: [ManifestItem], base: String) throws -> [[Int]] {
        var byHash: [String: [Int]] = [:]
        for (i, it) in items.enumerated() { byHash[it.hash, default: []].append(i) }
        var groups: [[Int]] = []
        for (_, idx) in byHash where idx.count > 1 {
            var remaining = idx
            while let first = remaining.first {
                // Equal hashes include equal frame numbers: compare the files' bytes.
                func bytes(_ i: Int) throws -> [UInt8] {
                    try ImageFile.readBytes(ImageFile.frameAddress((base as NSString).appendingPathComponent(items[i].file)).file)
                }
                let a = try bytes(first)
                var same = [first], rest: [Int] = []
                for j in remaining.dropFirst() {
                    let b = try bytes(j)
                    if a == b { same.append(j) } else { rest.append(j) }
                }
                if same.count > 1 { groups.append(same) }
                remaining = rest
            }
        }
        return groups.sorted { $0[0] < $1[0] }
    }
}
