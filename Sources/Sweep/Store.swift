import Foundation
import TensorCore
import Datasets
import Evaluation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The results of a run: OUT/results.csv, append-only, keyed by content, under a lock.
///
/// Format: the header `image,model,weights,method,metric,params,value,reason,key`, then one row per
/// number, in the CSV dialect of `Datasets.CSV`; `value` in Swift's shortest round-trip form
/// (`nan`, `inf` allowed), empty for undefined, with `reason` saying why; `key` is the row's
/// content key (`ResultRow.id`).
///
/// - One writer: the store holds an advisory lock (flock) on OUT/.lock from opening until `close()`
///   or deinit; a second store on the same folder is refused with the holder's pid, host and
///   command (or waits, with `wait`). The kernel drops the lock when a holder is killed.
/// - Crash-safe: every row is one `write(2)`, so a killed run leaves at most a torn last line;
///   opening truncates it away (`repairedBytes`) and keeps every complete row before it.
/// - Content-keyed: `contains(id)` says whether the number for these inputs is stored. When a row
///   with the same readable key (image, model, weights, method, metric, params) but another content
///   key is appended — the checkpoint or image behind a name changed — the newer row supersedes the
///   older one in `rows` (the file keeps both; reading it again gives the same view).
public final class Store {
    public static let header = ["image", "model", "weights", "method", "metric", "params", "value", "reason", "key"]
    public static let fileName = "results.csv"
    public static let lockName = ".lock"

    public let directory: String
    public let path: String
    /// Current rows: one per readable key, the latest written.
    public var rows: [ResultRow] { slots.compactMap { $0 } }
    /// Bytes of a torn last line removed on opening (0 if none).
    public let repairedBytes: Int
    private var slots: [ResultRow?] = []
    private var slotOfKey: [ResultKey: Int] = [:]
    private var current: Set<String> = []
    private let handle: FileHandle
    private var lockFD: Int32 = -1
    private let durable: Bool

    /// Opens (creating if needed) OUT/results.csv and takes OUT/.lock.
    /// - Parameters:
    ///   - wait: block until another writer releases the folder instead of refusing.
    ///   - durable: fsync after every row (slower; for runs where power loss matters).
    public init(directory: String, file: String = Store.fileName, wait: Bool = false, durable: Bool = false,
                command: String = CommandLine.arguments.joined(separator: " ")) throws {
        self.directory = directory
        self.path = (directory as NSString).appendingPathComponent(file)
        self.durable = durable
        let fm = FileManager.default
        do { try fm.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw SweepError.io(path: directory, detail: "cannot create the output folder: \(error.localizedDescription)")
        }
        lockFD = try Store.lock((directory as NSString).appendingPathComponent(Store.lockName), wait: wait, command: command)
        if !fm.fileExists(atPath: path) {
            guard fm.createFile(atPath: path, contents: nil) else {
                Store.unlock(lockFD)
                throw SweepError.io(path: path, detail: "cannot create results file")
            }
        }
        guard let data = fm.contents(atPath: path), let h = FileHandle(forUpdatingAtPath: path) else {
            Store.unlock(lockFD)
            throw SweepError.io(path: path, detail: "cannot open results file for reading and appending")
        }
        handle = h
        do {
            let (parsed, keep) = try Store.parse([UInt8](data), path: path)
            repairedBytes = data.count - keep
            if keep < data.count { try handle.truncate(atOffset: UInt64(keep)) }
            handle.seekToEndOfFile()
            if keep == 0 { try write(CSV.line(Store.header)) }
            for r in parsed { install(r) }
        } catch {
            Store.unlock(lockFD)
            lockFD = -1
            throw error
        }
    }

    deinit { close() }

    /// Releases the lock and the file (also done on deinit).
    public func close() {
        try? handle.close()
        if lockFD >= 0 { Store.unlock(lockFD); lockFD = -1 }
    }

    /// True if the current row for these inputs is stored.
    public func contains(_ id: String) -> Bool { current.contains(id) }

