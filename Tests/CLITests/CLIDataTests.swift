import Foundation
#if canImport(Glibc)
import Glibc
#endif
import TestSupport
import XCTest
import Imaging

/// What evaluate, sweep and merge do with a user's data and folders: inputs never overwritten,
/// one overlay name per image, CSV cells a spreadsheet cannot run, misleading manifests named, and
/// every refusal one line naming the field or option.
final class CLIDataTests: CLITestCase {
    /// A small grey PNG (or JPEG) with a bright square whose place depends on `value`.
    func image(_ rel: String, value: UInt8, size: Int = 24) throws {
        var px = [UInt8](repeating: value, count: size * size)
        let o = Int(value) % 8
        for y in (4 + o)..<(12 + o) { for x in 6..<14 { px[y * size + x] = 230 } }
        let bytes = rel.hasSuffix(".jpg") ? try JPEG.encode(try Image(width: size, height: size, channels: 1, bytes: px), quality: 95)
            : try PNG.encode8(px, width: size, height: size, channels: 1)
        try put(rel, bytes)
    }

    /// A class-per-folder dataset: two classes, three images each.
    func folder(_ rel: String) throws {
        for (i, cls) in ["benign", "normal"].enumerated() {
            for k in 0..<3 { try image("\(rel)/\(cls)/\(k).png", value: UInt8(40 + 30 * i + 7 * k)) }
        }
    }

    /// The fast evaluation every test here runs.
    func evaluate(_ data: String, out: String, _ extra: [String] = [], size: Int = 32) -> [String] {
        ["evaluate", "--data", data, "--model", "efficientnet_b0", "--image-size", "\(size)", "--seeds", "0", "--methods", "gradcam",
         "--metrics", "locacc", "--out", out] + extra
    }

    /// The dataset of `folder` as a manifest beside it, every image in the test split (no scan log).
    func manifest(_ rel: String) throws -> String {
        let rows = ["benign", "normal"].flatMap { c in (0..<3).map { "\(c)/\($0).png,\(c),test\n" } }
        try put(rel + "/m.csv", Array(("file,class,split\n" + rows.joined()).utf8))
        return path(rel + "/m.csv")
    }

    func text(_ rel: String) throws -> String { try String(contentsOfFile: path(rel), encoding: .utf8) }

    // MARK: - inputs are never overwritten (defect 6)

