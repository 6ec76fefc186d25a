import Foundation
import TestSupport
import XCTest
import Training

/// `TrainingOptions.arguments` is how a run submitted elsewhere (a Slurm job of `make paper SLURM=1`)
/// gets its recipe: `camaudit train` given those arguments must record exactly the same options.
final class CLITrainArgumentsTests: CLITestCase {
    func testArgumentsGiveTheOptionsBack() throws {
        let synth = try CLI.run(["synth", "--out", path("d"), "--count", "15", "--size", "64", "--seed", "1"])
        XCTAssertEqual(synth.status, 0, synth.stderr)
        var o = TrainingOptions(architecture: "efficientnet_b0")
        o.epochs = 2; o.batchSize = 4; o.optimizer = .sgd; o.lr = 0.05; o.weightDecay = 1e-4; o.momentum = 0.8
        o.nesterov = true; o.schedule = .cosine; o.warmupEpochs = 1; o.labelSmoothing = 0.1; o.classWeights = .balanced
        o.augment = .basic; o.imageSize = 32; o.seed = 7; o.dropout = false; o.shuffle = false; o.maxSteps = 1; o.headInit = .zeros
        var defaults = TrainingOptions(architecture: "resnet50")
        defaults.imageSize = 32; defaults.maxSteps = 1
        defaults.momentum = 0   // `camaudit train` records AdamW's (unused) momentum as 0
        for options in [o, defaults] {
            let out = path("w/\(options.architecture).safetensors")
            let r = try CLI.run(["train", "--data", path("d/manifest.csv"), "--out", out, "--quiet", "--threads", "1"] + options.arguments)
            XCTAssertEqual(r.status, 0, r.stderr)
            let record = try JSONDecoder().decode(TrainingRecord.self, from: Data(contentsOf: URL(fileURLWithPath: path("w/\(options.architecture).json"))))
            XCTAssertEqual(record.options, options, "arguments: \(options.arguments)")
        }
    }
}
