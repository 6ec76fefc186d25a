import Foundation

/// What a manifest is read for: training refuses rows that evaluation only warns about.
public enum ManifestUse: Sendable {
    case training, evaluation
}

/// One problem of a manifest, naming its rows (CSV line numbers: the header is line 1).
public struct ManifestIssue: Sendable, Equatable, CustomStringConvertible {
    public let isError: Bool
    public let message: String
    public var description: String { message }
}

extension Manifest {
    /// Rows that would make a run's numbers mislead without a word: names a CSV cannot hold, one file
    /// under two labels or in two splits, a row listed twice, identical bytes across splits, a class
    /// without training images (or only in test), class indices with a gap. Every command that reads
    /// a manifest checks it here (`check`), so the next command cannot forget one.
    public func lint(for use: ManifestUse) -> [ManifestIssue] {
        var issues: [ManifestIssue] = []
        func rowList(_ idx: [Int]) -> String {
            let shown = idx.prefix(8).map { "\(items[$0].file) (row \($0 + 2), \(items[$0].split.rawValue), \(items[$0].className))" }
            return shown.joined(separator: ", ") + (idx.count > 8 ? " and \(idx.count - 8) more" : "")
        }
        for (i, it) in items.enumerated() {
            for (what, v) in [("file", it.file), ("class", it.className), ("mask", it.mask ?? "")] where !CSV.isStorable(v) {
                issues.append(ManifestIssue(isError: true, message: "row \(i + 2): the \(what) name \(v.debugDescription) holds a line break, a control character or bytes that are not UTF-8; results cannot name it"))
            }
        }
        // One image file, by its resolved path.
        var rowsOfFile: [String: [Int]] = [:]
        for (i, it) in items.enumerated() { rowsOfFile[URL(fileURLWithPath: resolve(it.file)).standardizedFileURL.path, default: []].append(i) }
        for (_, idx) in rowsOfFile.sorted(by: { $0.value[0] < $1.value[0] }) where idx.count > 1 {
            let name = items[idx[0]].file
            if Set(idx.map { items[$0].classIndex }).count > 1 {
                issues.append(ManifestIssue(isError: true, message: "\(name) is labelled with two classes: \(rowList(idx)); keep one row"))
            } else if Set(idx.map { items[$0].split }).count > 1 {
                issues.append(ManifestIssue(isError: use == .training,
                                            message: "\(name) is in two splits: \(rowList(idx)); a model trained on one has seen the other's image"))
            } else {
                issues.append(ManifestIssue(isError: false, message: "\(name) is listed twice: \(rowList(idx)); it counts once per row"))
            }
        }
        // Different files, identical bytes (the content hash), across splits or labels.
        var rowsOfHash: [String: [Int]] = [:]
        for (i, it) in items.enumerated() where !it.hash.isEmpty { rowsOfHash[it.hash, default: []].append(i) }
        for (_, idx) in rowsOfHash.sorted(by: { $0.value[0] < $1.value[0] }) where idx.count > 1 {
            let files = Set(idx.map { URL(fileURLWithPath: resolve(items[$0].file)).standardizedFileURL.path })
            guard files.count > 1 else { continue }  // the same file: reported above
            if Set(idx.map { items[$0].split }).count > 1 || Set(idx.map { items[$0].classIndex }).count > 1 {
                issues.append(ManifestIssue(isError: false, message: "identical images (hash \(items[idx[0]].hash)) in different splits or classes: \(rowList(idx))"))
            }
        }
        // Class indices: 0..<K, each with rows.
        let present = Set(items.map(\.classIndex))
        if let top = present.max(), present.count != top + 1 {
            let gaps = (0...top).filter { !present.contains($0) }
            issues.append(ManifestIssue(isError: true, message: "no rows have class index \(gaps.map(String.init).joined(separator: ", ")) (classes are numbered 0...\(top)): a class folder without readable images, or a gap in class_index"))
        }
        // Classes a trained model never saw, when the manifest has a training split at all.
        if items.contains(where: { $0.split == .train }) {
            for name in classes {
                let rows = items.indices.filter { items[$0].className == name }
                guard !rows.contains(where: { items[$0].split == .train }) else { continue }
                let onlyTest = rows.allSatisfy { items[$0].split == .test }
                issues.append(ManifestIssue(isError: use == .training,
                                            message: "class '\(name)' has no training images\(onlyTest ? ", only test images" : ""): \(rowList(rows))"))
            }
        }
        return issues
    }

    /// Lints for `use`: warnings go to `warn` ("warning: …"), errors are thrown together as one
    /// error naming `source` (the manifest or folder the rows came from).
    public func check(for use: ManifestUse, source: String, warn: (String) -> Void) throws {
        let issues = lint(for: use)
        for w in issues where !w.isError { warn("warning: \(source): \(w.message)") }
        let errors = issues.filter(\.isError)
        guard errors.isEmpty else {
            throw DatasetError(path: source, reason: errors.map(\.message).joined(separator: "; "))
        }
    }
}
