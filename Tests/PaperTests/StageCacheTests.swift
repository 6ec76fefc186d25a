import XCTest
import Foundation
import Datasets
@testable import Paper

/// The cache's contract: a finished result is reused only under its key; an interrupted stage never
/// looks finished and resumes in its partial folder.
final class StageCacheTests: XCTestCase {
    var root = ""
    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "paper-cache-\(UUID().uuidString)"
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: root) }

    func testKeysSeparateTheirParts() {
        XCTAssertEqual(StageCache.key(["a", "b"]), StageCache.key(["a", "b"]))
        XCTAssertNotEqual(StageCache.key(["ab", "c"]), StageCache.key(["a", "bc"]))
        XCTAssertEqual(StageCache.key(["x"]).count, 64)
    }

    func testFinishedResultIsReusedOnlyUnderItsKey() throws {
        let cache = try StageCache(root: root)
        var calls = 0
        let k1 = StageCache.key(["one"]), k2 = StageCache.key(["two"])
        let d1 = try cache.run(stage: "s", item: "i", key: k1) { w in calls += 1; try "1".write(toFile: w + "/x", atomically: true, encoding: .utf8) }
        let again = try cache.run(stage: "s", item: "i", key: k1) { _ in calls += 1 }
        XCTAssertEqual(d1, again)
        XCTAssertEqual(calls, 1)
        let d2 = try cache.run(stage: "s", item: "i", key: k2) { w in calls += 1; try "2".write(toFile: w + "/x", atomically: true, encoding: .utf8) }
        XCTAssertEqual(calls, 2)
        XCTAssertNotEqual(d1, d2)
        XCTAssertEqual(try String(contentsOfFile: d1 + "/x", encoding: .utf8), "1")
        XCTAssertEqual(cache.events.map(\.cached), [false, true, false])
    }

    func testInterruptedStageResumesInItsPartialFolder() throws {
        let cache = try StageCache(root: root)
        let key = StageCache.key(["k"])
        struct Killed: Error {}
        XCTAssertThrowsError(try cache.run(stage: "train", item: "m", key: key) { w in
            try "epoch 1".write(toFile: w + "/progress", atomically: true, encoding: .utf8)
            throw Killed()
        })
        XCTAssertNil(cache.finished(stage: "train", item: "m", key: key), "an interrupted stage must not look finished")
        var seen = ""
        let dir = try cache.run(stage: "train", item: "m", key: key) { w in
            seen = (try? String(contentsOfFile: w + "/progress", encoding: .utf8)) ?? ""
        }
        XCTAssertEqual(seen, "epoch 1", "the rerun continues from what the interrupted one saved")
        XCTAssertNotNil(cache.finished(stage: "train", item: "m", key: key))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + ".partial"))
    }

    func testInPlaceStageKeepsItsFilesAcrossKeys() throws {
        let cache = try StageCache(root: root)
        let d = try cache.run(stage: "sweep", item: "main", key: StageCache.key(["a"]), inPlace: true) { w in
            try "row\n".write(toFile: w + "/results.csv", atomically: true, encoding: .utf8)
        }
        var found = ""
        _ = try cache.run(stage: "sweep", item: "main", key: StageCache.key(["b"]), inPlace: true) { w in
            found = try String(contentsOfFile: w + "/results.csv", encoding: .utf8)
        }
        XCTAssertEqual(found, "row\n", "a sweep's store keeps its rows when its configuration changes")
        XCTAssertEqual(d, root + "/sweep/main")
    }

    /// The shortcut experiment's marker-free twin differs from the marked slice only under the marker.
    func testCleanTwinDiffersOnlyUnderTheMarker() throws {
        let marked = PhantomGenerator(size: 64, seed: 3, shortcutFraction: 1), clean = PhantomGenerator(size: 64, seed: 3, shortcutFraction: 0)
        for i in 0..<6 {
            let a = marked.slice(i), b = clean.slice(i)
            let m = try XCTUnwrap(a.shortcutMask)
            XCTAssertNil(b.shortcutMask)
            var under = 0
            for p in 0..<a.pixels.count {
                if m[p] == 0 { XCTAssertEqual(a.pixels[p], b.pixels[p], "slice \(i) pixel \(p) outside the marker") } else if a.pixels[p] != b.pixels[p] { under += 1 }
            }
            XCTAssertGreaterThan(under, 0, "the marker changes the pixels under it")
        }
    }
}
