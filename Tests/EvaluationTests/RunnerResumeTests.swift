import XCTest
import Foundation
import TensorCore
import Models
import Datasets
import Evaluation

/// `camaudit evaluate`'s runner: an interrupted run (killed mid-row) resumes to the same results.csv
/// as an uninterrupted one, and finished rows are not recomputed.
final class RunnerResumeTests: XCTestCase {
    func testInterruptedRunResumesToTheSameResults() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("camaudit-runner-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        _ = try SynthDataset.generate(out: root + "/data", count: 3, size: 96, seed: 5)
        let manifest = try Manifest.read(path: root + "/data/manifest.csv")
        var plan = EvaluationPlan(architectures: [.efficientnet_b0])
        plan.imageSize = 64
        plan.batchSize = 1
        plan.steps = 4
        plan.randomSeeds = [0, 1]
        plan.methods = [.gradcam]
        plan.metrics = [.locacc, .energy, .faith, .deletion, .consist]

        let full = EvaluationRunner(plan: plan, manifest: manifest, outDir: root + "/full")
        let n = try full.run()
        XCTAssertGreaterThan(n, 0)
        let reference = try String(contentsOfFile: root + "/full/results.csv", encoding: .utf8)

        // "Interrupted": only the first image was processed, and the last row was torn mid-line.
        var first = plan
        first.limit = 1
        _ = try EvaluationRunner(plan: first, manifest: manifest, outDir: root + "/resumed").run()
        let path = root + "/resumed/results.csv"
        let partial = try String(contentsOfFile: path, encoding: .utf8)
        try String(partial.dropLast(7)).write(toFile: path, atomically: false, encoding: .utf8)

        let resumed = EvaluationRunner(plan: plan, manifest: manifest, outDir: root + "/resumed")
        let written = try resumed.run()
        XCTAssertLessThan(written, n, "finished rows are not recomputed")
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), reference)
        // A third run has nothing left to do.
        XCTAssertEqual(try EvaluationRunner(plan: plan, manifest: manifest, outDir: root + "/resumed").run(), 0)
        XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/resumed/summary.md"))
    }
}
