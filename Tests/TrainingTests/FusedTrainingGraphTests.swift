import XCTest
import TensorCore
import Autograd
import NN
import Models
import TestSupport

/// The training graph's fused plan (BatchNorm with its ReLU, ResNet's bn3 + identity + ReLU as one
/// node each) against every module's plain forward: the same logits, gradients and running
/// statistics, bit for bit.
final class FusedTrainingGraphTests: XCTestCase {
    func run(_ arch: Architecture, planned: Bool) throws -> (logits: [Float], state: [String: [Float]]) {
        let model = try makeModel(arch, numClasses: 3, imageSize: 32)
        model.initialize(seed: 5)
        var rng = TestRNG(seed: 6)
        let x = rng.tensor([2, 3, 32, 32], 0, 1)
        let ctx = ForwardContext(training: true, parameterGrads: true)
        ctx.planned = planned
        let logits = try model.logits(x, ctx)
        try backward(logits, seed: rng.tensor(logits.value.shape))
        var state: [String: [Float]] = [:]
        for (key, p) in model.namedParameters() {
            state[key] = p.value.values
            if p.kind == .parameter { state[key + ".grad"] = try XCTUnwrap(p.grad, key).values }
        }
        return (logits.value.values, state)
    }

    func testFusedPlanEqualsPlainForwardAndBackward() throws {
        for arch in [Architecture.resnet50, .densenet161] {
            let plain = try run(arch, planned: false), fused = try run(arch, planned: true)
            XCTAssertEqual(plain.logits, fused.logits, "\(arch) logits")
            XCTAssertEqual(Set(plain.state.keys), Set(fused.state.keys))
            for (key, v) in plain.state where fused.state[key] != v { XCTFail("\(arch) \(key) differs") }
        }
    }
}
