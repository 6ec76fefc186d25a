import XCTest
import Foundation
import TensorCore
import NN
import Models
import Datasets
import Evaluation
@testable import Sweep

/// Resuming a run into the same output folder: finished rows are reused only when their inputs
/// are unchanged — a torn row is repaired, changed weights or re-synthesised data are recomputed.
final class ResumeTests: TemporaryFolderTestCase {
    var root: String { dir }

    func baseConfig(_ models: [SweepConfig.ModelEntry] = [.init(architecture: "efficientnet_b0")]) -> SweepConfig {
        var c = SweepConfig(data: .init(path: root + "/data/manifest.csv"), models: models)
        c.imageSize = 64
        c.batchSize = 1
        c.grid.steps = [4]
        c.metrics = ["locacc", "energy", "faith", "deletion", "consist"]
        return c
    }

    /// Runs a configuration into `out` as `camaudit evaluate` does; returns the report and the rows.
    @discardableResult
    func run(_ c: SweepConfig, _ out: String) throws -> (ExecutionReport, [ResultRow]) {
        let plan = try Plan.expand(c)
        let store = try Store(directory: out)
        defer { store.close() }
        let executor = Executor(plan: plan)
        let report = try executor.run(plan.units, store: store)
        try Summary.write(rows: store.rows, directory: out, incomplete: plan.missing.merging(executor.unreadable) { a, _ in a })
        return (report, store.rows)
    }

    func values(_ rows: [ResultRow]) -> [ResultKey: Double?] {
        Dictionary(uniqueKeysWithValues: rows.map { ($0.key, $0.value) })
    }

