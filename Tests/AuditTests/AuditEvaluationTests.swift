import XCTest
import Evaluation
import Sweep
@testable import Audit

/// The verdict logic on hand-made rows: each status can be reached, an untrained model taints
/// every other check, and a check without its inputs is undefined (never passed).
final class AuditEvaluationTests: XCTestCase {
    /// Rows of `n` images of two classes: correctness, and per-map rows for gradcam and random.
    func rows(n: Int = 40, correct: (Int) -> Bool, gradcam: [String: (Int) -> Double?], random: [String: (Int) -> Double?] = [:]) -> [ResultRow] {
        var out: [ResultRow] = []
        for i in 0..<n {
            let img = "img\(i).png", cls = i % 2
            out.append(ResultRow(key: ResultKey(image: img, model: "-", weights: "-", method: "-", metric: FactMetric.truth, params: "class=c\(cls)"), value: Double(cls)))
            out.append(ResultRow(key: ResultKey(image: img, model: "resnet50", weights: "w", method: "-", metric: FactMetric.predicted), value: Double(correct(i) ? cls : 1 - cls)))
            out.append(ResultRow(key: ResultKey(image: img, model: "resnet50", weights: "w", method: "-", metric: FactMetric.correct), value: correct(i) ? 1 : 0))
            for (method, metrics) in [("gradcam", gradcam), ("random", random)] {
                for (m, f) in metrics {
                    let v = f(i)
                    out.append(ResultRow(key: ResultKey(image: img, model: "resnet50", weights: "w", method: method, metric: m, params: m == "cascade_spearman" ? "stage=3;upto=x;seed=0" : ""),
                                         value: v, reason: v == nil ? "no lesion mask" : ""))
                }
            }
        }
        return out
    }

    func check(_ checks: [AuditCheck], _ id: String) throws -> AuditCheck { try XCTUnwrap(checks.first { $0.id == id }, id) }

    func testTrainedModelOnBodyPassesAndShortcutFails() throws {
        let good = AuditEvaluation(rows: rows(correct: { $0 % 10 != 0 }, gradcam: [
            "outside_energy": { i in 0.1 + 0.001 * Double(i) }, "outside_area": { _ in 0.6 }, "outside_flip": { _ in 0 },
            "faith": { i in 2 + Double(i % 3) }, "locacc": { i in 0.7 + 0.001 * Double(i) },
        ], random: ["faith": { i in 0.1 * Double(i % 3) }, "locacc": { i in 0.2 + 0.001 * Double(i) }]), method: "gradcam", thresholds: AuditThresholds())
        let checks = good.checks()
        XCTAssertEqual(try check(checks, "accuracy").status, .pass)
        XCTAssertEqual(try check(checks, "outside_body").status, .pass)
        XCTAssertEqual(try check(checks, "faithfulness").status, .pass)
        XCTAssertEqual(try check(checks, "localization").status, .pass)
        // Judged on the excess over the outside's share of the image (a uniform map's value, 0).
        XCTAssertEqual(try check(checks, "outside_body").chance ?? -1, 0, accuracy: 1e-9)
        XCTAssertEqual(try check(checks, "outside_body").value ?? 0, (0.1 + 0.001 * 19.5) - 0.6, accuracy: 1e-9)
        XCTAssertEqual(try check(checks, "outside_body").perClass.map(\.className), ["c0", "c1"])
        // Checks without rows are undefined and say why.
        let randomization = try check(checks, "randomization")
        XCTAssertEqual(randomization.status, .undefined)
        XCTAssertFalse(randomization.reason.isEmpty)
        XCTAssertFalse(checks.contains { $0.modelNotLearned })

        // Most mass outside and predictions that flip once the outside is blanked: fail.
        let shortcut = AuditEvaluation(rows: rows(correct: { _ in true }, gradcam: [
            "outside_energy": { _ in 0.8 }, "outside_area": { _ in 0.6 }, "outside_flip": { i in i % 2 == 0 ? 1 : 0 },
        ]), method: "gradcam", thresholds: AuditThresholds())
        let o = try check(shortcut.checks(), "outside_body")
        XCTAssertEqual(o.status, .fail)
        XCTAssertTrue(o.reason.contains("outside"), o.reason)
        // A user threshold above the value lets the mass pass, but the flips still fail.
        let lenient = AuditEvaluation(rows: rows(correct: { _ in true }, gradcam: [
            "outside_energy": { _ in 0.8 }, "outside_area": { _ in 0.6 }, "outside_flip": { _ in 0 },
        ]), method: "gradcam", thresholds: try AuditThresholds(overrides: ["outside_body=0.9"]))
        XCTAssertEqual(try check(lenient.checks(), "outside_body").status, .pass)
    }

