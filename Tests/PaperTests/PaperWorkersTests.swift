import XCTest
import Foundation
import TestSupport

/// `camaudit paper --workers N` runs the trainings and the sweep units as N processes at once, each
/// with its share of the threads. Where work runs does not change it: a model trained by a worker
/// process is the model `camaudit train --recipe` trains with the same threads, byte for byte.
final class PaperWorkersTests: XCTestCase {
    func testTrainingsAndSweepsRunAsConcurrentProcesses() throws {
        let out = NSTemporaryDirectory() + "paper-workers-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = try CLI.run(["paper", "--profile", "tiny", "--workers", "2", "--threads", "2", "--model", "resnet50,efficientnet_b0",
                             "--seeds", "42", "--out", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("training 2 models, 2 processes at a time × 1 thread"), r.stderr)
        XCTAssertEqual(r.stderrLines.filter { $0.contains(": process ") }.count, 4, "two models and two shortcut models: \(r.stderr)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/report.html"))

        let train = out + "/cache/train"
        let dirs = try FileManager.default.contentsOfDirectory(atPath: train).filter { $0.hasPrefix("resnet50-seed42-") }
        let dir = train + "/" + (try XCTUnwrap(dirs.first))
        let files = try FileManager.default.contentsOfDirectory(atPath: dir)
        XCTAssertTrue(files.contains("train.log") && files.contains("recipe.json"), "\(files)")

        // The same recipe, data and threads in a plain `camaudit train`: the same checkpoint.
        let record = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/resnet50-seed42.json"))) as? [String: Any])
        XCTAssertEqual(record["threads"] as? Int, 1)
        let manifests = try FileManager.default.subpathsOfDirectory(atPath: out + "/cache/data").filter { $0.hasSuffix("manifest.csv") && !$0.contains("marked") }
        let manifest = out + "/cache/data/" + (try XCTUnwrap(manifests.sorted().first))
        let again = out + "/again/resnet50-seed42.safetensors"
        let t = try CLI.run(["train", "--data", manifest, "--recipe", dir + "/recipe.json", "--threads", "1", "--quiet", "--out", again])
        XCTAssertEqual(t.status, 0, t.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: again)), try Data(contentsOf: URL(fileURLWithPath: dir + "/resnet50-seed42.safetensors")),
                       "a worker's model differs from train --recipe's with the same threads")
    }

    func testWorkersAndSlurmAreRefusedTogether() throws {
        let args = ["paper", "--profile", "tiny", "--workers", "2", "--slurm", "--out", NSTemporaryDirectory() + "paper-\(UUID().uuidString)"]
        let r = try CLI.run(args)
        XCTAssertEqual(r.status, 64, r.stderr)
        XCTAssertTrue(r.stderr.contains("--workers"), r.stderr)
    }
}
