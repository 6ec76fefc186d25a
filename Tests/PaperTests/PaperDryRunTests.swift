import XCTest
import Foundation
import TestSupport

/// `camaudit paper --dry-run` prints every stage with its work and estimated times, here and on
/// 16, 32 and 64 cores, and trains nothing.
final class PaperDryRunTests: XCTestCase {
    func testThePlanListsEveryStageAndTrainsNothing() throws {
        let out = NSTemporaryDirectory() + "paper-dry-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = try CLI.run(["paper", "--profile", "tiny", "--dry-run", "--model", "resnet50,efficientnet_b0", "--workers", "2", "--threads", "2", "--out", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        let header = try XCTUnwrap(lines.first)
        for column in ["here (2 workers, 2 thr)", "16 cores", "32 cores", "64 cores", "work"] { XCTAssertTrue(header.contains(column), header) }
        for stage in ["train", "sweep main", "sweep methods", "curves", "shortcut", "grid", "total"] {
            let line = try XCTUnwrap(lines.first { $0.hasPrefix(stage + " ") }, "no \(stage) line: \(r.stdout)")
            // Every estimate is a positive time.
            let times = line.matches(of: /([0-9.]+) (s|min|h)\b/).map { Double($0.1)! }
            XCTAssertGreaterThanOrEqual(times.count, 4, line)
            XCTAssertTrue(times.prefix(4).allSatisfy { $0 > 0 }, line)
        }
        XCTAssertTrue(r.stdout.contains("4 models (2 architectures × 2 seeds)"), r.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/cache/train"), "a dry run trains nothing")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/report.html"))
    }
}
