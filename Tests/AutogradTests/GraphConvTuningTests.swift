import XCTest
import TensorCore
import Autograd
import TestSupport

/// A graph convolution's Winograd rule reads the run's tuning (`RunSettings.convTuning`), so a
/// benchmark or a test that changes it changes it for its own run only.
final class GraphConvTuningTests: XCTestCase {
    /// The labels of the convolutions a graph convolution's forward and backward ran.
    static func labels(_ x: Tensor, _ w: Tensor) throws -> [String] {
        let cfg = Conv2dConfig(stride: 1, padding: 1)
        let profile = try KernelProfile.record {
            let xv = Variable(x, requiresGrad: true), wv = Variable(w, requiresGrad: true)
            let y = try conv2d(xv, weight: wv, bias: nil, cfg)
            try backward(y, seed: x)   // dy: any [1, 64, 4, 4]
        }
        return profile.operations.map(\.label)
    }

    func testWinogradRuleIsTheRunsAndStaysInIt() throws {
        var rng = TestRNG(seed: 21)
        // 64² filters on a 4×4 map: 16 pixels · 64 < 64·64, so the default takes im2col.
        let x = rng.tensor([1, 64, 4, 4]), w = rng.tensor([64, 64, 3, 3])
        var tuning = ConvTuning.default
        tuning.graphWinogradPixelsPerFilterPair = 1 << 10
        let eager = RunSettings(convTuning: tuning)
        let (byDefault, tuned) = try concurrently({ try Self.labels(x, w) }, { try eager.run { try Self.labels(x, w) } })
        XCTAssertFalse(byDefault.contains { $0.contains("Winograd") }, "\(byDefault)")
        XCTAssertTrue(tuned.contains { $0.contains("conv 3×3 s1 @4² Winograd") }, "\(tuned)")
        XCTAssertEqual(try Self.labels(x, w), byDefault, "the tuned run's rule outlived it")
    }
}
