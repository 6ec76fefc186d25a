import XCTest
import Foundation
import Evaluation
@testable import Sweep

final class SummaryTests: TemporaryFolderTestCase {

    func row(_ img: String, _ model: String, _ metric: String, _ v: Double?, reason: String = "", params: String = "tau=0.5") -> ResultRow {
        ResultRow(key: ResultKey(image: img, model: model, weights: "w", method: "gradcam", metric: metric, params: params), value: v, reason: reason,
                  id: "\(img)|\(model)|\(metric)|\(params)")
    }

    func testSummaryWriters() throws {
        var rows: [ResultRow] = []
        // model A: 1, 2, 3, 4 (+ one undefined); model B = A + 1 on the same images.
        for (i, v) in [1.0, 2, 3, 4].enumerated() {
            for (model, dv) in [("A", 0.0), ("B", 1.0)] { rows.append(row("img\(i)", model, "locacc", v + dv)) }
        }
        rows.append(row("img9", "A", "locacc", nil, reason: "constant map"))
        let groups = Summary.groups(rows)
        XCTAssertEqual(groups.count, 2)
        XCTAssertEqual(groups[0].model, "A"); XCTAssertEqual(groups[0].n, 4); XCTAssertEqual(groups[0].undefined, 1)
        XCTAssertEqual(groups[0].undefinedReasons, ["constant map": 1])
        XCTAssertEqual(groups[0].mean, 2.5); XCTAssertEqual(groups[0].median, 2.5)
        XCTAssertTrue(groups[0].ciLow! >= 1 && groups[0].ciHigh! <= 4 && groups[0].ciLow! < groups[0].ciHigh!)
        let cmp = Summary.comparisons(rows, factor: .model)
        XCTAssertEqual(cmp.count, 1)
        // Four differences of −1 (all ties): scipy 'auto' uses the exact sign-flip distribution
        // for n ≤ 13: W⁺ = 0 has probability 1/16 → p = 2/16.
        XCTAssertEqual(cmp[0].n, 4); XCTAssertEqual(cmp[0].meanDifference, -1)
        XCTAssertEqual(cmp[0].pValue!, 0.125, accuracy: 1e-12); XCTAssertEqual(cmp[0].pHolm!, 0.125, accuracy: 1e-12)
        try Summary.write(rows: rows, directory: dir, incomplete: ["gone.png": "image file not found"])
        let json = try JSONSerialization.jsonObject(with: FileManager.default.contents(atPath: dir + "/summary.json")!) as! [String: Any]
        XCTAssertEqual((json["groups"] as! [Any]).count, 2)
        XCTAssertEqual(json["incomplete"] as? [String: String], ["gone.png": "image file not found"])
        let md = String(decoding: FileManager.default.contents(atPath: dir + "/summary.md")!, as: UTF8.self)
        XCTAssertTrue(md.contains("| A | gradcam | locacc | tau=0.5 | 4 | 1 | 2.5000 | 2.5000 |"), md)
        XCTAssertTrue(md.contains("Incomplete run") && md.contains("`gone.png`: image file not found"), md)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".tmp-") }
        XCTAssertEqual(leftovers, [])
        // The brief table for a terminal names each group once, with its mean.
        let brief = Summary.brief(Summary.document(rows))
        XCTAssertTrue(brief.contains("locacc") && brief.contains("2.5000"), brief)
    }

    /// Summaries read rows in any order and give the same numbers: a merged sharded run equals a
    /// single-process one.
    func testSummaryDoesNotDependOnRowOrder() throws {
        var rows: [ResultRow] = []
        for i in 0..<30 {
            for model in ["A", "B"] { rows.append(row("img\(i)", model, "deletion", Double((i * 37 + model.count * 11) % 17) / 17, params: "steps=5")) }
        }
        var shuffled = rows
        var g = SystemRandomNumberGenerator()
        shuffled.shuffle(using: &g)
        shuffled.reverse()
        XCTAssertEqual(try Summary.json(Summary.document(rows)), try Summary.json(Summary.document(shuffled)))
    }

    /// Truth rows are facts, not metrics: left out of the groups, read for classification.json.
    func testClassificationFromTruthAndPredictedRows() throws {
        var rows: [ResultRow] = []
        let truth = [0, 1, 1, 2], predicted = [0, 1, 2, 2]
        for i in 0..<4 {
            rows.append(ResultRow(key: ResultKey(image: "i\(i)", model: "-", weights: "-", method: "-", metric: FactMetric.truth,
                                                 params: "class=\(["benign", "malignant", "normal"][truth[i]])"), value: Double(truth[i]), id: "t\(i)"))
            rows.append(ResultRow(key: ResultKey(image: "i\(i)", model: "resnet50", weights: "w", method: "-", metric: FactMetric.predicted),
                                  value: Double(predicted[i]), id: "p\(i)"))
        }
        XCTAssertFalse(Summary.groups(rows).contains { $0.metric == FactMetric.truth })
        let obj = try JSONSerialization.jsonObject(with: try Summary.classificationJSON(rows, incomplete: [:])) as! [String: Any]
        let m = (obj["models"] as! [[String: Any]])[0]
        XCTAssertEqual(m["accuracy"] as? Double, 0.75)
        XCTAssertEqual(m["classes"] as? [String], ["benign", "malignant", "normal"])
        XCTAssertEqual(m["confusion"] as? [[Int]], [[1, 0, 0], [0, 1, 1], [0, 0, 1]])
    }
}
