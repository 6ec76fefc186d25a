import XCTest
import TensorCore
import Autograd
import NN
import Models
import TestSupport

/// The five architectures against torchvision, with the deterministic weights of
/// scripts/gen_fixtures.py (fixtures in Tests/Fixtures/models).
final class ModelFixtureTests: XCTestCase {
    /// Builds `arch` and fills every parameter and buffer with the shared deterministic generator.
    static func deterministicModel(_ arch: Architecture, imageSize: Int = 224) throws -> ImageClassifier {
        let model = try makeModel(arch, numClasses: 3, imageSize: imageSize)
        for (key, p) in model.namedParameters() {
            p.value = DeterministicParams.tensor(key: key, shape: p.value.shape)
        }
        return model
    }

    func checkArchitecture(_ arch: Architecture, folded: Bool = false) throws {
        let index = try Fixtures.model(arch.rawValue)
        let model = try Self.deterministicModel(arch)
        if folded { try model.foldBatchNorms() }
        let input = try Fixtures.input(size: 224)
        let names = index.activations.map(\.name)
        let ctx = ForwardContext(captureLayers: Set(names))
        let logits = try model.logits(input, ctx).value
        let ref = try index.logitsTensor()
        XCTAssertEqual(logits.shape, ref.shape)
        let scale = ref.maxAbs
        let diff = maxAbsDiff(logits.values, ref.values)
        print("\(arch.rawValue)\(folded ? " (BN folded)" : ""): max|Δlogit| = \(diff), max|logit| = \(scale), ratio \(diff / scale)")
        XCTAssertLessThanOrEqual(diff, 1e-3 * scale, "\(arch.rawValue) logits \(logits.values) vs \(ref.values)")
        // Without taps the inference shortcuts run (fused blocks; ViT's class-token-only last block).
        let plain = try model.logits(input).value
        let plainDiff = maxAbsDiff(plain.values, ref.values)
        print("\(arch.rawValue) without taps: max|Δlogit| = \(plainDiff)")
        XCTAssertLessThanOrEqual(plainDiff, 1e-3 * scale, "\(arch.rawValue) logits without taps \(plain.values) vs \(ref.values)")
        // Folded or not, a tapped layer is the module's own output: the plan does not fuse a tapped
        // module away, so the folded path is checked layer by layer too.
        for entry in index.activations {
            // The module's own output (DenseNet reports norm5 after its ReLU for CAMs; the fixture
            // hook cloned the module output before that in-place ReLU).
            guard let act = ctx.activations[entry.name]?.value else {
                XCTFail("\(arch.rawValue): layer \(entry.name) was not tapped"); continue
            }
            let tol = Float(max(entry.absmax, 1e-3)) * 2e-3
            if let msg = try index.compare(act, with: entry, rtol: 2e-3, atol: tol) { XCTFail(msg) }
        }
    }

    func testResNet50() throws { try checkArchitecture(.resnet50) }
    func testResNet101() throws { try checkArchitecture(.resnet101) }
    func testDenseNet161() throws { try checkArchitecture(.densenet161) }
    func testEfficientNetB0() throws { try checkArchitecture(.efficientnet_b0) }
    func testViTB16() throws { try checkArchitecture(.vit_b_16) }

    /// Inference with BatchNorm folding prepared gives the same logits and the same tapped layers.
    func testFoldedBatchNormMatches() throws {
        try checkArchitecture(.resnet50, folded: true)
        try checkArchitecture(.densenet161, folded: true)
        try checkArchitecture(.efficientnet_b0, folded: true)
    }

    /// ViT at 160×160: the positional embedding is sized for 10×10 patches + class token.
    func testViTAt160() throws {
        let index = try Fixtures.model("vit_b_16")
        let v = try XCTUnwrap(index.imageSize160, "no 160×160 ViT fixture: regenerate with scripts/gen_fixtures.py")
        let model = try Self.deterministicModel(.vit_b_16, imageSize: 160)
        XCTAssertEqual(model.namedParameters().first { $0.0 == "encoder.pos_embedding" }?.1.value.shape, v.posEmbeddingShape)
        let input = try Fixtures.input(size: 160)
        let logits = try model.logits(input).value
        let ref = try Fixtures.npy(Fixtures.resolve(index.folder, v.logits))
        XCTAssertLessThanOrEqual(maxAbsDiff(logits.values, ref.values), 1e-3 * ref.maxAbs)
        XCTAssertThrowsError(try model.logits(Tensor(zeros: [1, 3, 224, 224])))
    }
}
