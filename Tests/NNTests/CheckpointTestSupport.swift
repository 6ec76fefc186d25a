import Foundation
import XCTest
import TensorCore
import TestSupport
@testable import NN

/// Shared fixture paths and the fixture model's key list, written out by hand from the module in
/// scripts/gen_checkpoint_fixtures.py (Conv2d(3,4,3,bias=False), BatchNorm2d(4), …, Linear(4,2)).
enum CheckpointFixtures {
    static let dir = fixturesDirectory + "/checkpoints"
    static func path(_ name: String) -> String { dir + "/" + name }

    static let tinyKeys: [(String, [Int])] = [
        ("0.weight", [4, 3, 3, 3]), ("1.weight", [4]), ("1.bias", [4]), ("1.running_mean", [4]),
        ("1.running_var", [4]), ("1.num_batches_tracked", []), ("5.weight", [2, 4]), ("5.bias", [2]),
    ]

    /// The flat concatenation of `keys`' tensors, in order, for comparison with a `*_expected*.npy`.
    static func flat(_ sd: StateDict, keys: [String]) throws -> [Float] {
        var out: [Float] = []
        for k in keys {
            let t = try XCTUnwrap(sd[k], "missing key \(k)")
            out += t.values
        }
        return out
    }

    /// Checks `sd` is the fixture model: keys, shapes, source dtypes, and values exactly equal to
    /// PyTorch's dump `npy`.
    static func checkTiny(_ sd: StateDict, name: String, expected npy: String, dtype: CheckpointDType, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(Set(sd.keys), Set(tinyKeys.map(\.0)), name, file: file, line: line)
        for (k, shape) in tinyKeys {
            XCTAssertEqual(sd[k]?.shape, shape, "\(name) \(k)", file: file, line: line)
            let want: CheckpointDType = k.hasSuffix("num_batches_tracked") ? .int64 : dtype
            XCTAssertEqual(sd.sourceDType(of: k), want, "\(name) \(k)", file: file, line: line)
        }
        let got = try flat(sd, keys: tinyKeys.map(\.0))
        let ref = try NPY.read(path: path(npy)).values
        // Every format converts exactly to float32, so the comparison is exact.
        XCTAssertEqual(got.count, ref.count, file: file, line: line)
        XCTAssertNil(closeness(got, ref, rtol: 0, atol: 0), name, file: file, line: line)
        XCTAssertEqual(sd["1.num_batches_tracked"]?.values, [7], file: file, line: line)
        try validate(sd, expected: tinyKeys, file: name)
    }

    /// Runs `body`, expects a `CheckpointError` whose message contains every string in `needles`.
    static func assertThrows(_ needles: [String], file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) {
        do {
            try body()
            XCTFail("expected an error mentioning \(needles)", file: file, line: line)
        } catch let e as CheckpointError {
            for n in needles {
                XCTAssertTrue(e.description.contains(n), "error \"\(e.description)\" does not mention \"\(n)\"", file: file, line: line)
            }
        } catch {
            XCTFail("expected CheckpointError, got \(type(of: error)): \(error)", file: file, line: line)
        }
    }

    /// A fresh empty temporary folder.
    static func tempDir(_ tag: String) throws -> String {
        let d = NSTemporaryDirectory() + "camaudit-\(tag)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }
}
