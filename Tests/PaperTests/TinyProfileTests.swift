import XCTest
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Imaging
import Report
@testable import Paper

/// The tiny profile end to end (release build): every artefact exists and is well-formed, a rerun
/// reuses every stage, a changed setting recomputes only what depends on it, and a real browser
/// shows every figure of report.html.
final class TinyProfileTests: XCTestCase {
    nonisolated(unsafe) static var out = ""
    nonisolated(unsafe) static var first: PaperRun?
    nonisolated(unsafe) static var failure: Error?

    override class func setUp() {
        super.setUp()
        out = NSTemporaryDirectory() + "paper-tiny-\(UUID().uuidString)"
        do { first = try Pipeline(config: PaperProfile.tiny.config, out: out, version: "test").run() } catch { failure = error }
    }

    override class func tearDown() {
        try? FileManager.default.removeItem(atPath: out)
        super.tearDown()
    }

    func tinyRun() throws -> PaperRun {
        if let failure = Self.failure { throw failure }
        return try XCTUnwrap(Self.first)
    }

    func csv(_ name: String) throws -> [[String]] {
        // RFC 4180 records end in CRLF, which Swift reads as one Character: split on it.
        let text = try String(contentsOfFile: Self.out + "/tables/\(name).csv", encoding: .utf8).replacingOccurrences(of: "\r\n", with: "\n")
        return text.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
    }

