import XCTest
import Foundation
import TensorCore
import Models
import Datasets
import Training
import Sweep
@testable import Paper

/// `paper --pretrained DIR`: the file of each architecture found by torchvision's name, checked as
/// torch.hub checks a download, every bad folder refused in one message naming the file, and the
/// training stage keyed by the file's content.
final class PretrainedTests: XCTestCase {
    var dir = ""
    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "pretrained-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// A 1000-class checkpoint of `arch` named STEM-HASH.pth with its own SHA-256's first digits.
    @discardableResult
    func standIn(_ arch: Architecture, stem: String? = nil, imageSize: Int = 224, seed: UInt64 = 1) throws -> String {
        let m = try makeModel(arch, numClasses: 1000, imageSize: imageSize)
        m.initialize(seed: seed)
        let tmp = dir + "/tmp.safetensors"
        try saveModel(m, to: tmp)
        return try named(tmp, stem: stem ?? arch.rawValue)
    }

    func named(_ tmp: String, stem: String) throws -> String {
        let path = dir + "/\(stem)-\(try ContentDigest.hex(file: tmp).prefix(8)).pth"
        try FileManager.default.moveItem(atPath: tmp, toPath: path)
        return path
    }

    func message(_ body: () throws -> Any) -> String {
        do { _ = try body(); return "no error" } catch { return "\(error)" }
    }

    func testFindsEachArchitecturesFileAndRecordsItsDigest() throws {
        let eff = try standIn(.efficientnet_b0, stem: "efficientnet_b0_rwightman")
        try "not a checkpoint".write(toFile: dir + "/resnet50-notes.txt", atomically: true, encoding: .utf8)
        let found = try Pretrained.find(in: dir, architectures: ["efficientnet_b0"], imageSize: 64)
        let e = try XCTUnwrap(found["efficientnet_b0"])
        XCTAssertEqual(e.path, eff)
        XCTAssertEqual(e.sha256, try ContentDigest.hex(file: eff))
        XCTAssertNil(e.weights, "a stand-in is not one of torchvision's published files")
        XCTAssertTrue(e.origin.contains((eff as NSString).lastPathComponent), e.origin)
        var recipe = TrainingRecipe(imageSize: 64, epochs: 1, batchSize: 4, lr: 1e-3)
        recipe.initialCheckpoints = found
        XCTAssertEqual(recipe.options(architecture: "efficientnet_b0", seed: 1).initFrom, eff)
        XCTAssertNil(recipe.options(architecture: "resnet50", seed: 1).initFrom)
    }

    func testEveryBadFolderIsOneErrorNamingTheFile() throws {
        // Missing: the message names the files torchvision would have written and how to get them.
        var m = message { try Pretrained.find(in: self.dir, architectures: ["resnet50"], imageSize: 64) }
        XCTAssertTrue(m.contains("no resnet50 checkpoint") && m.contains("resnet50-11ad3fa6.pth (IMAGENET1K_V2)")
                      && m.contains("weights=\"IMAGENET1K_V2\""), m)
        m = message { try Pretrained.find(in: self.dir + "/none", architectures: ["resnet50"], imageSize: 64) }
        XCTAssertTrue(m.contains("/none: no such folder"), m)

        // A hash mismatch: torch.hub's check_hash refuses it, and so do we.
        let wrong = dir + "/efficientnet_b0-00000000.pth"
        try Data("truncated download".utf8).write(to: URL(fileURLWithPath: wrong))
        m = message { try Pretrained.find(in: self.dir, architectures: ["efficientnet_b0"], imageSize: 64) }
        XCTAssertTrue(m.contains(wrong) && m.contains("invalid hash value (expected \"00000000\""), m)
        try FileManager.default.removeItem(atPath: wrong)

        // Right hash, corrupt content.
        try Data("PK\u{3}\u{4} not really a zip".utf8).write(to: URL(fileURLWithPath: dir + "/x"))
        let corrupt = try named(dir + "/x", stem: "efficientnet_b0")
        m = message { try Pretrained.find(in: self.dir, architectures: ["efficientnet_b0"], imageSize: 64) }
        XCTAssertTrue(m.contains(corrupt) && m.contains("cannot start efficientnet_b0"), m)
        try FileManager.default.removeItem(atPath: corrupt)

        // Another architecture's weights under this one's name: the strict load lists the keys.
        let r = try standIn(.resnet50)
        let misnamed = dir + "/efficientnet_b0-" + (r as NSString).lastPathComponent.dropFirst("resnet50-".count)
        try FileManager.default.moveItem(atPath: r, toPath: misnamed)
        m = message { try Pretrained.find(in: self.dir, architectures: ["efficientnet_b0"], imageSize: 64) }
        XCTAssertTrue(m.contains(misnamed) && m.contains("cannot start efficientnet_b0"), m)
        try FileManager.default.removeItem(atPath: misnamed)

        // Two candidates: both named, nothing guessed.
        let a = try standIn(.efficientnet_b0, seed: 1), b = try standIn(.efficientnet_b0, stem: "efficientnet_b0_rwightman", seed: 2)
        m = message { try Pretrained.find(in: self.dir, architectures: ["efficientnet_b0"], imageSize: 64) }
        XCTAssertTrue(m.contains("2 efficientnet_b0 checkpoints") && m.contains((a as NSString).lastPathComponent)
                      && m.contains((b as NSString).lastPathComponent), m)
    }

