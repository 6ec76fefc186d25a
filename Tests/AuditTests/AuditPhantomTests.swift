import XCTest
import Foundation
import Imaging
import Report
import TestSupport
@testable import Audit

/// `camaudit audit` end to end on phantoms: a model trained on slices with the class-correlated
/// corner marker fails outside_body, the same architecture trained on the unmarked twins passes
/// it; random weights fail accuracy and every other check says so; --fail-on sets the exit code;
/// the report renders in headless Chromium with every figure.
///
/// One set of phantoms and models serves every test (built once per process, fixed seeds).
final class AuditPhantomTests: XCTestCase {
    /// Slices, size and training recipe: the quick profile's recipe (AdamW 1e-3, cosine after one
    /// warmup epoch) on 600 phantoms, 8 epochs: the clean twin learns the task (0.84 test accuracy
    /// measured; at 300 phantoms and 6 epochs it stayed at 0.40). docs/AUDIT.md gives the numbers.
    static let count = 600, size = 64, epochs = 8
    /// Test slices audited (of 120): the first 60, as many as before the twin learned.
    static let auditLimit = ["--limit", "60"]
    static let root = ProcessInfo.processInfo.environment["CAMAUDIT_AUDIT_DIR"] ?? NSTemporaryDirectory() + "audit-phantoms-\(getpid())"
    /// The random model needs few images to show it is at chance.
    static let randomLimit = ["--limit", "12"]

    struct Runs {
        var shortcut: CLI.Result, clean: CLI.Result, random: CLI.Result
    }
    nonisolated(unsafe) static var runs: Runs?
    static let lock = NSLock()

    static func must(_ args: [String]) throws -> CLI.Result {
        let r = try CLI.run(args)
        guard r.status == 0 || (args.first == "audit" && r.status == 4) else {
            throw NSError(domain: "AuditPhantomTests", code: Int(r.status), userInfo: [NSLocalizedDescriptionKey: "camaudit \(args.joined(separator: " ")) exited \(r.status): \(r.stderr)"])
        }
        return r
    }

    static func audit(_ name: String, weights: String?, data: String, extra: [String] = []) throws -> CLI.Result {
        try must(["audit", "--model", "resnet50", "--data", data, "--out", root + "/" + name, "--image-size", "\(size)", "--split", "test",
                  "--threads", "2", "--fail-on", "fail"] + (weights.map { ["--weights", $0] } ?? []) + extra)
    }

    /// Synthesises the phantoms, trains both models and audits them (and a random model) once.
    static func prepare() throws -> Runs {
        lock.lock(); defer { lock.unlock() }
        if let runs { return runs }
        try? FileManager.default.removeItem(atPath: root)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        _ = try must(["synth", "--out", root + "/data", "--count", "\(count)", "--size", "\(size)", "--seed", "0", "--shortcut", "0.9", "--also-clean"])
        for (name, manifest) in [("shortcut", "manifest.csv"), ("clean", "manifest_clean.csv")] {
            _ = try must(["train", "--model", "resnet50", "--data", root + "/data/" + manifest, "--out", root + "/\(name).safetensors",
                          "--epochs", "\(epochs)", "--lr", "1e-3", "--schedule", "cosine", "--warmup-epochs", "1", "--head-init", "zeros",
                          "--image-size", "\(size)", "--seed", "42",
                          "--threads", "2", "--quiet"])
        }
        let r = Runs(shortcut: try audit("audit-shortcut", weights: root + "/shortcut.safetensors", data: root + "/data/manifest.csv", extra: auditLimit),
                     clean: try audit("audit-clean", weights: root + "/clean.safetensors", data: root + "/data/manifest_clean.csv", extra: auditLimit),
                     random: try audit("audit-random", weights: nil, data: root + "/data/manifest_clean.csv", extra: randomLimit))
        runs = r
        return r
    }