    func testEveryArtefactIsWellFormed() throws {
        let r = try tinyRun()
        XCTAssertEqual(r.models.count, 10, "five architectures × two seeds")
        XCTAssertTrue(r.events.allSatisfy { !$0.cached }, "a fresh folder computes every stage")
        let fm = FileManager.default
        for f in ["report.html", "report.md", "run.json", "stages.json"] { XCTAssertTrue(fm.fileExists(atPath: Self.out + "/" + f), f) }

        let t1 = try csv("table1")
        XCTAssertEqual(Array(t1[0].prefix(6)), ["architecture", "initialisation", "parameters", "seeds", "accuracy", "macro-F1"])
        XCTAssertEqual(t1.count, 6)
        guard t1.count == 6 else { return }
        XCTAssertEqual(Set(t1.dropFirst().map { $0[0] }), Set(r.config.architectures))
        XCTAssertEqual(t1[1][1], "from scratch", "Table I says where each model started")
        XCTAssertEqual(t1[1][2], "23514179", "ResNet-50 with a 3-class head: torchvision's 25,557,032 − 2048·997 − 997")
        let ex = try String(contentsOfFile: Self.out + "/tables/explanation.csv", encoding: .utf8)
        XCTAssertTrue(ex.hasPrefix("architecture,metric,"))
        for label in ["LocAcc", "Faith", "Consist", "Pointing", "Energy", "Deletion AUC", "Insertion AUC"] { XCTAssertTrue(ex.contains(label), label) }
        for t in ["shortcut", "methods"] { XCTAssertTrue(fm.fileExists(atPath: Self.out + "/tables/\(t).csv"), t) }

        let manifest = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.out + "/run.json"))) as? [String: Any])
        XCTAssertEqual((manifest["weights"] as? [[String: Any]])?.count, 10)
        XCTAssertEqual((manifest["shortcut_weights"] as? [[String: Any]])?.count, 5, "one shortcut model per architecture")
        for a in r.config.architectures {
            for trainedOn in ["marked", "clean"] {
                XCTAssertEqual(r.shortcut.filter { $0.architecture == a && $0.trainedOn == trainedOn }.count, 1, "\(a) \(trainedOn)")
            }
        }
        let sc = try csv("shortcut")
        XCTAssertEqual(sc.count, 11, "header + shortcut model and control per architecture")
        XCTAssertEqual(((manifest["weights"] as? [[String: Any]])?.first?["sha256"] as? String)?.count, 64)
        XCTAssertNotNil(manifest["threads"]); XCTAssertNotNil(manifest["config"]); XCTAssertNotNil(manifest["sweeps"])
        XCTAssertEqual((manifest["data"] as? [String: Any])?["manifest_sha256"].map { "\($0)" }?.count, 64)

        let figures = try fm.contentsOfDirectory(atPath: Self.out + "/figures")
        let svgs = figures.filter { $0.hasSuffix(".svg") }
        for name in ["accuracy", "gradcam_grid", "deletion_curves", "insertion_curves", "dist_locacc", "agreement", "cascade", "methods", "shortcut_energy", "shortcut_accuracy"] {
            XCTAssertTrue(svgs.contains(name + ".svg"), "figure \(name)")
        }
        for svg in svgs {
            let parser = XMLParser(data: try Data(contentsOf: URL(fileURLWithPath: Self.out + "/figures/" + svg)))
            XCTAssertTrue(parser.parse(), "\(svg) is well-formed XML: \(parser.parserError.map { "\($0)" } ?? "")")
            let png = Self.out + "/figures/" + svg.replacingOccurrences(of: ".svg", with: ".png")
            let img = try PNG.read(path: png)
            XCTAssertGreaterThan(img.width, 100, png)
        }
        // 64-px slices: the CNNs' last stages are 2×2 (stride 32), ViT-B/16's token grid 4×4.
        XCTAssertEqual(r.grid?.mapSizes, r.config.architectures.map { $0 == "vit_b_16" ? [4, 4] : [2, 2] })
        let md = try String(contentsOfFile: Self.out + "/report.md", encoding: .utf8)
        XCTAssertTrue(md.contains("resnet50 2×2"), "the grid's caption states each map's grid")
        XCTAssertTrue(md.contains("**Coarse maps.** At this image size the maps of resnet50 (2×2), resnet101 (2×2)"), "the report explains what 2×2 maps cannot show")
        XCTAssertFalse(md.contains("vit_b_16 (4×4)"), "a 4×4 grid has interior cells: not flagged")
        let html = try String(contentsOfFile: Self.out + "/report.html", encoding: .utf8)
        XCTAssertNil(html.range(of: #"(src|href)\s*=\s*["'](https?:|//|figures/)"#, options: .regularExpression), "report.html fetches nothing")
        XCTAssertEqual(html.components(separatedBy: "data:image/svg+xml").count - 1, svgs.count, "every figure is inlined")
        XCTAssertTrue(html.contains("Below the floor") || html.contains("below the floor"), "one-epoch models are flagged below the accuracy floor")
    }

    func testRerunReusesEveryStage() throws {
        _ = try tinyRun()
        let again = try Pipeline(config: PaperProfile.tiny.config, out: Self.out, version: "test").run()
        let stages = again.events.filter { $0.stage != "report" }
        XCTAssertFalse(stages.isEmpty)
        XCTAssertEqual(stages.filter { !$0.cached }.map { "\($0.stage) \($0.item)" }, [], "nothing is recomputed")
        XCTAssertEqual(Set(again.events.map(\.key)).subtracting([""]), Set(try tinyRun().events.map(\.key)).subtracting([""]))
    }

    func testChangedSettingRecomputesOnlyItsDependants() throws {
        _ = try tinyRun()
        var c = PaperProfile.tiny.config
        c.analysis.curveImages = 2
        let changed = try Pipeline(config: c, out: Self.out, version: "test").run()
        let computed = Set(changed.events.filter { !$0.cached && $0.stage != "report" }.map(\.stage))
        XCTAssertEqual(computed, ["curves"], "only the curves depend on the number of curve images")
        XCTAssertEqual(changed.curves.first?.deletion.count, 2)
    }

    /// Every figure of report.html, as headless Chromium renders it, has ink on it.
    func testBrowserShowsEveryFigure() throws {
        _ = try tinyRun()
        let html = try String(contentsOfFile: Self.out + "/report.html", encoding: .utf8)
        let dir = NSTemporaryDirectory() + "paper-shot-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Browser.screenshot(html: html, png: dir + "/report.png", width: 1200)
        let page = try PNG.read(path: dir + "/report.png")
        XCTAssertGreaterThan(page.height, 2000, "the whole report, not one screen")
        // Each <img> of the page alone, as the browser draws it.
        let imgs = html.components(separatedBy: "<img").dropFirst().compactMap { $0.components(separatedBy: ">").first.map { "<img" + $0 + ">" } }
        XCTAssertGreaterThanOrEqual(imgs.count, 9)
        for (k, img) in imgs.enumerated() {
            let png = dir + "/fig\(k).png"
            try Browser.screenshot(html: "<html><body style=\"margin:0;background:#fff\">\(img.replacingOccurrences(of: "<img", with: "<img style=\"width:900px\""))</body></html>",
                                   png: png, width: 900, height: 700)
            let shot = try PNG.read(path: png).grey()
            var dark = 0
            for i in 0..<shot.pixelCount where shot.sample(i) < 200 { dark += 1 }
            XCTAssertGreaterThan(Double(dark) / Double(shot.pixelCount), 0.005, "figure \(k) renders blank in Chromium")
        }
    }
}
