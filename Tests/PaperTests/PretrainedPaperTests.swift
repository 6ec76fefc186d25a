import XCTest
import Foundation
import TestSupport
import Sweep

/// `camaudit paper --profile tiny --pretrained DIR` end to end on stand-ins written in torchvision's
/// format and names by scripts/write_pretrained_standins.py (the real files cannot be downloaded
/// here). DenseNet-161 (the old `norm.1` keys of its published file, no BatchNorm counters) and
/// EfficientNet-B0 (torchvision's `efficientnet_b0_rwightman` stem) keep it to two or three minutes
/// on 2 cores; the other three architectures take the same path with bigger files.
final class PretrainedPaperTests: XCTestCase {
    func testTinyProfileStartsFromStandInsAndRecordsTheirDigests() throws {
        let root = NSTemporaryDirectory() + "paper-pretrained-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let weights = root + "/hub", out = root + "/out"
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../scripts/write_pretrained_standins.py").standardized.path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", script, "--out", weights, "--model", "densenet161,efficientnet_b0"]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let written = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "python3 \(script) failed (CI needs python3: Makefile's APT_PACKAGES)")
        let files = written.split(separator: "\n").map(String.init)
        XCTAssertEqual(files.map { ($0 as NSString).lastPathComponent.split(separator: "-").first.map(String.init) ?? "" },
                       ["densenet161", "efficientnet_b0_rwightman"], written)

        let r = try CLI.run(["paper", "--profile", "tiny", "--pretrained", weights, "--model", "densenet161,efficientnet_b0", "--out", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("renamed"), "DenseNet's old keys were renamed as torchvision renames them: \(r.stderr)")
        XCTAssertTrue(r.stderr.contains("were replaced by a new 3-class head"), r.stderr)

        let run = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/run.json"))) as? [String: Any])
        let initial = try XCTUnwrap(run["initial_checkpoints"] as? [[String: Any]])
        XCTAssertEqual(initial.map { $0["architecture"] as? String }, ["densenet161", "efficientnet_b0"])
        for (entry, file) in zip(initial, files) {
            XCTAssertEqual(entry["file"] as? String, file)
            XCTAssertEqual(entry["sha256"] as? String, try ContentDigest.hex(file: file), "run.json records the initial checkpoint's SHA-256")
            XCTAssertTrue(entry["torchvision_weights"] is NSNull, "a stand-in is not a published file")
        }
        let models = try XCTUnwrap(run["weights"] as? [[String: Any]])
        XCTAssertEqual(models.count, 4, "two architectures × the tiny profile's two seeds")
        for m in models {
            let arch = try XCTUnwrap(m["architecture"] as? String)
            XCTAssertEqual(m["initial_sha256"] as? String, initial.first { $0["architecture"] as? String == arch }?["sha256"] as? String, arch)
        }

        // Table I says where each model started; the explanation table what its maps stand on.
        let t1 = try String(contentsOfFile: out + "/tables/table1.csv", encoding: .utf8)
        let t1Rows = t1.split(whereSeparator: \.isNewline).map { $0.split(separator: ",").map(String.init) }
        XCTAssertEqual(t1Rows.first?.prefix(2), ["architecture", "initialisation"], t1)
        XCTAssertEqual(t1Rows.dropFirst().map { $0.count > 1 ? $0[1] : "" },
                       files.map { ($0 as NSString).lastPathComponent + " (unpublished)" }, "each stand-in named, and said not to be torchvision's")
        let ex = try String(contentsOfFile: out + "/tables/explanation.csv", encoding: .utf8)
        XCTAssertTrue(ex.hasPrefix("architecture,metric,Grad-CAM mean [95% CI],RandomCAM (chance),input,map grid,"), ex)
        XCTAssertTrue(ex.contains("densenet161,LocAcc,") && ex.contains(",64×64,2×2,"), ex)
        let md = try String(contentsOfFile: out + "/report.md", encoding: .utf8)
        XCTAssertTrue(md.contains("each fine-tuned from a pretrained checkpoint"), md)

        // A moved folder holds the same bytes: every model is reused (the key is the content, not the path).
        let moved = root + "/moved"
        try FileManager.default.moveItem(atPath: weights, toPath: moved)
        let again = try CLI.run(["paper", "--profile", "tiny", "--pretrained", moved, "--model", "densenet161,efficientnet_b0", "--out", out])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertFalse(again.stderrLines.contains { $0.contains("stage train ") && $0.contains("computed") }, again.stderr)
    }

    func testStudyProfileNeedsPretrainedWeights() throws {
        let r = try CLI.run(["paper", "--profile", "study", "--out", NSTemporaryDirectory() + "never-\(UUID().uuidString)"])
        XCTAssertEqual(r.status, 64, r.stderr)
        XCTAssertTrue(r.stderr.contains("--pretrained DIR"), r.stderr)
        let missing = try CLI.run(["paper", "--profile", "tiny", "--pretrained", "/nonexistent-hub", "--out", NSTemporaryDirectory() + "never-\(UUID().uuidString)"])
        XCTAssertEqual(missing.status, 1, missing.stderr)
        XCTAssertTrue(missing.stderr.contains("--pretrained /nonexistent-hub: no such folder"), missing.stderr)
    }
}
