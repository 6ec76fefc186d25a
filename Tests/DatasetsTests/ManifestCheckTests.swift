import Foundation
import XCTest
import Imaging
@testable import Datasets

/// The CSV cell convention (OWASP formula guard, round trip) and the manifest checks every command
/// runs before it trains or evaluates.
final class ManifestCheckTests: XCTestCase {
    var tmp = ""
    override func setUpWithError() throws {
        tmp = NSTemporaryDirectory() + "lint-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: tmp) }

    func testFormulaCellsAreGuardedAndRoundTrip() throws {
        let values = ["=1+2.png", "+cmd", "-x.png", "@SUM(A1)", "\tx", "\rx", "'=already", "''+two", "'plain", "-0.5", "+1e3", "-inf",
                      "nan", "0.25", "normal/x.png", "a,b", "", "=HYPERLINK(\"http://x\")", "-", "'-5"]
        let text = CSV.line(values)
        let fields = try CSV.parse(text)
        XCTAssertEqual(fields, [values], text)
        // What a spreadsheet sees: no unquoted cell starts a formula; guarded ones start with '.
        XCTAssertTrue(text.hasPrefix("\"'=1+2.png\",\"'+cmd\",\"'-x.png\",\"'@SUM(A1)\",\"'\tx\",\"'\rx\",\"''=already\",\"'''+two\",\"'plain\","), text)
        // Numbers stay numbers.
        XCTAssertTrue(text.contains(",-0.5,+1e3,-inf,nan,0.25,"), text)
        XCTAssertTrue(text.contains(",\"'-\","), text)
        // Nothing a reader splits on commas sees starts a formula outside quotes.
        for cell in text.dropLast().split(separator: ",") where !cell.hasPrefix("\"") && Double(cell) == nil {
            XCTAssertFalse(["=", "+", "@"].contains(cell.first.map(String.init) ?? ""), "\(cell)")
        }
        XCTAssertEqual(CSV.record(["=x", "1"]), "\"'=x\",1\r\n")
    }

    func testUnstorableNamesAreNamed() {
        XCTAssertTrue(CSV.isStorable("Bengin cases/Bengin case (12).jpg"))
        XCTAssertTrue(CSV.isStorable("tab\there.png"))
        XCTAssertFalse(CSV.isStorable("a\nb.png"))
        XCTAssertFalse(CSV.isStorable("a\rb.png"))
        XCTAssertFalse(CSV.isStorable("bad\u{FFFD}.png"))
    }

    func item(_ file: String, _ cls: String, _ ci: Int, _ split: Split, hash: String = "") -> ManifestItem {
        ManifestItem(file: file, className: cls, classIndex: ci, split: split, width: 8, height: 8, hash: hash)
    }

    func testMisleadingManifestsAreRefusedOrWarnedWithTheirRows() throws {
        func lint(_ items: [ManifestItem], _ use: ManifestUse) -> [ManifestIssue] { Manifest(items: items, directory: tmp).lint(for: use) }
        let good = [item("a.png", "benign", 0, .train), item("b.png", "normal", 1, .train), item("c.png", "benign", 0, .test), item("d.png", "normal", 1, .val)]
        XCTAssertEqual(lint(good, .training), [])

        // One file under two labels: refused everywhere, both rows named.
        let twoLabels = lint(good + [item("a.png", "normal", 1, .train)], .evaluation)
        XCTAssertEqual(twoLabels.filter(\.isError).count, 1, "\(twoLabels)")
        XCTAssertTrue(twoLabels[0].message.contains("row 2") && twoLabels[0].message.contains("row 6"), twoLabels[0].message)

        // One file in train and test: refused for training, a warning for evaluation.
        let leak = good + [item("a.png", "benign", 0, .test)]
        XCTAssertEqual(lint(leak, .training).filter(\.isError).count, 1)
        let warned = lint(leak, .evaluation)
        XCTAssertEqual(warned.count, 1)
        XCTAssertFalse(warned[0].isError)
        XCTAssertTrue(warned[0].message.contains("a.png") && warned[0].message.contains("row 6") && warned[0].message.contains("two splits"), warned[0].message)

        // A class only in test: refused for training, named with its rows.
        let testOnly = good + [item("e.png", "malignant", 2, .test)]
        let refused = lint(testOnly, .training)
        XCTAssertEqual(refused.count, 1, "\(refused)")
        XCTAssertTrue(refused[0].isError)
        XCTAssertTrue(refused[0].message.contains("'malignant'") && refused[0].message.contains("only test") && refused[0].message.contains("row 6"), refused[0].message)
        XCTAssertFalse(lint(testOnly, .evaluation)[0].isError)

        // A class with val images only (no training images).
        let valOnly = lint(good + [item("e.png", "malignant", 2, .val)], .training)
        XCTAssertTrue(valOnly[0].message.contains("no training images") && !valOnly[0].message.contains("only test"), valOnly[0].message)

        // A gap in the class indices (an empty class folder).
        let gap = lint([item("a.png", "a", 0, .train), item("c.png", "c", 2, .train)], .evaluation)
        XCTAssertTrue(gap.contains { $0.isError && $0.message.contains("class index 1") }, "\(gap)")

        // Identical bytes across splits under two names: a warning naming both.
        let same = lint(good + [item("copy-of-a.png", "benign", 0, .test, hash: "h1"), item("a2.png", "benign", 0, .train, hash: "h1")], .training)
        XCTAssertTrue(same.contains { !$0.isError && $0.message.contains("copy-of-a.png") && $0.message.contains("a2.png") }, "\(same)")

        // A row listed twice: a warning.
        XCTAssertEqual(lint(good + [item("a.png", "benign", 0, .train)], .training).map(\.isError), [false])

        // `check` throws the errors as one message naming the source and prints the warnings.
        var warnings: [String] = []
        XCTAssertThrowsError(try Manifest(items: testOnly, directory: tmp).check(for: .training, source: "m.csv", warn: { warnings.append($0) })) {
            XCTAssertTrue("\($0)".hasPrefix("m.csv: class 'malignant'"), "\($0)")
        }
        try Manifest(items: leak, directory: tmp).check(for: .evaluation, source: "m.csv", warn: { warnings.append($0) })
        XCTAssertEqual(warnings.count, 1)
        XCTAssertTrue(warnings[0].hasPrefix("warning: m.csv: a.png"), warnings[0])
    }

    func testScanSkipsAndListsNamesACellCannotHold() throws {
        let png = try PNG.encode8([UInt8](repeating: 90, count: 64), width: 8, height: 8, channels: 1)
        for rel in ["a/ok.png", "a/line\nbreak.png", "b/ok.png", "b/=1+2.png"] {
            let p = tmp + "/" + rel
            try FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data(png).write(to: URL(fileURLWithPath: p))
        }
        let scan = try DatasetScanner.scan(root: tmp)
        XCTAssertEqual(scan.items.map(\.file).sorted(), ["a/ok.png", "b/=1+2.png", "b/ok.png"])
        XCTAssertEqual(scan.badFiles.count, 1)
        XCTAssertTrue(scan.badFiles[0].path.hasSuffix("a/line\\nbreak.png"), scan.badFiles[0].path)
        XCTAssertTrue(scan.summary.contains("line\\nbreak.png"), scan.summary)
        XCTAssertThrowsError(try DatasetScanner.scan(root: tmp, options: ScanOptions(strict: true)))
        // A manifest beside the images holds the bare name: guarded in the file, the same name read back.
        let path = tmp + "/b/m.csv"
        try scan.manifest(seed: 1).write(to: path)
        let written = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertTrue(written.contains("\n\"'=1+2.png\","), written)
        XCTAssertEqual(try Manifest.read(path: path).items.map(\.file).sorted(), [URL(fileURLWithPath: tmp + "/a/ok.png").standardizedFileURL.path, "=1+2.png", "ok.png"])
    }
}