    func document(_ name: String) throws -> [String: Any] {
        let data = try XCTUnwrap(FileManager.default.contents(atPath: Self.root + "/\(name)/audit.json"), "no audit.json in \(name)")
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func checks(_ name: String) throws -> [String: [String: Any]] {
        let doc = try document(name)
        let list = try XCTUnwrap(doc["checks"] as? [[String: Any]])
        return Dictionary(uniqueKeysWithValues: list.map { ($0["id"] as! String, $0) })
    }

    /// The shortcut model learned the marker and fails outside_body: most of its predictions change
    /// once the outside of the body is blanked. Its clean twin, the same architecture and recipe on
    /// the unmarked slices, learned the task and passes it.
    func testShortcutModelFailsOutsideBodyAndItsCleanTwinPasses() throws {
        _ = try Self.prepare()
        let shortcut = try checks("audit-shortcut"), clean = try checks("audit-clean")
        XCTAssertEqual(shortcut["accuracy"]?["status"] as? String, "pass", "the shortcut model learned (the marker): \(shortcut["accuracy"] ?? [:])")
        let outside = try XCTUnwrap(shortcut["outside_body"])
        XCTAssertEqual(outside["status"] as? String, "fail", "\(outside)")
        let evidence = try XCTUnwrap(outside["evidence"] as? [[String: Any]])
        let flips = try XCTUnwrap(evidence.first { $0["name"] as? String == "predictions changed, outside blanked" }?["value"] as? Double)
        XCTAssertGreaterThan(flips, 0.5, "blanking the outside (the marker) changes most predictions")
        XCTAssertTrue((outside["reason"] as? String ?? "").contains("predictions change when the outside is blanked"), "\(outside)")
        let excessShortcut = try XCTUnwrap(outside["value"] as? Double), excessClean = try XCTUnwrap(clean["outside_body"]?["value"] as? Double)
        XCTAssertLessThan(excessClean, excessShortcut, "the clean twin's maps favour the outside less")
        XCTAssertEqual(clean["accuracy"]?["status"] as? String, "pass", "the clean twin learned the task: \(clean["accuracy"] ?? [:])")
        XCTAssertEqual(clean["outside_body"]?["status"] as? String, "pass", "the clean twin does not use the outside: \(clean["outside_body"] ?? [:])")
        XCTAssertEqual(clean["outside_body"]?["modelNotLearned"] as? Bool, false)
        // Every check has the fields audit.json promises, and per-class results for the three classes.
        for (id, c) in shortcut {
            for field in ["id", "status", "value", "ci", "threshold", "reason"] { XCTAssertNotNil(c[field], "\(id) has no \(field)") }
            XCTAssertEqual((c["perClass"] as? [Any])?.count, 3, id)
        }
        XCTAssertEqual(Set(shortcut.keys), ["accuracy", "outside_body", "randomization", "random_logit", "localization", "faithfulness", "stability"])
        // The model and the data are named by content.
        let doc = try document("audit-shortcut")
        XCTAssertEqual(((doc["model"] as? [String: Any])?["digest"] as? String)?.count, 64)
        XCTAssertEqual(((doc["data"] as? [String: Any])?["digest"] as? String)?.count, 64)
        XCTAssertTrue((try String(contentsOfFile: Self.root + "/audit-shortcut/audit.md", encoding: .utf8)).contains("| outside_body | FAIL |"))
    }

    func testRandomWeightsFailAccuracyAndEveryOtherCheckSaysSo() throws {
        let runs = try Self.prepare()
        let random = try checks("audit-random")
        XCTAssertEqual(random["accuracy"]?["status"] as? String, "fail")
        for (id, c) in random where id != "accuracy" {
            XCTAssertEqual(c["modelNotLearned"] as? Bool, true, id)
            XCTAssertTrue((c["reason"] as? String ?? "").hasPrefix("describes a model that has not learned"), "\(id): \(c["reason"] ?? "")")
        }
        XCTAssertEqual(runs.random.status, 4, "--fail-on fail with a failed check exits 4")
        XCTAssertTrue(try String(contentsOfFile: Self.root + "/audit-random/report.html", encoding: .utf8).contains("has not learned"))
    }

    func testFailOnSetsTheExitStatusAndRerunsReuseRows() throws {
        let runs = try Self.prepare()
        for (name, r) in [("audit-shortcut", runs.shortcut), ("audit-clean", runs.clean), ("audit-random", runs.random)] {
            let anyFail = try checks(name).values.contains { $0["status"] as? String == "fail" }
            XCTAssertEqual(r.status, anyFail ? 4 : 0, "\(name): \(r.stderr)")
        }
        // Without --fail-on the same audit exits 0, and reuses every row it computed before.
        let again = try CLI.run(["audit", "--model", "resnet50", "--data", Self.root + "/data/manifest_clean.csv", "--out", Self.root + "/audit-random",
                                 "--image-size", "\(Self.size)", "--split", "test", "--threads", "2"] + Self.randomLimit)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stderr.contains("rows reused, 0 units to compute"), again.stderr)
        let warn = try CLI.run(["audit", "--model", "resnet50", "--data", Self.root + "/data/manifest_clean.csv", "--out", Self.root + "/audit-random",
                                "--image-size", "\(Self.size)", "--split", "test", "--threads", "2", "--fail-on", "warn"] + Self.randomLimit)
        XCTAssertEqual(warn.status, 4, "a failed check is worse than warn")
    }

