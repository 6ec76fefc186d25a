import XCTest
import Foundation
import TestSupport

/// `audit --workers` runs its units in worker processes and still writes the verdict; the rows are
/// the content-keyed rows one process writes, so a rerun without workers computes nothing.
final class AuditWorkersTests: XCTestCase {
    func testWorkersWriteTheVerdictAndOneProcessReusesTheirRows() throws {
        let dir = NSTemporaryDirectory() + "audit-workers-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let synth = try CLI.run(["synth", "--out", dir + "/data", "--count", "30", "--size", "64", "--seed", "3"])
        XCTAssertEqual(synth.status, 0, synth.stderr)
        let args = ["audit", "--model", "resnet50", "--data", dir + "/data/manifest.csv", "--image-size", "64", "--limit", "4",
                    "--out", dir + "/audit", "--threads", "1"]
        let parallel = try CLI.run(args + ["--workers", "2"])
        XCTAssertEqual(parallel.status, 0, parallel.stderr)
        XCTAssertTrue(parallel.stderr.contains("2 worker(s)"), parallel.stderr)
        let doc = try XCTUnwrap(try JSONSerialization.jsonObject(with: XCTUnwrap(FileManager.default.contents(atPath: dir + "/audit/audit.json"))) as? [String: Any])
        XCTAssertEqual((doc["checks"] as? [[String: Any]])?.count, 7)
        XCTAssertEqual((doc["checks"] as? [[String: Any]])?.first?["status"] as? String, "fail", "random weights fail accuracy")
        let single = try CLI.run(args)
        XCTAssertEqual(single.status, 0, single.stderr)
        XCTAssertTrue(single.stderr.contains("rows reused, 0 units to compute"), single.stderr)
        XCTAssertEqual(try String(contentsOfFile: dir + "/audit/audit.md", encoding: .utf8).components(separatedBy: "| accuracy |").count - 1, 4,
                       "accuracy: one verdict row and one per class (three classes)")
    }
}
