import XCTest
import Evaluation
@testable import Paper

/// Methods whose cascade values coincide share one line (one would hide the other); distinct ones keep their own.
final class CascadeFigureTests: XCTestCase {
    func row(_ method: String, _ image: String, _ stage: Int, _ v: Double) -> ResultRow {
        ResultRow(key: ResultKey(image: image, model: "resnet50", weights: "w", method: method, metric: "cascade_spearman", params: "stage=\(stage)"), value: v)
    }

    func testIdenticalMethodsShareALine() throws {
        var rows: [ResultRow] = []
        for (i, img) in ["a", "b", "c"].enumerated() {
            for st in 0..<3 {
                let v = 0.9 - 0.3 * Double(st) + 0.01 * Double(i)
                rows += [row("gradcam", img, st, v), row("hirescam", img, st, v + 1e-4), row("eigencam", img, st, 1 - 0.1 * Double(st))]
            }
        }
        let f = try XCTUnwrap(Figures.cascade(rows, architecture: "resnet50"))
        XCTAssertTrue(f.svg.contains("gradcam = hirescam"), "one legend entry for the two identical methods")
        XCTAssertTrue(f.svg.contains("eigencam"))
        XCTAssertFalse(f.svg.contains("eigencam = "))
        XCTAssertTrue(f.caption.contains("share a line (gradcam = hirescam)"))

        let distinct = rows.filter { $0.key.method != "hirescam" } + [row("hirescam", "a", 0, 0.5)]
        let g = try XCTUnwrap(Figures.cascade(distinct, architecture: "resnet50"))
        XCTAssertFalse(g.svg.contains("gradcam = "), "no merge when values differ")
        XCTAssertFalse(g.caption.contains("share a line"))
    }
}