    /// Every figure of report.html, as headless Chromium draws it, has ink; the verdict rows are coloured.
    func testReportRendersInChromiumWithEveryFigure() throws {
        _ = try Self.prepare()
        // Browser.screenshot fails with the install hint when chromium is missing: this test does not skip.
        let html = try String(contentsOfFile: Self.root + "/audit-shortcut/report.html", encoding: .utf8)
        XCTAssertFalse(html.contains("src=\"http"), "self-contained: no external requests")
        let dir = NSTemporaryDirectory() + "audit-shot-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Browser.screenshot(html: html, png: dir + "/report.png", width: 1200)
        let page = try PNG.read(path: dir + "/report.png").rgb()
        XCTAssertGreaterThan(page.height, 1500, "the whole report, not one screen")
        // The failed outside_body row's red and the passed accuracy row's green, as table rows.
        func pixels(_ rgb: [UInt8]) -> Int {
            let b = page.bytes8()
            return stride(from: 0, to: b.count - 2, by: 3).filter { i in (0..<3).allSatisfy { abs(Int(b[i + $0]) - Int(rgb[$0])) <= 3 } }.count
        }
        XCTAssertGreaterThan(pixels([0xf9, 0xd3, 0xcf]), 5000, "no failed row coloured")
        XCTAssertGreaterThan(pixels([0xd9, 0xf2, 0xe1]), 5000, "no passed row coloured")
        let imgs = html.components(separatedBy: "<img").dropFirst().compactMap { $0.components(separatedBy: ">").first.map { "<img" + $0 + ">" } }
        XCTAssertEqual(imgs.count, 5, "chance, faith, cascade, per-class and gallery figures")
        for name in ["chance", "faith", "cascade", "per-class", "gallery"] { XCTAssertTrue(html.contains("id=\"figure-\(name)\""), name) }
        for (k, img) in imgs.enumerated() {
            let png = dir + "/fig\(k).png"
            try Browser.screenshot(html: "<html><body style=\"margin:0;background:#fff\">\(img.replacingOccurrences(of: "<img", with: "<img style=\"width:900px\""))</body></html>",
                                   png: png, width: 900, height: 700)
            let shot = try PNG.read(path: png).grey()
            var dark = 0
            for i in 0..<shot.pixelCount where shot.sample(i) < 200 { dark += 1 }
            XCTAssertGreaterThan(Double(dark) / Double(shot.pixelCount), 0.005, "figure \(k) renders blank in Chromium")
        }
    }
}
