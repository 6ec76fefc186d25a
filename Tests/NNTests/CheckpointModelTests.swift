import Foundation
import XCTest
import TensorCore
import Autograd
import TestSupport
import NN
import Models

/// Whole torchvision models loaded from PyTorch-written files as a user loads them (legacy
/// container in fp32 and fp16, an old-key DenseNet-161, a Lightning checkpoint, a
/// `model_state_dict` training checkpoint), checked against PyTorch's logits on input_112.npy.
/// Every tensor in these files is a strided view into a few small storages (scripts/README.md),
/// which keeps whole models in a few hundred kB.
final class CheckpointModelTests: XCTestCase {
    typealias F = CheckpointFixtures

    @discardableResult
    private func check(_ name: String, _ arch: Architecture, logits ref: String, selection: CheckpointSelection = CheckpointSelection(),
                       numClasses: Int? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> (ImageClassifier, [String]) {
        let (model, notes) = try loadModel(arch, weights: F.path(name), selection: selection, numClasses: numClasses)
        let y = try model.logits(try Fixtures.input(size: 112)).value
        let r = try NPY.read(path: F.path(ref))
        XCTAssertEqual(y.shape, r.shape, name, file: file, line: line)
        let scale = r.maxAbs
        let diff = maxAbsDiff(y.values, r.values)
        print("\(name): max|Δlogit| = \(diff), max|logit| = \(scale)")
        XCTAssertLessThanOrEqual(diff, 1e-3 * scale, name, file: file, line: line)
        return (model, notes)
    }

    func testLegacyFilesOfEveryArchitectureInFp32AndFp16() throws {
        for arch in Architecture.allCases {
            for tag in ["f32", "f16"] {
                let name = "legacy_\(arch.rawValue)_\(tag).pth"
                let (model, notes) = try check(name, arch, logits: "legacy_\(arch.rawValue)_\(tag)_logits.npy")
                XCTAssertEqual(model.numClasses, 1000)
                XCTAssertEqual(notes, [], "a plain state dict needs no note")
                let sd = try loadCheckpoint(path: F.path(name))
                XCTAssertEqual(sd.sourceDType(of: arch.classifierWeightKey), tag == "f16" ? .float16 : .float32)
            }
        }
    }

    /// An ImageNet checkpoint with --num-classes 3: inference keeps the 1000-class head and says so.
    func testImageNetHeadIsKeptForInference() throws {
        let (model, notes) = try check("legacy_resnet50_f32.pth", .resnet50, logits: "legacy_resnet50_f32_logits.npy", numClasses: 3)
        XCTAssertEqual(model.numClasses, 1000)
        XCTAssertEqual(notes.count, 1)
        XCTAssertTrue(notes[0].contains("1000 classes") && notes[0].contains("keeps it") && notes[0].contains("--num-classes 3"), notes[0])
        let (_, same) = try check("legacy_resnet50_f32.pth", .resnet50, logits: "legacy_resnet50_f32_logits.npy", numClasses: 1000)
        XCTAssertEqual(same, [])
    }

    /// What training needs to replace the head.
    func testHeadQueriesForTraining() throws {
        let ck = try loadModelCheckpoint(.resnet50, path: F.path("legacy_resnet50_f32.pth"))
        XCTAssertEqual(ck.numClasses, 1000)
        XCTAssertTrue(ck.headMatches(numClasses: 1000))
        XCTAssertFalse(ck.headMatches(numClasses: 3))
        XCTAssertEqual(ck.headKeys, ["fc.weight", "fc.bias"])
        let body = ck.withoutHead()
        XCTAssertEqual(body.count, ck.stateDict.count - 2)
        XCTAssertNil(body["fc.weight"])
        XCTAssertNil(body["fc.bias"])
        XCTAssertNotNil(body["layer4.2.bn3.running_var"])
    }

    /// torchvision's original DenseNet-161 layout (legacy, `norm.1`-style keys, no BatchNorm
    /// counters); PyTorch's logits come from torchvision's own DenseNet loader.
    func testOldKeyDenseNet() throws {
        let (_, notes) = try check("densenet161_oldkeys.pth", .densenet161, logits: "densenet161_oldkeys_logits.npy")
        XCTAssertTrue(notes.contains { $0.contains("renamed 780 old-style DenseNet keys") }, "\(notes)")
        XCTAssertTrue(notes.contains { $0.contains("added 161 BatchNorm num_batches_tracked") }, "\(notes)")
        XCTAssertEqual(notes.count, 2, "\(notes)")
    }

    func testRenamingIsTorchvisionsPattern() {
        let cases = [
            ("features.denseblock1.denselayer1.norm.1.weight", "features.denseblock1.denselayer1.norm1.weight"),
            ("features.denseblock4.denselayer24.conv.2.weight", "features.denseblock4.denselayer24.conv2.weight"),
            ("features.denseblock2.denselayer3.norm.2.running_var", "features.denseblock2.denselayer3.norm2.running_var"),
            ("features.denseblock2.denselayer3.relu.1.bias", "features.denseblock2.denselayer3.relu1.bias"),
            // Not matched by torchvision's pattern: left alone.
            ("features.denseblock2.denselayer3.norm.1.num_batches_tracked", "features.denseblock2.denselayer3.norm.1.num_batches_tracked"),
            ("features.denseblock2.denselayer3.norm.3.weight", "features.denseblock2.denselayer3.norm.3.weight"),
            ("features.transition1.norm.weight", "features.transition1.norm.weight"),
            ("features.norm5.weight", "features.norm5.weight"),
            ("features.denseblock1.denselayer1.norm1.weight", "features.denseblock1.denselayer1.norm1.weight"),
        ]
        for (old, new) in cases { XCTAssertEqual(renamedOldDenseNetKey(old), new, old) }
    }

    /// A PyTorch Lightning checkpoint written by Lightning's Trainer (EfficientNet-B0 as
    /// `self.model`, 3 classes, AdamW, hyper-parameters, callbacks, loops).
    func testLightningCheckpoint() throws {
        let (model, notes) = try check("lightning_efficientnet_b0.ckpt", .efficientnet_b0, logits: "lightning_efficientnet_b0_logits.npy")
        XCTAssertEqual(model.numClasses, 3)
        XCTAssertTrue(notes.contains { $0.contains("under 'state_dict'") && $0.contains("'optimizer_states'") }, "\(notes)")
        XCTAssertTrue(notes.contains { $0.contains("removed the prefix 'model.' carried by every key") }, "\(notes)")
        // Said explicitly, the same model.
        try check("lightning_efficientnet_b0.ckpt", .efficientnet_b0, logits: "lightning_efficientnet_b0_logits.npy",
                  selection: CheckpointSelection(key: "state_dict", stripPrefix: "model."))
    }

    func testModelStateDictCheckpoint() throws {
        // {"epoch", "model_state_dict", "optimizer_state_dict", "scheduler_state_dict", "loss",
        //  "best_acc1" (a tensor outside the state dict), "classes"}
        let (model, notes) = try check("resnet50_model_state_dict.pth", .resnet50, logits: "resnet50_model_state_dict_logits.npy", numClasses: 3)
        XCTAssertEqual(model.numClasses, 3)
        XCTAssertEqual(notes.count, 1, "\(notes)")
        XCTAssertTrue(notes[0].contains("under 'model_state_dict'") && notes[0].contains("'optimizer_state_dict'"), notes[0])
    }

    /// Prefixes that cannot be removed automatically are named with what to pass.
    func testAmbiguousPrefixesAreListed() throws {
        let dir = try F.tempDir("prefix")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/p.safetensors"
        var two = StateDict()
        try two.set("student.fc.weight", Tensor(zeros: [3, 2048]))
        try two.set("teacher.fc.weight", Tensor(zeros: [3, 2048]))
        try saveSafetensors(two, path: path)
        F.assertThrows(["p.safetensors", "2 models", "'student.'", "'teacher.'", "--strip-prefix"]) {
            _ = try loadModelCheckpoint(.resnet50, path: path)
        }
        let teacher = try loadModelCheckpoint(.resnet50, path: path, selection: CheckpointSelection(stripPrefix: "teacher."))
        XCTAssertEqual(teacher.stateDict.keys, ["fc.weight"])
        var extra = StateDict()
        try extra.set("model.fc.weight", Tensor(zeros: [3, 2048]))
        try extra.set("criterion.weight", Tensor(zeros: [3]))
        try saveSafetensors(extra, path: path)
        F.assertThrows(["p.safetensors", "prefix 'model.'", "'criterion.weight'", "--strip-prefix model."]) {
            _ = try loadModelCheckpoint(.resnet50, path: path)
        }
    }

    /// The CLI's route for code that loads by path alone: the run's selection and reporter.
    func testDefaultsApplyToLoadModelByPath() throws {
        let box = NoteBox()
        let defaults = CheckpointDefaults(selection: CheckpointSelection(key: "state_dict"), numClasses: 5, report: { box.add($0) })
        let model = try defaults.run { try loadModel(.efficientnet_b0, weights: F.path("lightning_efficientnet_b0.ckpt")) }
        XCTAssertEqual(model.numClasses, 3)
        let notes = box.notes
        XCTAssertTrue(notes.contains { $0.contains("--checkpoint-key") }, "\(notes)")
        XCTAssertTrue(notes.contains { $0.contains("3 classes; inference keeps it") }, "\(notes)")
    }
}

private final class NoteBox: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func add(_ s: String) { lock.withLock { items.append(s) } }
    var notes: [String] { lock.withLock { items } }
}