    /// Appends and flushes a row; returns false (writing nothing) if its content key is current.
    @discardableResult
    public func append(_ row: ResultRow) throws -> Bool {
        guard !current.contains(row.id) else { return false }
        let k = row.key
        let f = [k.image, k.model, k.weights, k.method, k.metric, k.params]
        for field in f + [row.reason, row.id] where field.contains("\n") || field.contains("\r") {
            throw SweepError.io(path: path, detail: "cannot store a field with a line break: '\(field)'")
        }
        try write(CSV.line(f + [row.value.map { "\($0)" } ?? "", row.reason, row.id]))
        install(row)
        return true
    }

    private func install(_ row: ResultRow) {
        if let s = slotOfKey[row.key], let old = slots[s] {
            current.remove(old.id)
            slots[s] = nil
        }
        slotOfKey[row.key] = slots.count
        slots.append(row)
        current.insert(row.id)
    }

    private func write(_ s: String) throws {
        do {
            try handle.write(contentsOf: Data(s.utf8))
            if durable { try handle.synchronize() }
        } catch { throw SweepError.io(path: path, detail: "cannot append a row: \(error.localizedDescription)") }
    }

    // MARK: - reading

    /// The current rows of a results file, without locking or repairing it (for merging and
    /// summaries of finished runs). A torn last line is ignored.
    public static func read(path: String) throws -> [ResultRow] {
        guard let data = FileManager.default.contents(atPath: path) else { throw SweepError.io(path: path, detail: "cannot read results file") }
        var slots: [ResultRow?] = [], slotOfKey: [ResultKey: Int] = [:]
        for r in try parse([UInt8](data), path: path).rows {
            if let s = slotOfKey[r.key] { slots[s] = nil }
            slotOfKey[r.key] = slots.count
            slots.append(r)
        }
        return slots.compactMap { $0 }
    }

    /// Rows of the complete lines, and how many leading bytes they span.
    static func parse(_ bytes: [UInt8], path: String) throws -> (rows: [ResultRow], keep: Int) {
        let keep = bytes.last == UInt8(ascii: "\n") ? bytes.count : (bytes.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0)
        guard keep > 0 else { return ([], 0) }
        guard let text = String(bytes: bytes[0..<keep], encoding: .utf8) else { throw SweepError.io(path: path, detail: "results file is not UTF-8") }
        let lines = try CSV.parse(text, name: path)
        guard let first = lines.first else { return ([], 0) }
        guard first == header else {
            if first == Array(header.prefix(7)) {
                throw SweepError.io(path: path, detail: "written by an older camaudit (rows without content keys, which cannot be reused safely); move it away or choose another --out")
            }
            throw SweepError.io(path: path, detail: "not a camaudit results file: the header must be \(header.joined(separator: ","))")
        }
        var rows: [ResultRow] = []
        rows.reserveCapacity(lines.count)
        for (i, f) in lines.enumerated().dropFirst() {
            guard f.count == header.count else {
                throw SweepError.io(path: path, detail: "line \(i + 1) has \(f.count) fields, expected \(header.count); the file was edited or written by two runs at once — move it away or delete that line")
            }
            var value: Double? = nil
            if !f[6].isEmpty {
                guard let v = Double(f[6]) else { throw SweepError.io(path: path, detail: "line \(i + 1): value '\(f[6])' is not a number") }
                value = v
            }
            rows.append(ResultRow(key: ResultKey(image: f[0], model: f[1], weights: f[2], method: f[3], metric: f[4], params: f[5]),
                                  value: value, reason: f[7], id: f[8]))
        }
        return (rows, keep)
    }

    // MARK: - lock

    /// The shared lock (`TensorCore.FileLock`), its errors in the sweep's terms.
    static func lock(_ lockPath: String, wait: Bool, command: String) throws -> Int32 {
        do { return try FileLock.acquire(lockPath, wait: wait, command: command) } catch let e as FileLockError {
            switch e {
            case .locked(let p, let holder): throw SweepError.locked(path: parentFolder(p), holder: holder)
            case .io(let p, let detail): throw SweepError.io(path: p, detail: detail)
            }
        }
    }

    static func unlock(_ fd: Int32) { FileLock.release(fd) }
}

/// close(2) on Glibc or Darwin.
func sysClose(_ fd: Int32) {
    #if canImport(Glibc)
    _ = Glibc.close(fd)
    #else
    _ = Darwin.close(fd)
    #endif
}
