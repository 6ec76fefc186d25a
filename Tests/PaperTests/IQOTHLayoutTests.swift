import XCTest
import Foundation
import Imaging
@testable import Paper

/// A folder in IQ-OTH/NCCD's exact layout and naming (`Bengin cases/Bengin case (1).jpg`, non-square
/// JPEGs, a byte-identical duplicate) runs through unchanged; without masks every localization
/// metric is reported undefined with its reason, never as zero.
final class IQOTHLayoutTests: XCTestCase {
    func testKaggleLayoutRunsWithLocalizationUndefined() throws {
        let base = NSTemporaryDirectory() + "paper-iqoth-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: base) }
        // The folder as downloaded: one top folder holding the three class folders.
        let download = base + "/download"
        let root = download + "/The IQ-OTHNCCD lung cancer dataset"
        var firstBytes: [UInt8] = []
        for (c, (folder, stem)) in [("Bengin cases", "Bengin case"), ("Malignant cases", "Malignant case"), ("Normal cases", "Normal case")].enumerated() {
            try FileManager.default.createDirectory(atPath: root + "/" + folder, withIntermediateDirectories: true)
            for i in 1...8 {
                let (w, h) = i % 2 == 0 ? (72, 88) : (80, 64)
                var px = [UInt8](repeating: 0, count: w * h)
                for y in 0..<h { for x in 0..<w { px[y * w + x] = UInt8((x * (c + 1) + y * i * 3 + c * 60) % 256) } }
                let bytes = try JPEG.encode(try Image(width: w, height: h, channels: 1, bytes: px), quality: 90)
                if c == 0 && i == 1 { firstBytes = bytes }
                try Data(bytes).write(to: URL(fileURLWithPath: "\(root)/\(folder)/\(stem) (\(i)).jpg"))
            }
        }
        // A duplicate as the distribution has them: the same bytes under another name.
        try Data(firstBytes).write(to: URL(fileURLWithPath: "\(root)/Bengin cases/Bengin case (9).jpg"))

        var c = PaperProfile.tiny.config
        c.data.folder = download
        c.architectures = ["resnet50", "efficientnet_b0"]
        c.seeds = [42]
        c.analysis.methods = ["gradcam", "random"]
        let out = base + "/out"
        let run = try Pipeline(config: c, out: out, version: "test").run()

        XCTAssertFalse(run.data.isPhantom)
        XCTAssertEqual(run.data.manifest.classes, ["benign", "malignant", "normal"])
        let dup = run.data.manifest.items.filter { $0.file.hasSuffix("Bengin case (1).jpg") || $0.file.hasSuffix("Bengin case (9).jpg") }
        XCTAssertEqual(dup.count, 2)
        XCTAssertEqual(dup[0].split, dup[1].split, "byte-identical files share a split")
        XCTAssertTrue(run.shortcut.isEmpty)

        let locacc = run.main.rows.filter { $0.key.metric == "locacc" }
        XCTAssertFalse(locacc.isEmpty)
        // Undefined, never zero: for want of a mask (or, first, because an untrained model's map is constant).
        XCTAssertTrue(locacc.allSatisfy { $0.value == nil && ["no lesion mask", "constant map"].contains($0.reason) }, "no mask: undefined, not zero")
        XCTAssertTrue(locacc.contains { $0.reason == "no lesion mask" })
        XCTAssertTrue(run.main.rows.contains { $0.key.metric == "faith" && $0.value != nil }, "faithfulness needs no mask")

        let md = try String(contentsOfFile: out + "/report.md", encoding: .utf8)
        XCTAssertTrue(md.contains("Localization metrics are undefined for this data"))
        XCTAssertTrue(md.contains("undefined (no lesion mask)") || md.contains("undefined (constant map)"))
        XCTAssertTrue(md.contains("Not applicable: the user's images carry no synthetic marker"))
        let ex = try String(contentsOfFile: out + "/tables/explanation.csv", encoding: .utf8).replacingOccurrences(of: "\r\n", with: "\n")
        XCTAssertFalse(ex.split(separator: "\n").contains { $0.contains("LocAcc") && $0.contains("0.000 [") }, "LocAcc never shown as zero")
    }
}
