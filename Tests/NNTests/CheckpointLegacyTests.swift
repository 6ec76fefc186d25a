import Foundation
import XCTest
import TensorCore
import TestSupport
@testable import NN

/// The legacy (pre-1.6) torch.save container and finding the state dict inside training
/// checkpoints, on the small PyTorch-written fixtures of scripts/gen_checkpoint_fixtures.py.
final class CheckpointLegacyTests: XCTestCase {
    typealias F = CheckpointFixtures

    private func load(_ name: String, _ selection: CheckpointSelection = CheckpointSelection()) throws -> LoadedCheckpoint {
        try loadCheckpoint(path: F.path(name), selection: selection)
    }

    func testLegacyContainerEveryDtypeAndPickleProtocol() throws {
        try F.checkTiny(try load("tiny_legacy.pth").stateDict, name: "tiny_legacy.pth", expected: "tiny_expected_f32.npy", dtype: .float32)
        try F.checkTiny(try load("tiny_legacy_p4.pth").stateDict, name: "tiny_legacy_p4.pth", expected: "tiny_expected_f32.npy", dtype: .float32)
        for (tag, dt) in [("f16", CheckpointDType.float16), ("bf16", .bfloat16), ("f64", .float64)] {
            let name = "tiny_legacy_\(tag).pth"
            try F.checkTiny(try load(name).stateDict, name: name, expected: "tiny_expected_\(tag).npy", dtype: dt)
        }
        // File order is kept, as for the zip format.
        XCTAssertEqual(try load("tiny_legacy.pth").stateDict.keys, F.tinyKeys.map(\.0))
        // {"w": torch.ones(2)}
        let small = try loadCheckpoint(path: F.path("legacy.pth"))
        XCTAssertEqual(small.keys, ["w"])
        XCTAssertEqual(small["w"]?.values, [1, 1])
    }

    /// Storage views (`view_metadata` in the persistent id, written by PyTorch < 0.4), with the
    /// values torch.load reads from the same file as the reference.
    func testLegacyStorageViews() throws {
        let sd = try loadCheckpoint(path: F.path("tiny_legacy_views.pth"))
        XCTAssertEqual(sd.keys, ["a", "b", "c"])
        XCTAssertEqual(sd["a"]?.shape, [2, 2])
        XCTAssertEqual(sd["b"]?.shape, [3])
        XCTAssertEqual(sd["c"]?.shape, [10])
        let ref = try NPY.read(path: F.path("tiny_legacy_views_expected.npy")).values
        XCTAssertNil(closeness(try F.flat(sd, keys: ["a", "b", "c"]), ref, rtol: 0, atol: 0))
        // a is elements 2..<6 of the root storage, b 6..<9: the offsets were applied.
        XCTAssertEqual(sd["a"]?.values, Array(sd["c"]!.values[2..<6]))
        XCTAssertEqual(sd["b"]?.values, Array(sd["c"]!.values[6..<9]))
    }

    func testLegacyTrainingCheckpointSkipsOptimizerState() throws {
        // {"epoch", "model_state_dict", "optimizer_state_dict" (SGD momentum tensors), "loss"}
        let r = try load("tiny_legacy_wrapped.pth")
        try F.checkTiny(r.stateDict, name: "tiny_legacy_wrapped.pth", expected: "tiny_expected_f32.npy", dtype: .float32)
        XCTAssertEqual(r.notes.count, 1, "\(r.notes)")
        XCTAssertTrue(r.notes[0].contains("'model_state_dict'") && r.notes[0].contains("'optimizer_state_dict'"), r.notes[0])
    }

