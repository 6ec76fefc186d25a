import Foundation
import XCTest
import TensorCore
import TestSupport
@testable import NN

/// Seeded mutation fuzzing: flipped, overwritten, inserted and cut bytes in every reader's input.
/// The loaders must only ever return or throw `CheckpointError` — a crash fails the whole run.
final class CheckpointFuzzTests: XCTestCase {
    typealias F = CheckpointFixtures

    private func mutate(_ bytes: [UInt8], _ rng: inout TestRNG) -> [UInt8] {
        var b = bytes
        switch rng.next() % 5 {
        case 0:  // truncate
            b.removeSubrange(Int(rng.next() % UInt64(b.count))...)
        case 1:  // a few random bytes
            for _ in 0..<(1 + Int(rng.next() % 4)) { b[Int(rng.next() % UInt64(b.count))] = UInt8(truncatingIfNeeded: rng.next()) }
        case 2:  // single bit flip
            b[Int(rng.next() % UInt64(b.count))] ^= UInt8(1) << UInt8(rng.next() % 8)
        case 3:  // extreme values, which hit length and count fields hardest
            let v: [UInt8] = [0x00, 0xFF, 0x7F, 0x80]
            b[Int(rng.next() % UInt64(b.count))] = v[Int(rng.next() % 4)]
        default: // insert a few bytes
            let at = Int(rng.next() % UInt64(b.count))
            b.insert(contentsOf: (0..<(1 + Int(rng.next() % 8))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: at)
        }
        return b
    }

    /// Mutates each fixture `rounds` times through `loadCheckpoint` (via a temp file, as the zip
    /// reader works on files); returns how many mutants still loaded.
    private func fuzzFiles(_ names: [String], rounds: Int, seed: UInt64) throws -> (loaded: Int, total: Int) {
        var rng = TestRNG(seed: seed)
        let dir = try F.tempDir("fuzz")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var loaded = 0, total = 0
        for name in names {
            let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: F.path(name))))
            let path = dir + "/mutant." + (name as NSString).pathExtension
            for _ in 0..<rounds {
                let m = mutate(original, &rng)
                try Data(m).write(to: URL(fileURLWithPath: path))
                total += 1
                do {
                    _ = try loadCheckpoint(path: path)
                    loaded += 1
                } catch is CheckpointError {
                } catch {
                    XCTFail("\(name): non-checkpoint error \(type(of: error)): \(error)")
                }
            }
        }
        return (loaded, total)
    }

    func testMutatedFilesOnlyThrowOrLoad() throws {
        let r = try fuzzFiles(["tiny.pth", "tiny.safetensors", "tiny_bf16.safetensors", "hostile.pkl", "hostile_p4.pkl", "legacy.pth"], rounds: 350, seed: 7)
        print("checkpoint fuzz (files): \(r.total) mutants, \(r.loaded) loaded, \(r.total - r.loaded) refused")
        XCTAssertEqual(r.total, 6 * 350)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/tmp/camaudit_pwned"))
    }

    /// The legacy container has no checksum, so every mutation reaches its five pickles, the
    /// element counts or the storage bytes: the reader must bounds-check all of them.
    func testMutatedLegacyFilesOnlyThrowOrLoad() throws {
        let names = ["tiny_legacy.pth", "tiny_legacy_f16.pth", "tiny_legacy_wrapped.pth", "hostile_legacy_keys.pth"]
        let r = try fuzzFiles(names, rounds: 600, seed: 13)
        print("checkpoint fuzz (legacy): \(r.total) mutants, \(r.loaded) loaded, \(r.total - r.loaded) refused")
        XCTAssertEqual(r.total, names.count * 600)
        XCTAssertGreaterThan(r.loaded, 0, "some mutants (e.g. changed float bytes) must still load")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/tmp/camaudit_pwned"))
    }

    /// The zip's CRC check stops most mutations before the unpickler, so mutate the pickles directly
    /// and run them against fake storages of the sizes their persistent ids declare.
    func testMutatedPicklesOnlyThrowOrLoad() throws {
        var rng = TestRNG(seed: 11)
        var loaded = 0, total = 0
        for name in ["wrapped_data.pkl", "views_data.pkl"] {
            let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: F.path(name))))
            for round in 0..<2000 {
                let m = round == 0 ? original : mutate(original, &rng)
                total += 1
                do {
                    let root = try TorchCheckpoint.unpickle(m, file: name) { pid in
                        guard case let .tuple(t) = pid, t.count >= 5, case let .global(.storageType(ty)) = t[1],
                              case let .int(numel) = t[4], numel >= 0, numel < 1 << 20 else {
                            throw PickleFailure(message: "bad persistent id")
                        }
                        return .storage(StorageRef(dtype: AllowedGlobal.storageTypes[ty] ?? nil, typeName: ty, key: "0", numel: numel))
                    }
                    _ = try TorchCheckpoint.stateDict(from: root, file: name) { key, ref in
                        try TorchCheckpoint.materialize(ref, key: key, bigEndian: false, file: name) { s in
                            Data(count: s.numel * (s.dtype?.itemSize ?? 1))
                        }
                    }
                    loaded += 1
                } catch is CheckpointError {
                } catch {
                    XCTFail("\(name): non-checkpoint error \(type(of: error)): \(error)")
                }
            }
        }
        print("checkpoint fuzz (pickles): \(total) mutants, \(loaded) loaded")
        XCTAssertGreaterThan(loaded, 2, "the unmutated pickles must load")
    }
}
