import Foundation
import TestSupport
import XCTest
import TensorCore
import Imaging

/// DICOM through the commands a user runs: predict and cam on files and frames, train on a folder
/// of DICOM class folders, and a hostile file named rather than crashed on.
final class CLIDicomTests: CLITestCase {
    let dicom = fixturesDirectory + "/dicom/"

    /// A fixture copied to `rel`, optionally moved to series `series` (1...9: the fixtures' series
    /// UIDs end in one digit, so patching that digit keeps the file's length and layout).
    func copy(_ fixture: String, to rel: String, series: Int? = nil) throws {
        var b = try ImageFile.readBytes(dicom + fixture + ".dcm")
        if let series {
            let uid = Array("1.2.826.0.1.3680043.10.1030.".utf8)
            var patched = 0
            for i in 0..<(b.count - uid.count - 2) where Array(b[i..<(i + uid.count)]) == uid && b[i + uid.count] != 0x30 && b[i + uid.count + 1] == 0 {
                b[i + uid.count] = UInt8(0x30 + series)
                patched += 1
            }
            XCTAssertEqual(patched, 1, "\(fixture): one SeriesInstanceUID")
        }
        try put(rel, b)
    }

    func testPredictAndCamOnDicomFilesAndFrames() throws {
        func predict(_ extra: [String], _ inputs: [String]) throws -> ([Float], [Int], String) {
            let r = try CLI.run(["predict", "--model", "resnet50", "--image-size", "32", "--output", path("l.npy")] + extra + inputs)
            XCTAssertEqual(r.status, 0, r.stderr)
            let t = try NPY.read(path: path("l.npy"))
            return (t.values, t.shape, r.stderr)
        }
        let (lung, shape, note) = try predict([], [dicom + "rle.dcm", dicom + "signed_implicit.dcm"])
        XCTAssertEqual(shape, [2, 3])
        XCTAssertEqual(note.components(separatedBy: "note: DICOM inputs:").count - 1, 1, "the mapping is printed once: \(note)")
        XCTAssertTrue(note.contains("lung window -600/1500") && note.contains("RescaleSlope"), note)
        for k in 0..<3 { XCTAssertEqual(lung[k], lung[3 + k], accuracy: 1e-4, "RLE and uncompressed hold the same slice") }
        let (own, _, noteFile) = try predict(["--window", "file"], [dicom + "rle.dcm"])
        XCTAssertTrue(noteFile.contains("each file's WindowCenter/WindowWidth"), noteFile)
        XCTAssertGreaterThan(zip(own, lung).map { abs($0 - $1) }.max() ?? 0, 1e-4, "the file's 40/400 window is another input")
        // A multi-frame file is one input per frame; a frame can be named on its own.
        let (frames, fshape, _) = try predict([], [dicom + "multiframe.dcm"])
        XCTAssertEqual(fshape, [3, 3])
        let (second, _, _) = try predict([], [dicom + "multiframe.dcm#frame=2"])
        for k in 0..<3 { XCTAssertEqual(second[k], frames[3 + k], accuracy: 1e-4, "frame 2 alone and in its file") }

        let cam = ["cam", "--model", "resnet50", "--image-size", "32", "--output", path("maps.npy"), dicom + "padding.dcm", dicom + "multiframe.dcm"]
        let c = try CLI.run(cam)
        XCTAssertEqual(c.status, 0, c.stderr)
        XCTAssertEqual(try NPY.read(path: path("maps.npy")).shape, [4, 32, 32])
    }

