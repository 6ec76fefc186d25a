import XCTest
import TensorCore
import TestSupport
@testable import Evaluation

final class ConsistencyTests: XCTestCase {
    func testConsistByHand() throws {
        // Binarised at .5: ref {0,1}, r1 {0,1} (IoU 1), r2 {1,2} (IoU 1/3).
        let ref = t([1, 4], [0.9, 0.6, 0.1, 0]), r1 = t([1, 4], [0.5, 1, 0.2, 0.4]), r2 = t([1, 4], [0, 0.7, 0.8, 0])
        XCTAssertEqual(try Consistency.consist(maps: [ref, r1, r2])!, (1 + 1.0 / 3) / 2, accuracy: 1e-12)
        // All pairs add r1–r2 (IoU 1/3).
        XCTAssertEqual(try Consistency.consist(maps: [ref, r1, r2], allPairs: true)!, (1 + 1.0 / 3 + 1.0 / 3) / 3, accuracy: 1e-12)
        XCTAssertNil(try Consistency.consist(maps: [ref]))
        // Two empty binarised maps carry nothing to agree on: undefined, not 1.
        XCTAssertNil(try Similarity.binaryIoU(Tensor(zeros: [2, 2]), Tensor(zeros: [2, 2])))
        XCTAssertEqual(try Similarity.binaryIoU(Tensor(zeros: [2, 2]), t([2, 2], [1, 0, 0, 0])), 0)
        let p = try Consistency.pairwise(maps: [ref, r1, r2], withSSIM: false)
        XCTAssertEqual(p.map { [$0.first, $0.second] }, [[0, 1], [0, 2], [1, 2]])
        XCTAssertEqual(p[0].iou, 1)
    }

    /// A zero classifier head gives blank maps: Consist must be undefined, never 1 ("perfectly
    /// consistent"); a constant map leaves the mean, and a pair of empty binarised maps too.
    func testConsistOfBlankAndConstantMapsIsUndefined() throws {
        let blank = Tensor(zeros: [1, 4]), full = Tensor(repeating: 1, shape: [1, 4])
        XCTAssertNil(try Consistency.consist(maps: [blank, blank, blank]))
        XCTAssertNil(try Consistency.consist(maps: [full, full]), "all-ones maps are constant: no localisation to agree on")
        XCTAssertNil(try Consistency.consist(maps: [blank, blank], allPairs: true))
        // Reference [1,1,0,0]; one defined pair (IoU 1/2 with [1,0,0,0]) and one blank map left out.
        let ref = t([1, 4], [0.9, 0.6, 0.1, 0]), other = t([1, 4], [0.9, 0.2, 0.1, 0])
        XCTAssertEqual(try Consistency.consist(maps: [ref, other, blank])!, 0.5, accuracy: 1e-12)
        XCTAssertTrue(isConstantMap(blank)); XCTAssertTrue(isConstantMap(full)); XCTAssertFalse(isConstantMap(ref))
    }

    func testSSIM() throws {
        var r = TestRNG(seed: 3)
        let a = r.tensor([12, 12], 0, 1)
        XCTAssertEqual(try Similarity.ssim(a, a), 1, accuracy: 1e-12)
        XCTAssertThrowsError(try Similarity.ssim(Tensor(zeros: [8, 8]), Tensor(zeros: [8, 8])))
        let f = try MetricFixture.load()
        let s = f.dict("ssim")
        let (h, w) = ((s["h"] as! NSNumber).intValue, (s["w"] as! NSNumber).intValue)
        let x = try Tensor(shape: [h, w], values: numbers(s["a"]).map(Float.init))
        let y = try Tensor(shape: [h, w], values: numbers(s["b"]).map(Float.init))
        XCTAssertEqual(try Similarity.ssim(x, y), (s["ssim"] as! NSNumber).doubleValue, accuracy: 1e-6)
    }

