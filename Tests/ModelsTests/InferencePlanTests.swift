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

    /// The bench's convolution tables come from the models: ResNet-50's 53 convolutions in 23 shapes,
    /// DenseNet-161's 78 dense-layer 3×3 convolutions, EfficientNet-B0's 16 depthwise ones.
    func testConvolutionShapesReadFromTheModels() throws {
        func selected(_ arch: Architecture) throws -> [(shape: ConvShape, count: Int)] {
            try makeModel(arch, numClasses: 3).convolutionShapes(imageSize: 224).filter { arch.spec.benchConvolutions($0.shape) }
        }
        let r = try selected(.resnet50)
        XCTAssertEqual(r.reduce(0) { $0 + $1.count }, 53)
        XCTAssertEqual(r.count, 23)
        XCTAssertEqual(r.first?.shape.name, "7x7/2 3->64 @224")
        let d = try selected(.densenet161)
        XCTAssertEqual(d.reduce(0) { $0 + $1.count }, 78)
        XCTAssertEqual(d.map(\.shape.inputSize), [56, 28, 14, 7])
        let e = try selected(.efficientnet_b0)
        XCTAssertEqual(e.reduce(0) { $0 + $1.count }, 16)
        XCTAssertTrue(e.allSatisfy { $0.shape.isDepthwise })
        XCTAssertTrue(try selected(.vit_b_16).isEmpty)
    }

    /// Models say whether one instance may run on several threads: a model binds its parameters per
    /// forward (not shareable); parameter-free layers are.
    func testThreadSafetyIsStated() throws {
        XCTAssertFalse(try makeModel(.resnet50, numClasses: 3).isShareable)
        XCTAssertTrue(Activation(.relu).isShareable)
        XCTAssertTrue(Sequential([Activation(.relu), MaxPool2d(kernel: 2, stride: 2)]).isShareable)
    }
}
