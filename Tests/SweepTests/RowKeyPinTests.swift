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
        XCTAssertEqual(count, 2790)
        XCTAssertEqual(units.finalizeHex(), "42edf5836faf15b78fabf40e77d545c598af245544b0d7424a08794c1e7bf571")
        XCTAssertEqual(rows.finalizeHex(), "19c50d4acabd52e4b3e7e43fc93909181743f0c2f2269e9280aa2612decf3ec8")
    }
}