    /// An explanation that is the image's first channel: exactly equivariant.
    nonisolated(unsafe) static let identityExplain: MapFunction = { images, _ in
        let n = images.shape[0], c = images.shape[1], h = images.shape[2], w = images.shape[3]
        let out = Tensor(uninitialized: [n, h, w])
        for i in 0..<n { (out.data + i * h * w).update(from: images.data + i * c * h * w, count: h * w) }
        return out
    }

    func testAugmentations() throws {
        // A smooth blob image, 2 images × 1 channel × 24 × 24.
        let h = 24, w = 24
        let img = Tensor(uninitialized: [2, 1, h, w])
        for i in 0..<2 { for y in 0..<h { for x in 0..<w {
            let dy = Double(y) - 9 - Double(i), dx = Double(x) - 8 - 2 * Double(i)
            img.data[(i * h + y) * w + x] = Float(exp(-(dx * dx + dy * dy) / 30))
        } } }
        let s = try Consistency.underAugmentations(images: img, classes: [0, 0], explain: Self.identityExplain,
                                                   augmentations: [.horizontalFlip, .shift(dx: 3, dy: -2), .rotation(degrees: 10)], batchSize: 1)
        XCTAssertEqual(s.count, 2)
        for row in s {
            XCTAssertEqual(row[0].iou, 1); XCTAssertEqual(row[0].spearman!, 1, accuracy: 1e-12)
            XCTAssertEqual(row[1].iou, 1); XCTAssertEqual(row[1].spearman!, 1, accuracy: 1e-12)
            // Rotation and back interpolates twice: close, not exact.
            XCTAssertGreaterThan(row[2].spearman!, 0.95)
            XCTAssertGreaterThan(row[2].iou!, 0.8)
        }
        // A method that ignores the image (always the left half) fails the flip test: IoU 0.
        let fixed: MapFunction = { images, _ in
            let out = Tensor(zeros: [images.shape[0], h, w])
            for i in 0..<images.shape[0] { for y in 0..<h { for x in 0..<w / 2 { out.data[(i * h + y) * w + x] = 1 } } }
            return out
        }
        let f = try Consistency.underAugmentations(images: img, classes: [0, 0], explain: fixed, augmentations: [.horizontalFlip])
        XCTAssertEqual(f[0][0].iou, 0)
        // Shift: validity excludes pixels that left the frame.
        let (back, valid) = try Augmentation.shift(dx: 2, dy: 0).mapBack(Tensor(repeating: 1, shape: [4, 4]))
        XCTAssertEqual(valid, [true, true, false, false, true, true, false, false, true, true, false, false, true, true, false, false])
        XCTAssertEqual(back.data[0], 1)
        let moved = try Augmentation.shift(dx: 1, dy: 0).apply(t([1, 3], [1, 2, 3]))
        XCTAssertEqual(moved.values, [0, 1, 2])
    }

