import XCTest
import TensorCore
import TestSupport
@testable import Evaluation

final class StatsTests: XCTestCase {
    func testMeanMedianBootstrap() {
        XCTAssertEqual(Stats.mean([1, 2, 3, 6]), 3)
        XCTAssertEqual(Stats.median([1, 2, 3, 6]), 2.5)
        XCTAssertEqual(Stats.median([5, 1, 3]), 3)
        XCTAssertNil(Stats.mean([]))
        XCTAssertEqual(Stats.bootstrapCI([2, 2, 2]), ConfidenceInterval(low: 2, high: 2))
        let x = (0..<40).map { Double($0 % 7) }
        let a = Stats.bootstrapCI(x, seed: 5)!, b = Stats.bootstrapCI(x, seed: 5)!, c = Stats.bootstrapCI(x, seed: 6)!
        XCTAssertEqual(a, b); XCTAssertNotEqual(a, c)
        let m = Stats.mean(x)!
        XCTAssertTrue(a.low < m && m < a.high)
        // Standard error of the mean ≈ sd/√n ≈ 2/√40 ≈ 0.32: a 95% interval spans about ±0.6.
        XCTAssertEqual(a.high - a.low, 2 * 1.96 * 1.96 / 40.0.squareRoot() * 1.0, accuracy: 0.35)
    }

    func testPercentileMatchesNumPy() throws {
        let f = try MetricFixture.load()
        let p = f.dict("percentile")
        let v = numbers(p["values"])
        for (q, e) in zip(numbers(p["q"]), numbers(p["p"])) { XCTAssertEqual(percentile(v, q), e, accuracy: 1e-12) }
    }

    func testCorrelations() throws {
        XCTAssertEqual(Stats.spearman([1, 2, 3, 4], [1, 4, 9, 16])!, 1, accuracy: 1e-12)
        XCTAssertEqual(Stats.spearman([1, 2, 3, 4], [4, 3, 2, 1])!, -1, accuracy: 1e-12)
        XCTAssertNil(Stats.spearman([1, 1, 1], [1, 2, 3]))
        // Average ranks: [10, 20, 20, 30] → [1, 2.5, 2.5, 4].
        XCTAssertEqual(averageRanks([10, 20, 20, 30]), [1, 2.5, 2.5, 4])
        let f = try MetricFixture.load()
        let s = f.dict("spearman")
        XCTAssertEqual(Stats.spearman(numbers(s["a"]), numbers(s["b"]))!, (s["rho"] as! NSNumber).doubleValue, accuracy: 1e-12)
        XCTAssertEqual(Stats.pearson(numbers(s["a"]), numbers(s["b"]))!, (s["pearson"] as! NSNumber).doubleValue, accuracy: 1e-12)
    }

    func testWilcoxonByHand() {
        // d = 1…5, all positive: W⁺ = 15 is the largest of 2⁵ equally likely sums → p = 2/32.
        let r = Stats.wilcoxon(differences: [1, 2, 3, 4, 5])!
        XCTAssertEqual(r.statistic, 0); XCTAssertEqual(r.pValue, 0.0625, accuracy: 1e-15); XCTAssertEqual(r.method, "exact")
        XCTAssertNil(Stats.wilcoxon(differences: [0, 0]))
    }

    func testWilcoxonMatchesScipy() throws {
        let f = try MetricFixture.load()
        for case let c as [String: Any] in f.json["wilcoxon"] as! [Any] {
            let kw = c["kw"] as! [String: Any]
            let zero: Stats.ZeroMethod = (kw["zero_method"] as? String) == "pratt" ? .pratt : .wilcox
            let asymptotic = (kw["method"] as? String) == "asymptotic"
            let r = Stats.wilcoxon(numbers(c["x"]), numbers(c["y"]), zeroMethod: zero,
                                   continuityCorrection: (kw["correction"] as? Bool) ?? false, exactMaximum: asymptotic ? 0 : 50)!
            let n = numbers(c["x"]).count
            XCTAssertEqual(r.statistic, (c["statistic"] as! NSNumber).doubleValue, accuracy: 1e-9, "n=\(n) \(kw)")
            XCTAssertEqual(r.pValue, (c["pvalue"] as! NSNumber).doubleValue, accuracy: 1e-9, "n=\(n) \(kw) via \(r.method)")
        }
    }

    func testHolm() {
        // sorted .005·4 = .02, .01·3 = .03, .03·2 = .06, .04·1 = .04 → running max .06.
        let adj = Stats.holm([0.01, 0.04, 0.03, 0.005])
        XCTAssertNil(closeness(adj.map(Float.init), [0.03, 0.06, 0.06, 0.02]))
        XCTAssertEqual(Stats.holm([0.5, 0.9]), [1, 1])
    }

    func testClassification() throws {
        // confusion [[1,1,0],[0,2,0],[1,0,1]]; F1: 2/4, 4/5, 2/3.
        let r = try ClassificationReport(truth: [0, 0, 1, 1, 2, 2], predicted: [0, 1, 1, 1, 2, 0], numClasses: 3)
        XCTAssertEqual(r.confusion, [[1, 1, 0], [0, 2, 0], [1, 0, 1]])
        XCTAssertEqual(r.accuracy, 4.0 / 6, accuracy: 1e-12)
        XCTAssertEqual(r.macroF1, (0.5 + 0.8 + 2.0 / 3) / 3, accuracy: 1e-12)
        XCTAssertEqual(r.sensitivity[0]!, 0.5, accuracy: 1e-12)
        XCTAssertEqual(r.specificity[0]!, 0.75, accuracy: 1e-12)  // TN 3, FP 1
        XCTAssertEqual(r.specificity[1]!, 0.75, accuracy: 1e-12)  // TN 3, FP 1
        XCTAssertThrowsError(try ClassificationReport(truth: [0, 3], predicted: [0, 0], numClasses: 3))
        let f = try MetricFixture.load()
        let c = f.dict("classification")
        let s = try ClassificationReport(truth: numbers(c["truth"]).map { Int($0) }, predicted: numbers(c["pred"]).map { Int($0) }, numClasses: 3)
        XCTAssertEqual(s.macroF1, (c["macro_f1"] as! NSNumber).doubleValue, accuracy: 1e-12)
        XCTAssertEqual(s.confusion, (c["confusion"] as! [[NSNumber]]).map { $0.map(\.intValue) })
    }
}
