import Foundation
import XCTest
import TensorCore
import TestSupport
import Imaging
@testable import Datasets

final class DatasetTests: XCTestCase {
    var tmp = ""
    override func setUpWithError() throws {
        tmp = NSTemporaryDirectory() + "data-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: tmp) }

    func jpeg(_ seed: Int, w: Int = 16, h: Int = 12) throws -> [UInt8] {
        let px = (0..<(w * h)).map { UInt8(truncatingIfNeeded: $0 * (seed + 3) + seed * 17) }
        return try JPEG.encode(try Image(width: w, height: h, channels: 1, bytes: px), quality: 90)
    }
    func put(_ rel: String, _ bytes: [UInt8]) throws {
        let p = tmp + "/" + rel
        try FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: p))
    }

    func testFNV1a64Vectors() {
        // Published FNV-1a 64-bit test vectors.
        XCTAssertEqual(ContentHash.fnv1a64([]), "cbf29ce484222325-0")
        XCTAssertEqual(ContentHash.fnv1a64(Array("a".utf8)), "af63dc4c8601ec8c-1")
        XCTAssertEqual(ContentHash.fnv1a64(Array("foobar".utf8)), "85944171f73967e8-6")
    }

    func testCSVQuotingRoundTrip() throws {
        let rows = [["file", "note"], ["Bengin cases/Bengin case (12).jpg", "a, b"], ["x\"y", "multi\nline"], ["", " padded "]]
        let text = rows.map(CSV.line).joined()
        XCTAssertTrue(text.contains("\"a, b\""))
        XCTAssertTrue(text.contains("\"x\"\"y\""))
        XCTAssertEqual(try CSV.parse(text), rows)
        XCTAssertEqual(try CSV.parse("a,b\r\n1,2\r\n"), [["a", "b"], ["1", "2"]])
        XCTAssertThrowsError(try CSV.parse("a,\"b\n"))
    }

    func testSplitsStratifiedDeterministicAndDuplicateSafe() {
        var classes: [Int] = []
        for (c, n) in [(0, 100), (1, 60), (2, 41)] { classes += Array(repeating: c, count: n) }
        let groups = [[3, 10, 50, 77, 99], [101, 102], [170, 200]]
        let a = Splitter.assign(classes: classes, groups: groups, seed: 42)
        XCTAssertEqual(a, Splitter.assign(classes: classes, groups: groups, seed: 42))
        XCTAssertNotEqual(a, Splitter.assign(classes: classes, groups: groups, seed: 43))
        for g in groups { XCTAssertEqual(Set(g.map { a[$0] }).count, 1, "duplicates \(g) split apart") }
        for (c, n) in [(0, 100), (1, 60), (2, 41)] {
            let idx = classes.indices.filter { classes[$0] == c }
            let counts = Split.allCases.map { s in idx.filter { a[$0] == s }.count }
            let want = [Double(n) * 0.6, Double(n) * 0.2, Double(n) * 0.2]
            for k in 0..<3 { XCTAssertLessThanOrEqual(abs(Double(counts[k]) - want[k]), 5, "class \(c) counts \(counts)") }
            XCTAssertEqual(counts.reduce(0, +), n)
        }
        // Without groups the counts are exact: round(n·0.2) for val and test.
        let b = Splitter.assign(classes: classes, seed: 1)
        let cls2 = classes.indices.filter { classes[$0] == 2 }
        XCTAssertEqual(Split.allCases.map { s in cls2.filter { b[$0] == s }.count }, [25, 8, 8])
    }

    func testIQOTHNCCDLayoutWithDuplicatesAndBadFiles() throws {
        let top = "The IQ-OTHNCCD lung cancer dataset"
        try put("\(top)/Bengin cases/Bengin case (1).jpg", try jpeg(1))
        try put("\(top)/Bengin cases/Bengin case (2).jpg", try jpeg(2, w: 20, h: 24))
        try put("\(top)/Malignant cases/Malignant case (1).jpg", try jpeg(3))
        try put("\(top)/Malignant cases/Malignant case (2).jpg", try jpeg(3))          // exact duplicate
        try put("\(top)/Malignant cases/Malignant case (3).jpg", try jpeg(4))
        try put("\(top)/Normal cases/Normal case (1).jpg", try jpeg(5))
        try put("\(top)/Normal cases/Normal case (2).jpg", try jpeg(6))
        try put("\(top)/Normal cases/Normal case (9).jpg", Array("I am text".utf8))    // text named .jpg
        let cut = try jpeg(7)
        try put("\(top)/Normal cases/Normal case (10).jpg", Array(cut.prefix(cut.count / 2)))
        try put("\(top)/Normal cases/readme.txt", Array("ignored".utf8))

        let ds = try DatasetScanner.scan(root: tmp)
        XCTAssertEqual(ds.layout, .iqothnccd)
        XCTAssertEqual(ds.classes, ["benign", "malignant", "normal"])
        XCTAssertEqual(ds.items.count, 7)
        XCTAssertEqual(ds.badFiles.count, 2)
        XCTAssertTrue(ds.badFiles.contains { $0.path.hasSuffix("Normal case (9).jpg") && $0.reason.contains("not a PNG or JPEG") }, "\(ds.badFiles)")
        XCTAssertTrue(ds.badFiles.contains { $0.path.hasSuffix("Normal case (10).jpg") })
        XCTAssertEqual(ds.duplicateGroups.count, 1)
        XCTAssertEqual(ds.duplicateGroups[0].map { ds.items[$0].file }, ["Malignant cases/Malignant case (1).jpg", "Malignant cases/Malignant case (2).jpg"])
        XCTAssertEqual(ds.items.first { $0.file.hasSuffix("(2).jpg") && $0.className == "benign" }?.width, 20)
        XCTAssertTrue(ds.summary.contains("2 bad files"))

        var m = ds.manifest(seed: 42)
        let dup = ds.duplicateGroups[0].map { m.items[$0].split }
        XCTAssertEqual(dup[0], dup[1])
        // Manifest round trip with spaces and parentheses in names.
        let path = tmp + "/manifest.csv"
        try m.write(to: path)
        let back = try Manifest.read(path: path)
        // Paths are rewritten relative to the CSV's folder; everything else is unchanged.
        XCTAssertEqual(back.items.map(\.file).first, "\(top)/Bengin cases/Bengin case (1).jpg")
        m = m.relocated(to: back.directory)
        XCTAssertEqual(back.items, m.items)
        XCTAssertEqual(back.classes, ["benign", "malignant", "normal"])
        for it in back.items { XCTAssertTrue(FileManager.default.fileExists(atPath: back.resolve(it.file)), it.file) }

        XCTAssertThrowsError(try DatasetScanner.scan(root: tmp, options: ScanOptions(strict: true))) { e in
            XCTAssertTrue("\(e)".contains("Normal case (10).jpg") || "\(e)".contains("Normal case (9).jpg"), "\(e)")
        }
        try FileManager.default.removeItem(atPath: "\(tmp)/\(top)/Normal cases")
        XCTAssertThrowsError(try DatasetScanner.scan(root: tmp)) { e in XCTAssertTrue("\(e)".contains("'Normal cases'"), "\(e)") }
    }

    func testImageFolderWithMasksAndBoxes() throws {
        let grey = { (w: Int, h: Int, v: UInt8) in try PNG.encode8([UInt8](repeating: v, count: w * h), width: w, height: h, channels: 1) }
        try put("data/dogs/b.png", try grey(10, 8, 90))
        try put("data/cats/a.png", try grey(10, 8, 50))
        try put("data/cats/c.png", try grey(10, 8, 70))
        var mask = [UInt8](repeating: 0, count: 80)
        for y in 2..<5 { for x in 3..<7 { mask[y * 10 + x] = 255 } }
        try put("masks/cats/a.png", try PNG.encode8(mask, width: 10, height: 8, channels: 1))
        try put("masks/c.png", try grey(4, 4, 255))                            // wrong size
        try put("boxes.csv", Array("file,x0,y0,x1,y1\nb.png,1,1,3,2\nb.png,2,1,5,3\nghost.png,0,0,1,1\n".utf8))

        let ds = try DatasetScanner.scan(root: tmp + "/data", options: ScanOptions(maskFolder: tmp + "/masks", boxesCSV: tmp + "/boxes.csv"))
        XCTAssertEqual(ds.layout, .imageFolder)
        XCTAssertEqual(ds.classes, ["cats", "dogs"])
        XCTAssertEqual(ds.items.map(\.file), ["cats/a.png", "dogs/b.png"])
        XCTAssertTrue(ds.badFiles.contains { $0.reason.contains("mask size mismatch") && $0.description.contains("c.png") })
        XCTAssertTrue(ds.badFiles.contains { $0.reason.contains("ghost.png") })
        let a = ds.items[0]
        XCTAssertEqual(a.lesionBox, LesionBox(x0: 3, y0: 2, x1: 7, y1: 5))
        XCTAssertEqual(a.lesionArea, 12)
        let b = ds.items[1]
        XCTAssertEqual(b.boxes.count, 2)
        XCTAssertEqual(b.lesionBox, LesionBox(x0: 1, y0: 1, x1: 5, y1: 3))
        XCTAssertEqual(b.lesionArea, 7)   // union: 2 + 6 pixels sharing (2, 1)
        let m = ds.manifest(seed: 1)
        let bm = try XCTUnwrap(m.lesionMask(m.items[1]))
        XCTAssertEqual(MaskTools.extent(bm)?.area, 7)
        let am = try XCTUnwrap(m.lesionMaskTensor(m.items[0], preprocessing: Preprocessing(size: 20)))
        // Nearest to 20×20: columns 3..<7 → 8 output columns (2×); rows 2..<5 → output rows y with
        // 2 ≤ (y + 0.5)·0.4 < 5, i.e. y = 5…11 (7 rows): 56 pixels.
        XCTAssertEqual(am.values.reduce(0, +), 56)
    }

    // MARK: - manifest class indices

    func manifest(_ rows: String) throws -> Manifest {
        try put("m.csv", Array(("file,class,class_index,split\n" + rows).utf8))
        return try Manifest.read(path: tmp + "/m.csv")
    }

    func testClassIndexOutsideTheClassListIsRefused() throws {
        XCTAssertThrowsError(try manifest("a.png,cat,0,train\nb.png,dog,5,test\n")) { e in
            let text = "\(e)"
            XCTAssertTrue(text.contains("m.csv") && text.contains("'dog'") && text.contains("class_index 5") && text.contains("0...1"), text)
        }
        XCTAssertThrowsError(try manifest("a.png,cat,-1,train\nb.png,dog,0,test\n"))
        XCTAssertThrowsError(try manifest("a.png,cat,0,train\nb.png,dog,0,test\n")) { e in XCTAssertTrue("\(e)".contains("two classes"), "\(e)") }
        XCTAssertThrowsError(try manifest("a.png,cat,0,train\nb.png,cat,1,test\n")) { e in XCTAssertTrue("\(e)".contains("row 3"), "\(e)") }
        XCTAssertThrowsError(try manifest("a.png,cat,0,train\nb.png,dog,,test\n")) { e in XCTAssertTrue("\(e)".contains("'dog'"), "\(e)") }
        let ok = try manifest("a.png,dog,1,train\nb.png,cat,0,test\n")
        XCTAssertEqual(ok.classes, ["cat", "dog"])
        XCTAssertEqual(ok.items.map(\.classIndex), [1, 0])
    }

    func testClassesWithoutIndicesAreNumberedInSortedNameOrder() throws {
        // ImageFolder's rule, whatever the row order: cat 0, dog 1, emu 2.
        let m = try manifest("a.png,emu,,train\nb.png,cat,,test\nc.png,dog,,val\nd.png,emu,,val\n")
        XCTAssertEqual(m.classes, ["cat", "dog", "emu"])
        XCTAssertEqual(m.items.map(\.classIndex), [2, 0, 1, 2])
    }
}
