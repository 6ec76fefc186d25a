import XCTest
import TensorCore
import Training
import TestSupport

final class AugmentTests: XCTestCase {
    func image() -> Tensor {
        var r = TestRNG(seed: 5)
        return r.tensor([3, 24, 24], 0, 1)
    }

    func testBasicIsSeededAndStaysInRange() {
        let x = image()
        var a = SeededRNG(seed: 1, stream: 7), b = SeededRNG(seed: 1, stream: 7), c = SeededRNG(seed: 1, stream: 8)
        let ya = Augmentation.basic.apply(x, rng: &a), yb = Augmentation.basic.apply(x, rng: &b), yc = Augmentation.basic.apply(x, rng: &c)
        XCTAssertEqual(ya.shape, x.shape)
        XCTAssertEqual(ya.values, yb.values, "same stream, same image")
        XCTAssertNotEqual(ya.values, yc.values, "another stream, another augmentation")
        XCTAssertNotEqual(ya.values, x.values)
        XCTAssertTrue(ya.values.allSatisfy { $0 >= 0 && $0 <= 1 })
        var n = SeededRNG(seed: 1)
        XCTAssertEqual(Augmentation.none.apply(x, rng: &n).values, x.values)
    }

    func testCentreSurvivesRotationAndCrop() {
        // A constant image stays constant inside (up to the jitter's common scale) wherever the
        // rotation did not bring in the zero fill: the centre pixel is never filled.
        let x = Tensor(repeating: 0.5, shape: [3, 16, 16])
        for s in 0..<20 {
            var r = SeededRNG(seed: 2, stream: UInt64(s))
            let y = Augmentation.basic.apply(x, rng: &r)
            XCTAssertGreaterThan(y.data[8 * 16 + 8], 0.3, "stream \(s)")
        }
    }
}
