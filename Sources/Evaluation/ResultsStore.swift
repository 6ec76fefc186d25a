import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What identifies one number of a run: image × model × weights × method × metric, plus the
/// parameters that define the number (e.g. `tau=0.5` or `steps=50;baseline=zero`).
public struct ResultKey: Hashable, Sendable, Codable {
    public var image: String
    public var model: String
    public var weights: String
    public var method: String
    public var metric: String
    public var params: String
    public init(image: String, model: String, weights: String, method: String, metric: String, params: String = "") {
        self.image = image; self.model = model; self.weights = weights
        self.method = method; self.metric = metric; self.params = params
    }
}

/// One row of results.csv; `value` nil = undefined (e.g. LocAcc on an empty mask), written as an empty field.
public struct ResultRow: Sendable, Equatable {
    public var key: ResultKey
    public var value: Double?
    public init(key: ResultKey, value: Double?) { self.key = key; self.value = value }
}

/// Append-only results.csv for long runs.
///
/// Format: a header `image,model,weights,method,metric,params,value`, then one row per number;
/// RFC 4180 quoting for fields holding commas or quotes (fields may not hold line breaks); values
/// in Swift's shortest round-trip form (`nan`, `inf` allowed), empty for undefined. Every row is
/// written with one `write(2)` as soon as it is appended (and fsync'd when `durable`), so a
/// killed run loses at most the row being written. Opening an existing file reads its rows; a
/// torn last line (no trailing newline) is dropped and truncated away, so resuming and
/// appending gives the same file as an uninterrupted run. `contains(_:)` lets callers skip work
/// already done; appending a key already present is a no-op.
public final class ResultsStore {
    public static let header = ["image", "model", "weights", "method", "metric", "params", "value"]

    public let path: String
    public private(set) var rows: [ResultRow] = []
    /// How many bytes of a torn last line were removed when the file was opened (0 if none).
    public let repairedBytes: Int
    private var keys: Set<ResultKey> = []
    private let handle: FileHandle
    private let durable: Bool

    /// Opens (creating if needed) the store at `path`.
    public init(path: String, durable: Bool = false) throws {
        self.path = path
        self.durable = durable
        let fm = FileManager.default
        if !fm.fileExists(atPath: path) {
            guard fm.createFile(atPath: path, contents: nil) else {
                throw EvaluationError.io(path: path, detail: "cannot create results file")
            }
        }
        guard let data = fm.contents(atPath: path), let h = FileHandle(forUpdatingAtPath: path) else {
            throw EvaluationError.io(path: path, detail: "cannot open results file for reading and appending")
        }
        handle = h
        var bytes = [UInt8](data)
        var repaired = 0
        if let last = bytes.last, last != UInt8(ascii: "\n") {
            let keep = (bytes.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 }) ?? 0
            repaired = bytes.count - keep
            bytes.removeSubrange(keep...)
            do { try handle.truncate(atOffset: UInt64(keep)) } catch {
                throw EvaluationError.io(path: path, detail: "cannot truncate the torn last line: \(error)")
            }
        }
        repairedBytes = repaired
        if bytes.isEmpty {
            try write(ResultsStore.line(ResultsStore.header))
        } else {
            guard let text = String(bytes: bytes, encoding: .utf8) else {
                throw EvaluationError.io(path: path, detail: "results file is not UTF-8")
            }
            var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            lines.removeLast() // the empty piece after the final newline
            guard let first = lines.first, try ResultsStore.fields(String(first), path, 1) == ResultsStore.header else {
                throw EvaluationError.io(path: path, detail: "not a camaudit results file: the header must be \(ResultsStore.header.joined(separator: ","))")
            }
            for (i, l) in lines.enumerated().dropFirst() {
                let f = try ResultsStore.fields(String(l), path, i + 1)
                guard f.count == 7 else {
                    throw EvaluationError.io(path: path, detail: "line \(i + 1) has \(f.count) fields, expected 7")
                }
                var value: Double? = nil
                if !f[6].isEmpty {
                    guard let v = Double(f[6]) else { throw EvaluationError.io(path: path, detail: "line \(i + 1): value '\(f[6])' is not a number") }
                    value = v
                }
                let row = ResultRow(key: ResultKey(image: f[0], model: f[1], weights: f[2], method: f[3], metric: f[4], params: f[5]), value: value)
                if keys.insert(row.key).inserted { rows.append(row) }
            }
        }
        handle.seekToEndOfFile()
    }

    deinit { try? handle.close() }

    /// True if a row with this key is already stored.
    public func contains(_ key: ResultKey) -> Bool { keys.contains(key) }

    /// Appends and flushes a row; returns false (writing nothing) if the key is already present.
    @discardableResult
    public func append(_ row: ResultRow) throws -> Bool {
        guard !keys.contains(row.key) else { return false }
        let k = row.key
        let f = [k.image, k.model, k.weights, k.method, k.metric, k.params]
        for field in f where field.contains("\n") || field.contains("\r") {
            throw EvaluationError.invalidArgument(op: "ResultsStore.append", detail: "field '\(field)' contains a line break")
        }
        try write(ResultsStore.line(f + [row.value.map { "\($0)" } ?? ""]))
        keys.insert(k)
        rows.append(row)
        return true
    }

    /// Appends several rows (each flushed).
    public func append(contentsOf rows: [ResultRow]) throws { for r in rows { try append(r) } }

    private func write(_ s: String) throws {
        do {
            try handle.write(contentsOf: Data(s.utf8))
            if durable { try handle.synchronize() }
        } catch { throw EvaluationError.io(path: path, detail: "cannot append a row: \(error)") }
    }

    // MARK: - CSV

    static func quote(_ s: String) -> String {
        guard s.contains(",") || s.contains("\"") else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func line(_ fields: [String]) -> String { fields.map(quote).joined(separator: ",") + "\n" }

    /// Splits one CSV line (RFC 4180 quoting).
    static func fields(_ line: String, _ path: String, _ number: Int) throws -> [String] {
        var out: [String] = [], cur = "", inQuotes = false
        var it = Array(line).makeIterator()
        var pending: Character? = nil
        while let ch = pending ?? it.next() {
            pending = nil
            if inQuotes {
                if ch == "\"" {
                    if let nx = it.next() { if nx == "\"" { cur.append("\"") } else { inQuotes = false; pending = nx } } else { inQuotes = false }
                } else { cur.append(ch) }
            } else if ch == "\"" && cur.isEmpty {
                inQuotes = true
            } else if ch == "," {
                out.append(cur); cur = ""
            } else { cur.append(ch) }
        }
        guard !inQuotes else { throw EvaluationError.io(path: path, detail: "line \(number): unterminated quote") }
        out.append(cur)
        return out
    }
}

/// Writes `data` to `path` atomically: a temporary file in the same folder, fsync, rename.
public func atomicWrite(_ data: Data, to path: String) throws {
    let tmp = path + ".tmp-\(getpid())"
    guard FileManager.default.createFile(atPath: tmp, contents: data), let h = FileHandle(forWritingAtPath: tmp) else {
        throw EvaluationError.io(path: path, detail: "cannot write temporary file \(tmp)")
    }
    try? h.synchronize()
    try? h.close()
    guard rename(tmp, path) == 0 else {
        let e = String(cString: strerror(errno))
        try? FileManager.default.removeItem(atPath: tmp)
        throw EvaluationError.io(path: path, detail: "cannot rename \(tmp) into place: \(e)")
    }
}
