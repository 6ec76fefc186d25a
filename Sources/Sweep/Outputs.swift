import Foundation
import TensorCore
import Evaluation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The run's configuration, recorded beside its results (OUT/config.json): what the rows came from.
public enum RunRecord {
    public static let fileName = "config.json"

    public static func write(_ config: SweepConfig, to directory: String) throws {
        // `sweep --config OUT/config.json` (the resume command) reads the file it would write: an
        // equal configuration is left as it is, so no run writes over its own input.
        if read(directory: directory) == config { return }
        try atomicWrite(try config.json(), to: (directory as NSString).appendingPathComponent(fileName))
    }

    /// The configuration a previous run recorded, if any.
    public static func read(directory: String) -> SweepConfig? {
        try? SweepConfig.read(path: (directory as NSString).appendingPathComponent(fileName))
    }
}

extension Summary {
    /// Writes summary.json, summary.md and classification.json into `directory` from rows alone
    /// (any order: the numbers do not depend on it). `incomplete` names the images without rows.
    @discardableResult
    public static func write(rows: [ResultRow], directory: String, incomplete: [String: String] = [:], resultsFile: String = Store.fileName) throws -> Document {
        let doc = document(rows, resultsFile: resultsFile, incomplete: incomplete)
        try atomicWrite(Data(try json(doc)), to: directory + "/summary.json")
        try atomicWrite(markdown(doc), to: directory + "/summary.md")
        try atomicWrite(try classificationJSON(rows, incomplete: incomplete), to: directory + "/classification.json")
        return doc
    }

    /// classification.json: per model × weights, accuracy, macro-F1, per-class sensitivity and
    /// specificity, confusion matrix; truth from the `truth` rows, predictions from `predicted`.
    public static func classificationJSON(_ rows: [ResultRow], incomplete: [String: String]) throws -> Data {
        var truth: [String: Int] = [:]
        var names: [Int: String] = [:]
        for r in rows where r.key.metric == FactMetric.truth {
            guard let v = r.value else { continue }
            truth[r.key.image] = Int(v)
            if r.key.params.hasPrefix("class=") { names[Int(v)] = String(r.key.params.dropFirst(6)) }
        }
        let predictedRows = rows.filter { $0.key.metric == FactMetric.predicted }
        let groups = Dictionary(grouping: predictedRows) { "\($0.key.model)\t\($0.key.weights)" }
        let maxName = names.keys.max() ?? -1
        var reports: [[String: Any]] = []
        for (g, rs) in groups.sorted(by: { $0.key < $1.key }) {
            let pairs = rs.sorted { $0.key.image < $1.key.image }.compactMap { r -> (Int, Int)? in
                guard let t = truth[r.key.image], let v = r.value else { return nil }
                return (t, Int(v))
            }
            let k = max(maxName + 1, (pairs.map { max($0.0, $0.1) }.max() ?? 0) + 1)
            let classes = (0..<k).map { names[$0] ?? "class\($0)" }
            guard let rep = try? ClassificationReport(truth: pairs.map(\.0), predicted: pairs.map(\.1), numClasses: k) else { continue }
            let parts = g.split(separator: "\t").map(String.init)
            func opt(_ xs: [Double?]) -> [Any] { xs.map { $0.map { $0 as Any } ?? NSNull() } }
            reports.append(["model": parts[0], "weights": parts.count > 1 ? parts[1] : "", "n": pairs.count, "classes": classes,
                            "accuracy": rep.accuracy, "macro_f1": rep.macroF1, "confusion": rep.confusion,
                            "sensitivity": opt(rep.sensitivity), "specificity": opt(rep.specificity)])
        }
        return try JSONSerialization.data(withJSONObject: ["models": reports, "skipped_images": incomplete.keys.sorted()],
                                          options: [.prettyPrinted, .sortedKeys])
    }
}

/// The output folder of `evaluate`, `sweep` and `merge`, checked before any work: created if
/// needed, and refused (naming both paths) when it cannot be written, when it is or lies inside one
/// of the run's input folders or would replace an input file, or when it already holds a file the
/// run would replace that no camaudit run wrote (a folder a run wrote holds its lock or its
/// config.json).
public enum OutputFolder {
    /// The files every run writes at the top of its folder.
    public static let runFiles = [Store.fileName, RunRecord.fileName, "summary.json", "summary.md", "classification.json"]

    /// Whether a camaudit run has written into `dir`.
    public static func isRunFolder(_ dir: String) -> Bool {
        let fm = FileManager.default
        return fm.fileExists(atPath: dir + "/" + Store.lockName) || fm.fileExists(atPath: dir + "/" + RunRecord.fileName)
            || fm.fileExists(atPath: Parts.directory(dir))
    }

    /// `check`, then `create`: for runs that write nothing before their output folder is ready.
    public static func prepare(_ dir: String, option: String, inputs: [(path: String, option: String)], writes: [String] = runFiles) throws {
        try check(dir, option: option, inputs: inputs, writes: writes)
        try create(dir, option: option)
    }