    /// The os.system payload spliced into each of the container's five pickles in turn, and saved
    /// inside the object by torch.save itself: each is refused by name and never runs.
    func testHostileLegacyPicklesAreRefusedWithoutSideEffects() throws {
        let marker = "/tmp/camaudit_pwned"
        try? FileManager.default.removeItem(atPath: marker)
        for what in ["magic", "protocol", "sysinfo", "object", "keys"] {
            let name = "hostile_legacy_\(what).pth"
            F.assertThrows([name, "refused to load global 'posix.system'"]) { _ = try load(name) }
        }
        F.assertThrows(["hostile_legacy.pth", "refused to load global 'posix.system'"]) { _ = try load("hostile_legacy.pth") }
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker), "a hostile payload ran")
    }

    /// Cut or corrupted containers: every count and length is checked before use.
    func testDamagedLegacyFilesGiveCleanErrors() throws {
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: F.path("tiny_legacy.pth"))))
        let dir = try F.tempDir("legacy")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/damaged.pth"
        // Cut inside the data section and inside the storage-keys pickle.
        for keep in [original.count - 3, original.count - 200, 60] {
            try Data(original.prefix(keep)).write(to: URL(fileURLWithPath: path))
            F.assertThrows(["damaged.pth"]) { _ = try loadCheckpoint(path: path) }
        }
        // An element count that disagrees with the persistent id: the first storage's count
        // follows the five pickles (storages are in key order, which differs between saves).
        var pos = 0
        for _ in 0..<5 {
            var u = RestrictedUnpickler(original, start: pos) { _ in
                .storage(StorageRef(dtype: .float32, typeName: "FloatStorage", key: "0", numel: 1 << 20))
            }
            _ = try u.load()
            pos = u.endOffset
        }
        let count = Int(original[pos])
        XCTAssertTrue([1, 2, 4, 8, 108].contains(count), "first storage count \(count)")  // the tiny model's sizes
        XCTAssertEqual(Array(original[(pos + 1)..<(pos + 8)]), [0, 0, 0, 0, 0, 0, 0])
        var bad = original
        bad[pos] = UInt8(count + 1)
        try Data(bad).write(to: URL(fileURLWithPath: path))
        F.assertThrows(["damaged.pth", "holds \(count + 1) elements", "says \(count)"]) { _ = try loadCheckpoint(path: path) }
        bad[pos] = UInt8(count)
        bad[pos + 7] = 0x80  // a negative / huge count
        try Data(bad).write(to: URL(fileURLWithPath: path))
        F.assertThrows(["damaged.pth", "legacy torch.save file", "elements but its persistent id says"]) { _ = try loadCheckpoint(path: path) }
    }

    // MARK: - Finding the state dict

    func testSeveralStateDictsNeedTheKey() throws {
        // {"model": sd, "model_ema": sd with zeroed floats, "epoch": 4}
        F.assertThrows(["tiny_two_state_dicts.pth", "2 state dicts", "'model'", "'model_ema'", "--checkpoint-key"]) {
            _ = try load("tiny_two_state_dicts.pth")
        }
        let model = try load("tiny_two_state_dicts.pth", CheckpointSelection(key: "model"))
        try F.checkTiny(model.stateDict, name: "model", expected: "tiny_expected_f32.npy", dtype: .float32)
        XCTAssertTrue(model.notes.contains { $0.contains("'model'") && $0.contains("--checkpoint-key") }, "\(model.notes)")
        let ema = try load("tiny_two_state_dicts.pth", CheckpointSelection(key: "model_ema")).stateDict
        XCTAssertEqual(Set(ema.keys), Set(F.tinyKeys.map(\.0)))
        XCTAssertTrue(ema["0.weight"]!.values.allSatisfy { $0 == 0 }, "read the other state dict")
        F.assertThrows(["--checkpoint-key 'optimizer'", "no entry 'optimizer'", "'epoch' (int)"]) {
            _ = try load("tiny_two_state_dicts.pth", CheckpointSelection(key: "optimizer"))
        }
        F.assertThrows(["--checkpoint-key 'epoch'", "is a int"]) { _ = try load("tiny_two_state_dicts.pth", CheckpointSelection(key: "epoch")) }
    }

    func testLightningStylePrefix() throws {
        // {"epoch", "global_step", "pytorch-lightning_version", "state_dict" with "model." keys,
        //  "optimizer_states", "hyper_parameters"}: the state dict is found; the prefix is named.
        let raw = try load("tiny_lightning.pth")
        XCTAssertTrue(raw.stateDict.keys.allSatisfy { $0.hasPrefix("model.") })
        XCTAssertTrue(raw.notes[0].contains("'state_dict'") && raw.notes[0].contains("'optimizer_states'"), "\(raw.notes)")
        let r = try load("tiny_lightning.pth", CheckpointSelection(stripPrefix: "model."))
        try F.checkTiny(r.stateDict, name: "tiny_lightning.pth", expected: "tiny_expected_f32.npy", dtype: .float32)
        XCTAssertTrue(r.notes.contains { $0.contains("removed the prefix 'model.' from 8 keys") }, "\(r.notes)")
        // A nested path names the same entry.
        let nested = try load("tiny_lightning.pth", CheckpointSelection(key: "state_dict", stripPrefix: "model."))
        XCTAssertEqual(nested.stateDict.keys, r.stateDict.keys)
        F.assertThrows(["--strip-prefix 'net.'", "'model.' (8 keys)"]) { _ = try load("tiny_lightning.pth", CheckpointSelection(stripPrefix: "net.")) }
    }

    func testStripPrefixSelectsOneOfTwoModels() throws {
        // {"state_dict": {"student.*": zeros, "teacher.*": the fixture values}}
        let r = try load("tiny_two_models.pth", CheckpointSelection(stripPrefix: "teacher."))
        try F.checkTiny(r.stateDict, name: "teacher", expected: "tiny_expected_f32.npy", dtype: .float32)
        XCTAssertTrue(r.notes.contains { $0.contains("dropped 8 keys without it") }, "\(r.notes)")
        let student = try load("tiny_two_models.pth", CheckpointSelection(stripPrefix: "student.")).stateDict
        XCTAssertTrue(student["5.weight"]!.values.allSatisfy { $0 == 0 })
    }

    func testSafetensorsTakesPrefixButNoKey() throws {
        F.assertThrows(["tiny.safetensors", "--checkpoint-key"]) { _ = try load("tiny.safetensors", CheckpointSelection(key: "state_dict")) }
        F.assertThrows(["tiny.safetensors", "--strip-prefix 'model.'"]) { _ = try load("tiny.safetensors", CheckpointSelection(stripPrefix: "model.")) }
    }
}
