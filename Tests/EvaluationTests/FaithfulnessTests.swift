import XCTest
import TensorCore
import TestSupport
@testable import Evaluation

final class FaithfulnessTests: XCTestCase {
    // Image [[1,2],[3,4]] (one channel), map [[.1,.9],[.5,.5]]: deletion order = indices 1, 2, 3, 0
    // (2 and 3 tie, lower index first). SumModel: P(class 0) = sigmoid(Σ x).
    let image = t([1, 1, 2, 2], [1, 2, 3, 4])
    let map = t([2, 2], [0.1, 0.9, 0.5, 0.5])

    func testDeletionByHand() throws {
        let m = SumModel()
        let c = try Faithfulness.deletion(image: image, map: map, targetClass: 0, model: m.callAsFunction, steps: 4, batchSize: 2)
        // Sums after 0…4 pixels: 10, 8, 5, 1, 0.
        let expected = [10.0, 8, 5, 1, 0].map(sigmoid)
        XCTAssertEqual(c.fractions, [0, 0.25, 0.5, 0.75, 1])
        XCTAssertNil(closeness(c.scores.map(Float.init), expected.map(Float.init), rtol: 1e-6, atol: 1e-7))
        var auc = 0.0
        for k in 0..<4 { auc += 0.25 * (expected[k] + expected[k + 1]) / 2 }
        XCTAssertEqual(c.auc, auc, accuracy: 1e-7)
        XCTAssertTrue(m.batches.allSatisfy { $0 <= 2 }, "batches \(m.batches)")
        XCTAssertEqual(m.batches.reduce(0, +), 5)
        // A known clean score replaces the first forward.
        let m2 = SumModel()
        let c2 = try Faithfulness.deletion(image: image, map: map, targetClass: 0, model: m2.callAsFunction, steps: 4,
                                           cleanScore: sigmoid(10), batchSize: 16)
        XCTAssertEqual(m2.batches, [4]); XCTAssertEqual(c2.scores[0], sigmoid(10))
    }

    func testDeletionPartialLastStepAndMeanBaseline() throws {
        // 1×5 image, steps 2 → ⌈5/2⌉ = 3 pixels per step; points at 0, 3, 5 pixels.
        let img = t([1, 1, 1, 5], [1, 2, 3, 4, 5]), m = t([1, 5], [0.5, 0.4, 0.3, 0.2, 0.1])
        let c = try Faithfulness.deletion(image: img, map: m, targetClass: 0, model: SumModel().callAsFunction, steps: 2,
                                          baseline: .mean, score: .logit)
        XCTAssertEqual(c.fractions, [0, 0.6, 1])
        // Mean = 3: after 3 pixels 3+3+3+4+5 = 18; after 5: 15.
        XCTAssertEqual(c.scores, [15, 18, 15])
        let expectedAUC: Double = 0.6 * 33 / 2 + 0.4 * 33 / 2
        XCTAssertEqual(c.auc, expectedAUC, accuracy: 1e-12)
    }

    func testFaithAndConfidenceByHand() throws {
        // Faith = Σx − Σx(1−L) = Σ xL = .1 + 1.8 + 1.5 + 2 = 5.4 (raw logit of the predicted class 0).
        let f = try Faithfulness.faith(images: image, maps: try map.reshaped([1, 2, 2]), model: SumModel().callAsFunction)
        XCTAssertEqual(f[0], 5.4, accuracy: 1e-5)
        // Class 1's logit is always 0.
        XCTAssertEqual(try Faithfulness.faith(images: image, maps: try map.reshaped([1, 2, 2]), model: SumModel().callAsFunction, classes: [1])[0], 0)
        let cc = try Faithfulness.confidenceChange(images: image, maps: try map.reshaped([1, 2, 2]), model: SumModel().callAsFunction)[0]
        XCTAssertEqual(cc.clean, sigmoid(10), accuracy: 1e-9)
        XCTAssertEqual(cc.explained, sigmoid(5.4), accuracy: 1e-6)
        XCTAssertEqual(cc.dropPercent, 100 * (sigmoid(10) - sigmoid(5.4)) / sigmoid(10), accuracy: 1e-4)
        XCTAssertEqual(cc.increased, 0)
        XCTAssertThrowsError(try Faithfulness.faith(images: image, maps: Tensor(zeros: [1, 3, 2]), model: SumModel().callAsFunction))
    }

