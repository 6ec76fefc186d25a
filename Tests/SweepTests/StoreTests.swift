import XCTest
import Foundation
import Evaluation
@testable import Sweep

final class StoreTests: TemporaryFolderTestCase {

    func allRows() -> [ResultRow] {
        var rows: [ResultRow] = []
        for img in ["a.png", "b, \"odd\".png", "c.png"] {
            for model in ["resnet50", "vit_b_16"] {
                for metric in ["locacc", "deletion_auc"] {
                    let undefined = img == "c.png" && metric == "locacc"
                    let v: Double? = undefined ? nil : Double(img.count + model.count) / Double(metric.count) + 0.1
                    rows.append(ResultRow(key: ResultKey(image: img, model: model, weights: "seed42.safetensors", method: "gradcam",
                                                         metric: metric, params: metric == "locacc" ? "tau=0.5" : "steps=50;baseline=zero"),
                                          value: v, reason: undefined ? "empty mask" : "", id: ContentDigest.hex("\(img)|\(model)|\(metric)")))
                }
            }
        }
        return rows
    }

    func testResumeAfterTornWriteEqualsUninterruptedRun() throws {
        let rows = allRows()
        let full = dir + "/full", cut = dir + "/cut"
        do { let s = try Store(directory: full); try s.append(contentsOf: rows) }
        // Interrupted run: 5 rows, then the 6th row torn mid-line.
        do { let s = try Store(directory: cut); try s.append(contentsOf: Array(rows[0..<6])) }
        let cutFile = cut + "/results.csv"
        var bytes = [UInt8](FileManager.default.contents(atPath: cutFile)!)
        bytes.removeLast(9)
        XCTAssertTrue(FileManager.default.createFile(atPath: cutFile, contents: Data(bytes)))
        // Resume: the torn line is dropped, finished rows are known and skipped.
        let s = try Store(directory: cut)
        XCTAssertGreaterThan(s.repairedBytes, 0)
        XCTAssertEqual(s.rows, Array(rows[0..<5]))
        var computed = 0
        for r in rows where !s.contains(r.id) { try s.append(r); computed += 1 }
        XCTAssertEqual(computed, rows.count - 5)
        XCTAssertFalse(try s.append(rows[0]))
        s.close()
        XCTAssertEqual(FileManager.default.contents(atPath: cutFile), FileManager.default.contents(atPath: full + "/results.csv"))
        // Reading back round-trips every field, including quotes, commas, undefined values and reasons.
        XCTAssertEqual(try Store.read(path: full + "/results.csv"), rows)
        let text = String(decoding: FileManager.default.contents(atPath: full + "/results.csv")!, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix("image,model,weights,method,metric,params,value,reason,key\n"))
        XCTAssertTrue(text.contains("\"b, \"\"odd\"\".png\""))
        XCTAssertTrue(text.contains(",,empty mask,"))
    }

    func testBadFilesAndFields() throws {
        let other = dir + "/other"
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.createFile(atPath: other + "/results.csv", contents: Data("a,b\n1,2\n".utf8)))
        XCTAssertThrowsError(try Store(directory: other)) { XCTAssertTrue("\($0)".contains("not a camaudit results file")) }
        // A file from before content keys cannot be reused: refused with what to do.
        XCTAssertTrue(FileManager.default.createFile(atPath: other + "/results.csv",
                                                    contents: Data("image,model,weights,method,metric,params,value\na,m,w,g,k,,1\n".utf8)))
        XCTAssertThrowsError(try Store(directory: other)) { XCTAssertTrue("\($0)".contains("older camaudit"), "\($0)") }
        // A torn row in the middle (two writers at once) is named, not silently dropped.
        XCTAssertTrue(FileManager.default.createFile(atPath: other + "/results.csv",
                                                    contents: Data((Store.header.joined(separator: ",") + "\na,m,w\na,m,w,g,k,,1,,id\n").utf8)))
        XCTAssertThrowsError(try Store(directory: other)) { XCTAssertTrue("\($0)".contains("line 2 has 3 fields"), "\($0)") }
        let s = try Store(directory: dir + "/ok")
        XCTAssertThrowsError(try s.append(ResultRow(key: ResultKey(image: "x\ny", model: "m", weights: "w", method: "g", metric: "k"), value: 1, id: "1")))
    }

    /// Two writers on one folder: the second is refused with the holder named; after the first
    /// closes, the second opens and sees every row.
    func testSecondWriterIsRefusedAndNamesTheHolder() throws {
        let rows = allRows()
        let first = try Store(directory: dir, command: "camaudit evaluate --out first")
        try first.append(contentsOf: Array(rows[0..<4]))
        XCTAssertThrowsError(try Store(directory: dir)) { error in
            guard case SweepError.locked = error else { return XCTFail("expected locked, got \(error)") }
            let text = "\(error)"
            XCTAssertTrue(text.contains("pid \(getpid())"), text)
            XCTAssertTrue(text.contains("camaudit evaluate --out first"), text)
        }
        try first.append(contentsOf: Array(rows[4...]))
        first.close()
        let second = try Store(directory: dir)
        XCTAssertEqual(second.rows, rows)
    }

    /// A waiting writer blocks until the holder is done, then appends: nothing lost, no torn line.
    func testWaitingWriterLosesNothing() throws {
        let rows = allRows()
        let (a, b) = (Array(rows[0..<6]), Array(rows[6...]))
        let first = try Store(directory: dir)
        let opened = expectation(description: "second writer done")
        let path = dir
        let box = UnsafeSendable(first)
        DispatchQueue.global().async {
            do {
                let second = try Store(directory: path, wait: true)
                try second.append(contentsOf: b)
                second.close()
            } catch { XCTFail("\(error)") }
            opened.fulfill()
        }
        Thread.sleep(forTimeInterval: 0.3)
        try box.value.append(contentsOf: a)
        box.value.close()
        wait(for: [opened], timeout: 30)
        let all = try Store.read(path: dir + "/results.csv")
        XCTAssertEqual(Set(all.map(\.id)), Set(rows.map(\.id)))
        XCTAssertEqual(all.count, rows.count)
    }

    /// New inputs behind an old name: the newer row supersedes the older in the view, in memory
    /// and when read back; the stale content key no longer counts as done.
    func testNewerContentSupersedesTheOlderRow() throws {
        let key = ResultKey(image: "a.png", model: "resnet50", weights: "w.safetensors", method: "gradcam", metric: "locacc", params: "tau=0.5")
        let s = try Store(directory: dir)
        try s.append(ResultRow(key: key, value: 0.25, id: "old"))
        try s.append(ResultRow(key: key, value: 0.75, id: "new"))
        XCTAssertEqual(s.rows.map(\.value), [0.75])
        XCTAssertFalse(s.contains("old")); XCTAssertTrue(s.contains("new"))
        // Back to the old inputs: computed again, and current again.
        XCTAssertTrue(try s.append(ResultRow(key: key, value: 0.25, id: "old")))
        s.close()
        XCTAssertEqual(try Store.read(path: dir + "/results.csv").map(\.value), [0.25])
    }
}

/// Hands a non-Sendable reference to another thread in a test that orders the accesses itself.
struct UnsafeSendable<T>: @unchecked Sendable { let value: T; init(_ v: T) { value = v } }

extension Store {
    func append(contentsOf rows: [ResultRow]) throws { for r in rows { try append(r) } }
}
