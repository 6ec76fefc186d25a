import XCTest
import TensorCore
import Autograd
import NN
import TestSupport

/// `Conv2d.infer` keeps the Winograd filters of its weight between calls; they must follow the weight.
final class Conv2dInferTests: XCTestCase {
    func testInferMatchesGraphForwardAndFollowsNewWeights() throws {
        var rng = TestRNG(seed: 11)
        let conv = Conv2d(16, 24, kernelSize: 3, padding: 1)
        // A small map (F(2,3) filters) and a 30×30 one (F(4,3) filters) through the same convolution.
        let inputs = [rng.tensor([2, 16, 9, 10]), rng.tensor([1, 16, 30, 30])]
        for round in 0..<2 {
            conv.weight.value = rng.tensor([24, 16, 3, 3])
            conv.bias!.value = rng.tensor([24])
            for x in inputs {
                // The graph forward transforms the filters afresh; infer reuses them after the first call.
                let ref = try conv(Variable(x), ForwardContext()).value
                for _ in 0..<2 {
                    let y = try conv.infer(x, activation: .relu)
                    let want = ref.values.map { max($0, 0) }
                    if let m = closeness(y.values, want, rtol: 1e-5, atol: 1e-5) { XCTFail("round \(round) \(x.shape): \(m)") }
                }
            }
        }
        XCTAssertThrowsError(try conv.infer(rng.tensor([1, 8, 5, 5]))) { e in
            XCTAssertTrue("\(e)".contains("Conv2d"), "\(e)")
        }
    }
}
