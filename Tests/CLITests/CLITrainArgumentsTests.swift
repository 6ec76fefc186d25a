import Foundation
import TestSupport
import XCTest
import Training

/// A recipe file is how a run submitted elsewhere (a Slurm job of `make paper SLURM=1`) gets its
/// options, and how a user repeats a run: `camaudit train --recipe` must record exactly the options
/// the file holds, with the ones given on the command line over them.
final class CLITrainArgumentsTests: CLITestCase {
    func synth() throws -> String {
        let synth = try CLI.run(["synth", "--out", path("d"), "--count", "15", "--size", "64", "--seed", "1"])
        XCTAssertEqual(synth.status, 0, synth.stderr)
        return path("d/manifest.csv")
    }

    func record(_ name: String) throws -> TrainingRecord {
        try JSONDecoder().decode(TrainingRecord.self, from: Data(contentsOf: URL(fileURLWithPath: path("w/\(name).json"))))
    }

    func testARecipeGivesTheOptionsBack() throws {
        let data = try synth()
        var o = TrainingOptions(architecture: "efficientnet_b0")
        o.epochs = 2; o.batchSize = 4; o.optimizer = .sgd; o.lr = 0.05; o.weightDecay = 1e-4; o.momentum = 0.8
        o.nesterov = true; o.schedule = .cosine; o.warmupEpochs = 1; o.labelSmoothing = 0.1; o.classWeights = .balanced
        o.augment = .basic; o.imageSize = 32; o.seed = .max; o.dropout = false; o.shuffle = false; o.maxSteps = 1; o.headInit = .zeros
        var defaults = TrainingOptions(architecture: "resnet50")
        defaults.imageSize = 32; defaults.maxSteps = 1
        for (i, options) in [o, defaults].enumerated() {
            let recipe = path("r\(i).json")
            try JSONEncoder().encode(options).write(to: URL(fileURLWithPath: recipe))
            let r = try CLI.run(["train", "--data", data, "--out", path("w/\(i).safetensors"), "--quiet", "--threads", "1", "--recipe", recipe])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(try record("\(i)").options, options)
        }
        // A finished run's record is a recipe too, and an option given beside it wins.
        let again = try CLI.run(["train", "--data", data, "--out", path("w/again.safetensors"), "--quiet", "--threads", "1",
                                 "--recipe", path("w/0.json"), "--lr", "0.01"])
        XCTAssertEqual(again.status, 0, again.stderr)
        var expected = o
        expected.lr = 0.01
        XCTAssertEqual(try record("again").options, expected)
    }

    func testAPartialRecipeKeepsTheStudyDefaults() throws {
        let data = try synth()
        try #"{"architecture": "resnet50", "imageSize": 32, "maxSteps": 1}"#.write(toFile: path("p.json"), atomically: true, encoding: .utf8)
        let r = try CLI.run(["train", "--data", data, "--out", path("w/p.safetensors"), "--quiet", "--threads", "1", "--recipe", path("p.json")])
        XCTAssertEqual(r.status, 0, r.stderr)
        var expected = TrainingOptions(architecture: "resnet50")
        expected.imageSize = 32; expected.maxSteps = 1
        XCTAssertEqual(try record("p").options, expected)
    }

    func testABadRecipeIsOneClearError() throws {
        let data = try synth()
        let cases: [(String, String)] = [
            (#"{"architecture": "resnet50", "epoch": 3}"#, "unknown option \"epoch\""),
            (#"{"architecture": "resnet50", "epochs": "three"}"#, "\"epochs\""),
            (#"{"epochs": 3}"#, "names no architecture"),
            (#"[1, 2]"#, "not a JSON object"),
            (#"{"architecture": "resnet50", "epochs": 0}"#, "--epochs must be in"),
        ]
        for (i, (text, message)) in cases.enumerated() {
            let recipe = path("bad\(i).json")
            try text.write(toFile: recipe, atomically: true, encoding: .utf8)
            let args = ["train", "--data", data, "--out", path("w/bad.safetensors"), "--recipe", recipe]
            assertClearError(try CLI.run(args), args, mentions: [message, recipe])
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("w/bad.safetensors")))
    }
}