    /// Everything `prepare` refuses, without creating anything (so a run refused later, on its data,
    /// leaves no folder behind).
    /// - Parameters:
    ///   - inputs: (path, option or field) of every file or folder the run reads.
    ///   - writes: names of the files the run writes into `dir`.
    public static func check(_ dir: String, option: String, inputs: [(path: String, option: String)], writes: [String] = runFiles) throws {
        let fm = FileManager.default
        try checkNotInput(dir, option: option, inputs: inputs)
        for w in writes { try checkNotInput((dir as NSString).appendingPathComponent(w), option: option, inputs: inputs, shown: dir) }
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: dir, isDirectory: &isDir) {
            guard isDir.boolValue else { throw SweepError.io(path: dir, detail: "\(option) is a file, not a folder") }
            if !isRunFolder(dir), let f = writes.first(where: { fm.fileExists(atPath: dir + "/" + $0) }) {
                throw SweepError.io(path: dir + "/" + f, detail: "exists, and no camaudit run wrote it (\(dir) holds no \(Store.lockName) or \(RunRecord.fileName)); \(option) \(dir) would replace it: move it away or choose another \(option)")
            }
            guard fm.isWritableFile(atPath: dir) else { throw SweepError.io(path: dir, detail: "\(option): the folder is not writable") }
            return
        }
        let ancestor = existingAncestor(dir)
        guard fm.fileExists(atPath: ancestor, isDirectory: &isDir), isDir.boolValue else {
            throw SweepError.io(path: dir, detail: "\(option): cannot create the folder: \(ancestor) is a file, not a folder")
        }
        guard fm.isWritableFile(atPath: ancestor) else {
            throw SweepError.io(path: dir, detail: "\(option): cannot create the folder: no permission to create it in \(ancestor)")
        }
    }

    /// Creates a folder `check` accepted and proves a file can be written in it.
    public static func create(_ dir: String, option: String) throws {
        let fm = FileManager.default
        do { try fm.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            let ancestor = existingAncestor(dir)
            var isDir: ObjCBool = false
            let why = fm.fileExists(atPath: ancestor, isDirectory: &isDir) && !isDir.boolValue ? "\(ancestor) is a file, not a folder"
                : "no permission to create it in \(ancestor)"
            throw SweepError.io(path: dir, detail: "\(option): cannot create the folder: \(why)")
        }
        let probe = (dir as NSString).appendingPathComponent(".write-test-\(getpid())")
        guard fm.createFile(atPath: probe, contents: Data()) else {
            throw SweepError.io(path: dir, detail: "\(option): the folder is not writable")
        }
        try? fm.removeItem(atPath: probe)
    }

    /// The nearest folder (or file) above `path` that exists.
    static func existingAncestor(_ path: String) -> String {
        var p = parentFolder(path)
        while !p.isEmpty && p != "/" && !FileManager.default.fileExists(atPath: p) { p = parentFolder(p) }
        return p.isEmpty ? "." : p
    }

    /// Refuses an output `path` that is one of `inputs` or lies inside an input folder, naming both
    /// (TensorCore's `refuseWritingOverInputs`, the one check every command makes).
    public static func checkNotInput(_ path: String, option: String, inputs: [(path: String, option: String)], shown: String? = nil) throws {
        do {
            try refuseWritingOverInputs(outputs: [NamedPath(option, path)], inputs: inputs.map { NamedPath($0.option, $0.path) }, insideInputFolders: true)
        } catch let e as PathClashError {
            throw SweepError.io(path: shown ?? path, detail: "\(option) \(shown ?? path) would write \(e.kind == .insideInput ? "into" : "over") \(e.otherName) \(e.other), which this run reads; choose another \(option)")
        }
    }
}

/// Where every command puts an image's overlay (`cam --overlay-dir`, and `evaluate`/`sweep` under
/// DIR/ARCH/WEIGHTS/): the image's path relative to the data root (the folder given to `cam`, the
/// scanned dataset folder, or the manifest's folder), its extension kept, then `_METHOD.png`:
/// `normal/x.png` → `normal/x.png_gradcam.png`. The rule depends on the path alone, so one image has
/// one name in every run, and different paths never share a file (x.png and x.jpg, a/001.png and
/// b/001.png): `%` is written `%25`, a `..` component `%2E%2E`, and a file outside the root keeps
/// its absolute path under a first component `%2F`.
public enum OverlayName {
    /// The overlay's path below the overlay folder.
    public static func relativePath(file: String, root: String?, method: String) -> String {
        var parts: [String]
        if let root, let rel = relative(file, to: root) {
            parts = escaped(rel)
        } else if file.hasPrefix("/") {
            parts = ["%2F"] + escaped(file)
        } else {
            parts = escaped(file)
        }
        if parts.isEmpty { parts = ["%2E"] }
        parts[parts.count - 1] += "_\(method).png"
        return parts.joined(separator: "/")
    }

    static func escaped(_ path: String) -> [String] {
        path.split(separator: "/").filter { $0 != "." }.map { c in c == ".." ? "%2E%2E" : c.replacingOccurrences(of: "%", with: "%25") }
    }

    /// `file` relative to `root` when it lies inside it (both made absolute against the working directory).
    static func relative(_ file: String, to root: String) -> String? {
        let cwd = FileManager.default.currentDirectoryPath
        let f = ((file.hasPrefix("/") ? file : cwd + "/" + file) as NSString).standardizingPath
        let r = ((root.hasPrefix("/") ? root : cwd + "/" + root) as NSString).standardizingPath
        let prefix = r.hasSuffix("/") ? r : r + "/"
        return f.hasPrefix(prefix) ? String(f.dropFirst(prefix.count)) : nil
    }
}
