import Foundation
import TestSupport
import XCTest

/// A command's --threads and checkpoint options reach the code that uses them through the run's
/// settings, which main binds around the command (nothing is set process-wide).
final class CLIRunSettingsTests: CLITestCase {
    func testCheckpointOptionsReachTheLoaderAndItsNotesArePrinted() throws {
        let synth = try CLI.run(["synth", "--out", path("d"), "--count", "3", "--size", "64", "--seed", "1", "--threads", "1"])
        XCTAssertEqual(synth.status, 0, synth.stderr)
        let image = try XCTUnwrap(FileManager.default.enumerator(atPath: path("d/images"))?.allObjects
            .compactMap { $0 as? String }.filter { $0.hasSuffix(".png") }.sorted().first)
        let ckpt = fixturesDirectory + "/checkpoints/lightning_efficientnet_b0.ckpt"
        let r = try CLI.run(["predict", "--model", "efficientnet_b0", "--weights", ckpt, "--checkpoint-key", "state_dict",
                             "--strip-prefix", "model.", "--num-classes", "5", "--image-size", "64", "--threads", "2", path("d/images/" + image)])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("note: \(ckpt): using the state dict under 'state_dict' (--checkpoint-key)"), r.stderr)
        XCTAssertTrue(r.stderr.contains("the checkpoint's head has 3 classes; inference keeps it (--num-classes 5"), r.stderr)
        XCTAssertFalse(r.stderr.contains("carried by every key"), "--strip-prefix was not applied: \(r.stderr)")
    }

    func testTrainRecordsTheThreadsItRanWith() throws {
        let synth = try CLI.run(["synth", "--out", path("d"), "--count", "15", "--size", "64", "--seed", "1"])
        XCTAssertEqual(synth.status, 0, synth.stderr)
        for threads in [1, 2] {
            let out = path("m\(threads).safetensors")
            let r = try CLI.run(["train", "--data", path("d/manifest.csv"), "--out", out, "--model", "efficientnet_b0", "--image-size", "32",
                                 "--epochs", "1", "--batch-size", "4", "--seed", "1", "--quiet", "--threads", String(threads)])
            XCTAssertEqual(r.status, 0, r.stderr)
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("m\(threads).json")))) as? [String: Any]
            XCTAssertEqual(json?["threads"] as? Int, threads, "train --threads \(threads)")
        }
    }
}
