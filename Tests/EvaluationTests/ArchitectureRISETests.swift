import XCTest
import Foundation
import TensorCore
import NN
import Models
import Evaluation
import TestSupport

/// Deletion, insertion and Faith on ResNet-50 (deterministic weights) against the PyTorch
/// computation of scripts/gen_rise_fixture.py, with pytorch-grad-cam's Grad-CAM map as the saliency.
final class ArchitectureRISETests: XCTestCase {
    func testDeletionInsertionFaithMatchPyTorchOnResNet50() throws {
        let path = fixturesDirectory + "/metrics/resnet50_rise.json"
        let data = try XCTUnwrap(FileManager.default.contents(atPath: path), "missing \(path): run scripts/gen_rise_fixture.py")
        let doc = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let cls = try XCTUnwrap(doc["class"] as? Int)
        let model = try makeModel(.resnet50, numClasses: 3)
        for (key, p) in model.namedParameters() { p.value = DeterministicParams.tensor(key: key, shape: p.value.shape) }
        let image = try Fixtures.input(size: 224).slice0(0..<1)
        let map = try Fixtures.npy(fixturesDirectory + "/cams/resnet50/GradCAM_none.npy").slice0(0..<1).reshaped([224, 224])
        let logits: LogitsFunction = { try model.logits($0).value }
        for (name, run) in [("deletion", { try Faithfulness.deletion(image: image, map: map, targetClass: cls, model: logits, steps: 50) }),
                            ("insertion", { try Faithfulness.insertion(image: image, map: map, targetClass: cls, model: logits, steps: 50) })] {
            let ref = try XCTUnwrap(doc[name] as? [String: Any])
            let curve = try run()
            let refY = (ref["y"] as! [NSNumber]).map { Float($0.doubleValue) }
            let refX = (ref["x"] as! [NSNumber]).map { Float($0.doubleValue) }
            XCTAssertEqual(curve.fractions.count, refX.count, name)
            XCTAssertNil(closeness(curve.fractions.map { Float($0) }, refX, rtol: 0, atol: 1e-7), name)
            XCTAssertNil(closeness(curve.scores.map { Float($0) }, refY, rtol: 0, atol: 1e-4), name)
            XCTAssertEqual(curve.auc, (ref["auc"] as! NSNumber).doubleValue, accuracy: 1e-4, name)
        }
        let faith = try Faithfulness.faith(images: image, maps: try map.reshaped([1, 224, 224]), model: logits)
        XCTAssertEqual(faith[0], (doc["faith"] as! NSNumber).doubleValue, accuracy: 1e-3)
    }
}
