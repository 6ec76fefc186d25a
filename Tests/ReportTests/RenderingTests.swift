import XCTest
import Imaging
@testable import Report

/// rsvg-convert turns every figure kind into a PNG of the right size with visible content.
final class RenderingTests: XCTestCase {
    func testEveryFigureKindRastersToANonBlankPNG() throws {
        guard requireTool("rsvg-convert", package: "librsvg2-bin") else { return }
        let (dir, keep) = try scratchDirectory("figures")
        defer { if !keep { try? FileManager.default.removeItem(at: dir) } }
        let figures = [("deletion", Gallery.deletionCurves()), ("locacc", Gallery.locAccDistributions()),
                       ("agreement", Gallery.agreementHeatmap()), ("accuracy", Gallery.accuracyBars()),
                       ("camgrid", try Gallery.camGrid())] + StressGallery.all()
        for (name, svg) in figures {
            let doc = try XCTUnwrap(ParsedSVG(svg))
            doc.assertTextInside(name)
            let root = try XCTUnwrap(doc.all("svg").first)
            let (w, h) = (Double(root.attributes["width"]!)!, Double(root.attributes["height"]!)!)
            try svg.write(to: dir.appendingPathComponent("\(name).svg"), atomically: true, encoding: .utf8)
            let png = dir.appendingPathComponent("\(name).png").path
            try Rasterize.png(svg: svg, to: png, scale: 1.5)
            let img = try PNG.read(path: png)
            XCTAssertEqual(img.width, Int((w * 1.5).rounded(.up)), name)
            XCTAssertEqual(img.height, Int((h * 1.5).rounded(.up)), name)
            XCTAssertGreaterThan(PixelStats(img).variance, 200, "\(name) looks blank")
        }
    }

    func testTextIsRenderedByTheFontRenderer() throws {
        guard requireTool("rsvg-convert", package: "librsvg2-bin") else { return }
        // Only text on white: any ink at all comes from glyphs.
        func ink(_ label: String) throws -> Double {
            var c = SVGCanvas(width: 200, height: 40)
            c.text(label, x: 10, y: 28, size: 20)
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("text-\(UUID().uuidString).png").path
            defer { try? FileManager.default.removeItem(atPath: path) }
            try Rasterize.png(svg: c.document(title: "t"), to: path)
            return PixelStats(try PNG.read(path: path)).inkFraction(rows: 0..<40)
        }
        let empty = try ink(""), short = try ink("ab"), long = try ink("Grad-CAM ρ 0.93")
        XCTAssertEqual(empty, 0)
        XCTAssertGreaterThan(short, 0.005)
        XCTAssertGreaterThan(long, short * 2, "more glyphs, more ink")
    }

    func testMissingRendererIsNamed() throws {
        let saved = ProcessInfo.processInfo.environment["PATH"] ?? ""
        setenv("PATH", "/nonexistent", 1)
        defer { setenv("PATH", saved, 1) }
        XCTAssertThrowsError(try Rasterize.png(svg: "<svg xmlns=\"http://www.w3.org/2000/svg\"/>", to: "/tmp/never.png")) {
            XCTAssertEqual($0 as? ReportError, .toolMissing(tool: "rsvg-convert", package: "librsvg2-bin fonts-dejavu-core", purpose: "render SVG figures to PNG"))
            XCTAssertTrue("\($0)".contains("apt-get install librsvg2-bin"), "\($0)")
        }
        XCTAssertThrowsError(try Browser.screenshot(html: "<p>x</p>", png: "/tmp/never.png")) {
            XCTAssertTrue("\($0)".contains("chromium not found"), "\($0)")
        }
        XCTAssertThrowsError(try Rasterize.png(svg: "<svg/>", to: "/tmp/never.png", scale: .nan))
    }

    func testBrokenSVGIsAToolError() throws {
        guard requireTool("rsvg-convert", package: "librsvg2-bin") else { return }
        XCTAssertThrowsError(try Rasterize.png(svg: "<svg", to: FileManager.default.temporaryDirectory.appendingPathComponent("broken.png").path)) {
            XCTAssertTrue("\($0)".contains("rsvg-convert failed"), "\($0)")
        }
    }
}
