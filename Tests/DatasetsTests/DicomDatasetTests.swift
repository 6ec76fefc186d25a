import Foundation
import XCTest
import TensorCore
import TestSupport
import Imaging
@testable import Datasets

/// Folders of DICOM series: found by content, frames as slices, UIDs and rescale values in the
/// manifest, and one series in one split.
final class DicomDatasetTests: XCTestCase {
    let dicom = fixturesDirectory + "/dicom/"
    var tmp = ""

    override func setUpWithError() throws {
        tmp = NSTemporaryDirectory() + "dicomds-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: tmp) }

    func copy(_ fixture: String, to rel: String) throws {
        let dst = tmp + "/" + rel
        try FileManager.default.createDirectory(atPath: (dst as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: dicom + fixture + ".dcm", toPath: dst)
    }

    func testScanFindsSeriesFramesAndRecordsThem() throws {
        try copy("unsigned_explicit", to: "ct/benign/s1/IM0001")          // series …1030.1
        try copy("slope_intercept", to: "ct/benign/s1/IM0002.dcm")        // series …1030.1
        try copy("multiframe", to: "ct/benign/mf.dcm")                    // series …1030.2, 3 frames
        try copy("rle", to: "ct/malignant/a.dcm")                         // series …1030.3
        try copy("jpegls", to: "ct/malignant/b")                          // series …1030.4
        try FileManager.default.copyItem(atPath: fixturesDirectory + "/images/grey8.png", toPath: tmp + "/ct/malignant/c.png")
        let ds = try DatasetScanner.scan(root: tmp + "/ct", options: ScanOptions(strict: true))
        XCTAssertEqual(ds.items.map(\.file), ["benign/mf.dcm#frame=1", "benign/mf.dcm#frame=2", "benign/mf.dcm#frame=3",
                                              "benign/s1/IM0001", "benign/s1/IM0002.dcm", "malignant/a.dcm", "malignant/b", "malignant/c.png"])
        XCTAssertEqual(ds.duplicateGroups, [], "frames of one file are not duplicates of each other")
        XCTAssertEqual(ds.seriesGroups, [[0, 1, 2], [3, 4]])
        let m = ds.manifest(seed: 1)
        XCTAssertEqual(m.extraColumns, Manifest.dicomColumns)
        let f2 = m.items[1]
        XCTAssertEqual(f2.extra["frame"], "2")
        XCTAssertEqual(f2.extra["series_instance_uid"], "1.2.826.0.1.3680043.10.1030.2")
        XCTAssertEqual(f2.extra["pixel_spacing"], "0.703125\\0.703125")
        XCTAssertEqual([f2.width, f2.height], [16, 16])
        XCTAssertEqual(m.items[4].extra["rescale_slope"], "0.7")
        XCTAssertEqual(m.items[4].extra["rescale_intercept"], "-1023.3")
        XCTAssertEqual(m.items[3].extra["window_center"], "40")
        XCTAssertEqual(m.items[7].extra, [:], "a PNG has no DICOM values")
        // One series, one split, whatever the seed.
        for seed in UInt64(0)..<30 {
            let s = ds.manifest(seed: seed).items.map(\.split)
            XCTAssertEqual(Set(s[0...2]).count, 1, "seed \(seed): frames of one series split apart")
            XCTAssertEqual(Set(s[3...4]).count, 1, "seed \(seed): slices of one series split apart")
        }
        // The manifest round-trips, and a frame path in it loads.
        try m.write(to: tmp + "/m.csv")
        let back = try Manifest.read(path: tmp + "/m.csv")
        // (An empty cell reads back as "", a value the PNG row never had.)
        for (x, y) in zip(back.items, m.items) {
            XCTAssertEqual(Manifest.dicomColumns.map { x.extra[$0] ?? "" }, Manifest.dicomColumns.map { y.extra[$0] ?? "" }, x.file)
        }
        XCTAssertEqual(back.items.map(\.split), m.items.map(\.split))
        let t = try Preprocessing(size: 8).load(back.resolve(back.items[1].file))
        XCTAssertEqual(t.shape, [3, 8, 8])
        // A manifest written before these columns existed still reads and loads DICOM paths.
        try Data("file,class,split\nct/benign/mf.dcm#frame=3,benign,test\nct/malignant/b,malignant,test\n".utf8)
            .write(to: URL(fileURLWithPath: tmp + "/old.csv"))
        let old = try Manifest.read(path: tmp + "/old.csv")
        XCTAssertEqual(old.extraColumns, [])
        for it in old.items { XCTAssertEqual(try Preprocessing(size: 8).load(old.resolve(it.file)).shape, [3, 8, 8]) }
    }

    /// Groups that share an item (a duplicate pair across two series) are one unit: the old
    /// per-group overwrite let the later group split the earlier one apart.
    func testOverlappingGroupsStayTogether() {
        let classes = [Int](repeating: 0, count: 40)
        for seed in UInt64(0)..<40 {
            let s = Splitter.assign(classes: classes, groups: [[0, 1], [1, 2], [5, 9], [9, 3]], seed: seed)
            XCTAssertEqual(Set([s[0], s[1], s[2]]).count, 1, "seed \(seed)")
            XCTAssertEqual(Set([s[3], s[5], s[9]]).count, 1, "seed \(seed)")
        }
    }
}
