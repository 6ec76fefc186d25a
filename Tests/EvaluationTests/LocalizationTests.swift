import XCTest
import TensorCore
import TestSupport
@testable import Evaluation

final class LocalizationTests: XCTestCase {
    // 4×4 map and a mask of the top-left 2×2 block plus (2,2); worked by hand.
    let map = t([4, 4], [0.9, 0.8, 0.1, 0.0,
                         0.7, 0.6, 0.2, 0.1,
                         0.3, 0.4, 0.5, 0.0,
                         0.0, 0.1, 0.2, 0.3])
    let mask = t([4, 4], [1, 1, 0, 0,
                          1, 1, 0, 0,
                          0, 0, 1, 0,
                          0, 0, 0, 0])
    let empty = Tensor(zeros: [4, 4])

    func testLocAcc() throws {
        // ≥ 0.5: .9 .8 .7 .6 .5 — all five mask pixels.
        XCTAssertEqual(try Localization.locAcc(map: map, mask: mask), 1)
        // ≥ 0.65: .9 .8 .7 → 3 of 5.
        XCTAssertEqual(try Localization.locAcc(map: map, mask: mask, threshold: 0.65)!, 0.6, accuracy: 1e-12)
        XCTAssertNil(try Localization.locAcc(map: map, mask: empty))
        XCTAssertThrowsError(try Localization.locAcc(map: map, mask: Tensor(zeros: [4, 5])))
    }

    func testPointingGame() throws {
        XCTAssertEqual(try Localization.pointingGame(map: map, mask: mask), 1)
        // Maximum at (3,3); nearest mask pixel (2,2) is √2 away.
        let m2 = map.copy(); m2.data[15] = 1.0
        XCTAssertEqual(try Localization.pointingGame(map: m2, mask: mask), 0)
        XCTAssertEqual(try Localization.pointingGame(map: m2, mask: mask, tolerance: 1), 0)
        XCTAssertEqual(try Localization.pointingGame(map: m2, mask: mask, tolerance: 1.5), 1)
        // Ties: the first maximum in row-major order (index 1) decides, not index 2 in the mask.
        let tie = t([2, 2], [0.2, 1, 1, 0.1]), tm = t([2, 2], [0, 0, 1, 0])
        XCTAssertEqual(try Localization.pointingGame(map: tie, mask: tm), 0)
        XCTAssertNil(try Localization.pointingGame(map: map, mask: empty))
    }

    func testEnergyPointingGame() throws {
        // Σ L = 1.8 + 1.6 + 1.2 + 0.6 = 5.2; inside = .9 + .8 + .7 + .6 + .5 = 3.5.
        XCTAssertEqual(try Localization.energyPointingGame(map: map, mask: mask)!, 3.5 / 5.2, accuracy: 1e-6)
        XCTAssertNil(try Localization.energyPointingGame(map: Tensor(zeros: [4, 4]), mask: mask))
    }

    func testIoUDice() throws {
        let a = try Localization.overlapAtThreshold(map: map, mask: mask)
        XCTAssertEqual(a.iou, 1); XCTAssertEqual(a.dice, 1)
        // ≥ 0.3: 8 pixels, 5 in the mask: IoU 5/8, Dice 10/13.
        let b = try Localization.overlapAtThreshold(map: map, mask: mask, threshold: 0.3)
        XCTAssertEqual(b.iou!, 5.0 / 8, accuracy: 1e-12); XCTAssertEqual(b.dice!, 10.0 / 13, accuracy: 1e-12)
        // Top 25% = 4 pixels (.9 .8 .7 .6), all in the mask: IoU 4/5, Dice 8/9.
        let c = try Localization.overlapAtTopPercent(map: map, mask: mask, percent: 25)
        XCTAssertEqual(c.iou!, 0.8, accuracy: 1e-12); XCTAssertEqual(c.dice!, 8.0 / 9, accuracy: 1e-12)
        // Top 10% of 16 = ⌈1.6⌉ = 2 pixels: IoU 2/5.
        XCTAssertEqual(try Localization.overlapAtTopPercent(map: map, mask: mask, percent: 10).iou!, 0.4, accuracy: 1e-12)
        XCTAssertNil(try Localization.overlapAtThreshold(map: map, mask: empty).iou)
    }

    func testRelevanceRankAccuracy() throws {
        XCTAssertEqual(try Localization.relevanceRankAccuracy(map: map, mask: mask), 1)
        // All-equal map: ties by index, top 5 = indices 0…4 → mask pixels 0, 1, 4 → 3/5.
        XCTAssertEqual(try Localization.relevanceRankAccuracy(map: Tensor(repeating: 0.5, shape: [4, 4]), mask: mask)!, 0.6, accuracy: 1e-12)
        XCTAssertNil(try Localization.relevanceRankAccuracy(map: map, mask: empty))
    }

    func testROCAUC() throws {
        XCTAssertEqual(try Localization.rocAUC(map: map, mask: mask), 1)
        // Pairs (pos, neg): (1,1) ½, (1,0) 1, (0,1) 0, (0,0) ½ → 2/4.
        XCTAssertEqual(Localization.rocAUC(scores: [1, 1, 0, 0], labels: [true, false, true, false])!, 0.5, accuracy: 1e-12)
        // pos {.4, .8}, neg {.2, .4}: 1 + ½ + 1 + 1 = 3.5 of 4.
        XCTAssertEqual(Localization.rocAUC(scores: [0.2, 0.4, 0.4, 0.8], labels: [false, true, false, true])!, 0.875, accuracy: 1e-12)
        XCTAssertNil(try Localization.rocAUC(map: map, mask: empty))
        XCTAssertNil(try Localization.rocAUC(map: map, mask: Tensor(repeating: 1, shape: [4, 4])))
    }

    func testROCAUCMatchesSklearn() throws {
        let f = try MetricFixture.load()
        let a = f.dict("auc")
        let labels = numbers(a["labels"]).map { $0 > 0.5 }
        XCTAssertEqual(Localization.rocAUC(scores: numbers(a["scores"]), labels: labels)!, (a["auc"] as! NSNumber).doubleValue, accuracy: 1e-12)
    }

    func testMinMax() {
        let n = Localization.minMaxNormalized(t([2, 2], [2, 4, 6, 10]))
        XCTAssertEqual(n.values, [0, 0.25, 0.5, 1])
        XCTAssertEqual(Localization.minMaxNormalized(t([1, 2], [3, 3])).values, [0, 0])
    }
}
