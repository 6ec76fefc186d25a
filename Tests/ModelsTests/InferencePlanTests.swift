import XCTest
import TensorCore
import Autograd
import NN
import Models
import TestSupport

/// The inference plan (BatchNorm folded, activations and residual joins fused, ViT's class-token-only
/// last block) against the plain module-by-module forwards, block by block, on every architecture.
final class InferencePlanTests: XCTestCase {
    static func model(_ arch: Architecture, imageSize: Int) throws -> ImageClassifier {
        let model = try makeModel(arch, numClasses: 3, imageSize: imageSize)
        for (key, p) in model.namedParameters() { p.value = DeterministicParams.tensor(key: key, shape: p.value.shape) }
        try model.foldBatchNorms()
        return model
    }

    /// Every block (every module with children) captured in a planned and a plain forward: the
    /// capture of a block does not change the plan inside it, so each block's planned forward is
    /// compared with its plain one (on inputs that went through the planned or plain blocks before).
    func testEveryBlockPlannedEqualsPlain() throws {
        let size = 64
        var rng = SeededRNG(seed: 5)
        let x = Tensor(uninitialized: [2, 3, size, size])
        for i in 0..<x.count { x.data[i] = rng.uniform() }
        for arch in Architecture.allCases {
            let model = try Self.model(arch, imageSize: size)
            let blocks = model.namedModules().filter { !$0.0.isEmpty && !$0.1.children.isEmpty }.map(\.0)
            let planned = ForwardContext(captureLayers: Set(blocks))
            let plain = ForwardContext(captureLayers: Set(blocks))
            plain.planned = false
            let lp = try model.logits(x, planned).value
            let lq = try model.logits(x, plain).value
            var worst: Float = 0
            for b in blocks {
                guard let p = planned.activation(b), let q = plain.activation(b) else { XCTFail("\(arch.rawValue) \(b): not captured"); continue }
                XCTAssertEqual(p.shape, q.shape, "\(arch.rawValue) \(b)")
                let scale = max(1, q.maxAbs)
                let d = maxAbsDiff(p.values, q.values) / scale
                worst = max(worst, d)
                XCTAssertLessThanOrEqual(d, 1e-4, "\(arch.rawValue) \(b): planned vs plain, relative to max |x| \(scale)")
            }
            XCTAssertLessThanOrEqual(maxAbsDiff(lp.values, lq.values), 1e-3 * max(1, lq.maxAbs), "\(arch.rawValue) logits")
            // Nothing captured: the whole plan (ViT's last block computes only the class token).
            let free = try model.logits(x).value
            XCTAssertLessThanOrEqual(maxAbsDiff(free.values, lq.values), 1e-3 * max(1, lq.maxAbs), "\(arch.rawValue) logits, nothing tapped")
            print("\(arch.rawValue): \(blocks.count) blocks, worst relative |planned − plain| \(worst)")
        }
    }

    /// The plan never changes the parameters: the state dict after inference is the one loaded, and
    /// a training forward after an inference forward still runs (BatchNorm in batch statistics).
    func testPlanLeavesParametersAlone() throws {
        let model = try Self.model(.resnet50, imageSize: 64)
        let before = model.namedParameters().map { $0.1.value.values }
        _ = try model.logits(Tensor(repeating: 0.5, shape: [1, 3, 64, 64]))
        let after = model.namedParameters().map { $0.1.value.values }
        XCTAssertEqual(before, after)
        let ctx = ForwardContext(training: true, parameterGrads: true)
        let y = try model.logits(Tensor(repeating: 0.5, shape: [2, 3, 64, 64]), ctx)
        XCTAssertEqual(y.shape, [2, 3])
    }
}
