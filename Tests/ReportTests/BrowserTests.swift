import XCTest
import Imaging
@testable import Report

/// The report as a reader sees it: headless Chromium renders report.html, and each figure must
/// show up, in order, as visible pixels — including one far below the first screenful.
final class BrowserTests: XCTestCase {
    /// A figure that is one block of a known colour, so its place on the screenshot can be found.
    func marker(_ color: String, title: String) -> String {
        var c = SVGCanvas(width: 600, height: 240)
        c.text(title, x: 300, y: 24, size: 16, anchor: .middle)
        c.rect(x: 40, y: 40, w: 520, h: 180, fill: color)
        return c.document(title: title)
    }

    func testScreenshotShowsEveryFigureOfTheReport() throws {
        guard requireTool("chromium", package: "chromium") else { return }
        guard requireTool("rsvg-convert", package: "librsvg2-bin") else { return }
        var doc = ReportDocument(title: "Browser check")
        doc.figure(name: "first", caption: "First figure", svg: marker("#0072B2", title: "first"))
        for i in 0..<12 { doc.paragraph("Paragraph \(i): **filler** text that pushes the second figure below the first screenful.") }
        doc.table(caption: "Numbers", header: ["k", "v"], rows: (0..<15).map { ["row \($0)", "\(Double($0) / 7)"] }, csvName: nil)
        doc.figure(name: "second", caption: "Second figure", svg: marker("#D55E00", title: "second"))
        doc.figure(name: "deletion", caption: "Deletion curves", svg: Gallery.deletionCurves())
        doc.figure(name: "grid", caption: "Grad-CAM grid", svg: try Gallery.camGrid(size: 64))
        let (dir, keep) = try scratchDirectory("browser")
        defer { if !keep { try? FileManager.default.removeItem(at: dir) } }
        try doc.write(to: dir.path)
        let html = try String(contentsOf: dir.appendingPathComponent("report.html"), encoding: .utf8)
        let shot = dir.appendingPathComponent("screenshot.png").path
        try Browser.screenshot(html: html, png: shot, width: 1000)

        let img = try PNG.read(path: shot)
        let stats = PixelStats(img)
        XCTAssertEqual(img.width, 1000)
        XCTAssertGreaterThan(stats.variance, 100, "blank screenshot")
        let blue = stats.rows(matching: (0x00, 0x72, 0xB2), minimum: 200)
        let orange = stats.rows(matching: (0xD5, 0x5E, 0x00), minimum: 200)
        XCTAssertGreaterThan(blue.count, 150, "first figure missing")
        XCTAssertGreaterThan(orange.count, 150, "second figure missing")
        if let lastBlue = blue.last, let firstOrange = orange.first {
            XCTAssertLessThan(lastBlue, firstOrange, "figures out of order")
            XCTAssertGreaterThan(firstOrange, 900, "the second figure should lie below the first screenful")
        }
        // The chart below them: its series colours (blue, vermillion) appear under the second marker.
        let belowSecond = (orange.last ?? img.height)..<img.height
        XCTAssertGreaterThan(stats.inkFraction(rows: belowSecond), 0.01, "the last figure is cut off or blank")
        XCTAssertGreaterThan(img.height, (orange.last ?? 0) + 300, "full page height captured")
        // The grid's tiles are PNG data: URIs inside the SVG data: URI; the overlays' dark-blue
        // background (0.5·JET(0) + 0.5·dark grey ≈ (6, 6, 70)) shows they were decoded and drawn.
        let jetBackground = stats.rows(matching: (6, 6, 70), tolerance: 14, minimum: 100)
        XCTAssertGreaterThan(jetBackground.count, 60, "CAM grid tiles missing")
        XCTAssertGreaterThan(jetBackground.first ?? 0, orange.last ?? .max, "the grid comes last")
    }
}
