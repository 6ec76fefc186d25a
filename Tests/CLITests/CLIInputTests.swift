import Foundation
import TestSupport
import XCTest
import TensorCore
import Imaging

/// What predict, cam, metrics and evaluate do with a user's own files.
final class CLIInputTests: CLITestCase {
    /// A small 8-bit grey PNG with a bright square (so maps and predictions are not constant).
    func greyPNG(_ rel: String, value: UInt8 = 60, size: Int = 24) throws {
        var px = [UInt8](repeating: value, count: size * size)
        for y in 6..<14 { for x in 8..<16 { px[y * size + x] = 220 } }
        try put(rel, try PNG.encode8(px, width: size, height: size, channels: 1))
    }

    func testUnwritableOutputsAreRefusedBeforeAnyCompute() throws {
        try greyPNG("in/a.png")
        try put("afile", Array("x".utf8))
        let runs: [[String]] = [
            ["predict", "--model", "resnet50", "--image-size", "32", "--output", path("afile/logits.npy"), path("in")],
            ["cam", "--model", "resnet50", "--image-size", "32", "--output", path("nodir/maps.npy"), path("in")],
            ["cam", "--model", "resnet50", "--image-size", "32", "--overlay-dir", path("afile"), path("in")],
            ["cam", "--model", "resnet50", "--image-size", "32", "--overlay-dir", path("afile/sub"), path("in")],
            ["cam", "--model", "resnet50", "--image-size", "32", "--output", path("in"), path("in")],
        ]
        for args in runs {
            let r = try CLI.run(args)
            // One line, and no "random weights" note: nothing was built.
            assertClearError(r, args, mentions: [args.contains("--output") ? "--output" : "--overlay-dir"])
        }
    }

    func testFolderSkipsNamesAndCountsUnreadableFiles() throws {
        try greyPNG("in/a.png")
        try greyPNG("in/sub/b.png", value: 90)
        try put("in/broken.png", Array("not a png".utf8))
        for cmd in ["predict", "cam"] {
            let r = try CLI.run([cmd, "--model", "resnet50", "--image-size", "32", path("in")])
            XCTAssertEqual(r.status, 0, "\(cmd): \(r.stderr)")
            let rows = r.stdout.split(separator: "\n").dropFirst()
            XCTAssertEqual(rows.count, 2, "\(cmd): \(r.stdout)")
            XCTAssertFalse(rows.contains { $0.contains("broken") })
            XCTAssertTrue(r.stderr.contains("skipped 1 of 3"), r.stderr)
            XCTAssertTrue(r.stderr.contains(path("in/broken.png")), r.stderr)
            let strict = try CLI.run([cmd, "--model", "resnet50", "--image-size", "32", "--strict", path("in")])
            XCTAssertEqual(strict.status, 1, strict.stderr)
            XCTAssertTrue(strict.stderrLines.last?.hasPrefix("Error: \(path("in/broken.png"))") ?? false, strict.stderr)
        }
    }

    func testOverlaysAreNamedByRelativePath() throws {
        try greyPNG("in/a/001.png", value: 40)
        try greyPNG("in/b/001.png", value: 120)
        try greyPNG("other/001.png", value: 200)
        let args = ["cam", "--model", "resnet50", "--image-size", "32", "--overlay-dir", path("ov"), "--output", path("maps.npy"), path("in"), path("other/001.png")]
        let r = try CLI.run(args)
        XCTAssertEqual(r.status, 0, r.stderr)
        let a = try ImageFile.read(path("ov/a/001.png_gradcam.png")), b = try ImageFile.read(path("ov/b/001.png_gradcam.png"))
        let c = try ImageFile.read(path("ov/001.png_gradcam.png"))
        XCTAssertNotEqual(a.samples, b.samples, "two images, two overlays")
        XCTAssertNotEqual(a.samples, c.samples)
        XCTAssertEqual(try NPY.read(path: path("maps.npy")).shape, [3, 32, 32])
    }

