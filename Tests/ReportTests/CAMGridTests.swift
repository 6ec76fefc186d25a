import XCTest
import Imaging
@testable import Report

final class CAMGridTests: XCTestCase {
    /// A disc of radius r about (cx, cy) in pixel-centre coordinates.
    func disc(size: Int, cx: Double, cy: Double, r: Double) -> [UInt8] {
        (0..<(size * size)).map { i in
            let (x, y) = (Double(i % size) + 0.5, Double(i / size) + 0.5)
            return (x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r ? 1 : 0
        }
    }

    func testOutlineFollowsADiscMask() throws {
        let size = 40, scale = 3.0
        let grey = try Image(width: size, height: size, channels: 1, bytes: [UInt8](repeating: 90, count: size * size))
        let (cx, cy, r) = (22.0, 17.0, 9.0)
        let cell = GridCell(image: grey, outline: disc(size: size, cx: cx, cy: cy, r: r), caption: "disc")
        let svg = try CAMGrid.svg(columnTitles: ["Input"], rows: [("row", [cell])], tileWidth: Double(size) * scale, colorbarLabel: nil)
        let doc = try XCTUnwrap(ParsedSVG(svg))
        let tile = try XCTUnwrap(doc.all("image", cls: "tile").first)
        let (tx, ty) = (Double(tile.attributes["x"]!)!, Double(tile.attributes["y"]!)!)
        let outlines = doc.all("path", cls: "outline")
        XCTAssertEqual(outlines.count, 1)
        let d = try XCTUnwrap(outlines.first?.attributes["d"])
        XCTAssertEqual(d.filter { $0 == "M" }.count, 1, "one closed loop for one disc")
        XCTAssertTrue(d.hasSuffix("Z"))
        let points = pathPoints(d).map { (($0.0 - tx) / scale, ($0.1 - ty) / scale) }
        XCTAssertGreaterThan(points.count, 40, "a traced contour, not a box")
        var angles = Set<Int>()
        for (x, y) in points {
            let dist = ((x - cx) * (x - cx) + (y - cy) * (y - cy)).squareRoot()
            XCTAssertEqual(dist, r, accuracy: 1.0, "outline point (\(x), \(y)) off the circle")
            angles.insert(Int((atan2(y - cy, x - cx) + .pi) / (2 * .pi) * 16) % 16)
        }
        XCTAssertEqual(angles.count, 16, "the outline goes all the way round")
    }

    func testTilesAreEmbeddedPNGsOfTheCellImages() throws {
        let svg = try Gallery.camGrid(size: 48)
        let doc = try XCTUnwrap(ParsedSVG(svg))
        let tiles = doc.all("image", cls: "tile")
        XCTAssertEqual(tiles.count, 18, "three rows × (input + five architectures)")
        XCTAssertEqual(doc.all("text", cls: "column-title").map(\.text), ["Input"] + Gallery.architectures)
        XCTAssertEqual(doc.all("text", cls: "row-label").map(\.text), ["Malignant", "Normal", "Benign"])
        let captions = doc.all("text", cls: "caption").map(\.text).joined(separator: " ")
        XCTAssertTrue(captions.contains("test image 17, label malignant") && captions.contains("p(benign) = 0.62"), captions)
        XCTAssertEqual(doc.count("path", cls: "outline"), 12, "the normal row has no lesion to outline")
        XCTAssertFalse(svg.contains("http://www.w3.org/1999/xlink\"/>"))
        let first = try XCTUnwrap(tiles.first?.attributes["xlink:href"])
        XCTAssertTrue(first.hasPrefix("data:image/png;base64,"))
        let png = try XCTUnwrap(Data(base64Encoded: String(first.dropFirst("data:image/png;base64,".count))))
        let decoded = try PNG.decode([UInt8](png))
        let expected = Gallery.phantom(size: 48, lesion: (x: 0.62 * 48, y: 0.45 * 48, r: 0.12 * 48), camOffset: (0, 0)).grey
        XCTAssertEqual(decoded, expected)
    }

    func testBadCellsAreReportedNotDrawn() throws {
        let img = try Image(width: 4, height: 3, channels: 3, bytes: [UInt8](repeating: 0, count: 36))
        XCTAssertThrowsError(try CAMGrid.svg(columnTitles: ["a"], rows: [("r", [GridCell(image: img, outline: [1, 0], caption: "")])])) {
            XCTAssertTrue("\($0)".contains("mask has 2 bytes for a 4×3 image"), "\($0)")
        }
        XCTAssertThrowsError(try CAMGrid.svg(columnTitles: ["a"], rows: [("r", [GridCell(image: img), GridCell(image: img)])])) {
            XCTAssertTrue("\($0)".contains("2 cells for 1 columns"), "\($0)")
        }
        XCTAssertThrowsError(try CAMGrid.svg(columnTitles: [], rows: []))
        // A short row is padded with an n/a tile rather than refused.
        let doc = try XCTUnwrap(ParsedSVG(try CAMGrid.svg(columnTitles: ["a", "b"], rows: [("r", [GridCell(image: img)])])))
        XCTAssertEqual(doc.count("rect", cls: "tile-missing"), 1)
    }

    func testContourOfMaskTouchingTheBorderCloses() {
        let mask: [UInt8] = [1, 1, 0,
                             1, 0, 0,
                             0, 0, 1]
        let loops = Contour.trace(mask: mask, width: 3, height: 3)
        XCTAssertEqual(loops.count, 2)
        XCTAssertEqual(loops.map(\.count).sorted(), [4, 8], "one midpoint per inside–outside pixel edge")
        XCTAssertTrue(Contour.trace(mask: [0, 0, 0, 0], width: 2, height: 2).isEmpty)
    }
}