    func testInterruptedRunResumesToTheSameResults() throws {
        _ = try SynthDataset.generate(out: root + "/data", count: 3, size: 96, seed: 5)
        let plan = baseConfig()
        let (full, fullRows) = try run(plan, root + "/full")
        XCTAssertGreaterThan(full.rowsWritten, 0)

        // "Interrupted": only the first image was processed, and the last row was torn mid-line.
        var first = plan
        first.data.limit = 1
        try run(first, root + "/resumed")
        let path = root + "/resumed/results.csv"
        let partial = try String(contentsOfFile: path, encoding: .utf8)
        try String(partial.dropLast(7)).write(toFile: path, atomically: false, encoding: .utf8)

        let (resumed, rows) = try run(plan, root + "/resumed")
        XCTAssertLessThan(resumed.rowsWritten, full.rowsWritten, "finished rows are not recomputed")
        XCTAssertGreaterThan(resumed.unitsReused, 0)
        XCTAssertEqual(Set(try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")),
                       Set(try String(contentsOfFile: root + "/full/results.csv", encoding: .utf8).split(separator: "\n")))
        XCTAssertEqual(values(rows), values(fullRows))
        // The summaries do not depend on the order rows were written in.
        XCTAssertEqual(FileManager.default.contents(atPath: root + "/resumed/summary.json"),
                       FileManager.default.contents(atPath: root + "/full/summary.json"))
        // A third run has nothing left to do.
        let (third, _) = try run(plan, root + "/resumed")
        XCTAssertEqual(third.rowsWritten, 0)
        XCTAssertEqual(third.unitsComputed, 0)
    }

    /// Other weights behind the same checkpoint name: recomputed, and the summary holds the new numbers.
    func testChangedWeightsAreRecomputed() throws {
        _ = try SynthDataset.generate(out: root + "/data", count: 2, size: 96, seed: 5)
        func save(seed: UInt64, to path: String) throws {
            let m = try makeModel(.efficientnet_b0, numClasses: 3, imageSize: 64)
            m.initialize(seed: seed)
            try saveSafetensors(try m.stateDict(), path: path)
        }
        let w = root + "/w.safetensors"
        var c = baseConfig([.init(architecture: "efficientnet_b0", weights: [w])])
        c.metrics = ["locacc", "faith"]
        try save(seed: 0, to: w)
        let (r0, _) = try run(c, root + "/out")
        try save(seed: 1, to: w)
        let (r1, rows1) = try run(c, root + "/out")
        XCTAssertEqual(r1.unitsReused, 0, "no row of the old weights is reused")
        XCTAssertEqual(r1.rowsWritten, r0.rowsWritten - 2, "every row but the 2 truth rows is recomputed")
        // The same weights under another name, fresh: the numbers the resumed folder now holds.
        let (_, fresh) = try run(c, root + "/fresh")
        XCTAssertEqual(values(rows1), values(fresh))
        let faith = rows1.filter { $0.key.metric == "faith" }
        XCTAssertEqual(faith.count, 2)
    }

    /// Re-synthesised data with the same file names: recomputed, never the stale numbers.
    func testResynthesisedDataIsRecomputed() throws {
        _ = try SynthDataset.generate(out: root + "/data", count: 2, size: 96, seed: 5)
        let c = baseConfig()
        let (r0, _) = try run(c, root + "/out")
        try FileManager.default.removeItem(atPath: root + "/data")
        _ = try SynthDataset.generate(out: root + "/data", count: 2, size: 96, seed: 6)
        let (r1, rows1) = try run(c, root + "/out")
        XCTAssertEqual(r1.unitsReused, 0)
        XCTAssertEqual(r1.rowsWritten, r0.rowsWritten)
        try FileManager.default.moveItem(atPath: root + "/data", toPath: root + "/data2")
        var c2 = c; c2.data.path = root + "/data2/manifest.csv"
        let (_, fresh) = try run(c2, root + "/fresh")
        XCTAssertEqual(values(rows1), values(fresh))
    }

    /// A random ViT has a zero classifier head, so every map is blank: Consist and every metric of
    /// the map are undefined with the reason, counted apart, and no mean reads 1.0.
    func testBlankMapsOfAZeroHeadAreUndefined() throws {
        _ = try SynthDataset.generate(out: root + "/data", count: 2, size: 96, seed: 5)
        var c = baseConfig([.init(architecture: "vit_b_16")])
        c.imageSize = 32
        c.batchSize = 2
        c.metrics = ["consist", "locacc", "deletion"]
        let (_, rows) = try run(c, root + "/out")
        let consist = rows.filter { $0.key.metric == "consist" }
        XCTAssertEqual(consist.count, 2)
        for r in consist { XCTAssertNil(r.value); XCTAssertEqual(r.reason, Undefined.noDefinedPair) }
        for r in rows where r.key.metric == "locacc" || r.key.metric == "deletion" {
            XCTAssertNil(r.value); XCTAssertEqual(r.reason, Undefined.constantMap)
        }
        let doc = Summary.document(rows)
        let g = doc.groups.first { $0.metric == "consist" }!
        XCTAssertEqual(g.n, 0); XCTAssertEqual(g.undefined, 2); XCTAssertNil(g.mean)
        let md = try String(contentsOfFile: root + "/out/summary.md", encoding: .utf8)
        XCTAssertTrue(md.contains("| vit_b_16 | gradcam | consist | tau=0.5 | 0 | 2 | – |"), md)
    }

    /// An image that cannot be decoded is skipped, named, and leaves its unit incomplete; the
    /// others' rows are written.
    func testUnreadableImageIsNamedAndTheRestComputed() throws {
        _ = try SynthDataset.generate(out: root + "/data", count: 3, size: 96, seed: 5)
        let manifest = try Manifest.read(path: root + "/data/manifest.csv")
        let bad = manifest.items[0].file
        try Data("not a png".utf8).write(to: URL(fileURLWithPath: manifest.resolve(bad)))
        var c = baseConfig()
        c.metrics = ["locacc"]
        let plan = try Plan.expand(c)
        let store = try Store(directory: root + "/out")
        let executor = Executor(plan: plan)
        try executor.run(plan.units, store: store)
        XCTAssertEqual(Array(executor.unreadable.keys), [bad])
        XCTAssertFalse(store.rows.contains { $0.key.image == bad })
        XCTAssertEqual(Set(store.rows.map(\.key.image)), Set(manifest.items.dropFirst().map(\.file)))
    }
}
