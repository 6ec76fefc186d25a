import XCTest
import Foundation
import Datasets
import Evaluation
@testable import Sweep

final class PlanTests: TemporaryFolderTestCase {

    func config(_ path: String = "data/manifest.csv", models: [SweepConfig.ModelEntry] = [.init(architecture: "resnet50")]) -> SweepConfig {
        SweepConfig(data: .init(path: path), models: models)
    }

    func assertRefused(_ c: SweepConfig, _ field: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try c.resolve(), file: file, line: line) { error in
            guard case let SweepError.invalidConfig(f, detail) = error else { return XCTFail("\(error)", file: file, line: line) }
            XCTAssertEqual(f, field, detail, file: file, line: line)
        }
    }

    /// Every option a user can type gets a clear refusal naming it and its valid range.
    func testOutOfRangeValuesAreRefused() throws {
        XCTAssertNoThrow(try config().resolve())
        var c = config(); c.data.limit = -1; assertRefused(c, "limit")
        c = config(); c.data.limit = 0; assertRefused(c, "limit")
        c = config(); c.grid.threshold = [.nan]; assertRefused(c, "threshold")
        c = config(); c.grid.threshold = [1.5]; assertRefused(c, "threshold")
        c = config(); c.grid.threshold = [-0.1]; assertRefused(c, "threshold")
        c = config(); c.grid.steps = [0]; assertRefused(c, "steps")
        c = config(); c.imageSize = 0; assertRefused(c, "image-size")
        c = config(); c.imageSize = 100_000; assertRefused(c, "image-size")
        c = config(models: [.init(architecture: "vit_b_16")]); c.imageSize = 100; assertRefused(c, "image-size")
        c = config(); c.batchSize = 0; assertRefused(c, "batch-size")
        c = config(); c.seeds = []; assertRefused(c, "seeds")
        c = config(models: [.init(architecture: "resnet50", weights: ["a.pth"])]); c.seeds = []; XCTAssertNoThrow(try c.resolve())
        c = config(models: []); assertRefused(c, "model")
        c = config(models: [.init(architecture: "")]); assertRefused(c, "model")
        c = config(); c.methods = []; assertRefused(c, "methods")
        c = config(); c.methods = ["gradcam", ""]; assertRefused(c, "methods")
        c = config(); c.metrics = ["locacc", "nope"]; assertRefused(c, "metrics")
        c = config(); c.numClasses = 0; assertRefused(c, "num-classes")
        c = config(); c.data.split = "dev"; assertRefused(c, "split")
        c = config(); c.preprocessing.window = "soft"; assertRefused(c, "window")
        c = config(); c.preprocessing.huOffset = -1; assertRefused(c, "hu-offset")
        c = config(); c.preprocessing.window = "-600,1500"; XCTAssertNoThrow(try c.resolve())
    }

    /// `--weights resnet50=a,b --weights densenet161=c`; a bare list for the rest.
    func testPerArchitectureWeights() throws {
        let archs = ["resnet50", "densenet161", "efficientnet_b0"]
        XCTAssertEqual(try SweepConfig.parseWeights(["resnet50=a.safetensors,b.safetensors", "densenet161=c.pth"], architectures: archs),
                       [["a.safetensors", "b.safetensors"], ["c.pth"], []])
        XCTAssertEqual(try SweepConfig.parseWeights(["x.pth,y.pth"], architectures: ["resnet50"]), [["x.pth", "y.pth"]])
        XCTAssertEqual(try SweepConfig.parseWeights(["densenet161=c.pth", "shared.pth"], architectures: archs),
                       [["shared.pth"], ["c.pth"], ["shared.pth"]])
        // A file name holding '=' is a path, not an architecture.
        XCTAssertEqual(try SweepConfig.parseWeights(["run=3.pth"], architectures: ["resnet50"]), [["run=3.pth"]])
        XCTAssertThrowsError(try SweepConfig.parseWeights(["vit_b_16=v.pth"], architectures: ["resnet50"]))
        XCTAssertThrowsError(try SweepConfig.parseWeights(["resnet50=a.pth", "resnet50=b.pth"], architectures: ["resnet50"]))
        XCTAssertThrowsError(try SweepConfig.parseWeights(["resnet50="], architectures: ["resnet50"]))
        XCTAssertThrowsError(try SweepConfig.parseWeights(["a.pth", "b.pth"], architectures: ["resnet50"]))
    }

    /// SWEEP.json round-trips, and a hand-written one needs only data and models.
    func testConfigJSON() throws {
        var c = config(models: [.init(architecture: "resnet50", weights: ["a.safetensors"]), .init(architecture: "densenet161")])
        c.grid = .init(steps: [10, 50], threshold: [0.3, 0.5])
        c.overlays = .init(directory: "ov", perModel: 2)
        let back = try JSONDecoder().decode(SweepConfig.self, from: try c.json())
        XCTAssertEqual(back, c)
        let path = dir + "/SWEEP.json"
        try #"{"data": {"path": "m.csv", "splitSeed": 42, "strict": false}, "models": [{"architecture": "vit_b_16", "weights": []}]}"#
            .write(toFile: path, atomically: true, encoding: .utf8)
        let minimal = try SweepConfig.read(path: path)
        XCTAssertEqual(minimal.metrics, MetricName.defaults.map(\.rawValue))
        XCTAssertEqual(minimal.grid, .init())
        try #"{"models": []}"#.write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try SweepConfig.read(path: path)) { XCTAssertTrue("\($0)".contains("data"), "\($0)") }
    }

    /// Every metric has one spec, and the plan's expected rows come from it.
    func testMetricTableCoversEveryMetric() throws {
        for m in MetricName.allCases { XCTAssertEqual(m.spec.name, m) }
        XCTAssertTrue(MetricName.allCases.filter { $0.spec.scope == .perMap }.allSatisfy { $0.spec.function.perMap != nil })
        XCTAssertTrue(MetricName.allCases.filter { $0.spec.scope != .perMap }.allSatisfy { $0.spec.function.comparison != nil })
    }

    func makeData(count: Int = 3, seed: UInt64 = 5) throws -> Manifest {
        _ = try SynthDataset.generate(out: dir + "/data", count: count, size: 64, seed: seed)
        return try Manifest.read(path: dir + "/data/manifest.csv")
    }

    /// The same configuration gives the same units and keys; a parameter changes exactly the keys it defines.
    func testPlanIsDeterministicAndKeyedByContent() throws {
        let manifest = try makeData()
        var c = config(dir + "/data/manifest.csv", models: [.init(architecture: "efficientnet_b0")])
        c.metrics = ["locacc", "deletion", "consist", "cascade"]
        c.batchSize = 2
        c.imageSize = 64
        let a = try Plan.expand(c), b = try Plan.expand(c, manifest: manifest)
        XCTAssertEqual(a.units, b.units)
        XCTAssertEqual(a.units.map(\.kind).filter { $0 == .model }.count, 2 * 2, "2 seeds × 2 batches")
        XCTAssertEqual(a.units.filter { $0.kind == .consist }.count, 2)
        XCTAssertEqual(a.units.filter { $0.kind == .cascade }.count, 2 * 2 * 10, "EfficientNet has 10 cascade stages")
        XCTAssertTrue(a.units.allSatisfy { $0.cost > 0 })
        XCTAssertEqual(Set(a.units.map(\.key)).count, a.units.count)
        // Steps define deletion's rows only.
        var c2 = c; c2.grid.steps = [10]
        let p2 = try Plan.expand(c2, manifest: manifest)
        let rows1 = Dictionary(uniqueKeysWithValues: a.expectedRows(a.units[0]).map { ($0.key, $0.id) })
        let rows2 = Dictionary(uniqueKeysWithValues: p2.expectedRows(p2.units[0]).map { ($0.key, $0.id) })
        for (k, id) in rows1 where k.metric == "locacc" { XCTAssertEqual(rows2[k], id) }
        XCTAssertFalse(rows2.keys.contains { $0.metric == "deletion" && $0.params.contains("steps=50") })
        // A grid of thresholds gives each value its own rows.
        var c3 = c; c3.grid.threshold = [0.3, 0.5]
        let p3 = try Plan.expand(c3, manifest: manifest)
        XCTAssertEqual(p3.expectedRows(p3.units[0]).filter { $0.key.metric == "locacc" }.count, 2 * 2)
        // The 16-bit window and HU offset are preprocessing too.
        var c5 = c; c5.preprocessing.window = "bone"
        let p5 = try Plan.expand(c5, manifest: manifest)
        XCTAssertTrue(Set(p5.expectedRows(p5.units[0]).filter { $0.key.metric != FactMetric.truth }.map(\.id)).isDisjoint(with: rows1.values))
        // Image size is preprocessing: it changes every row's key.
        var c4 = c; c4.imageSize = 96
        let p4 = try Plan.expand(c4, manifest: manifest)
        XCTAssertTrue(Set(p4.expectedRows(p4.units[0]).map(\.id)).isDisjoint(with: rows1.values))
    }

    /// A unit's key is the SHA-256 of one documented text, however the plan streams it into the hash
    /// (the text every unit of a kind and stage starts with is hashed once and reused): keys stay
    /// those of earlier releases, so their results folders are resumed, not recomputed.
    func testUnitKeysAreTheDigestOfTheirText() throws {
        let manifest = try makeData()
        var c = config(dir + "/data/manifest.csv", models: [.init(architecture: "efficientnet_b0")])
        c.metrics = ["locacc", "consist", "cascade"]
        c.batchSize = 2
        let p = try Plan.expand(c, manifest: manifest)
        let r = try c.resolve()
        for u in p.units {
            var text = "\(p.context)|kind=\(u.kind.rawValue)|stage=\(u.stage.map(String.init) ?? "-")|methods=\(r.methods.map(\.rawValue))|metrics=\(r.metrics.map(\.rawValue))"
            text += "|tau=\(c.grid.threshold)|steps=\(c.grid.steps)|classes=\(p.numClasses)"
            for i in u.images { text += "|img=\(p.images[i].id)" }
            for j in u.weights { text += "|w=\(p.weights[j].architecture):\(p.weights[j].digest)" }
            XCTAssertEqual(u.key, ContentDigest.hex(text), "unit \(u.index) (\(u.kind.rawValue))")
        }
        XCTAssertGreaterThan(p.units.filter { $0.kind == .model }.count, 1, "several units share a cached prefix")
    }

    /// The same checkpoint file read with another --checkpoint-key or --strip-prefix is other weights:
    /// the selection enters the weights' digest, and so every row's key.
    func testCheckpointSelectionIsPartOfTheWeightsKey() throws {
        let manifest = try makeData()
        let file = dir + "/w.pth"
        FileManager.default.createFile(atPath: file, contents: Data("weights".utf8))
        let plain = config(dir + "/data/manifest.csv", models: [.init(architecture: "resnet50", weights: [file])])
        var prefixed = plain
        prefixed.models[0].stripPrefix = "model."
        var keyed = plain
        keyed.models[0].checkpointKey = "model_state_dict"
        let digests = try [plain, prefixed, keyed].map { try Plan.expand($0, manifest: manifest).weights[0].digest }
        XCTAssertEqual(Set(digests).count, 3, "\(digests)")
        XCTAssertEqual(try Plan.expand(plain, manifest: manifest).weights[0].digest, try ContentDigest.hex(file: file))
        let decoded = try JSONDecoder().decode(SweepConfig.self, from: try JSONEncoder().encode(prefixed))
        XCTAssertEqual(decoded.models[0].stripPrefix, "model.")
    }

    /// A manifest row whose image is gone is named and kept out of the units.
    func testMissingImageIsNamed() throws {
        let manifest = try makeData()
        let gone = manifest.items[1].file
        try FileManager.default.removeItem(atPath: manifest.resolve(gone))
        var c = config(dir + "/data/manifest.csv", models: [.init(architecture: "efficientnet_b0")])
        c.imageSize = 64
        let p = try Plan.expand(c)
        XCTAssertEqual(Array(p.missing.keys), [gone])
        XCTAssertTrue(p.missing[gone]!.contains("not found"), p.missing[gone]!)
        XCTAssertEqual(p.images.map(\.file), manifest.items.map(\.file).filter { $0 != gone })
        XCTAssertTrue(p.describe().contains(gone))
    }

    /// Overlays are named by the image's relative path: a/001.png and b/001.png do not collide.
    func testOverlayNamesKeepFoldersApart() {
        let a = Executor.overlayPath(dir: "ov", architecture: "resnet50", tag: "w.pth", method: "gradcam", file: "a/001.png")
        let b = Executor.overlayPath(dir: "ov", architecture: "resnet50", tag: "w.pth", method: "gradcam", file: "b/001.png")
        XCTAssertNotEqual(a, b)
        XCTAssertEqual(a, "ov/resnet50/w.pth/a/001.png_gradcam.png")
        XCTAssertFalse(Executor.overlayPath(dir: "ov", architecture: "r", tag: "t", method: "m", file: "../x.png").contains("/../"))
    }

    /// One rule for every command: the extension stays in the name (x.png and x.jpg apart), the
    /// path is relative to the data root (not the data folder's absolute path), and distinct
    /// paths never meet (`..`, `%` and files outside the root are escaped).
    func testOverlayNamesAreRelativeToTheRootAndCollisionFree() {
        let root = "/home/me/ct"
        func name(_ file: String) -> String { OverlayName.relativePath(file: file, root: root, method: "gradcam") }
        XCTAssertEqual(name("/home/me/ct/normal/x.png"), "normal/x.png_gradcam.png")
        XCTAssertEqual(name("/home/me/ct/normal/x.jpg"), "normal/x.jpg_gradcam.png")
        XCTAssertEqual(name("/home/me/ct/./normal/../normal/x.png"), "normal/x.png_gradcam.png", "one image, one name")
        XCTAssertEqual(name("/data/x.png"), "%2F/data/x.png_gradcam.png")
        let files = ["/home/me/ct/a/x.png", "/home/me/ct/a/x.jpg", "/home/me/ct/%2F/data/x.png", "/data/x.png", "/home/me/ct/a%b/x.png",
                     "/home/me/ct/a%25b/x.png", "/home/me/ct/x.png", "/home/me/ct/x.png_gradcam.png"]
        XCTAssertEqual(Set(files.map(name)).count, files.count, "\(files.map(name))")
        XCTAssertEqual(OverlayName.relativePath(file: "../up/x.png", root: nil, method: "m"), "%2E%2E/up/x.png_m.png")
        let plan = Executor.overlayPath(dir: "OV", architecture: "efficientnet_b0", tag: "random-seed0", method: "gradcam",
                                        file: "/home/me/ct/normal/x.png", root: root)
        XCTAssertEqual(plan, "OV/efficientnet_b0/random-seed0/normal/x.png_gradcam.png")
    }
}