    func testEvaluateNeverWritesOverItsInputs() throws {
        try folder("ct")
        let mine = "file,class,split\nbenign/0.png,benign,train\n"
        try put("ct/manifest.csv", Array(mine.utf8))
        // --out is the scanned folder itself, or inside it: refused, both named, the user's manifest intact.
        for out in [path("ct"), path("ct/results")] {
            let args = evaluate(path("ct"), out: out)
            assertClearError(try CLI.run(args), args, mentions: ["--out", out, "--data", path("ct")])
        }
        XCTAssertEqual(try text("ct/manifest.csv"), mine)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("ct/results")))
        let overlay = evaluate(path("ct"), out: path("o1"), ["--overlay-dir", path("ct/ov")])
        assertClearError(try CLI.run(overlay), overlay, mentions: ["--overlay-dir", "--data"])

        // An output folder no camaudit run wrote, holding a file the run would replace: refused.
        try put("notes/summary.md", Array("my notes\n".utf8))
        let args = evaluate(path("ct"), out: path("notes"))
        assertClearError(try CLI.run(args), args, mentions: [path("notes/summary.md"), "--out"])
        XCTAssertEqual(try text("notes/summary.md"), "my notes\n")

        // A folder evaluated from its own manifest keeps that manifest when a scan runs into it later.
        try folder("other")
        try put("syn/manifest.csv", Array("file,class,split\n\(path("ct/benign/0.png")),benign,test\n\(path("ct/normal/0.png")),normal,test\n".utf8))
        let first = evaluate(path("syn/manifest.csv"), out: path("syn"))
        let r1 = try CLI.run(first)
        XCTAssertEqual(r1.status, 0, r1.stderr)
        let before = try text("syn/manifest.csv")
        let scan = evaluate(path("other"), out: path("syn"))
        assertClearError(try CLI.run(scan), scan, mentions: ["--out", path("syn/manifest.csv")])
        XCTAssertEqual(try text("syn/manifest.csv"), before)

        // Rerunning into a folder a run wrote is still a resume.
        let again = try CLI.run(first)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stderr.contains("resuming:"), again.stderr)
    }

    // MARK: - one overlay name per image (defect 7)

    func testOverlaysHaveOneCollisionFreeNameRelativeToTheDataRoot() throws {
        try folder("ct")
        try image("ct/normal/x.png", value: 90)
        try image("ct/normal/x.jpg", value: 150)
        let args = evaluate(path("ct"), out: path("out"), ["--overlay-dir", path("OV"), "--overlays", "20"])
        let r = try CLI.run(args)
        XCTAssertEqual(r.status, 0, r.stderr)
        let base = path("OV/efficientnet_b0/random-seed0/normal")
        let png = try ImageFile.read(base + "/x.png_gradcam.png"), jpg = try ImageFile.read(base + "/x.jpg_gradcam.png")
        XCTAssertNotEqual(png.samples, jpg.samples, "two images, two overlays")
        let all = (FileManager.default.enumerator(atPath: path("OV"))?.allObjects as? [String]) ?? []
        XCTAssertEqual(all.filter { $0.hasSuffix(".png") }.count, 8, "\(all)")
        XCTAssertFalse(all.contains { $0.contains(String(tmp.dropFirst())) }, "nested under the data folder's absolute path: \(all)")
        // cam names the same images by the same rule.
        let cam = ["cam", "--model", "efficientnet_b0", "--image-size", "32", "--overlay-dir", path("camov"), path("ct")]
        let c = try CLI.run(cam)
        XCTAssertEqual(c.status, 0, c.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("camov/normal/x.png_gradcam.png")))
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("camov/normal/x.jpg_gradcam.png")))
    }

    // MARK: - CSV cells (defect 9)

    func testFormulaNamesAreNeutralisedAndResume() throws {
        for (i, name) in ["=1+2.png", "@cmd.png", "-x.png", "plain.png"].enumerated() {
            try image("d/\(name)", value: UInt8(40 + 20 * i))
        }
        let manifest = "file,class,split\n=1+2.png,benign,test\n@cmd.png,normal,test\n-x.png,benign,test\nplain.png,normal,test\n"
        try put("d/manifest.csv", Array(manifest.utf8))
        let args = evaluate(path("d/manifest.csv"), out: path("out"), ["--metrics", "locacc,faith"])
        let r = try CLI.run(args)
        XCTAssertEqual(r.status, 0, r.stderr)
        let results = try text("out/results.csv")
        for line in results.split(separator: "\n") {
            for cell in line.split(separator: ",") {
                XCTAssertFalse(["=", "@", "+"].contains(String(cell.prefix(1))), "a spreadsheet would run \(cell): \(line)")
            }
        }
        XCTAssertTrue(results.contains("\n\"'=1+2.png\","), results)
        XCTAssertTrue(results.contains("\n\"'@cmd.png\","), results)
        XCTAssertTrue(results.contains("\n\"'-x.png\","), results)
        XCTAssertTrue(results.contains("\nplain.png,"), results)
        // Numbers stay numbers: every value cell is empty (undefined) or a bare number (negative
        // numbers are held by SweepTests.OutputSafetyTests).
        let values = results.split(separator: "\n").dropFirst().map { line -> Substring in
            let f = line.split(separator: ",", omittingEmptySubsequences: false)
            return f[f.count - 3]
        }
        XCTAssertTrue(values.contains { Double($0) != nil }, "\(values)")
        XCTAssertTrue(values.allSatisfy { $0.isEmpty || Double($0) != nil }, "\(values)")
        // Read back, the keys match: a rerun reuses every row.
        let again = try CLI.run(args)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stderr.contains("0 units to compute"), again.stderr)
        XCTAssertEqual(try text("out/results.csv"), results)
    }

    func testNamesACellCannotHoldAreListedBeforeAnyWork() throws {
        try folder("ct")
        try image("ct/normal/line\nbreak.png", value: 99)
        // A name whose bytes are not UTF-8 (written through open(2): a Swift String cannot spell it).
        let png = try PNG.encode8([UInt8](repeating: 80, count: 576), width: 24, height: 24, channels: 1)
        let raw = Array(path("ct/benign/bad").utf8) + [0xFF] + Array(".png".utf8) + [0]
        let fd = raw.withUnsafeBytes { open($0.baseAddress!.assumingMemoryBound(to: CChar.self), O_CREAT | O_WRONLY, 0o644) }
        XCTAssertGreaterThanOrEqual(fd, 0)
        XCTAssertEqual(png.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }, png.count)
        close(fd)
        let r = try CLI.run(evaluate(path("ct"), out: path("out")))
        XCTAssertEqual(r.status, 0, r.stderr)
        let listed = try XCTUnwrap(r.stderr.range(of: "line\\nbreak.png"), r.stderr)
        let computing = try XCTUnwrap(r.stderr.range(of: "computing"), r.stderr)
        XCTAssertLessThan(listed.lowerBound, computing.lowerBound, "listed before the work starts: \(r.stderr)")
        XCTAssertTrue(r.stderr.contains("benign/bad\\u{FFFD}.png: the name holds"), r.stderr)
        let results = try text("out/results.csv")
        XCTAssertFalse(results.contains("break.png"), results)
        XCTAssertEqual(Set(results.split(separator: "\n").dropFirst().map { $0.split(separator: ",")[0] }).count, 6, results)
    }

    // MARK: - manifests that mislead (defect 10)

    func testMisleadingManifestsAreNamed() throws {
        try folder("ct")
        let leak = "file,class,split\nbenign/0.png,benign,train\nnormal/0.png,normal,train\nbenign/0.png,benign,test\nnormal/1.png,normal,test\n"
        try put("ct/leak.csv", Array(leak.utf8))
        let r = try CLI.run(evaluate(path("ct/leak.csv"), out: path("out1")))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("warning: \(path("ct/leak.csv")): benign/0.png is in two splits") && r.stderr.contains("row 4"), r.stderr)

        let twoLabels = "file,class,split\nbenign/0.png,benign,test\nbenign/0.png,normal,test\n"
        try put("ct/labels.csv", Array(twoLabels.utf8))
        let args = evaluate(path("ct/labels.csv"), out: path("out2"))
        assertClearError(try CLI.run(args), args, mentions: ["benign/0.png", "two classes", "row 2", "row 3"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("out2")), "a run refused on its data leaves no folder")

        let testOnly = "file,class,split\nbenign/0.png,benign,train\nnormal/0.png,normal,test\n"
        try put("ct/testonly.csv", Array(testOnly.utf8))
        let t = try CLI.run(evaluate(path("ct/testonly.csv"), out: path("out3")))
        XCTAssertEqual(t.status, 0, t.stderr)
        XCTAssertTrue(t.stderr.contains("class 'normal' has no training images, only test images") && t.stderr.contains("row 3"), t.stderr)
        let train = ["train", "--data", path("ct/testonly.csv"), "--model", "resnet50", "--image-size", "32", "--epochs", "1", "--out", path("m.safetensors")]
        assertClearError(try CLI.run(train), train, mentions: ["class 'normal'", "row 3"])
    }

    // MARK: - sweep and merge messages (defect 11)

    func testMergeAndSweepSayWhatIsWrong() throws {
        try folder("ct")
        let data = try manifest("ct")
        // Three units of two images, so both shards have work.
        let shard0 = evaluate(data, out: path("sw"), ["--shard", "0/2", "--batch-size", "2"])
        XCTAssertEqual(try CLI.run(shard0).status, 0)
        // Incomplete: exit 2, the report, and no empty "Error:" line after it.
        let m = try CLI.run(["merge", path("sw")])
        XCTAssertEqual(m.status, 2, m.stderr)
        XCTAssertTrue(m.stderr.contains("incomplete:"), m.stderr)
        XCTAssertFalse(m.stderrLines.contains { $0.trimmingCharacters(in: .whitespaces) == "Error:" }, m.stderr)

        // The other shard run with another image size: the merge says the configurations differ, and how.
        let shard1 = try CLI.run(evaluate(data, out: path("sw"), ["--shard", "1/2", "--batch-size", "2"], size: 48))
        XCTAssertEqual(shard1.status, 0, shard1.stderr)
        let d = try CLI.run(["merge", path("sw")])
        XCTAssertEqual(d.status, 2, d.stderr)
        XCTAssertTrue(d.stderr.contains("the configurations differ"), d.stderr)
        XCTAssertTrue(d.stderr.contains("imageSize: 48 vs 32"), d.stderr)
        XCTAssertTrue(d.stderr.contains("with another configuration"), d.stderr)

        // A bad --shard is a bad option: 64.
        for bad in ["5/4", "x", "0/0"] {
            let args = evaluate(path("ct"), out: path("sw2"), ["--shard", bad])
            defer { XCTAssertFalse(FileManager.default.fileExists(atPath: path("sw2")), "refused before any work") }
            let r = try CLI.run(args)
            assertClearError(r, args, mentions: ["--shard", bad])
            XCTAssertEqual(r.status, 64, r.stderr)
        }

        // An --out that cannot be written: one line naming it, no raw system error.
        let one = evaluate(data, out: path("one"))
        XCTAssertEqual(try CLI.run(one).status, 0)
        try put("afile", Array("x".utf8))
        for out in [path("afile/merged"), "/proc/camaudit-merge-test"] {
            let args = ["merge", path("one"), "--out", out]
            assertClearError(try CLI.run(args), args, mentions: ["--out", out])
        }

        // SWEEP.json: the field and the value, and a typo named with the nearest known field.
        let saved = evaluate(data, out: path("never"), ["--save-config", path("SWEEP.json"), "--dry-run"])
        XCTAssertEqual(try CLI.run(saved).status, 0)
        let json = try text("SWEEP.json")
        try put("frac.json", Array(json.replacingOccurrences(of: "\"imageSize\" : 32", with: "\"imageSize\" : 64.5").utf8))
        XCTAssertNotEqual(try text("frac.json"), json)
        let frac = ["sweep", "--config", path("frac.json"), "--out", path("o")]
        assertClearError(try CLI.run(frac), frac, mentions: ["imageSize must be an integer, got 64.5"])
        try put("typo.json", Array(json.replacingOccurrences(of: "\"batchSize\"", with: "\"batchsize\"").replacingOccurrences(of: "\"splitSeed\"", with: "\"spiltSeed\"").utf8))
        let typo = ["sweep", "--config", path("typo.json"), "--out", path("o")]
        assertClearError(try CLI.run(typo), typo, mentions: ["unknown field 'batchsize'", "did you mean 'batchSize'", "unknown field 'data.spiltSeed'", "'data.splitSeed'"])
    }
}
