import XCTest
import TensorCore
import NN
import Models
import Explain
import TestSupport

/// Our CAM methods against pytorch-grad-cam 1.5.x on the five architectures with the deterministic
/// weights of scripts/gen_fixtures.py (Tests/Fixtures/cams). Tolerance: max |Δ| ≤ 1e-3 on [0,1] maps.
final class CAMFixtureTests: XCTestCase {
    static let methodNames: [String: CAMMethod] = [
        "GradCAM": .gradcam, "HiResCAM": .hirescam, "GradCAMPlusPlus": .gradcamplusplus, "XGradCAM": .xgradcam,
        "LayerCAM": .layercam, "GradCAMElementWise": .gradcamelementwise, "EigenCAM": .eigencam,
        "EigenGradCAM": .eigengradcam, "ScoreCAM": .scorecam, "AblationCAM": .ablationcam,
    ]

    static func deterministicModel(_ arch: Architecture, imageSize: Int = 224) throws -> ImageClassifier {
        let model = try makeModel(arch, numClasses: 3, imageSize: imageSize)
        for (key, p) in model.namedParameters() { p.value = DeterministicParams.tensor(key: key, shape: p.value.shape) }
        return model
    }

    /// Runs every fixture case of `arch` whose method we implement; returns the worst |Δ| per case.
    func checkArchitecture(_ arch: Architecture) throws {
        let index = try Fixtures.cams(arch.rawValue)
        let model = try Self.deterministicModel(arch)
        let explainer = CAMExplainer(model: model)
        var report: [String] = []
        var checked = 0
        for c in index.cases {
            guard c.error == nil, let method = Self.methodNames[c.method], c.mapShape != nil else { continue }
            let input = try index.inputTensor(for: c)
            let opts = CAMOptions(method: method, layers: c.layers ?? [], targetClasses: c.targets,
                                  augSmooth: c.options?.augSmooth ?? false, eigenSmooth: c.options?.eigenSmooth ?? false,
                                  batchSize: c.options?.batchSize)
            let r = try explainer.explain(input, opts)
            if let resolved = c.resolvedTargets { XCTAssertEqual(r.targetClasses, resolved, "\(arch.rawValue) \(c.name) targets") }
            let (px, ref) = try index.reference(for: c)
            let hw = r.maps.shape[1] * r.maps.shape[2]
            var worst: Float = 0
            for (n, values) in ref.enumerated() {
                for (j, p) in px.enumerated() { worst = max(worst, abs(r.maps.data[n * hw + p] - values[j])) }
            }
            report.append("\(c.name): \(worst)")
            checked += 1
            if let msg = try index.compare(r.maps, with: c, atol: 1e-3) { XCTFail(msg) }
        }
        print("\(arch.rawValue): max |Δ| per case vs pytorch-grad-cam \(index.gradCam): " + report.joined(separator: ", "))
        XCTAssertGreaterThan(checked, 5, "\(arch.rawValue): too few fixture cases ran")
    }

    func testResNet50() throws { try checkArchitecture(.resnet50) }
    func testDenseNet161() throws { try checkArchitecture(.densenet161) }
    func testEfficientNetB0() throws { try checkArchitecture(.efficientnet_b0) }
    func testViTB16() throws { try checkArchitecture(.vit_b_16) }

    /// The closed-form head gradient (W_fc[c]/HW, ReLU-masked for DenseNet) equals the generic
    /// truncated backward pass.
    func testClosedFormHeadEqualsGenericPath() throws {
        for arch in [Architecture.resnet50, .densenet161, .efficientnet_b0] {
            let model = try Self.deterministicModel(arch)
            let x = try Fixtures.input(size: 224)
            let e = CAMExplainer(model: model)
            for method in [CAMMethod.gradcam, .gradcamplusplus, .layercam] {
                let a = try e.explain(x, CAMOptions(method: method, targetClasses: [0, 1], closedFormHead: true)).maps
                let b = try e.explain(x, CAMOptions(method: method, targetClasses: [0, 1], closedFormHead: false)).maps
                XCTAssertLessThanOrEqual(maxAbsDiff(a.values, b.values), 1e-4, "\(arch.rawValue) \(method.rawValue)")
            }
        }
    }

    /// A ViT block output gets no gradient from the class-token head through the other tokens: the
    /// tool says so instead of silently returning blank maps.
    func testZeroGradientLayerWarns() throws {
        let model = try Self.deterministicModel(.vit_b_16)
        let x = try Fixtures.input(size: 224)
        let r = try CAMExplainer(model: model).explain(x, CAMOptions(method: .gradcam, layers: ["encoder.layers.encoder_layer_11"]))
        XCTAssertTrue(r.warnings.contains { $0.contains("identically zero") }, "\(r.warnings)")
        XCTAssertEqual(r.maps.maxAbs, 0, "pytorch-grad-cam returns all-zero maps here too")
    }

    /// Bad requests end in one clear message.
    func testBadRequests() throws {
        let model = try makeModel(.resnet50, numClasses: 3)
        let e = CAMExplainer(model: model)
        let x = Tensor(zeros: [1, 3, 64, 64])
        XCTAssertThrowsError(try e.explain(x, CAMOptions(layers: ["layer4.7"]))) { err in
            XCTAssertTrue("\(err)".contains("layer4.2"), "lists layers near the bad one: \(err)")
        }
        XCTAssertThrowsError(try e.explain(x, CAMOptions(targetClasses: [3]))) { err in
            XCTAssertTrue("\(err)".contains("out of range"), "\(err)")
        }
        XCTAssertThrowsError(try e.explain(x, CAMOptions(targetClasses: [0, 1]))) { err in
            XCTAssertTrue("\(err)".contains("one per image"), "\(err)")
        }
        XCTAssertThrowsError(try e.explain(x, CAMOptions(layers: ["fc"]))) { err in
            XCTAssertTrue("\(err)".contains("spatial"), "\(err)")
        }
    }

    /// RandomCAM is seeded: same seed, same map; another seed, another map.
    func testRandomCAMSeeded() throws {
        let model = try Self.deterministicModel(.resnet50)
        let x = try Fixtures.input(size: 224)
        let e = CAMExplainer(model: model)
        let a = try e.explain(x, CAMOptions(method: .random, seed: 3)).maps
        let b = try e.explain(x, CAMOptions(method: .random, seed: 3)).maps
        let c = try e.explain(x, CAMOptions(method: .random, seed: 4)).maps
        XCTAssertEqual(a.values, b.values)
        XCTAssertGreaterThan(maxAbsDiff(a.values, c.values), 0.01)
    }
}
