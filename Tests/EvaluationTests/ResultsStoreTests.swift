import XCTest
import TensorCore
import TestSupport
@testable import Evaluation

final class ResultsStoreTests: XCTestCase {
    var dir = ""
    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "/camaudit-results-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func allRows() -> [ResultRow] {
        var rows: [ResultRow] = []
        for img in ["a.png", "b, \"odd\".png", "c.png"] {
            for model in ["resnet50", "vit_b_16"] {
                for metric in ["locacc", "deletion_auc"] {
                    let v: Double? = (img == "c.png" && metric == "locacc") ? nil : Double(img.count + model.count) / Double(metric.count) + 0.1
                    rows.append(ResultRow(key: ResultKey(image: img, model: model, weights: "seed42.safetensors", method: "gradcam",
                                                         metric: metric, params: metric == "locacc" ? "tau=0.5" : "steps=50;baseline=zero"), value: v))
                }
            }
        }
        return rows
    }

    func testResumeAfterTornWriteEqualsUninterruptedRun() throws {
        let rows = allRows()
        let full = dir + "/full.csv", cut = dir + "/cut.csv"
        do { let s = try ResultsStore(path: full); try s.append(contentsOf: rows) }
        // Interrupted run: 5 rows, then the 6th row torn mid-line.
        do { let s = try ResultsStore(path: cut); try s.append(contentsOf: Array(rows[0..<6])) }
        var bytes = [UInt8](FileManager.default.contents(atPath: cut)!)
        bytes.removeLast(9)
        XCTAssertTrue(FileManager.default.createFile(atPath: cut, contents: Data(bytes)))
        // Resume: the torn line is dropped, finished rows are known and skipped.
        let s = try ResultsStore(path: cut)
        XCTAssertGreaterThan(s.repairedBytes, 0)
        XCTAssertEqual(s.rows, Array(rows[0..<5]))
        var computed = 0
        for r in rows where !s.contains(r.key) { try s.append(r); computed += 1 }
        XCTAssertEqual(computed, rows.count - 5)
        XCTAssertFalse(try s.append(rows[0]))
        XCTAssertEqual(FileManager.default.contents(atPath: cut), FileManager.default.contents(atPath: full))
        // Reading back round-trips every field, including quotes, commas and undefined values.
        XCTAssertEqual(try ResultsStore(path: full).rows, rows)
        let text = String(decoding: FileManager.default.contents(atPath: full)!, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix("image,model,weights,method,metric,params,value\n"))
        XCTAssertTrue(text.contains("\"b, \"\"odd\"\".png\""))
    }

    func testBadFilesAndFields() throws {
        let p = dir + "/other.csv"
        XCTAssertTrue(FileManager.default.createFile(atPath: p, contents: Data("a,b\n1,2\n".utf8)))
        XCTAssertThrowsError(try ResultsStore(path: p))
        let s = try ResultsStore(path: dir + "/ok.csv")
        XCTAssertThrowsError(try s.append(ResultRow(key: ResultKey(image: "x\ny", model: "m", weights: "w", method: "g", metric: "k"), value: 1)))
    }

    func testSummaryWriters() throws {
        var rows: [ResultRow] = []
        // model A: 1, 2, 3, 4 (+ one undefined); model B = A + 1 on the same images.
        for (i, v) in [1.0, 2, 3, 4].enumerated() {
            for (model, dv) in [("A", 0.0), ("B", 1.0)] {
                rows.append(ResultRow(key: ResultKey(image: "img\(i)", model: model, weights: "w", method: "gradcam", metric: "locacc", params: "tau=0.5"), value: v + dv))
            }
        }
        rows.append(ResultRow(key: ResultKey(image: "img9", model: "A", weights: "w", method: "gradcam", metric: "locacc", params: "tau=0.5"), value: nil))
        let groups = Summary.groups(rows)
        XCTAssertEqual(groups.count, 2)
        XCTAssertEqual(groups[0].model, "A"); XCTAssertEqual(groups[0].n, 4); XCTAssertEqual(groups[0].undefined, 1)
        XCTAssertEqual(groups[0].mean, 2.5); XCTAssertEqual(groups[0].median, 2.5)
        XCTAssertTrue(groups[0].ciLow! >= 1 && groups[0].ciHigh! <= 4 && groups[0].ciLow! < groups[0].ciHigh!)
        let cmp = Summary.comparisons(rows, factor: .model)
        XCTAssertEqual(cmp.count, 1)
        // Four differences of −1 (all ties): scipy 'auto' uses the exact sign-flip distribution
        // for n ≤ 13: W⁺ = 0 has probability 1/16 → p = 2/16.
        XCTAssertEqual(cmp[0].n, 4); XCTAssertEqual(cmp[0].meanDifference, -1)
        XCTAssertEqual(cmp[0].pValue!, 0.125, accuracy: 1e-12); XCTAssertEqual(cmp[0].pHolm!, 0.125, accuracy: 1e-12)
        try Summary.write(rows: rows, directory: dir)
        let json = try JSONSerialization.jsonObject(with: FileManager.default.contents(atPath: dir + "/summary.json")!) as! [String: Any]
        XCTAssertEqual((json["groups"] as! [Any]).count, 2)
        let md = String(decoding: FileManager.default.contents(atPath: dir + "/summary.md")!, as: UTF8.self)
        XCTAssertTrue(md.contains("| A | gradcam | locacc | tau=0.5 | 4 | 1 | 2.5000 | 2.5000 |"))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".tmp-") }
        XCTAssertEqual(leftovers, [])
    }
}
