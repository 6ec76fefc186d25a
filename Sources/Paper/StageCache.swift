import Foundation
import TensorCore
import Sweep

/// One stage run of a pipeline invocation: computed, or reused from the cache.
public struct StageEvent: Codable, Equatable, Sendable {
    public var stage: String
    /// What the stage ran on (an architecture and seed, a sweep's name, …).
    public var item: String
    /// SHA-256 of the stage's inputs and configuration.
    public var key: String
    public var cached: Bool
    public var seconds: Double
}

/// The stages' cache under OUT/cache: each result lives in a folder named by the stage, the item
/// and the first 16 hex digits of its key, beside a `stage.json` marker holding the full key.
///
/// A stage computes into `NAME.partial/`; when it has finished, the marker is written and the folder
/// renamed into place (one `rename(2)`), so an interrupted run never leaves a folder that looks
/// finished, and the next run resumes in the same partial folder (training continues from its last
/// epoch). A stage whose key changed finds no folder and recomputes; every other stage is reused.
public final class StageCache {
    public static let markerName = "stage.json"
    public let root: String
    public private(set) var events: [StageEvent] = []
    /// One line per stage: `cached` or `computed`, with the key.
    public var log: (String) -> Void = { _ in }

    public init(root: String) throws {
        self.root = root
        do { try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true) } catch {
            throw PaperError.stage("cache", "cannot create \(root): \(error.localizedDescription)")
        }
    }

    /// The SHA-256 of the parts, each length-prefixed (no two part lists share a digest).
    public static func key(_ parts: [String]) -> String {
        var d = ContentDigest()
        for p in parts { d.update("\(p.utf8.count):"); d.update(p) }
        return d.finalizeHex()
    }

    /// The folder of a finished result for `key`, or nil.
    public func finished(stage: String, item: String, key: String) -> String? {
        let dir = folder(stage: stage, item: item, key: key)
        return markerKey(dir) == key ? dir : nil
    }

    func folder(stage: String, item: String, key: String) -> String {
        "\(root)/\(stage)/\(item)-\(key.prefix(16))"
    }

    func markerKey(_ dir: String) -> String? {
        guard let data = FileManager.default.contents(atPath: dir + "/" + Self.markerName),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        return obj["key"] as? String
    }

    /// Runs `body(workFolder)` unless a finished result for `key` exists; returns the result's folder.
    /// - Parameter inPlace: compute in the final folder itself (a sweep's append-only store, which
    ///   keeps its finished rows across keys); the marker still decides whether the stage is done.
    /// - Parameter measured: the stage's seconds when the work ran elsewhere (a Slurm job) and the wall
    ///   time of `body` would only be the time to collect it; read from the finished folder.
    @discardableResult
    public func run(stage: String, item: String, key: String, inPlace: Bool = false, measured: ((String) -> Double?)? = nil,
                    body: (String) throws -> Void) throws -> String {
        let dir = inPlace ? "\(root)/\(stage)/\(item)" : folder(stage: stage, item: item, key: key)
        let started = Date()
        if markerKey(dir) == key {
            record(StageEvent(stage: stage, item: item, key: key, cached: true, seconds: 0))
            return dir
        }
        let fm = FileManager.default
        let work = inPlace ? dir : dir + ".partial"
        do { try fm.createDirectory(atPath: work, withIntermediateDirectories: true) } catch {
            throw PaperError.stage(stage, "cannot create \(work): \(error.localizedDescription)")
        }
        if inPlace { try? fm.removeItem(atPath: dir + "/" + Self.markerName) }
        try body(work)
        if !inPlace { try Self.removeTemporaries(in: work, stage: stage) }
        let marker: [String: Any] = ["stage": stage, "item": item, "key": key, "finished": ISO8601DateFormatter().string(from: Date())]
        try atomicWrite(try JSONSerialization.data(withJSONObject: marker, options: [.sortedKeys, .prettyPrinted]),
                        to: work + "/" + Self.markerName)
        if !inPlace {
            do { try replaceFolder(at: dir, with: work) } catch {
                throw PaperError.stage(stage, "cannot move \(work) to \(dir): \(error)")
            }
        }
        record(StageEvent(stage: stage, item: item, key: key, cached: false, seconds: measured?(dir) ?? Date().timeIntervalSince(started)))
        return dir
    }

    /// A finished folder holds no temporary file: those of killed writers (or of this process,
    /// whose writes are over) are removed; one a live process is still writing stops the commit.
    static func removeTemporaries(in work: String, stage: String) throws {
        for t in Temporaries.all(under: work) {
            if t.pid == getpid() || Temporaries.writerIsGone(t.pid) {
                try? FileManager.default.removeItem(atPath: t.path)
            } else {
                throw PaperError.stage(stage, "\(t.path) is still being written by process \(t.pid); not committing \(work)")
            }
        }
    }

    func record(_ e: StageEvent) {
        events.append(e)
        log(String(format: "stage %@ %@: %@ (key %@)%@", e.stage, e.item, e.cached ? "cached" : "computed", String(e.key.prefix(12)),
                   e.cached ? "" : String(format: " in %.1fs", e.seconds)))
    }
}