    func testViTWeightsForAnotherImageSizeAreRefusedByName() throws {
        let v = try standIn(.vit_b_16, imageSize: 32)
        let m = message { try Pretrained.find(in: self.dir, architectures: ["vit_b_16"], imageSize: 64) }
        XCTAssertTrue(m.contains(v) && m.contains("for 32-px inputs") && m.contains("trains at 64 px"), m)
    }

    /// The origin enters the training key by content: a copy under another name is the same model,
    /// other bytes are another model, and a model from scratch keeps the key it always had.
    func testTrainingKeyHoldsTheCheckpointsContentNotItsName() throws {
        let p = try standIn(.efficientnet_b0)
        let copy = dir + "/elsewhere.pth"
        try FileManager.default.copyItem(atPath: p, toPath: copy)
        let other = try standIn(.efficientnet_b0, stem: "other", seed: 9)
        let data = PaperData(manifestPath: "/m.csv", manifest: Manifest(items: [], directory: "/"), isPhantom: true, digest: "d")
        var o = TrainingOptions(architecture: "efficientnet_b0")
        let scratch = try TrainStage.key(data: data, options: o, version: "v")
        XCTAssertEqual(scratch, StageCache.key(["train", "d", String(decoding: try JSONEncoder.sorted.encode(o), as: UTF8.self), "v"]),
                       "keys of models from scratch are unchanged")
        o.initFrom = p
        let k1 = try TrainStage.key(data: data, options: o, version: "v")
        o.initFrom = copy
        XCTAssertEqual(try TrainStage.key(data: data, options: o, version: "v"), k1, "same bytes, another path: same key")
        o.initFrom = other
        XCTAssertNotEqual(try TrainStage.key(data: data, options: o, version: "v"), k1)
        XCTAssertNotEqual(k1, scratch)
        o.initFrom = dir + "/gone.pth"
        let m = message { try TrainStage.key(data: data, options: o, version: "v") }
        XCTAssertTrue(m.contains("gone.pth"), m)
    }

    func testStudyProfileIsFullFromPretrainedWeights() throws {
        let s = PaperProfile.study.config, f = PaperProfile.full.config
        XCTAssertEqual(s.training.imageSize, f.training.imageSize)
        XCTAssertEqual(s.training.lr, f.training.lr); XCTAssertEqual(s.training.epochs, f.training.epochs)
        XCTAssertEqual(s.training.batchSize, f.training.batchSize); XCTAssertEqual(s.seeds, f.seeds)
        XCTAssertNil(s.training.headInit, "the study's new head is a plain nn.Linear")
        let m = message { try s.validate() }
        XCTAssertTrue(m.contains("--pretrained DIR"), m)
        var with = s
        with.pretrained = dir
        XCTAssertNoThrow(try with.validate())
    }
}
