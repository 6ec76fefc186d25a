import Foundation
import XCTest
import TensorCore
import TestSupport
@testable import NN

/// Safetensors writing and header validation, with hand-built files.
final class CheckpointSafetensorsTests: XCTestCase {
    typealias F = CheckpointFixtures

    /// A safetensors file from a header text and data bytes (no padding, which readers accept).
    private func file(_ header: String, _ data: [UInt8]) -> [UInt8] {
        let h = Array(header.utf8)
        return withUnsafeBytes(of: UInt64(h.count).littleEndian, Array.init) + h + data
    }

    private func decode(_ bytes: [UInt8]) throws -> StateDict {
        try bytes.withUnsafeBytes { try Safetensors.decode($0, file: "mem.safetensors") }
    }

    func testHandBuiltFileDecodes() throws {
        // 1.0, -2.0 as F32 little-endian; 3 as I64 counter; bf16 0x3FC0 = 1.5
        let data: [UInt8] = [0, 0, 0x80, 0x3F, 0, 0, 0, 0xC0] + [3, 0, 0, 0, 0, 0, 0, 0] + [0xC0, 0x3F]
        let sd = try decode(file(#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"bn.num_batches_tracked":{"dtype":"I64","shape":[],"data_offsets":[8,16]},"h":{"dtype":"BF16","shape":[1,1],"data_offsets":[16,18]},"__metadata__":{"format":"pt"}}"#, data))
        XCTAssertEqual(sd.keys, ["w", "bn.num_batches_tracked", "h"])
        XCTAssertEqual(sd["w"]?.values, [1, -2])
        XCTAssertEqual(sd["bn.num_batches_tracked"]?.values, [3])
        XCTAssertEqual(sd["bn.num_batches_tracked"]?.shape, [])
        XCTAssertEqual(sd.sourceDType(of: "bn.num_batches_tracked"), .int64)
        XCTAssertEqual(sd["h"]?.values, [1.5])
        XCTAssertEqual(sd.sourceDType(of: "h"), .bfloat16)
    }

    func testHeaderValidation() {
        let four = [UInt8](repeating: 0, count: 8)
        let cases: [(String, [UInt8], String)] = [
            (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}"#, four, "overlaps"),
            (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, four, "belong to no tensor"),
            (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, four, "trailing"),
            (#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, four, "size mismatch"),
            (#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, four, "truncated"),
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, four, "bad data_offsets"),
            (#"{"a":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}"#, four, "unsupported dtype 'C64'"),
            (#"{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, four, "bad shape"),
            (#"{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}}"#, four, "overflows"),
            (#"{"a":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}}"#, four, "'a' has integer dtype"),
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, four, "appears twice"),
            (#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}"#, four, "corrupt header"),
            (#"[1,2]"#, [], "not a JSON object"),
            (String(repeating: "[", count: 200), [], "nested too deeply"),
        ]
        for (header, data, needle) in cases {
            F.assertThrows(["mem.safetensors", needle]) { _ = try decode(file(header, data)) }
        }
        F.assertThrows(["mem.safetensors", "truncated"]) { _ = try decode([1, 2, 3]) }
    }

    func testWriteReadRoundTripIsBitExact() throws {
        var rng = TestRNG(seed: 42)
        var sd = StateDict()
        try sd.set("conv.weight", rng.tensor([3, 2, 3, 3]))
        let special = try Tensor(shape: [6], values: [0, -0.0, .infinity, -.greatestFiniteMagnitude, .leastNonzeroMagnitude, .nan])
        try sd.set("special", special)
        try sd.set("bn.num_batches_tracked", Tensor(scalar: 12345), sourceDType: .int64)
        try sd.set("scalar", Tensor(scalar: 0.25))
        try sd.set("quote\"and\\slash", rng.tensor([2]))
        let dir = try F.tempDir("st-roundtrip")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/rt.safetensors"
        try saveSafetensors(sd, path: path)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["rt.safetensors"], "no temp file left behind")
        let back = try loadCheckpoint(path: path)
        XCTAssertEqual(back.keys, sd.keys)
        for e in sd.entries {
            let b = try XCTUnwrap(back[e.key])
            XCTAssertEqual(b.shape, e.tensor.shape, e.key)
            XCTAssertEqual(b.values.map(\.bitPattern), e.tensor.values.map(\.bitPattern), e.key)
        }
        XCTAssertEqual(back.sourceDType(of: "bn.num_batches_tracked"), .int64)
        XCTAssertEqual(back.sourceDType(of: "conv.weight"), .float32)
        // The header's data starts 8-byte aligned, like the reference writer's.
        let raw = try Data(contentsOf: URL(fileURLWithPath: path))
        let n = raw.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        XCTAssertEqual(n % 8, 0)
    }

    /// Re-writes the PyTorch fixtures from Swift. The tiny model's file is left in the temp folder
    /// for the manual PyTorch check: `/tmp/tv/bin/python scripts/gen_checkpoint_fixtures.py --verify <path>`.
    func testFixturesSurviveSwiftRewrite() throws {
        let dir = NSTemporaryDirectory() + "camaudit-checkpoint-roundtrip"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for name in ["tiny.pth", "tiny_bf16.safetensors", "views.pth"] {
            let sd = try loadCheckpoint(path: F.path(name))
            let out = dir + "/" + (name == "tiny.pth" ? "tiny_swift.safetensors" : name + ".rewritten.safetensors")
            try saveSafetensors(sd, path: out)
            let back = try loadCheckpoint(path: out)
            XCTAssertEqual(back.keys, sd.keys, name)
            for k in sd.keys { XCTAssertEqual(back[k]?.values, sd[k]?.values, "\(name) \(k)") }
            if name == "tiny.pth" { XCTAssertEqual(back.sourceDType(of: "1.num_batches_tracked"), .int64) }
        }
    }

    func testIntegerWriteRefusesNonIntegralCounter() throws {
        var sd = StateDict()
        try sd.set("bn.num_batches_tracked", Tensor(scalar: 1.5), sourceDType: .int64)
        F.assertThrows(["out.safetensors", "int64"]) { _ = try Safetensors.encode(sd, file: "out.safetensors") }
    }

    func testStateDictRefusesIntegerForOrdinaryKeys() {
        var sd = StateDict()
        F.assertThrows(["'fc.weight'", "integer"]) { try sd.set("fc.weight", Tensor(zeros: [2]), sourceDType: .int32) }
        XCTAssertNoThrow(try sd.set("bn.num_batches_tracked", Tensor(scalar: 1), sourceDType: .int32))
        XCTAssertEqual(sd.sourceDType(of: "bn.num_batches_tracked"), .int64)
    }
}
