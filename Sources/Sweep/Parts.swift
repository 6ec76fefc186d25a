import Foundation
import TensorCore
import Evaluation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The per-process results of a sharded or multi-worker sweep, inside its output folder:
///
///     OUT/parts/shard-K-of-N/            one shard run by one process
///     OUT/parts/shard-K-of-N.w-I/        worker I of a shard run by several processes
///         results.csv  .lock             a `Store`: append-only, locked by its one writer
///         record.json                    what the process is doing or did (`ShardRecord`)
///
/// Each process appends only to its own part, so shards on many nodes and workers on one server
/// never contend for a lock, and a killed process leaves its finished rows in its own file. Rows
/// are found by content key: `camaudit merge` takes each expected row from whichever part holds
/// it, so a unit computed twice (a shard resumed after a kill, now by two workers) is written once.
public enum Parts {
    public static func directory(_ out: String) -> String { out + "/parts" }

    /// Folder name of shard `k` of `n` (worker `w`, when several processes share the shard).
    public static func name(shard k: Int, of n: Int, worker w: Int? = nil) -> String {
        "shard-\(k)-of-\(n)" + (w.map { ".w-\($0)" } ?? "")
    }

    public static func path(_ out: String, shard k: Int, of n: Int, worker w: Int? = nil) -> String {
        directory(out) + "/" + name(shard: k, of: n, worker: w)
    }

    /// Parsed folder name: (shard, shards, worker).
    public static func parse(_ name: String) -> (shard: Int, of: Int, worker: Int?)? {
        let s = name.split(separator: ".", maxSplits: 1)
        let f = s[0].split(separator: "-")
        guard f.count == 4, f[0] == "shard", f[2] == "of", let k = Int(f[1]), let n = Int(f[3]) else { return nil }
        var w: Int? = nil
        if s.count == 2 {
            guard s[1].hasPrefix("w-"), let x = Int(s[1].dropFirst(2)) else { return nil }
            w = x
        }
        return (k, n, w)
    }

    /// Every part folder of these output folders (sorted, so reading is deterministic).
    public static func list(_ outs: [String]) -> [String] {
        outs.flatMap { out -> [String] in
            let d = directory(out)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: d)) ?? []
            return names.filter { parse($0) != nil }.sorted().map { d + "/" + $0 }
        }
    }

    /// All rows of all parts of these folders, by content key (rows of several parts with one key
    /// hold the same number: the key digests everything that defines it). A folder's own
    /// results.csv (an earlier `evaluate`, or a merge) counts as a part too. Two rows with one key
    /// but different numbers (an edited file, or a computation that is not deterministic) are
    /// listed in `conflicts`, each naming both files; the first, in part order, is kept.
    public static func rows(_ outs: [String]) throws -> (rows: [String: ResultRow], conflicts: [String]) {
        var byID: [String: (row: ResultRow, file: String)] = [:]
        var conflicts: [String] = []
        func text(_ r: ResultRow) -> String { r.value.map { "\($0)" } ?? "undefined (\(r.reason))" }
        for p in outs + list(outs) {
            let file = p + "/" + Store.fileName
            guard FileManager.default.fileExists(atPath: file) else { continue }
            guard let data = FileManager.default.contents(atPath: file) else { throw SweepError.io(path: file, detail: "cannot read results file") }
            for r in try Store.parse([UInt8](data), path: file).rows {
                guard let first = byID[r.id] else { byID[r.id] = (r, file); continue }
                if text(first.row) != text(r) {
                    let k = r.key
                    conflicts.append("\(k.image) \(k.model)/\(k.weights) \(k.method) \(k.metric)\(k.params.isEmpty ? "" : " " + k.params) (key \(r.id.prefix(12))): \(text(first.row)) in \(first.file), \(text(r)) in \(file); kept the first")
                }
            }
        }
        return (byID.mapValues(\.row), conflicts)
    }

    /// Images a part's executor could not decode (they have no rows, by design): file → reason.
    public static func unreadable(_ outs: [String]) -> [String: String] {
        var out: [String: String] = [:]
        for p in list(outs) { if let r = ShardRecord.read(p) { out.merge(r.unreadable) { a, _ in a } } }
        return out
    }
}

/// What one shard process is doing or did, in `record.json` of its part folder.
public struct ShardRecord: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable { case running, done, failed }
    public var shard: Int
    public var shards: Int
    public var worker: Int?
    public var state: State
    public var host: String
    public var pid: Int32
    /// `ARRAYJOB_TASK` when run by Slurm.
    public var slurmJob: String?
    public var started: String
    public var ended: String?
    public var error: String?
    public var unitsComputed: Int = 0
    public var unitsReused: Int = 0
    public var rowsWritten: Int = 0
    public var unreadable: [String: String] = [:]
    /// The configuration the process ran (a merge names parts of another configuration).
    public var config: SweepConfig? = nil

    public static let fileName = "record.json"

    public static func read(_ partDir: String) -> ShardRecord? {
        guard let d = FileManager.default.contents(atPath: partDir + "/" + fileName) else { return nil }
        return try? JSONDecoder().decode(ShardRecord.self, from: d)
    }

    public func write(_ partDir: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try atomicWrite(try enc.encode(self), to: partDir + "/" + ShardRecord.fileName)
    }

    /// A record for a process starting now on this host.
    public static func starting(shard: Int, of n: Int, worker: Int?) -> ShardRecord {
        let env = ProcessInfo.processInfo.environment
        var slurm: String? = nil
        if let a = env["SLURM_ARRAY_JOB_ID"], let t = env["SLURM_ARRAY_TASK_ID"] { slurm = "\(a)_\(t)" } else if let j = env["SLURM_JOB_ID"] { slurm = j }
        return ShardRecord(shard: shard, shards: n, worker: worker, state: .running, host: hostName(), pid: getpid(), slurmJob: slurm,
                           started: timestamp(), ended: nil, error: nil)
    }

}

extension Parts {
    /// True while some process holds the part's store lock (it is writing there now). The kernel
    /// drops a flock when its holder dies, so a killed shard never looks alive.
    public static func isLocked(_ partDir: String) -> Bool {
        let fd = open(partDir + "/" + Store.lockName, O_RDWR)
        guard fd >= 0 else { return false }
        defer { sysClose(fd) }
        if flock(fd, LOCK_EX | LOCK_NB) == 0 { _ = flock(fd, LOCK_UN); return false }
        return errno == EWOULDBLOCK
    }
}


func hostName() -> String {
    var host = [CChar](repeating: 0, count: 256)
    gethostname(&host, host.count)
    return String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

func timestamp() -> String { ISO8601DateFormatter().string(from: Date()) }
