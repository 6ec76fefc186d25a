import Foundation
import TensorCore
import Imaging

/// The inputs of `predict` and `cam`: image files (decoded batch by batch, so a large folder never
/// sits in memory at once) and `.npy` arrays.
///
/// - Images and folders (searched recursively): decoded and preprocessed; an unreadable file is
///   skipped, named and counted (`strict` refuses it instead).
/// - `.npy` [H,W], [1,H,W] or [N,1,H,W]: float slices in Hounsfield units, windowed and resized
///   exactly as a 16-bit image is.
/// - `.npy` [3,H,W] or [N,3,H,W]: already preprocessed, used as they are (a warning when values
///   fall outside the range preprocessing produces).
struct InputSet {
    enum Source {
        case file(String)
        /// One preprocessed image [3, H, W].
        case array(Tensor)
    }

    struct Item {
        var source: Source
        /// As printed in tables: the path given, or `file.npy[i]`.
        var name: String
        /// Unique name under an output folder (`OverlayName` turns it into a file): the file's path
        /// relative to the folder it was found in, extension kept, or `file.npy[i]` for array items.
        var outputName: String
    }

    var items: [Item] = []
    let preprocessing: Preprocessing
    let strict: Bool
    /// Unreadable files skipped so far (one message each, naming the file).
    private(set) var skipped: [String] = []
    private var mappingAnnounced = false
    private var dicomMappingAnnounced = false

    init(_ inputs: [String], preprocessing: Preprocessing, strict: Bool) throws {
        guard !inputs.isEmpty else { throw CLIError("no inputs given") }
        self.preprocessing = preprocessing
        self.strict = strict
        var seen = Set<String>()
        var huSlices = 0
        for input in inputs {
            var isDir: ObjCBool = false
            // `file.dcm#frame=K` names a frame of an existing file.
            guard FileManager.default.fileExists(atPath: ImageFile.frameAddress(input).file, isDirectory: &isDir) else { throw CLIError("\(input): no such file or folder") }
            if isDir.boolValue {
                let files = ImageFile.listSlices(in: input)
                guard !files.isEmpty else { throw CLIError("\(input): no PNG, JPEG or DICOM files in this folder") }
                let prefix = input.hasSuffix("/") ? input : input + "/"
                for f in files where seen.insert(f).inserted {
                    let rel = f.hasPrefix(prefix) ? String(f.dropFirst(prefix.count)) : (f as NSString).lastPathComponent
                    items.append(Item(source: .file(f), name: f, outputName: rel))
                }
            } else if input.lowercased().hasSuffix(".npy") {
                huSlices += try addArray(input)
            } else {
                for f in ImageFile.slices(of: input) where seen.insert(f).inserted {
                    items.append(Item(source: .file(f), name: f, outputName: (f as NSString).lastPathComponent))
                }
            }
        }
        makeNamesUnique()
        try checkOneSize()
        if huSlices > 0 { announceMapping() }
    }

    /// Reads one .npy input; returns how many HU slices it held.
    private mutating func addArray(_ path: String) throws -> Int {
        let t: Tensor
        do { t = try NPY.read(path: path) } catch { throw CLIError("\(error)") }
        guard t.shape.allSatisfy({ $0 > 0 }) else {
            throw CLIError("\(path): empty array (shape \(t.shape)); expected at least one image")
        }
        for v in t.values where !v.isFinite { throw CLIError("\(path): contains NaN or infinite values") }
        let stem = (path as NSString).lastPathComponent
        let s = t.shape
        switch s.count {
        case 2, 3 where s[0] == 1, 4 where s[1] == 1:
            // Hounsfield slices: window and resize like a 16-bit image.
            let (h, w) = (s[s.count - 2], s[s.count - 1])
            let n = s.count == 4 ? s[0] : 1
            let plane = h * w
            for i in 0..<n {
                let hu = Array(UnsafeBufferPointer(start: t.data + i * plane, count: plane))
                let x = preprocessing.tensor(hu: hu, width: w, height: h)
                items.append(Item(source: .array(x), name: n == 1 && s.count < 4 ? path : "\(path)[\(i)]", outputName: "\(stem)[\(i)]"))
            }
            return n
        case 3 where s[0] == 3, 4 where s[1] == 3:
            let b = s.count == 4 ? t : try t.reshaped([1] + s)
            warnIfOutOfRange(b, path: path)
            let per = b.count / b.shape[0]
            for i in 0..<b.shape[0] {
                let x = Tensor(uninitialized: Array(b.shape.dropFirst()))
                x.data.update(from: b.data + i * per, count: per)
                items.append(Item(source: .array(x), name: "\(path)[\(i)]", outputName: "\(stem)[\(i)]"))
            }
            return 0
        default:
            throw CLIError("\(path): expected HU slices [H,W], [1,H,W], [N,1,H,W] or preprocessed images [3,H,W], [N,3,H,W]; got shape \(s)")
        }
    }