    func testModelAtChanceFailsAccuracyAndTaintsEveryOtherCheck() throws {
        let e = AuditEvaluation(rows: rows(correct: { $0 % 2 == 0 }, gradcam: ["outside_energy": { _ in 0.1 }, "outside_area": { _ in 0.6 }, "outside_flip": { _ in 0 }]),
                                method: "gradcam", thresholds: AuditThresholds())
        let checks = e.checks()
        let acc = try check(checks, "accuracy")
        XCTAssertEqual(acc.status, .fail)
        XCTAssertEqual(acc.value ?? -1, 0.5, accuracy: 1e-9)
        XCTAssertEqual(acc.chance ?? -1, 0.5, accuracy: 1e-9)
        for c in checks.dropFirst() {
            XCTAssertTrue(c.modelNotLearned, c.id)
            XCTAssertTrue(c.reason.hasPrefix("describes a model that has not learned"), "\(c.id): \(c.reason)")
        }
    }

    func testLocalizationWithoutMasksIsUndefined() throws {
        let e = AuditEvaluation(rows: rows(correct: { _ in true }, gradcam: ["locacc": { _ in nil }], random: ["locacc": { _ in nil }]),
                                method: "gradcam", thresholds: AuditThresholds())
        let loc = try check(e.checks(), "localization")
        XCTAssertEqual(loc.status, .undefined)
        XCTAssertTrue(loc.reason.contains("no lesion masks or boxes"), loc.reason)
        XCTAssertEqual(AuditStatus.undefined.severity, AuditStatus.pass.severity, "undefined never fails a pipeline, nor counts as passed in the table")
    }

    /// The faithfulness figure's numbers: Faith of the judged method beside RandomCAM's on the same
    /// images, over all images and per class, with CIs; the check's evidence carries RandomCAM's CI.
    func testFaithComparisonPairsTheMethodWithRandomCAM() throws {
        let e = AuditEvaluation(rows: rows(correct: { _ in true }, gradcam: ["faith": { i in 2 + Double(i % 3) }, "deletion": { _ in 0.2 }, "insertion": { _ in 0.7 }],
                                           random: ["faith": { i in i == 5 ? nil : 0.1 * Double(i % 3) }, "deletion": { _ in 0.4 }, "insertion": { _ in 0.5 }]),
                                method: "gradcam", thresholds: AuditThresholds())
        let c = e.faithComparison()
        XCTAssertEqual(c.faith.map(\.name), ["all images", "c0", "c1"])
        let images = (0..<40).filter { $0 != 5 }
        XCTAssertEqual(c.faith[0].mine.n, images.count, "only images both methods have")
        XCTAssertEqual(c.faith[0].mine.value ?? 0, images.map { 2 + Double($0 % 3) }.reduce(0, +) / Double(images.count), accuracy: 1e-9)
        XCTAssertEqual(c.faith[0].chance.value ?? 0, images.map { 0.1 * Double($0 % 3) }.reduce(0, +) / Double(images.count), accuracy: 1e-9)
        XCTAssertEqual(c.faith[2].mine.n, images.filter { $0 % 2 == 1 }.count)
        for v in [c.faith[0].mine, c.faith[0].chance] {
            let ci = try XCTUnwrap(v.ci)
            XCTAssertLessThanOrEqual(ci[0], v.value!); XCTAssertGreaterThanOrEqual(ci[1], v.value!)
        }
        for (v, want) in zip(c.auc.flatMap { [$0.mine.value, $0.chance.value] }, [0.2, 0.4, 0.7, 0.5]) { XCTAssertEqual(v ?? -1, want, accuracy: 1e-9) }
        let faithful = try check(e.checks(), "faithfulness")
        XCTAssertEqual(faithful.evidence.first { $0.name == "faith (RandomCAM)" }?.ci, c.faith[0].chance.ci)
    }

    func testWarnWhenTheIntervalStraddlesTheThreshold() {
        XCTAssertEqual(AuditEvaluation.atMost(0.4, [0.3, 0.6], 0.5), .warn)
        XCTAssertEqual(AuditEvaluation.atMost(0.4, [0.3, 0.45], 0.5), .pass)
        XCTAssertEqual(AuditEvaluation.atMost(0.55, [0.45, 0.6], 0.5), .fail)
        XCTAssertEqual(AuditEvaluation.atLeast(0.6, [0.45, 0.7], 0.5), .warn)
        XCTAssertEqual(AuditEvaluation.atLeast(nil, nil, 0.5), .undefined)
    }

    func testThresholdOverridesAreChecked() throws {
        XCTAssertEqual(try AuditThresholds(overrides: ["outside_body=0.3"])["outside_body"], 0.3)
        XCTAssertEqual(AuditThresholds()["outside_body"], AuditThresholds.defaults["outside_body"])
        for bad in ["outside_body", "nope=0.3", "outside_body=abc", "outside_body=2", "outside_body=nan", "=0.3"] {
            XCTAssertThrowsError(try AuditThresholds(overrides: [bad]), bad)
        }
    }
}
