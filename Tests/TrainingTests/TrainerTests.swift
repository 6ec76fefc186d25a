import Foundation
import XCTest
import TensorCore
import NN
import Models
import Datasets
import Training
import TestSupport

/// The training loop on tiny synthetic phantom sets (`SynthDataset`, 64 px).
final class TrainerTests: XCTestCase {
    var tmp: String = ""

    override func setUpWithError() throws {
        tmp = NSTemporaryDirectory() + "camaudit-train-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: tmp) }

    /// A phantom set with every row in `split` except the last of each class, which go to val and test.
    func phantoms(count: Int) throws -> Manifest {
        let s = try SynthDataset.generate(out: tmp + "/data", count: count, size: 64, seed: 3)
        var m = try Manifest.read(path: s.manifestPath)
        for i in m.items.indices { m.items[i].split = i < count - 6 ? .train : (i < count - 3 ? .val : .test) }
        return m
    }

    func trainer(_ m: Manifest, _ o: TrainingOptions, out: String) throws -> Trainer {
        let model = try makeModel(Architecture(rawValue: o.architecture)!, numClasses: m.classes.count, imageSize: o.imageSize)
        model.initialize(seed: o.seed)
        return try Trainer(options: o, manifest: m, model: model, outputs: TrainingOutputs(checkpoint: out, stepLog: out + ".steps.csv"), version: "test")
    }

    func testFitsATinyPhantomSet() throws {
        let m = try phantoms(count: 15)
        var o = TrainingOptions(architecture: "resnet50")
        o.imageSize = 64; o.batchSize = 9; o.epochs = 30; o.lr = 1e-3; o.shuffle = false; o.dropout = false
        let t = try trainer(m, o, out: tmp + "/w/fit.safetensors")
        var fitted = false
        t.log = { print($0) }
        // Stop as soon as an epoch's training accuracy reaches 100 %.
        for epochs in 1...o.epochs {
            t.interruptAfterEpochs = 1
            if try t.run(resume: epochs > 1) != nil { break }
            let csv = try String(contentsOfFile: tmp + "/w/fit.epochs.csv", encoding: .utf8)
            let last = csv.split(separator: "\n").last!.split(separator: ",")
            if Double(last[2]) == 1 { fitted = true; break }
        }
        XCTAssertTrue(fitted, "resnet50 did not reach 100% training accuracy on 9 phantoms in \(o.epochs) epochs")
    }

    func testResumeEndsWithTheSameBytes() throws {
        let m = try phantoms(count: 12)
        var o = TrainingOptions(architecture: "efficientnet_b0")
        o.imageSize = 64; o.batchSize = 4; o.epochs = 3; o.lr = 1e-3; o.augment = .basic
        let a = try trainer(m, o, out: tmp + "/a/w.safetensors")
        try a.run()
        let b = try trainer(m, o, out: tmp + "/b/w.safetensors")
        b.interruptAfterEpochs = 1
        XCTAssertNil(try b.run())
        // A fresh process would rebuild the model from scratch: so does this.
        let c = try trainer(m, o, out: tmp + "/b/w.safetensors")
        try c.run(resume: true)
        for suffix in [".safetensors", ".resume.safetensors"] {
            // The resume state's header also holds the progress, whose epoch times differ between
            // any two runs: its tensors (names, shapes, bytes) are compared, the whole of it before
            // the progress moved in.
            let x = try Safetensors.encode(loadCheckpoint(path: tmp + "/a/w" + suffix))
            let y = try Safetensors.encode(loadCheckpoint(path: tmp + "/b/w" + suffix))
            XCTAssertEqual(x, y, "w\(suffix) differs after resume")
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: tmp + "/a/w.safetensors")),
                       try Data(contentsOf: URL(fileURLWithPath: tmp + "/b/w.safetensors")), "w.safetensors differs after resume")
        let steps = try String(contentsOfFile: tmp + "/b/w.safetensors.steps.csv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(steps.count, 1 + 3 * 2, "one row per optimizer step after resuming")
        let record = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: tmp + "/b/w.json"))) as! [String: Any]
        XCTAssertEqual((record["history"] as? [Any])?.count, 3)
        let test = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: tmp + "/b/w.test.json"))) as! [String: Any]
        XCTAssertEqual(test["images"] as? Int, 3)
        XCTAssertEqual((test["confusion_matrix"] as? [[Int]])?.flatMap { $0 }.reduce(0, +), 3)
    }

    func testBadInputIsRefusedBeforeTraining() throws {
        var m = try phantoms(count: 9)
        let o = TrainingOptions(architecture: "resnet50")
        // No validation rows.
        var noVal = m
        for i in noVal.items.indices where noVal.items[i].split == .val { noVal.items[i].split = .train }
        XCTAssertThrowsError(try trainer(noVal, o, out: tmp + "/x.safetensors")) { XCTAssertEqual($0 as? TrainingError, .emptySplit("val")) }
        // An output folder that cannot be created.
        try Data().write(to: URL(fileURLWithPath: tmp + "/file"))
        XCTAssertThrowsError(try trainer(m, o, out: tmp + "/file/x.safetensors")) {
            guard case .unwritable = $0 as? TrainingError else { return XCTFail("\($0)") }
        }
        // One class only.
        for i in m.items.indices { m.items[i].classIndex = 0; m.items[i].className = "normal" }
        XCTAssertThrowsError(try Trainer(options: o, manifest: m, model: makeModel(.resnet50, numClasses: 1), outputs: TrainingOutputs(checkpoint: tmp + "/y.safetensors"), version: "t")) {
            guard case .singleClass = $0 as? TrainingError else { return XCTFail("\($0)") }
        }
        var bad = o; bad.lr = -1
        XCTAssertThrowsError(try bad.validate())
    }

    func testNonFiniteLossStopsBeforeTheUpdate() throws {
        let model = try makeModel(.efficientnet_b0, numClasses: 3, imageSize: 32)
        model.initialize(seed: 1)
        let before = model.namedParameters().map { $0.1.value.values }
        let x = Tensor(repeating: .nan, shape: [2, 3, 32, 32])
        XCTAssertThrowsError(try trainStep(model, images: x, labels: [0, 1], optimizer: AdamW(), lr: 1e-3)) {
            guard case .nonFiniteLoss = $0 as? TrainingError else { return XCTFail("\($0)") }
        }
        let after = model.namedParameters().map { $0.1.value.values }
        XCTAssertEqual(before, after, "weights and running statistics are untouched")
    }

    /// `--progressive 32:2` over 3 epochs at 64 px: its first two epochs are exactly a 2-epoch
    /// training at 32 px (same weights, bytes), its third runs at 64 px, and only that one can
    /// be the best checkpoint (the one used at --image-size afterwards).
    func testProgressiveResizingTrainsTheFirstEpochsAtTheLowerSize() throws {
        let m = try phantoms(count: 12)
        var low = TrainingOptions(architecture: "resnet50")
        low.imageSize = 32; low.batchSize = 4; low.epochs = 2; low.lr = 1e-3; low.dropout = false
        try trainer(m, low, out: tmp + "/low/w.safetensors").run()
        var o = low
        o.imageSize = 64; o.epochs = 3; o.progressive = ProgressiveResize(size: 32, epochs: 2)
        XCTAssertEqual((0..<3).map { o.imageSize(epoch: $0) }, [32, 32, 64])
        let p = try trainer(m, o, out: tmp + "/p/w.safetensors")
        p.interruptAfterEpochs = 2
        XCTAssertNil(try p.run())
        func modelTensors(_ path: String) throws -> [String: [Float]] {
            let sd = try loadCheckpoint(path: path)
            return Dictionary(uniqueKeysWithValues: sd.keys.filter { $0.hasPrefix("model/") }.map { ($0, sd[$0]!.values) })
        }
        XCTAssertEqual(try modelTensors(tmp + "/p/w.resume.safetensors"), try modelTensors(tmp + "/low/w.resume.safetensors"),
                       "two epochs at 32 px inside a progressive run differ from a 2-epoch run at 32 px")
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp + "/p/w.safetensors"), "a 32-px epoch became the best checkpoint")
        let record = try XCTUnwrap(try trainer(m, o, out: tmp + "/p/w.safetensors").run(resume: true))
        XCTAssertEqual(record.bestEpoch, 3)
        XCTAssertEqual(record.history.count, 3)
        // The options that refuse it: a size not below --image-size, no epoch left at --image-size, ViT.
        for (size, epochs, arch) in [(64, 1, "resnet50"), (32, 3, "resnet50"), (8, 1, "resnet50"), (32, 1, "vit_b_16")] {
            var bad = o; bad.progressive = ProgressiveResize(size: size, epochs: epochs); bad.architecture = arch
            XCTAssertThrowsError(try bad.validate(), "\(size):\(epochs) \(arch)") { XCTAssertTrue("\($0)".contains("--progressive"), "\($0)") }
        }
        XCTAssertNil(ProgressiveResize("64"))
        XCTAssertNil(ProgressiveResize("64:x"))
        XCTAssertEqual(ProgressiveResize("64:8"), ProgressiveResize(size: 64, epochs: 8))
    }
}
