import XCTest
import Foundation
import Datasets
import Evaluation
@testable import Sweep

/// The rows a plan expects — content keys, readable keys and unit keys — are pinned for a plan that
/// uses every metric, scope and parameter grid: existing results folders resume only while these
/// bytes stay the same, so a change to how metrics are declared or dispatched must not move them.
final class RowKeyPinTests: TemporaryFolderTestCase {
    /// Three "images" of fixed bytes (the plan hashes bytes, it never decodes them), one with a mask.
    func manifest() throws -> String {
        for k in 0..<3 { try Data("image \(k)".utf8).write(to: URL(fileURLWithPath: dir + "/img\(k).png")) }
        try Data("mask 0".utf8).write(to: URL(fileURLWithPath: dir + "/mask0.png"))
        let csv = "file,class,class_index,split,mask\nimg0.png,malignant,0,test,mask0.png\nimg1.png,normal,1,test,\nimg2.png,benign,2,test,\n"
        try csv.write(toFile: dir + "/manifest.csv", atomically: true, encoding: .utf8)
        return dir + "/manifest.csv"
    }

    func testExpectedRowsOfEveryMetricArePinned() throws {
        var c = SweepConfig(data: .init(path: try manifest()),
                            models: [.init(architecture: "resnet50"), .init(architecture: "efficientnet_b0"), .init(architecture: "vit_b_16")])
        c.methods = ["gradcam", "gradcam++", "random"]
        c.metrics = ["locacc", "pointing", "energy", "iou", "dice", "iou_top10", "rank", "auc", "faith", "deletion", "insertion", "drop",
                     "increase", "road_morf", "road_lerf", "consist", "augment_iou", "cascade", "random_logit", "cross_method", "cross_arch"]
        c.grid = .init(steps: [4, 5], threshold: [0.3, 0.5])
        c.imageSize = 64
        c.batchSize = 2
        c.seeds = [0, 1]
        let plan = try Plan.expand(c)
        var rows = ContentDigest(), units = ContentDigest()
        var count = 0
        for u in plan.units {
            units.update("\(u.index)|\(u.kind.rawValue)|\(u.stage ?? -1)|\(u.images)|\(u.weights)|\(u.key)|\(u.cost)\n")
            for e in plan.expectedRows(u) {
                let k = e.key
                rows.update("\(e.id)|\(k.image)|\(k.model)|\(k.weights)|\(k.method)|\(k.metric)|\(k.params)\n")
                count += 1
            }
        }
        XCTAssertEqual(plan.units.count, 144)
        XCTAssertEqual(count, 3222)
        XCTAssertEqual(units.finalizeHex(), "71032ea3cec56788b8d71bf2a013274f378f242ad0ad73eda07a155c6bf9886a")
        XCTAssertEqual(rows.finalizeHex(), "99df7a7d1453c72e9cf9930fb38c12b41d205fbdc65eab7ead6a27fc82367a6e")
        // Small noise joined the stability perturbations: augment_iou's rows moved (and its units'
        // cost estimates, four perturbations instead of three), 432 per-perturbation rows came. Written
        // back as they were before (the three geometric perturbations, no per-perturbation rows),
        // the rows hash to the earlier pin, so every other row keeps its key.
        var before = ContentDigest(), kept = 0
        for u in plan.units {
            for e in plan.expectedRows(u) where !e.key.metric.hasPrefix("augment_iou_") {
                var k = e.key, id = e.id
                if k.metric == "augment_iou" {
                    let old = k.params.replacingOccurrences(of: "hflip,shift16,rot10,noise0.02;", with: "hflip,shift16,rot10;")
                    XCTAssertNotEqual(old, k.params, "augment_iou lists its perturbations")
                    k = ResultKey(image: k.image, model: k.model, weights: k.weights, method: k.method, metric: k.metric, params: old)
                    let img = try XCTUnwrap(plan.images.first { $0.file == k.image })
                    let w = try XCTUnwrap(plan.weights.first { $0.architecture == k.model && $0.tag == k.weights })
                    id = plan.rowID(image: img, model: k.model, weights: w.digest, method: k.method, metric: k.metric, params: k.params)
                }
                before.update("\(id)|\(k.image)|\(k.model)|\(k.weights)|\(k.method)|\(k.metric)|\(k.params)\n")
                kept += 1
            }
        }
        XCTAssertEqual(kept, 2790)
        XCTAssertEqual(before.finalizeHex(), "19c50d4acabd52e4b3e7e43fc93909181743f0c2f2269e9280aa2612decf3ec8")
    }

    /// A CAM layer other than the default moves every key (its rows are other numbers); the default
    /// layer named explicitly is the default and keeps today's keys.
    func testCAMLayerIsPartOfTheKeyUnlessItIsTheDefault() throws {
        func keys(_ layer: String?) throws -> (units: [String], rows: [String]) {
            var c = SweepConfig(data: .init(path: try manifest()), models: [.init(architecture: "resnet50")])
            c.metrics = ["energy", "faith", "cascade"]
            c.imageSize = 32
            c.seeds = [0]
            c.layer = layer
            let plan = try Plan.expand(c)
            return (plan.units.map(\.key), plan.units.flatMap { plan.expectedRows($0).map(\.id) })
        }
        let standard = try keys(nil), named = try keys("layer4.2"), layer3 = try keys("layer3")
        XCTAssertEqual(named.units, standard.units)
        XCTAssertEqual(named.rows, standard.rows)
        XCTAssertEqual(layer3.rows.count, standard.rows.count)
        XCTAssertTrue(Set(layer3.rows).isDisjoint(with: standard.rows), "no row of layer3 may be taken for a default-layer row")
        XCTAssertTrue(Set(layer3.units).isDisjoint(with: standard.units))
        // A path that is not a module, or not a spatial map, is refused naming the field and the path.
        for (bad, says) in [("layer9", "Layers near it"), ("fc", "spatial map"), ("", "unknown layer")] {
            var c = SweepConfig(data: .init(path: try manifest()), models: [.init(architecture: "resnet50")])
            c.imageSize = 32
            c.layer = bad
            XCTAssertThrowsError(try c.resolve(), bad) { e in
                guard case let SweepError.invalidConfig(field, detail)? = e as? SweepError else { return XCTFail("\(e)") }
                XCTAssertEqual(field, "layer")
                XCTAssertTrue(detail.contains("'\(bad)'") && detail.contains(says), detail)
            }
        }
    }
}