    func testBlurMatchesTorchvisionAndKeepsConstants() throws {
        let f = try MetricFixture.load()
        let (c, h, w) = (f.int("C"), f.int("H"), f.int("W"))
        let x0 = try Tensor(shape: [c, h, w], values: Array(f.floats("images")[0..<c * h * w]))
        let b = try GaussianBlur.apply(x0)
        XCTAssertNil(closeness(b.values, f.floats("blurred0"), rtol: 1e-5, atol: 2e-6))
        let k = try GaussianBlur.apply(Tensor(repeating: 0.3, shape: [1, 4, 4]))
        XCTAssertNil(closeness(k.values, [Float](repeating: 0.3, count: 16), rtol: 1e-6, atol: 1e-7))
    }

    func testRISEAndFaithAgainstNumPyFixture() throws {
        let f = try MetricFixture.load()
        let (c, h, w) = (f.int("C"), f.int("H"), f.int("W"))
        let images = try Tensor(shape: [2, c, h, w], values: f.floats("images"))
        let maps = try Tensor(shape: [2, h, w], values: f.floats("maps"))
        let model = f.model()
        let x0 = try images.slice0(0..<1), m0 = try maps.slice0(0..<1).reshaped([h, w])
        let cls = f.int("class0")
        let rise = f.dict("rise")
        for steps in [10, 50] {
            for (name, run) in [
                ("deletion_zero", { try Faithfulness.deletion(image: x0, map: m0, targetClass: cls, model: model, steps: steps, batchSize: 7) }),
                ("deletion_blur", { try Faithfulness.deletion(image: x0, map: m0, targetClass: cls, model: model, steps: steps, baseline: .blur, batchSize: 7) }),
                ("deletion_mean", { try Faithfulness.deletion(image: x0, map: m0, targetClass: cls, model: model, steps: steps, baseline: .mean, batchSize: 7) }),
                ("insertion", { try Faithfulness.insertion(image: x0, map: m0, targetClass: cls, model: model, steps: steps, batchSize: 7) }),
            ] as [(String, () throws -> PerturbationCurve)] {
                let ref = rise["\(name)_\(steps)"] as! [String: Any]
                let got = try run()
                XCTAssertEqual(got.fractions, numbers(ref["fractions"]), "\(name) \(steps)")
                XCTAssertNil(closeness(got.scores.map(Float.init), numbers(ref["scores"]).map(Float.init), rtol: 1e-5, atol: 1e-6), "\(name) \(steps)")
                XCTAssertEqual(got.auc, (ref["auc"] as! NSNumber).doubleValue, accuracy: 1e-6, "\(name) \(steps)")
            }
        }
        let faith = try Faithfulness.faith(images: images, maps: maps, model: model, batchSize: 1)
        XCTAssertNil(closeness(faith.map(Float.init), f.floats("faith_pred"), rtol: 1e-4, atol: 1e-5))
        let trueCls = numbers(f.json["true_classes"]).map { Int($0) }
        let faithTrue = try Faithfulness.faith(images: images, maps: maps, model: model, classes: trueCls)
        XCTAssertNil(closeness(faithTrue.map(Float.init), f.floats("faith_true"), rtol: 1e-4, atol: 1e-5))
        let conf = try Faithfulness.confidenceChange(images: images, maps: maps, model: model)
        let cref = f.dict("confidence")
        XCTAssertNil(closeness(conf.map { Float($0.clean) }, numbers(cref["clean"]).map(Float.init), rtol: 1e-5, atol: 1e-6))
        XCTAssertNil(closeness(conf.map { Float($0.explained) }, numbers(cref["explained"]).map(Float.init), rtol: 1e-5, atol: 1e-6))
    }

