import Foundation
import XCTest
import TensorCore
import TestSupport
@testable import NN

/// Loads the PyTorch-written fixtures (scripts/gen_checkpoint_fixtures.py) and compares keys,
/// shapes, source dtypes and values with the .npy dumps PyTorch wrote beside them.
final class CheckpointLoadTests: XCTestCase {
    typealias F = CheckpointFixtures

    private func checkTiny(_ name: String, expected npy: String, dtype: CheckpointDType, file: StaticString = #filePath, line: UInt = #line) throws {
        try F.checkTiny(try loadCheckpoint(path: F.path(name)), name: name, expected: npy, dtype: dtype, file: file, line: line)
    }

    func testFloat32BothFormatsAndPickleProtocol4() throws {
        try checkTiny("tiny.safetensors", expected: "tiny_expected_f32.npy", dtype: .float32)
        try checkTiny("tiny.pth", expected: "tiny_expected_f32.npy", dtype: .float32)
        try checkTiny("tiny_p4.pth", expected: "tiny_expected_f32.npy", dtype: .float32)
    }

    func testTorchPickleKeepsStateDictOrder() throws {
        XCTAssertEqual(try loadCheckpoint(path: F.path("tiny.pth")).keys, F.tinyKeys.map(\.0))
    }

    func testReducedAndWidenedPrecision() throws {
        for (tag, dt) in [("f16", CheckpointDType.float16), ("bf16", .bfloat16), ("f64", .float64)] {
            try checkTiny("tiny_\(tag).pth", expected: "tiny_expected_\(tag).npy", dtype: dt)
            try checkTiny("tiny_\(tag).safetensors", expected: "tiny_expected_\(tag).npy", dtype: dt)
        }
    }

    func testWrappedCheckpointsAndDataParallelPrefix() throws {
        // {"state_dict", "epoch", "best_acc", "arch", "optimizer" (SGD with momentum buffers), "flags"}
        try checkTiny("tiny_wrapped.pth", expected: "tiny_expected_f32.npy", dtype: .float32)
        try checkTiny("tiny_model_key.pth", expected: "tiny_expected_f32.npy", dtype: .float32)
        try checkTiny("tiny_module_prefix.pth", expected: "tiny_expected_f32.npy", dtype: .float32)
    }

    func testNonContiguousViews() throws {
        let sd = try loadCheckpoint(path: F.path("views.pth"))
        let keys = ["transposed", "strided", "offset", "expanded"]
        XCTAssertEqual(sd.keys, keys)
        XCTAssertEqual(sd["transposed"]?.shape, [5, 3])
        XCTAssertEqual(sd["strided"]?.shape, [2, 3])
        XCTAssertEqual(sd["offset"]?.shape, [2, 6])
        XCTAssertEqual(sd["expanded"]?.shape, [3, 4])
        let ref = try NPY.read(path: F.path("views_expected.npy")).values
        XCTAssertNil(closeness(try F.flat(sd, keys: keys), ref, rtol: 0, atol: 0))
    }

    func testHostilePicklesAreRefusedWithoutSideEffects() throws {
        let marker = "/tmp/camaudit_pwned"
        try? FileManager.default.removeItem(atPath: marker)
        for name in ["hostile.pth", "hostile.pkl", "hostile_p4.pkl"] {
            F.assertThrows([name, "refused to load global 'posix.system'"]) { _ = try loadCheckpoint(path: F.path(name)) }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker), "a hostile payload ran")
    }

    func testUnknownGlobalInWrapperIsRefused() {
        F.assertThrows(["tiny_unknown_global.pth", "argparse.Namespace"]) { _ = try loadCheckpoint(path: F.path("tiny_unknown_global.pth")) }
    }

    func testIntegerTensorOtherThanCounterIsRefused() {
        F.assertThrows(["int_tensor.pth", "'fc.index'", "integer"]) { _ = try loadCheckpoint(path: F.path("int_tensor.pth")) }
    }

    func testDamagedFilesGiveCleanErrors() {
        F.assertThrows(["truncated.pth"]) { _ = try loadCheckpoint(path: F.path("truncated.pth")) }
        F.assertThrows(["truncated.safetensors", "truncated"]) { _ = try loadCheckpoint(path: F.path("truncated.safetensors")) }
        F.assertThrows(["corrupt_header.safetensors", "corrupt header"]) { _ = try loadCheckpoint(path: F.path("corrupt_header.safetensors")) }
        F.assertThrows(["huge_header.safetensors", "header length"]) { _ = try loadCheckpoint(path: F.path("huge_header.safetensors")) }
        F.assertThrows(["no/such/file.pth", "cannot read"]) { _ = try loadCheckpoint(path: "no/such/file.pth") }
    }

    func testValidateReportsEverythingAtOnce() throws {
        let sd = try loadCheckpoint(path: F.path("tiny.safetensors"))
        var expected = F.tinyKeys.filter { $0.0 != "5.bias" && $0.0 != "1.bias" }  // two unknown in the file
        expected[0] = ("0.weight", [4, 3, 5, 5])                                  // one mismatch
        expected.append(("fc.weight", [2, 4]))                                    // one missing
        expected.append(("fc.bias", [2]))                                         // another missing
        F.assertThrows(["tiny.safetensors", "2 missing key(s)", "fc.bias", "fc.weight", "2 unknown key(s)", "1.bias", "5.bias",
                        "1 shape mismatch(es)", "0.weight: checkpoint [4, 3, 3, 3] vs model [4, 3, 5, 5]"]) {
            try validate(sd, expected: expected, file: "tiny.safetensors")
        }
        // Sorted lists: fc.bias before fc.weight.
        do { try validate(sd, expected: expected, file: "x") } catch let e as CheckpointError {
            let d = e.description
            XCTAssertLessThan(try XCTUnwrap(d.range(of: "fc.bias")).lowerBound, try XCTUnwrap(d.range(of: "fc.weight")).lowerBound)
        }
        // Long lists are capped with a count.
        let many = (0..<50).map { ("extra.\($0)", [1]) }
        F.assertThrows(["50 missing key(s)", "… and 30 more"]) { try validate(sd, expected: F.tinyKeys + many, file: "x") }
    }
}
