import XCTest
import Foundation
import Evaluation
@testable import Sweep

/// Results cells, merged parts, SWEEP.json and output folders: what the run driver refuses or
/// warns about, each naming the field, value or file.
final class OutputSafetyTests: TemporaryFolderTestCase {
    func row(_ image: String, _ value: Double?, id: String, reason: String = "") -> ResultRow {
        ResultRow(key: ResultKey(image: image, model: "resnet50", weights: "w", method: "gradcam", metric: "faith"), value: value, reason: reason, id: id)
    }

    func testFormulaLookingNamesRoundTripThroughTheStore() throws {
        let rows = [row("=1+2.png", -0.5, id: "a"), row("@x.png", 0.25, id: "b"), row("+y.png", nil, id: "c", reason: "-no map"), row("plain.png", -1e-7, id: "d")]
        do { let s = try Store(directory: dir); for r in rows { try s.append(r) } }
        let text = try String(contentsOfFile: dir + "/results.csv", encoding: .utf8)
        XCTAssertTrue(text.contains("\n\"'=1+2.png\",resnet50,w,gradcam,faith,,-0.5,,a\n"), text)
        XCTAssertTrue(text.contains("\n\"'@x.png\","), text)
        XCTAssertTrue(text.contains(",,\"'-no map\",c\n"), text)
        XCTAssertTrue(text.contains("\nplain.png,resnet50,w,gradcam,faith,,-1e-07,,d\n"), text)
        XCTAssertEqual(try Store.read(path: dir + "/results.csv"), rows)
        let reopened = try Store(directory: dir)
        XCTAssertTrue(rows.allSatisfy { reopened.contains($0.id) })
    }

    func testRowsThatDisagreeAcrossPartsAreNamed() throws {
        let a = Parts.path(dir, shard: 0, of: 2), b = Parts.path(dir, shard: 1, of: 2)
        do { let s = try Store(directory: a); try s.append(row("x.png", 0.5, id: "k1")); try s.append(row("y.png", 0.1, id: "k2")) }
        do { let s = try Store(directory: b); try s.append(row("x.png", 0.75, id: "k1")); try s.append(row("y.png", 0.1, id: "k2")) }
        let (rows, conflicts) = try Parts.rows([dir])
        XCTAssertEqual(rows["k1"]?.value, 0.5, "the first part in order is kept")
        XCTAssertEqual(conflicts.count, 1, "\(conflicts)")
        XCTAssertTrue(conflicts[0].contains("x.png") && conflicts[0].contains("0.5 in \(a)/results.csv") && conflicts[0].contains("0.75 in \(b)/results.csv"), conflicts[0])
    }

    func testSweepConfigNamesTheFieldTheValueAndTheNearestKnownField() throws {
        let c = SweepConfig(data: .init(path: "m.csv"), models: [.init(architecture: "resnet50")])
        let json = String(decoding: try c.json(), as: UTF8.self)
        func refusal(_ text: String) -> String {
            let p = dir + "/SWEEP.json"
            try? text.write(toFile: p, atomically: true, encoding: .utf8)
            do { _ = try SweepConfig.read(path: p); return "accepted" } catch { return "\(error)" }
        }
        XCTAssertEqual(refusal(json), "accepted")
        let frac = refusal(json.replacingOccurrences(of: "\"imageSize\" : 224", with: "\"imageSize\" : 64.5"))
        XCTAssertTrue(frac.contains("imageSize must be an integer, got 64.5"), frac)
        let str = refusal(json.replacingOccurrences(of: "\"batchSize\" : 8", with: "\"batchSize\" : \"8\""))
        XCTAssertTrue(str.contains("batchSize must be an integer, got \"8\""), str)
        let typo = refusal(json.replacingOccurrences(of: "\"imageSize\"", with: "\"imagesize\"").replacingOccurrences(of: "\"architecture\" : \"resnet50\"", with: "\"architecture\" : \"resnet50\", \"stripprefix\" : null"))
        XCTAssertTrue(typo.contains("unknown field 'imagesize' (did you mean 'imageSize'?)"), typo)
        XCTAssertTrue(typo.contains("unknown field 'models[0].stripprefix' (did you mean 'models[0].stripPrefix'?)"), typo)
        let broken = refusal("{\"data\": ")
        XCTAssertTrue(broken.contains("not valid JSON"), broken)
        // What two configurations differ in.
        var d = c
        d.imageSize = 64
        d.data.split = "test"
        XCTAssertEqual(c.differences(from: d), ["data.split: (none) vs \"test\"", "imageSize: 224 vs 64"])
    }

    func testOutputFoldersNeverReplaceInputsOrFilesNoRunWrote() throws {
        let data = dir + "/data"
        try FileManager.default.createDirectory(atPath: data + "/benign", withIntermediateDirectories: true)
        XCTAssertThrowsError(try OutputFolder.prepare(data, option: "--out", inputs: [(data, "--data")])) {
            XCTAssertTrue("\($0)".contains("--out \(data) would write into --data \(data)"), "\($0)")
        }
        XCTAssertThrowsError(try OutputFolder.prepare(data + "/../data/out", option: "--out", inputs: [(data, "--data")])) {
            XCTAssertTrue("\($0)".contains("would write into --data"), "\($0)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: data + "/out"))
        // A file the run reads in place of one it writes.
        try FileManager.default.createDirectory(atPath: dir + "/o", withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/o/summary.md", contents: Data("mine".utf8)))
        XCTAssertThrowsError(try OutputFolder.prepare(dir + "/o", option: "--out", inputs: [(dir + "/o/summary.md", "--config")])) {
            XCTAssertTrue("\($0)".contains("would write over --config"), "\($0)")
        }
        XCTAssertThrowsError(try OutputFolder.prepare(dir + "/o", option: "--out", inputs: [])) {
            XCTAssertTrue("\($0)".contains("\(dir)/o/summary.md: exists, and no camaudit run wrote it"), "\($0)")
        }
        // Once a run wrote there (its lock), the folder is the run's; a new folder is fine.
        XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/o/.lock", contents: nil))
        XCTAssertNoThrow(try OutputFolder.prepare(dir + "/o", option: "--out", inputs: []))
        XCTAssertNoThrow(try OutputFolder.prepare(dir + "/new/deep", option: "--out", inputs: [(data, "--data")]))
        XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/afile", contents: Data("x".utf8)))
        XCTAssertThrowsError(try OutputFolder.prepare(dir + "/afile/x", option: "--out", inputs: [])) {
            XCTAssertTrue("\($0)".contains("--out: cannot create the folder: \((dir as NSString).standardizingPath)/afile is a file, not a folder"), "\($0)")
        }
        // The resume command reads OUT/config.json and records it again: an equal one is left alone.
        let c = SweepConfig(data: .init(path: "m.csv"), models: [.init(architecture: "resnet50")])
        try RunRecord.write(c, to: dir + "/o")
        func inode() throws -> UInt64? { try (FileManager.default.attributesOfItem(atPath: dir + "/o/config.json")[.systemFileNumber] as? NSNumber)?.uint64Value }
        let before = try inode()
        XCTAssertNotNil(before)
        try RunRecord.write(c, to: dir + "/o")
        XCTAssertEqual(try inode(), before, "not replaced")
        var d = c
        d.imageSize = 64
        try RunRecord.write(d, to: dir + "/o")
        XCTAssertEqual(RunRecord.read(directory: dir + "/o"), d)
    }
}