    func testROADImputation() throws {
        // One unknown centre pixel: the weighted mean of its 8 neighbours (1/6 edge, 1/12 diagonal).
        let img = t([1, 3, 3], [1, 2, 3, 4, 100, 6, 7, 8, 9])
        var keep = [Bool](repeating: true, count: 9); keep[4] = false
        var rng = SeededRNG(seed: 1)
        let out = try ROADImputer.impute(image: img, keep: keep, noise: 0, rng: &rng)
        let expected = (2.0 + 4 + 6 + 8) / 6 + (1.0 + 3 + 7 + 9) / 12
        XCTAssertEqual(Double(out.data[4]), expected, accuracy: 1e-5)
        XCTAssertEqual(out.data[0], 1)
        // Against pytorch-grad-cam's NoisyLinearImputer(noise=0) on the fixture (MoRF, 80th percentile).
        let f = try MetricFixture.load()
        let (c, h, w) = (f.int("C"), f.int("H"), f.int("W"))
        let x0 = try Tensor(shape: [c, h, w], values: Array(f.floats("images")[0..<c * h * w]))
        let keepRef = f.doubles("road_keep").map { $0 > 0.5 }
        let imp = try ROADImputer.impute(image: x0, keep: keepRef, noise: 0, rng: &rng)
        XCTAssertNil(closeness(imp.values, f.floats("road_imputed"), rtol: 1e-4, atol: 1e-5))
        // road(): MoRF at 80 with noise 0 = logit(imputed) − logit(x), the same pixels as pytorch-grad-cam.
        let model = f.model()
        let m0 = try Tensor(shape: [h, w], values: Array(f.floats("maps")[0..<h * w]))
        let cls = f.int("class0")
        let d = try Faithfulness.road(image: x0, map: m0, targetClass: cls, model: model, order: .mostRelevantFirst,
                                      percentiles: [80], noise: 0, score: .logit)
        let ref = try Tensor(shape: [1, c, h, w], values: f.floats("road_imputed"))
        let expectedDiff = Double(try model(ref).values[cls]) - Double(try model(x0.reshaped([1, c, h, w])).values[cls])
        XCTAssertEqual(d.count, 1)
        XCTAssertEqual(d[0], expectedDiff, accuracy: 1e-4)
        // Default percentiles give nine values; the noise is seeded.
        let a = try Faithfulness.road(image: x0, map: m0, targetClass: cls, model: model, order: .leastRelevantFirst, seed: 3)
        let b = try Faithfulness.road(image: x0, map: m0, targetClass: cls, model: model, order: .leastRelevantFirst, seed: 3)
        XCTAssertEqual(a.count, 9); XCTAssertEqual(a, b)
    }

    func testFaithfulnessCorrelation() throws {
        // SumModel's logit drop when pixels go to 0 is exactly the sum of their values, so the map
        // "x itself" is perfectly faithful (ρ = 1) and its negative perfectly anti-faithful.
        var r = TestRNG(seed: 7)
        let img = r.tensor([1, 1, 8, 8], 0, 1)
        let m = try img.reshaped([8, 8])
        let neg = Tensor(uninitialized: [8, 8]); for i in 0..<64 { neg.data[i] = -m.data[i] }
        let model = SumModel()
        let rho = try Faithfulness.faithfulnessCorrelation(image: img, map: m, targetClass: 0, model: model.callAsFunction,
                                                           runs: 20, subsetSize: 6, seed: 1, batchSize: 8)
        XCTAssertEqual(rho!, 1, accuracy: 1e-5)
        XCTAssertTrue(model.batches.allSatisfy { $0 <= 8 })
        let rhoNeg = try Faithfulness.faithfulnessCorrelation(image: img, map: neg, targetClass: 0, model: SumModel().callAsFunction,
                                                              runs: 20, subsetSize: 6, seed: 1)
        XCTAssertEqual(rhoNeg!, -1, accuracy: 1e-5)
    }
}