    func testSixteenBitWindowOffsetAndHUSlices() throws {
        // One HU slice three ways: 16-bit PNG stored HU + 32768, 16-bit PNG stored HU + 1024, float .npy.
        let n = 20
        var hu = [Float](repeating: -800, count: n * n)
        for y in 5..<12 { for x in 4..<13 { hu[y * n + x] = 40 } }
        for y in 14..<18 { for x in 10..<16 { hu[y * n + x] = 700 } }
        try put("ct32768.png", try PNG.encode(try Image(width: n, height: n, channels: 1, bitDepth: 16, samples: hu.map { UInt16(Int($0) + 32768) })))
        try put("ct1024.png", try PNG.encode(try Image(width: n, height: n, channels: 1, bitDepth: 16, samples: hu.map { UInt16(Int($0) + 1024) })))
        let t = Tensor(uninitialized: [1, n, n])
        t.data.update(from: hu, count: n * n)
        try NPY.write(t, path: path("ct.npy"))
        func logits(_ extra: [String], _ input: String) throws -> ([Float], String) {
            let r = try CLI.run(["predict", "--model", "resnet50", "--image-size", "32", "--output", path("l.npy")] + extra + [path(input)])
            XCTAssertEqual(r.status, 0, r.stderr)
            return (try NPY.read(path: path("l.npy")).values, r.stderr)
        }
        let (fromNPY, note) = try logits(["--window", "mediastinum"], "ct.npy")
        XCTAssertEqual(note.components(separatedBy: "mediastinum window 40/400").count - 1, 1, "the mapping is printed once: \(note)")
        let (from32768, _) = try logits(["--window", "mediastinum", "--hu-offset", "32768"], "ct32768.png")
        let (from1024, note1024) = try logits(["--window", "40,400"], "ct1024.png")
        XCTAssertTrue(note1024.contains("HU = stored − 1024"), note1024)
        XCTAssertEqual(fromNPY.count, 3)
        for i in 0..<3 {
            XCTAssertEqual(from32768[i], fromNPY[i], accuracy: 1e-4)
            XCTAssertEqual(from1024[i], fromNPY[i], accuracy: 1e-4)
        }
        // Stored HU + 32768 read with the default offset saturates the window: another prediction.
        let (wrong, _) = try logits(["--window", "mediastinum"], "ct32768.png")
        XCTAssertGreaterThan(zip(wrong, fromNPY).map { abs($0 - $1) }.max() ?? 0, 1e-3)
        // A preprocessed array in raw HU is used as it is, with a warning.
        let raw = Tensor(uninitialized: [1, 3, 32, 32])
        for i in 0..<raw.count { raw.data[i] = Float(i % 1400) - 1000 }
        try NPY.write(raw, path: path("raw.npy"))
        let (_, warn) = try logits([], "raw.npy")
        XCTAssertTrue(warn.contains("warning: \(path("raw.npy")): values span"), warn)
    }

    func testEmptyAndBadArraysNameTheFile() throws {
        try NPY.write(Tensor(uninitialized: [0, 3, 32, 32]), path: path("empty.npy"))
        let args = ["predict", "--model", "resnet50", "--image-size", "32", path("empty.npy")]
        assertClearError(try CLI.run(args), args, mentions: [path("empty.npy"), "empty"])
        try NPY.write(Tensor(zeros: [2, 5, 4, 4]), path: path("odd.npy"))
        let odd = ["cam", "--model", "resnet50", "--image-size", "32", path("odd.npy")]
        assertClearError(try CLI.run(odd), odd, mentions: [path("odd.npy"), "[2, 5, 4, 4]"])
    }

