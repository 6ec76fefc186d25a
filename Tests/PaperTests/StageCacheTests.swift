import XCTest
import Foundation
import Datasets
import Imaging
import Models
import Training
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

    /// A killed write inside a stage leaves a temporary; the finished folder must not carry it. One a
    /// live process is still writing stops the commit instead.
    func testAFinishedFolderHoldsNoTemporary() throws {
        let cache = try StageCache(root: root)
        let gone = Process()
        gone.executableURL = URL(fileURLWithPath: "/bin/true")
        try gone.run()
        gone.waitUntilExit()
        let dir = try cache.run(stage: "train", item: "m", key: StageCache.key(["t"])) { w in
            try "w".write(toFile: w + "/m.safetensors", atomically: false, encoding: .utf8)
            try "x".write(toFile: w + "/.m.safetensors.tmp-\(gone.processIdentifier)-7a", atomically: false, encoding: .utf8)
            try FileManager.default.createDirectory(atPath: w + "/sub", withIntermediateDirectories: true)
            try "x".write(toFile: w + "/sub/.r.json.tmp-\(getpid())-7b", atomically: false, encoding: .utf8)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(), ["m.safetensors", StageCache.markerName, "sub"].sorted())
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/sub"), [])
        let key = StageCache.key(["live"])
        XCTAssertThrowsError(try cache.run(stage: "train", item: "n", key: key) { w in
            try "x".write(toFile: w + "/.n.safetensors.tmp-\(getppid())-7c", atomically: false, encoding: .utf8)
        }) { XCTAssertTrue("\($0)".contains("still being written by process \(getppid())"), "\($0)") }
        XCTAssertNil(cache.finished(stage: "train", item: "n", key: key))
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

    /// The data stage pairs every marked test slice with the generator's marker-free twin, which
    /// differs from it only under the marker.
    func testDataStagePairsMarkedTestSlicesWithCleanTwins() throws {
        let cache = try StageCache(root: root)
        let main = try DataStage.run(PaperProfile.tiny.config.data, cache: cache, log: { _ in })
        let data = try XCTUnwrap(main.marked)
        XCTAssertEqual(main.manifest.items.map(\.file).count, data.manifest.items.count, "the main set is the same slices")
        XCTAssertFalse(main.manifest.items.contains { $0.extra["marker_drawn"] == "1" }, "the study's models see no marker")
        let marked = data.manifest.items(in: .test).filter { $0.extra["shortcut"] == "1" }
        XCTAssertFalse(marked.isEmpty)
        XCTAssertEqual(Set(data.cleanPairs.keys), Set(marked.map(\.file)))
        for it in marked {
            let a = try PNG.read(path: data.manifest.resolve(it.file)).bytes8()
            let b = try PNG.read(path: try XCTUnwrap(data.cleanPairs[it.file])).bytes8()
            let m = try PNG.read(path: data.manifest.resolve(try XCTUnwrap(it.extra["shortcut_mask"]))).bytes8()
            var under = 0
            for p in 0..<a.count {
                if m[p] == 0 { XCTAssertEqual(a[p], b[p], "\(it.file) pixel \(p) outside the marker") } else if a[p] != b[p] { under += 1 }
            }
            XCTAssertGreaterThan(under, 0, "the marker changes the pixels under it")
        }
        let again = try DataStage.run(PaperProfile.tiny.config.data, cache: cache, log: { _ in })
        XCTAssertEqual(again.digest, main.digest)
        XCTAssertEqual(again.marked?.digest, data.digest)
        XCTAssertNotEqual(main.digest, data.digest)
        XCTAssertEqual(cache.events.map(\.cached), [false, true])
    }
}

/// A profile's recipe: shared values, the head initialisation, and per-architecture exceptions that
/// reach only their architecture (so changing one retrains only that one: the train key is its options).
final class RecipeTests: XCTestCase {
    func testExceptionsReachOnlyTheirArchitecture() throws {
        let c = PaperProfile.quick.config
        let eff = c.training.options(architecture: "efficientnet_b0", seed: 42)
        let r50 = c.training.options(architecture: "resnet50", seed: 42)
        XCTAssertEqual(eff.epochs, PhantomProfile.quick.exceptions["efficientnet_b0"]?.epochs)
        XCTAssertEqual(r50.epochs, PhantomProfile.quick.epochs)
        XCTAssertNotEqual(eff.epochs, r50.epochs)
        XCTAssertEqual(eff.headInit, .zeros); XCTAssertEqual(r50.headInit, .zeros)
        var changed = c.training
        changed.perArchitecture?["efficientnet_b0"]?.lr = 5e-4
        XCTAssertEqual(changed.options(architecture: "resnet50", seed: 42), r50)
        XCTAssertNotEqual(changed.options(architecture: "efficientnet_b0", seed: 42), eff)
        // torchvision's rule is recorded as absent, so keys written before the option existed still match.
        var plain = TrainingRecipe(imageSize: 64, epochs: 1, batchSize: 4, lr: 1e-3)
        plain.headInit = .torchvision
        XCTAssertNil(plain.options(architecture: "resnet50", seed: 1).headInit)
        XCTAssertTrue(PaperReport.recipeSentence(c).contains("efficientnet_b0: \(eff.epochs) epochs"), PaperReport.recipeSentence(c))
    }
}