    /// Preprocessed arrays are used as they are; values far outside what preprocessing produces
    /// (e.g. raw HU, or 0…255) mean the array was not preprocessed, which would silently change
    /// every prediction.
    private func warnIfOutOfRange(_ b: Tensor, path: String) {
        var lo = Float.infinity, hi = -Float.infinity
        for v in b.values { lo = min(lo, v); hi = max(hi, v) }
        let (low, high): (Float, Float)
        if preprocessing.imagenetNormalize {
            low = (0 ..< 3).map { (0 - Preprocessing.imagenetMean[$0]) / Preprocessing.imagenetStd[$0] }.min()!
            high = (0 ..< 3).map { (1 - Preprocessing.imagenetMean[$0]) / Preprocessing.imagenetStd[$0] }.max()!
        } else {
            (low, high) = (0, 1)
        }
        let tol: Float = 1e-3
        if lo < low - tol || hi > high + tol {
            writeStderr("warning: \(path): values span \(lo) … \(hi), outside the \(String(format: "%.3g … %.3g", low, high)) a preprocessed image has"
                        + "\(preprocessing.imagenetNormalize ? " with --imagenet-norm" : "") (used as they are; HU slices belong in an [H,W] or [N,1,H,W] array)")
        }
    }

    /// One run has one input size: images become [3, size, size]; arrays keep theirs.
    private func checkOneSize() throws {
        var first: (String, [Int])? = nil
        for it in items {
            let shape: [Int]
            switch it.source {
            case .file: shape = [3, preprocessing.height, preprocessing.width]
            case .array(let x): shape = x.shape
            }
            if let f = first, f.1 != shape {
                throw CLIError("\(it.name): input is \(shape.dropFirst().map(String.init).joined(separator: "x")) but \(f.0) is \(f.1.dropFirst().map(String.init).joined(separator: "x")); use one size per run (images are resized to --image-size, preprocessed arrays are not)")
            }
            if first == nil { first = (it.name, shape) }
        }
    }

    /// Two files with one relative path (same name in two inputs) get `_2`, `_3` … so no output overwrites another.
    private mutating func makeNamesUnique() {
        var used = Set<String>()
        for i in items.indices {
            let base = items[i].outputName
            var name = base, k = 2
            while !used.insert(name).inserted { name = "\(base)_\(k)"; k += 1 }
            items[i].outputName = name
        }
    }

    private mutating func announceMapping() {
        guard !mappingAnnounced else { return }
        mappingAnnounced = true
        writeStderr("note: 16-bit/HU inputs: \(preprocessing.intensityMapping) (--window, --hu-offset)")
    }

    /// Items `range` as one batch [n, 3, H, W] and the indices of the items in it (unreadable
    /// files left out and recorded in `skipped`, or thrown when strict); nil when none loaded.
    mutating func batch(_ range: Range<Int>) throws -> (Tensor, [Int])? {
        var parts: [(Int, Tensor)] = []
        let files = range.compactMap { i -> (Int, String)? in
            if case .file(let f) = items[i].source { return (i, f) } else { return nil }
        }
        var loaded: [Int: Tensor] = [:]
        if !files.isEmpty {
            let r = preprocessing.load(files: files.map(\.1))
            if let e = r.failures.first, strict { throw CLIError("\(e) (--strict)") }
            for e in r.failures { skipped.append("\(e)") }
            if r.sixteenBit > 0 { announceMapping() }
            if r.dicom > 0, !dicomMappingAnnounced {
                dicomMappingAnnounced = true
                writeStderr("note: DICOM inputs: \(preprocessing.dicomMapping) (--window)")
            }
            if let t = r.tensor {
                let per = t.count / max(1, t.shape[0])
                let okFiles = Set(r.files)
                var j = 0
                for (i, f) in files where okFiles.contains(f) {
                    let x = Tensor(uninitialized: Array(t.shape.dropFirst()))
                    x.data.update(from: t.data + j * per, count: per)
                    loaded[i] = x
                    j += 1
                }
            }
        }
        for i in range {
            switch items[i].source {
            case .array(let x): parts.append((i, x))
            case .file: if let x = loaded[i] { parts.append((i, x)) }
            }
        }
        guard let first = parts.first?.1 else { return nil }
        let out = Tensor(uninitialized: [parts.count] + first.shape)
        for (j, (_, p)) in parts.enumerated() { (out.data + j * p.count).update(from: p.data, count: p.count) }
        return (out, parts.map(\.0))
    }

    /// The skipped files, reported once at the end of a run.
    func reportSkipped() {
        guard !skipped.isEmpty else { return }
        writeStderr("skipped \(skipped.count) of \(items.count) input(s) that could not be read (--strict refuses them):")
        for s in skipped { writeStderr("  \(s)") }
    }
}
