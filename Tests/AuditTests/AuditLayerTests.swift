import XCTest
import Foundation
import Evaluation
import Sweep
import TestSupport

/// `audit --layer`: a bad path is refused before any work; another layer gives other rows (other
/// keys, other map values) that a rerun reuses; audit.json and the report name the layer; the
/// cascade still runs (blocks above the layer change its gradients, blocks at or below it its
/// activations); and the stability evidence lists each perturbation, small noise included.
final class AuditLayerTests: XCTestCase {
    func json(_ path: String) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: XCTUnwrap(FileManager.default.contents(atPath: path), path)) as? [String: Any])
    }

    func checks(_ out: String) throws -> [String: [String: Any]] {
        let list = try XCTUnwrap(try json(out + "/audit.json")["checks"] as? [[String: Any]])
        return Dictionary(uniqueKeysWithValues: list.map { ($0["id"] as! String, $0) })
    }

    func testLayerIsCheckedKeyedRecordedAndReused() throws {
        let dir = NSTemporaryDirectory() + "audit-layer-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let synth = try CLI.run(["synth", "--out", dir + "/data", "--count", "30", "--size", "64", "--seed", "3"])
        XCTAssertEqual(synth.status, 0, synth.stderr)
        func audit(_ out: String, _ extra: [String] = []) throws -> CLI.Result {
            try CLI.run(["audit", "--model", "resnet50", "--data", dir + "/data/manifest.csv", "--image-size", "48", "--limit", "3",
                         "--out", dir + "/" + out, "--threads", "2"] + extra)
        }

        // A path that is not a module: one line naming the option, the path and modules near it; nothing written.
        let bad = try audit("bad", ["--layer", "layer9.1"])
        XCTAssertEqual(bad.status, 64, bad.stderr)
        XCTAssertEqual(bad.signal, 0)
        XCTAssertEqual(bad.stderrLines.count, 1, bad.stderr)
        for m in ["--layer", "'layer9.1'", "resnet50", "Layers near it"] { XCTAssertTrue(bad.stderr.contains(m), "\(m): \(bad.stderr)") }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/bad"), "refused before OUT is created")

        let standard = try audit("default"), layer3 = try audit("layer3", ["--layer", "layer3"])
        XCTAssertEqual(standard.status, 0, standard.stderr)
        XCTAssertEqual(layer3.status, 0, layer3.stderr)
        // audit.json names the layer used (the default resolved to its path); audit.md and the report say it.
        let m0 = try XCTUnwrap(try json(dir + "/default/audit.json")["model"] as? [String: Any])
        let m3 = try XCTUnwrap(try json(dir + "/layer3/audit.json")["model"] as? [String: Any])
        XCTAssertEqual(m0["layer"] as? String, "layer4.2")
        XCTAssertEqual(m0["defaultLayer"] as? Bool, true)
        XCTAssertEqual(m3["layer"] as? String, "layer3")
        XCTAssertEqual(m3["defaultLayer"] as? Bool, false)
        for f in ["audit.md", "report.html"] {
            XCTAssertTrue(try String(contentsOfFile: dir + "/layer3/" + f, encoding: .utf8).contains("layer3"), f)
            XCTAssertTrue(try String(contentsOfFile: dir + "/default/" + f, encoding: .utf8).contains("layer4.2"), f)
        }

        // Other keys, and other map-derived values: layer3's 3×3 maps at 48 px are not layer4's 2×2.
        let r0 = try Store.read(path: dir + "/default/results.csv"), r3 = try Store.read(path: dir + "/layer3/results.csv")
        XCTAssertEqual(r0.count, r3.count)
        XCTAssertTrue(Set(r0.map(\.id)).isDisjoint(with: r3.map(\.id)), "rows of another layer are never reused")
        func mass(_ rows: [ResultRow]) -> [String: Double] {
            var out: [String: Double] = [:]
            for r in rows where r.key.metric == "outside_energy" && r.key.method == "gradcam" { out[r.key.image] = r.value ?? -1 }
            return out
        }
        let e0 = mass(r0), e3 = mass(r3)
        XCTAssertEqual(Set(e0.keys), Set(e3.keys))
        XCTAssertEqual(e0.count, 3)
        XCTAssertTrue(e0.contains { $0.value != e3[$0.key] }, "layer3's maps are other maps: \(e0) vs \(e3)")

        // The cascade at layer3: every stage has rows, and randomising blocks above the layer (the
        // head, layer4) moves the map through its gradients.
        let cascade = r3.filter { $0.key.metric == "cascade_spearman" && $0.key.method == "gradcam" }
        let stages = Set(cascade.compactMap { MetricParameter.stage.value(in: $0.key.params) })
        XCTAssertEqual(stages.count, 6, "every cascade stage of resnet50: \(stages.sorted())")
        let c3 = try checks(dir + "/layer3")
        let evidence = try XCTUnwrap(c3["randomization"]?["evidence"] as? [[String: Any]])
        XCTAssertTrue(evidence.contains { ($0["name"] as? String) == "stage 0 Spearman ρ" && $0["value"] is Double }, "\(evidence)")
        XCTAssertTrue(try String(contentsOfFile: dir + "/layer3/report.html", encoding: .utf8).contains("change the map only through its gradients"),
                      "the cascade figure says what its stages do at a non-default layer")

        // Stability lists each perturbation, small noise included.
        let stability = try XCTUnwrap(c3["stability"]?["evidence"] as? [[String: Any]]).compactMap { $0["name"] as? String }
        for p in ["hflip", "shift(16,16)", "rotate(10.0)", "noise(σ=2% of range)"] {
            XCTAssertTrue(stability.contains("IoU under \(p)"), "\(p): \(stability)")
        }
        XCTAssertTrue(r3.contains { $0.key.metric == "augment_iou_noise" && $0.key.params == "noise0.02;tau=0.5" })

        // A rerun with the same layer computes nothing.
        let again = try audit("layer3", ["--layer", "layer3"])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stderr.contains("rows reused, 0 units to compute"), again.stderr)
    }
}
