import XCTest
import Foundation
import TensorCore
import NN
import Models
import TestSupport

/// Parameter names, shapes and order against torchvision's state_dict() (scripts/gen_state_dict_keys.py),
/// strict loading, and the safetensors round trip of a whole model.
final class StateDictTests: XCTestCase {
    func torchvisionKeys(_ arch: Architecture) throws -> [(String, [Int], String)] {
        let path = fixturesDirectory + "/models/\(arch.rawValue)/state_dict_keys.json"
        let data = try XCTUnwrap(FileManager.default.contents(atPath: path), "missing \(path); run scripts/gen_state_dict_keys.py")
        let doc = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let keys = try XCTUnwrap(doc["keys"] as? [[Any]])
        return keys.map { ($0[0] as! String, ($0[1] as! [Int]), $0[2] as! String) }
    }

    func testKeysShapesAndOrderMatchTorchvision() throws {
        for arch in Architecture.allCases {
            let ref = try torchvisionKeys(arch)
            let ours = try makeModel(arch, numClasses: 3).stateDict()
            XCTAssertEqual(ours.keys, ref.map(\.0), "\(arch.rawValue): state_dict keys differ")
            for (k, shape, dtype) in ref {
                XCTAssertEqual(ours[k]?.shape, shape, "\(arch.rawValue) \(k)")
                XCTAssertEqual(ours.sourceDType(of: k) == .int64, dtype == "int64", "\(arch.rawValue) \(k) dtype")
            }
        }
    }

    /// A saved model loads back bit-exactly; a checkpoint of another architecture is refused with
    /// every problem named in one message; a wrong class count is taken from the classifier weight.
    func testSaveLoadRoundTripAndStrictErrors() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("camaudit-sd-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try makeModel(.efficientnet_b0, numClasses: 4)
        model.initialize(seed: 11)
        let path = dir.appendingPathComponent("e.safetensors").path
        try saveModel(model, to: path)
        let loaded = try loadModel(.efficientnet_b0, weights: path)
        XCTAssertEqual(loaded.numClasses, 4)
        for ((k1, p1), (k2, p2)) in zip(model.namedParameters(), loaded.namedParameters()) {
            XCTAssertEqual(k1, k2)
            XCTAssertEqual(p1.value.values, p2.value.values, k1)
        }
        XCTAssertThrowsError(try loadModel(.resnet50, weights: path)) { e in
            XCTAssertTrue("\(e)".contains("fc.weight"), "\(e)")
        }
        // Same classifier key, other body: strict loading lists missing and unexpected keys at once.
        let dense = try makeModel(.densenet161, numClasses: 2)
        let dpath = dir.appendingPathComponent("d.safetensors").path
        try saveModel(dense, to: dpath)
        var sd = try loadCheckpoint(path: dpath)
        try sd.set("fc.weight", Tensor(zeros: [2, 2048]))
        let hybrid = dir.appendingPathComponent("h.safetensors").path
        try saveSafetensors(sd, path: hybrid)
        XCTAssertThrowsError(try loadModel(.resnet50, weights: hybrid)) { e in
            let m = "\(e)"
            XCTAssertTrue(m.contains("missing") && m.contains("unexpected") || m.contains("unknown"), m)
            XCTAssertTrue(m.contains("h.safetensors"), m)
        }
    }

    /// Seeded initialisation is reproducible and follows torchvision's choices where they are exact
    /// (BatchNorm at 1/0, ViT head and class token zero).
    func testSeededInitialisation() throws {
        let a = try makeModel(.vit_b_16, numClasses: 3), b = try makeModel(.vit_b_16, numClasses: 3)
        a.initialize(seed: 5); b.initialize(seed: 5)
        XCTAssertEqual(a.namedParameters()[5].1.value.values, b.namedParameters()[5].1.value.values)
        let heads = a.namedParameters().first { $0.0 == "heads.head.weight" }!.1.value
        XCTAssertEqual(heads.maxAbs, 0)
        let r = try makeModel(.resnet50, numClasses: 3)
        r.initialize(seed: 1)
        let conv = r.namedParameters().first { $0.0 == "conv1.weight" }!.1.value
        // kaiming_normal_(fan_out, relu): std = sqrt(2 / (64·7·7)).
        var s2: Double = 0
        for v in conv.values { s2 += Double(v * v) }
        XCTAssertEqual((s2 / Double(conv.count)).squareRoot(), (2.0 / (64 * 49)).squareRoot(), accuracy: 0.003)
        XCTAssertEqual(r.namedParameters().first { $0.0 == "bn1.weight" }!.1.value.values, [Float](repeating: 1, count: 64))
    }
}

/// `--head-init zeros`: only the classifier's last Linear differs from torchvision's draw, and it is zero.
final class HeadInitTests: XCTestCase {
    func testZerosTouchesOnlyTheHead() throws {
        for arch in [Architecture.efficientnet_b0, .resnet50] {
            let a = try makeModel(arch, numClasses: 3, imageSize: 64), b = try makeModel(arch, numClasses: 3, imageSize: 64)
            a.initialize(seed: 4); b.initialize(seed: 4, head: .zeros)
            let w = arch.classifierWeightKey, bias = String(w.dropLast("weight".count)) + "bias"
            let pa = Dictionary(uniqueKeysWithValues: a.namedParameters().map { ($0.0, $0.1.value.values) })
            var changed: [String] = []
            for (key, p) in b.namedParameters() where p.value.values != pa[key] { changed.append(key) }
            // torchvision's bias is already zero for EfficientNet, U(±1/√fan_in) for ResNet.
            XCTAssertTrue(Set(changed).isSubset(of: [w, bias]) && changed.contains(w), "\(arch): changed \(changed)")
            for (key, p) in b.namedParameters() where key == w || key == bias { XCTAssertEqual(p.value.maxAbs, 0, key) }
            XCTAssertGreaterThan(a.namedParameters().first { $0.0 == w }!.1.value.maxAbs, 0)
        }
    }
}

/// Cascading randomisation: only the named blocks change, everything else is the original model.
final class CascadeTests: XCTestCase {
    func testRandomizedTouchesOnlyTheNamedBlocks() throws {
        let model = try makeModel(.resnet50, numClasses: 3)
        model.initialize(seed: 1)
        let r = try model.randomized(prefixes: ["fc.", "layer4."], seed: 9, imageSize: 224)
        let orig = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.0, $0.1.value.values) })
        // The head is re-drawn.
        let rp = Dictionary(uniqueKeysWithValues: r.namedParameters().map { ($0.0, $0.1.value.values) })
        XCTAssertNotEqual(rp["fc.weight"], orig["fc.weight"])
        // The blocks below the randomised ones are untouched: same activations once both are folded.
        try model.foldBatchNorms()
        let x = Tensor(repeating: 0.5, shape: [1, 3, 64, 64])
        let ctxA = ForwardContext(captureLayers: ["layer3"]), ctxB = ForwardContext(captureLayers: ["layer3"])
        _ = try model.logits(x, ctxA)
        _ = try r.logits(x, ctxB)
        XCTAssertEqual(ctxA.activation("layer3")!.values, ctxB.activation("layer3")!.values)
        XCTAssertEqual(Architecture.vit_b_16.cascadeBlocks.count, 15)
    }
}
