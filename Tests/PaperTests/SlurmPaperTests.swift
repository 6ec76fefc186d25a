import XCTest
import Foundation
import TestSupport
import Sweep

/// `camaudit paper --slurm` on a real Slurm (scripts/slurm/start.sh gives a single-node one; CI
/// starts it before the tests): every model is trained by a Slurm job, the sweeps go in as job
/// arrays, stages.json reports the jobs' own training time, and a rerun submits nothing.
final class SlurmPaperTests: XCTestCase {
    func testTinyProfileRunsAsSlurmJobsAndRerunsFromTheCache() throws {
        if !Slurm.available() {
            if ProcessInfo.processInfo.environment["CI"] == "true" {
                return XCTFail("CI=true but no Slurm controller answers: .ci/run must start one with scripts/slurm/start.sh")
            }
            throw XCTSkip("no Slurm controller answers (start one with scripts/slurm/start.sh)")
        }
        let out = NSTemporaryDirectory() + "paper-slurm-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let args = ["paper", "--profile", "tiny", "--slurm", "--architectures", "resnet50,efficientnet_b0", "--seeds", "42", "--out", out]
        let r = try CLI.run(args)
        XCTAssertEqual(r.status, 0, r.stderr)
        // Two models on the clean set, two shortcut models on the marked set: four training jobs.
        let jobs = r.stderrLines.filter { $0.contains(": Slurm job ") }
        XCTAssertEqual(jobs.count, 4, r.stderr)
        XCTAssertTrue(r.stderr.contains("sweep main: Slurm array job"), r.stderr)
        XCTAssertTrue(r.stderr.contains("sweep methods: Slurm array job"), r.stderr)
        for f in ["report.html", "report.md", "run.json", "stages.json", "tables/table1.csv"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/" + f), f)
        }

        // Each model's folder holds its job's log, and stages.json the job's own time: the epochs
        // the trainer timed plus its test pass, not the moment it took to collect the folder.
        let events = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/stages.json"))) as? [[String: Any]])
        let trains = events.filter { ($0["stage"] as? String) == "train" }
        XCTAssertEqual(trains.count, 4, "two clean models and two shortcut models")
        for e in trains {
            let item = try XCTUnwrap(e["item"] as? String), key = try XCTUnwrap(e["key"] as? String)
            let dir = out + "/cache/train/\(item)-\(key.prefix(16))"
            let files = try FileManager.default.contentsOfDirectory(atPath: dir)
            XCTAssertTrue(files.contains { $0.hasPrefix("slurm-") && $0.hasSuffix(".log") }, "\(dir): \(files)")
            let record = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/\(item).json"))) as? [String: Any])
            let epochs = try XCTUnwrap(record["history"] as? [[String: Any]]).compactMap { $0["seconds"] as? Double }.reduce(0, +)
            let seconds = try XCTUnwrap(e["seconds"] as? Double)
            XCTAssertGreaterThan(epochs, 0)
            XCTAssertGreaterThanOrEqual(seconds, epochs, item)
            XCTAssertLessThan(seconds, epochs + 30, "\(item): the job's epochs and test pass")
        }

        // The same command again: every stage from the cache, nothing submitted.
        let again = try CLI.run(args)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertFalse(again.stderr.contains("Slurm job"), again.stderr)
        XCTAssertFalse(again.stderrLines.contains { $0.hasPrefix("stage ") && $0.contains(": computed") }, again.stderr)
    }
}
