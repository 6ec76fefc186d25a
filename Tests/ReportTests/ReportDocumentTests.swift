import XCTest
import Imaging
@testable import Report

final class ReportDocumentTests: XCTestCase {
    func sampleDocument() -> ReportDocument {
        var doc = ReportDocument(title: "camaudit <report> & co")
        doc.heading("Models")
        doc.paragraph("Every CNN reached **85%** on the `quick` profile; <script>alert(1)</script> stays text.")
        doc.table(caption: "Table I: accuracy", header: ["Architecture", "Accuracy", "Note"],
                  rows: [["ResNet-50", "0.91 ± 0.02", "plain"], ["ViT-B/16", "n/a", "said \"below floor\", flagged"],
                         ["DenseNet-161", "−0.05", "line\nbreak"]],
                  csvName: "table1")
        doc.figure(name: "deletion", caption: "Deletion curves, **95% CI**", svg: Gallery.deletionCurves())
        doc.heading("Agreement", level: 3)
        doc.figure(name: "agreement", caption: "Map agreement", svg: Gallery.agreementHeatmap())
        return doc
    }

    func testWritesEveryFileSelfContained() throws {
        guard requireTool("rsvg-convert", package: "librsvg2-bin") else { return }
        let (dir, keep) = try scratchDirectory("report")
        defer { if !keep { try? FileManager.default.removeItem(at: dir) } }
        try sampleDocument().write(to: dir.path)
        for file in ["report.html", "report.md", "figures/deletion.svg", "figures/deletion.png", "figures/agreement.svg",
                     "figures/agreement.png", "tables/table1.csv"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(file).path), file)
        }
        let html = try String(contentsOf: dir.appendingPathComponent("report.html"), encoding: .utf8)
        XCTAssertNil(html.range(of: "https?://", options: .regularExpression), "the page must not reference the network")
        XCTAssertNil(html.range(of: #"(src|href)="(?!data:|tables/|#)"#, options: .regularExpression), "only data: URIs and the CSV links")
        XCTAssertFalse(html.contains("<script>"))
        XCTAssertTrue(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        XCTAssertTrue(html.contains("<strong>85%</strong>") && html.contains("<code>quick</code>"))
        XCTAssertTrue(html.contains("<title>camaudit &lt;report&gt; &amp; co</title>"))
        XCTAssertTrue(html.contains("<td class=\"num\">0.91 ± 0.02</td>"), "numbers right-aligned")
        XCTAssertTrue(html.contains("<th class=\"num\">Accuracy</th>"))
        XCTAssertTrue(html.contains("<td>plain</td>"), "text left-aligned")
        XCTAssertTrue(html.contains("<caption>Table I: accuracy"), "a caption naming itself is not numbered again")
        XCTAssertTrue(html.contains("<strong>Figure 1.</strong>") && html.contains("<strong>Figure 2.</strong>"))
        // Each figure is its own SVG, byte for byte, as a data: URI.
        let uris = html.matches(of: /src="data:image\/svg\+xml;base64,([A-Za-z0-9+\/=]+)"/).map { String($0.1) }
        XCTAssertEqual(uris.count, 2)
        XCTAssertEqual(uris.first.flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) }, Gallery.deletionCurves())

        let csv = try String(contentsOf: dir.appendingPathComponent("tables/table1.csv"), encoding: .utf8)
        XCTAssertEqual(csv, "Architecture,Accuracy,Note\r\nResNet-50,0.91 ± 0.02,plain\r\nViT-B/16,n/a,\"said \"\"below floor\"\", flagged\"\r\nDenseNet-161,−0.05,\"line\nbreak\"\r\n")

        let md = try String(contentsOf: dir.appendingPathComponent("report.md"), encoding: .utf8)
        XCTAssertTrue(md.contains("![Figure 1. Deletion curves, **95% CI**](figures/deletion.png)"))
        XCTAssertTrue(md.contains("([SVG](figures/agreement.svg))"))
        XCTAssertTrue(md.contains("| --- | ---: | --- |"))
        XCTAssertTrue(md.contains("| DenseNet-161 | −0.05 | line break |"))
        XCTAssertTrue(md.contains("### Agreement"))
        XCTAssertTrue(md.contains("&lt;script>alert(1)&lt;/script> stays text"), "no raw HTML in the markdown")
        XCTAssertTrue(md.hasPrefix("# camaudit &lt;report> & co\n"))
        XCTAssertTrue(md.contains("\nTable I: accuracy ([CSV](tables/table1.csv))\n"))
        let png = try PNG.read(path: dir.appendingPathComponent("figures/agreement.png").path)
        XCTAssertGreaterThan(PixelStats(png).variance, 200)
    }

    func testNamesAreCheckedBeforeAnythingIsWritten() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("report-names-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        var bad = ReportDocument(title: "t")
        bad.figure(name: "../escape", caption: "", svg: "<svg/>")
        XCTAssertThrowsError(try bad.write(to: dir.path)) { XCTAssertTrue("\($0)".contains("figure name \"../escape\""), "\($0)") }
        var twice = ReportDocument(title: "t")
        twice.table(caption: "a", header: [], rows: [], csvName: "x")
        twice.table(caption: "b", header: [], rows: [], csvName: "x.csv")
        XCTAssertThrowsError(try twice.write(to: dir.path)) { XCTAssertTrue("\($0)".contains("two tables are named \"x.csv\""), "\($0)") }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.path))
    }

    func testInlineMarkdownSubset() {
        XCTAssertEqual(Markup.inlineHTML("a **b** `c **d**` e"), "a <strong>b</strong> <code>c **d**</code> e")
        XCTAssertEqual(Markup.inlineHTML("2 ** 3 and `x"), "2 ** 3 and `x")
        XCTAssertEqual(Markup.inlineHTML("<i>&"), "&lt;i&gt;&amp;")
        XCTAssertEqual(Markup.markdownText("p < 0.05, <b>x</b> and `<b>`"), "p < 0.05, &lt;b>x&lt;/b> and `<b>`")
        XCTAssertEqual(Markup.numericColumns(header: ["a", "b", "c"], rows: [["x", "1.0", "—"], ["y", "n/a", "—"]]), [false, true, false])
    }
}