    func testHostileDicomIsNamedNotCrashedOn() throws {
        var b = try ImageFile.readBytes(dicom + "unsigned_explicit.dcm")
        b = Array(b.prefix(b.count - 100))
        try put("in/cut.dcm", b)
        try copy("refused_jpeg2000", to: "in/j2k")
        try copy("rle", to: "in/ok.dcm")
        let r = try CLI.run(["predict", "--model", "resnet50", "--image-size", "32", "--output", path("l.npy"), path("in")])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains(path("in/cut.dcm")) && r.stderr.contains(path("in/j2k")) && r.stderr.contains("JPEG 2000"), r.stderr)
        XCTAssertEqual(try NPY.read(path: path("l.npy")).shape, [1, 3])
        let strict = ["predict", "--model", "resnet50", "--image-size", "32", "--strict", "--output", path("l2.npy"), path("in/j2k")]
        let s = try CLI.run(strict)
        XCTAssertEqual(s.status, 1, s.stderr)
        let errors = s.stderrLines.filter { $0.hasPrefix("Error: ") }
        XCTAssertEqual(errors.count, 1, s.stderr)
        XCTAssertTrue(errors.first.map { $0.contains(path("in/j2k")) && $0.contains("1.2.840.10008.1.2.4.90") && $0.contains("no JPEG 2000 codec") } ?? false, s.stderr)
    }

    func testEvaluateOnDicomSeriesWithTheFilesWindow() throws {
        try copy("multiframe", to: "ct/benign/mf.dcm")
        try copy("unsigned_explicit", to: "ct/benign/IM1", series: 5)
        try copy("rle", to: "ct/malignant/a.dcm")
        try copy("jpegls", to: "ct/malignant/b")
        func evaluate(_ out: String, _ extra: [String]) throws -> String {
            let args = ["evaluate", "--data", path("ct"), "--model", "efficientnet_b0", "--image-size", "32", "--seeds", "0",
                        "--methods", "gradcam", "--metrics", "locacc", "--out", path(out)] + extra
            let r = try CLI.run(args)
            XCTAssertEqual(r.status, 0, r.stderr)
            return String(decoding: try ImageFile.readBytes(path(out + "/results.csv")), as: UTF8.self)
        }
        let lung = try evaluate("lung", [])
        XCTAssertTrue(lung.contains("benign/mf.dcm#frame=2") && lung.contains("malignant/b"), lung)
        let manifest = String(decoding: try ImageFile.readBytes(path("lung/manifest.csv")), as: UTF8.self)
        XCTAssertTrue(manifest.contains("series_instance_uid") && manifest.contains("1.2.826.0.1.3680043.10.1030.5"), manifest)
        // The file's window is another input mapping: other unit keys, so nothing is taken from a lung run.
        let own = try evaluate("own", ["--window", "file"])
        func ids(_ csv: String) -> Set<Substring> {
            let lines = csv.split(separator: "\n")
            guard let col = lines.first?.split(separator: ",").firstIndex(of: "key") else { return [] }
            return Set(lines.dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false)[col] })
        }
        XCTAssertFalse(ids(lung).isEmpty, lung)
        XCTAssertTrue(ids(lung).isDisjoint(with: ids(own)), "the window must enter the content keys")
        XCTAssertEqual(ids(try evaluate("lung2", ["--window", "lung"])), ids(lung), "the same mapping, the same keys")
    }

    func testTrainOnAFolderOfDicomClassFolders() throws {
        // Class folders of series folders, files with and without .dcm, one multi-frame file.
        try copy("unsigned_explicit", to: "ct/benign/IM0001", series: 5)
        try copy("slope_intercept", to: "ct/benign/IM0002", series: 6)
        try copy("padding", to: "ct/benign/p.dcm", series: 7)
        try copy("multiframe", to: "ct/benign/mf.dcm")
        try copy("rle", to: "ct/malignant/a.dcm")
        try copy("jpegls", to: "ct/malignant/b")
        try copy("signed12_garbage", to: "ct/malignant/c.dcm", series: 8)
        try copy("monochrome1", to: "ct/malignant/d.dcm", series: 9)
        try copy("signed_implicit", to: "ct/malignant/series1/IM1")
        try copy("unsigned12_garbage", to: "ct/malignant/series1/IM2")
        let args = ["train", "--data", path("ct"), "--model", "resnet50", "--image-size", "32", "--epochs", "1", "--max-steps", "1",
                    "--out", path("m.safetensors")]
        let r = try CLI.run(args)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("benign: 6") && r.stderr.contains("malignant: 6") && r.stderr.contains("2 DICOM series of several slices"), r.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("m.safetensors")), r.stderr)
    }
}