    func testMetricsRefusesNaNAndOutOfRangeMaps() throws {
        let mask = Tensor(zeros: [1, 4, 4])
        mask.data[5] = 1
        try NPY.write(mask, path: path("mask.npy"))
        let good = Tensor(zeros: [1, 4, 4])
        good.data[5] = 1
        try NPY.write(good, path: path("good.npy"))
        let ok = try CLI.run(["metrics", "--maps", path("good.npy"), "--masks", path("mask.npy")])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        let nan = Tensor(zeros: [1, 4, 4])
        nan.data[6] = .nan
        try NPY.write(nan, path: path("nan.npy"))
        let a1 = ["metrics", "--maps", path("nan.npy"), "--masks", path("mask.npy")]
        assertClearError(try CLI.run(a1), a1, mentions: [path("nan.npy"), "NaN", "row 1, column 2"])
        let big = Tensor(zeros: [1, 4, 4])
        big.data[3] = 3.5
        try NPY.write(big, path: path("big.npy"))
        let a2 = ["metrics", "--maps", path("big.npy"), "--masks", path("mask.npy")]
        assertClearError(try CLI.run(a2), a2, mentions: [path("big.npy"), "[0, 1]", "3.5"])
    }

    func testProgressWithETAOnStderr() throws {
        for i in 0..<3 { try greyPNG("in/\(i).png", value: UInt8(40 * i + 20)) }
        let r = try CLI.run(["cam", "--model", "resnet50", "--image-size", "32", "--batch-size", "1", path("in")], env: ["CAMAUDIT_PROGRESS_AFTER": "0"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("cam (gradcam) 1/3 (33%)") && r.stderr.contains("ETA"), r.stderr)
        XCTAssertTrue(r.stderr.contains("3/3 (100%)"), r.stderr)
        XCTAssertFalse(r.stdout.contains("ETA"), "progress stays off stdout")
        // Quick runs stay quiet by default.
        let quiet = try CLI.run(["predict", "--model", "resnet50", "--image-size", "32", path("in")])
        XCTAssertFalse(quiet.stderr.contains("ETA"), quiet.stderr)
    }

    func testFolderScanTakesMasksAndBoxesFromTheCommandLine() throws {
        for (i, cls) in ["cats", "cats", "dogs", "dogs"].enumerated() { try greyPNG("data/\(cls)/\(i).png", value: UInt8(30 + 40 * i)) }
        var m = [UInt8](repeating: 0, count: 24 * 24)
        for y in 6..<14 { for x in 8..<16 { m[y * 24 + x] = 255 } }
        try put("masks/cats/0.png", try PNG.encode8(m, width: 24, height: 24, channels: 1))
        try put("boxes.csv", Array("file,x0,y0,x1,y1\n2.png,8,6,16,14\n".utf8))
        let args = ["evaluate", "--data", path("data"), "--masks", path("masks"), "--boxes", path("boxes.csv"), "--model", "resnet50",
                    "--image-size", "32", "--seeds", "0", "--metrics", "locacc", "--limit", "1", "--out", path("out")]
        _ = try CLI.run(args)
        let manifest = try String(contentsOfFile: path("out/manifest.csv"), encoding: .utf8)
        let rows = manifest.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let header = rows[0]
        let file = try XCTUnwrap(header.firstIndex(of: "file")), mask = try XCTUnwrap(header.firstIndex(of: "mask"))
        let boxes = try XCTUnwrap(header.firstIndex(of: "boxes"))
        // Paths are written relative to the manifest's folder (or absolute): match by their tails.
        let byFile = Dictionary(uniqueKeysWithValues: rows.dropFirst().map { (($0[file] as NSString).lastPathComponent, $0) })
        let maskPath = try XCTUnwrap(byFile["0.png"]?[mask])
        XCTAssertTrue(maskPath.hasSuffix("masks/cats/0.png"), manifest)
        let resolved = maskPath.hasPrefix("/") ? maskPath : path("out/" + maskPath)
        XCTAssertEqual(URL(fileURLWithPath: resolved).standardized.path, URL(fileURLWithPath: path("masks/cats/0.png")).standardized.path)
        XCTAssertEqual(byFile["2.png"]?[boxes], "8 6 16 14", manifest)
        XCTAssertEqual(byFile["1.png"]?[mask], "", manifest)
        let missing = ["evaluate", "--data", path("data"), "--masks", path("nope"), "--model", "resnet50", "--out", path("out2")]
        assertClearError(try CLI.run(missing), missing, mentions: ["--masks", path("nope")])
    }
}
