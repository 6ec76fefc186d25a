import XCTest
import TensorCore
import Autograd
import NN
import Models
import Explain
import TestSupport

/// Grad-CAM at a broad sample of layers of every architecture against pytorch-grad-cam 1.5.x
/// (Tests/Fixtures/layers, written by scripts/gen_layer_fixtures.py): deterministic weights,
/// BatchNorm folding prepared (the default inference path), two 64×64 images, targets 0 and 1.
/// Tolerance: max |Δ| ≤ 2e-3 on [0,1] maps, 5e-3 for DenseNet-161, whose first dense layers' maps
/// come back through 80 layers carrying 2–4e-3 of float32 noise whichever OpenBLAS kernels run
/// (1.98e-3 with the SSE3 ones, 2.29e-3 with AVX-512, 4.17e-3 at transition1 after the graph's
/// convolutions changed where they use Winograd; the other architectures stay below 2.5e-4).
/// Every layer pytorch-grad-cam can target is accepted.
final class LayerFixtureTests: XCTestCase {
    struct Index: Decodable {
        struct Sampled: Decodable { let path: String; let modifiedInPlace: Bool; let max: Double }
        struct Targetable: Decodable { let path: String; let shape: [Int] }
        let fixtureVersion: Int, imageSize: Int, pixels: [Int], targets: [Int], maps: String
        let sampled: [Sampled], targetable: [Targetable]
    }

    static var directory: String { fixturesDirectory + "/layers" }

    static func index(_ arch: Architecture) throws -> Index {
        let path = directory + "/\(arch.rawValue).json"
        guard let data = FileManager.default.contents(atPath: path) else {
            XCTFail("\(path): fixture index missing (regenerate with /tmp/tv/bin/python scripts/gen_layer_fixtures.py)")
            throw CocoaError(.fileNoSuchFile)
        }
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        return try d.decode(Index.self, from: data)
    }

    /// The architecture with the deterministic parameters, prepared for inference.
    static func model(_ arch: Architecture, imageSize: Int) throws -> ImageClassifier {
        let model = try makeModel(arch, numClasses: 3, imageSize: imageSize)
        for (key, p) in model.namedParameters() { p.value = DeterministicParams.tensor(key: key, shape: p.value.shape) }
        try model.foldBatchNorms()
        return model
    }

    static func input() throws -> Tensor {
        let t = try Fixtures.npy(directory + "/input_64.npy")
        for i in 0..<t.count { t.data[i] /= 255 }
        return t
    }

    func check(_ arch: Architecture) throws {
        let index = try Self.index(arch)
        let model = try Self.model(arch, imageSize: index.imageSize)
        let x = try Self.input()
        let reference = try Fixtures.npy(Self.directory + "/" + index.maps)   // [L, 2, 16, 16]
        let explainer = CAMExplainer(model: model)
        let px = index.pixels, side = index.imageSize, per = 2 * px.count * px.count
        XCTAssertEqual(reference.shape, [index.sampled.count, 2, px.count, px.count])
        var worst: (Float, String) = (0, "")
        var failures: [String] = []
        for (l, layer) in index.sampled.enumerated() {
            let r = try explainer.explain(x, CAMOptions(method: .gradcam, layers: [layer.path], targetClasses: index.targets))
            var err: Float = 0
            for b in 0..<2 {
                for (i, y) in px.enumerated() {
                    for (j, xx) in px.enumerated() {
                        let ours = r.maps.data[(b * side + y) * side + xx]
                        let ref = reference.data[l * per + (b * px.count + i) * px.count + j]
                        err = max(err, abs(ours - ref))
                    }
                }
            }
            if err > worst.0 { worst = (err, layer.path) }
            if err > (arch == .densenet161 ? 5e-3 : 2e-3) { failures.append("\(layer.path): max |Δ| \(err)") }
            // The note says when the recorded activation is not the module's own output.
            let noted = r.notes.contains { $0.hasPrefix(layer.path + ": pytorch-grad-cam records this activation after") }
            XCTAssertEqual(noted, layer.modifiedInPlace, "\(arch.rawValue) \(layer.path): notes \(r.notes)")
            XCTAssertLessThanOrEqual(r.notes.count, 1, "\(layer.path): one note per layer")
        }
        XCTAssertTrue(failures.isEmpty, "\(arch.rawValue) vs pytorch-grad-cam: " + failures.joined(separator: "; "))
        let inPlace = index.sampled.filter(\.modifiedInPlace).count
        print("\(arch.rawValue): \(index.sampled.count) layers compared (\(inPlace) recorded after an in-place op), "
              + "max |Δ| \(worst.0) at \(worst.1)")
    }

    /// Every layer pytorch-grad-cam can target is a valid `--layer`, and one planned forward that
    /// captures them all records the tensor pytorch-grad-cam's hook records, of the same shape.
    func checkTargetable(_ arch: Architecture) throws {
        let index = try Self.index(arch)
        let model = try Self.model(arch, imageSize: index.imageSize)
        let valid = Set(CAMExplainer(model: model).layerPaths)
        let paths = index.targetable.map(\.path)
        XCTAssertGreaterThan(paths.count, 20)
        for p in paths where !valid.contains(p) { XCTFail("\(arch.rawValue): '\(p)' is not a layer of our model") }
        let ctx = ForwardContext(captureLayers: Set(paths))
        _ = try model.logits(Self.input(), ctx)
        for t in index.targetable {
            guard let a = ctx.activation(t.path) else { XCTFail("\(arch.rawValue): '\(t.path)' was not reached"); continue }
            XCTAssertEqual(a.shape, t.shape, "\(arch.rawValue) \(t.path)")
        }
    }

    func testResNet50() throws { try check(.resnet50) }
    func testResNet101() throws { try check(.resnet101) }
    func testDenseNet161() throws { try check(.densenet161) }
    func testEfficientNetB0() throws { try check(.efficientnet_b0) }
    func testViTB16() throws { try check(.vit_b_16) }

    func testTargetableLayers() throws {
        for arch in Architecture.allCases { try checkTargetable(arch) }
    }
}