    /// The stability check's small noise: σ = 2% of the image's range, zero-mean, one field for
    /// every channel, the same bytes for the same image and seed wherever the image sits in a batch,
    /// and compared in place (nothing to map back).
    func testGaussianNoiseIsDeterministicZeroMeanWithItsSigma() throws {
        let (h, w) = (64, 64)
        // Two different images of range 2 (values in [-0.5, 1.5]), three identical channels each.
        let x = Tensor(zeros: [2, 3, h, w])
        for i in 0..<2 { for c in 0..<3 { for p in 0..<(h * w) {
            x.data[(i * 3 + c) * h * w + p] = -0.5 + 2 * Float((p * (i + 7)) % (h * w)) / Float(h * w - 1)
        } } }
        let noise = try XCTUnwrap(Augmentation.defaults.last)
        XCTAssertEqual(noise, .gaussianNoise(relativeSigma: 0.02))
        XCTAssertEqual(Augmentation.defaults.map(\.key), ["hflip", "shift16", "rot10", "noise0.02"])
        XCTAssertEqual(Augmentation.defaults.map(\.family), ["hflip", "shift", "rot", "noise"])
        let a = try noise.apply(x, seed: 5), b = try noise.apply(x, seed: 5), other = try noise.apply(x, seed: 6)
        XCTAssertEqual(a.values, b.values, "same image and seed: the same noise")
        XCTAssertNotEqual(a.values, other.values, "another seed: other noise")
        // The second image alone gets the noise it got in the batch (seeded by its content, not its position).
        let second = try noise.apply(x.slice0(1..<2).copy(), seed: 5)
        XCTAssertEqual(second.values, Array(a.values[(3 * h * w)...]))
        for i in 0..<2 {
            var diffs: [Double] = []
            for p in 0..<(h * w) {
                let d0 = a.data[(i * 3) * h * w + p] - x.data[(i * 3) * h * w + p]
                for c in 1..<3 { XCTAssertEqual(a.data[(i * 3 + c) * h * w + p] - x.data[(i * 3 + c) * h * w + p], d0, accuracy: 1e-6) }
                diffs.append(Double(d0))
            }
            let mean = diffs.reduce(0, +) / Double(diffs.count)
            let sd = (diffs.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(diffs.count - 1)).squareRoot()
            // 4096 draws: the mean's standard error is σ/64, the SD's about σ/90.
            XCTAssertEqual(mean, 0, accuracy: 4 * 0.04 / 64, "image \(i): zero-mean")
            XCTAssertEqual(sd, 0.02 * 2, accuracy: 0.04 * 0.05, "image \(i): σ = 2% of the range 2")
        }
        XCTAssertNotEqual(Array(a.values[0..<(h * w)]).enumerated().map { $1 - x.data[$0] },
                          Array(a.values[(3 * h * w)..<(4 * h * w)]).enumerated().map { $1 - x.data[3 * h * w + $0] }, "each image its own field")
        // The map of a noisy image is compared where it is, everywhere.
        let map = Tensor(zeros: [h, w])
        for p in 0..<(h * w) { map.data[p] = Float(p % 13) / 13 }
        let (back, valid) = try noise.mapBack(map)
        XCTAssertEqual(back.values, map.values)
        XCTAssertTrue(valid.allSatisfy { $0 })
        // In the stability measure: an explanation that is the image itself stays almost the same.
        let s = try Consistency.underAugmentations(images: x.slice0(0..<1).copy(), classes: [0], explain: Self.identityExplain,
                                                   augmentations: [noise], seed: 5)
        XCTAssertGreaterThan(try XCTUnwrap(s[0][0].spearman), 0.95)
    }

    func testSanity() throws {
        var r = TestRNG(seed: 9)
        let a = r.tensor([12, 12], 0, 1)
        let same = try Sanity.similarity(original: a, other: a)
        XCTAssertEqual(same.spearman!, 1, accuracy: 1e-12); XCTAssertEqual(same.ssim!, 1, accuracy: 1e-12)
        // Random logit: with 3 classes the random class is never the explained one; an explanation
        // that returns the class index as a constant map... use one that encodes the class in a pixel.
        let explain: MapFunction = { images, classes in
            let out = Tensor(zeros: [images.shape[0], 12, 12])
            for (i, c) in classes.enumerated() { for p in 0..<144 { out.data[i * 144 + p] = Float((p * (c + 1)) % 13) / 13 } }
            return out
        }
        let imgs = Tensor(zeros: [4, 1, 12, 12])
        let res = try Sanity.randomLogit(images: imgs, classes: [0, 1, 2, 1], numClasses: 3, explain: explain, seed: 4)
        XCTAssertEqual(res.count, 4)
        for (i, rr) in res.enumerated() { XCTAssertNotEqual(rr.randomClass, [0, 1, 2, 1][i]); XCTAssertTrue((0..<3).contains(rr.randomClass)) }
        XCTAssertLessThan(res[0].similarity.spearman!, 0.99)
    }
}
