import Foundation
import XCTest
import TensorCore
import NN
import Models
import Datasets
@testable import Training
import TestSupport

/// The resume state as one atomic unit, and the refusals of a resume or fresh start that would
/// mix two runs.
extension TrainerTests {
    func smallRecipe() -> TrainingOptions {
        var o = TrainingOptions(architecture: "efficientnet_b0")
        o.imageSize = 32; o.batchSize = 4; o.epochs = 3; o.lr = 1e-3
        return o
    }

    /// The progress a state was saved with: inside the state, or (before it moved there) beside it.
    func savedProgressJSON(_ base: String) throws -> Data {
        if let legacy = FileManager.default.contents(atPath: base + ".resume.json") { return legacy }
        let meta = try Safetensors.metadata(path: base + ".resume.safetensors")
        return Data(try XCTUnwrap(meta[Trainer.progressKey], "the resume state holds no progress").utf8)
    }

    /// A kill after the epoch-2 state is in place but before anything else is written must resume
    /// after epoch 2 with epoch 2's weights. With the progress in a second file, that file still said
    /// epoch 1 and epoch 2 was trained twice. A progress file of epoch 1 left beside the state (as an
    /// older camaudit wrote) must not be believed over the state itself.
    func testTheResumeStateIsOneUnitThatNoKillCanSplit() throws {
        let m = try phantoms(count: 12)
        let o = smallRecipe()
        try trainer(m, o, out: tmp + "/a/w.safetensors").run()
        let b = try trainer(m, o, out: tmp + "/b/w.safetensors")
        b.interruptAfterEpochs = 1
        XCTAssertNil(try b.run())
        let epoch1 = try savedProgressJSON(tmp + "/b/w")
        let b2 = try trainer(m, o, out: tmp + "/b/w.safetensors")
        b2.interruptAfterEpochs = 1
        XCTAssertNil(try b2.run(resume: true))
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp + "/b/w.resume.json"), "the progress must live inside the state")
        try epoch1.write(to: URL(fileURLWithPath: tmp + "/b/w.resume.json"))
        var resumedAfter = ""
        let c = try trainer(m, o, out: tmp + "/b/w.safetensors")
        c.log = { if $0.hasPrefix("resuming") { resumedAfter = $0 } }
        try c.run(resume: true)
        XCTAssertTrue(resumedAfter.contains("after epoch 2"), resumedAfter)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: tmp + "/a/w.safetensors")),
                       try Data(contentsOf: URL(fileURLWithPath: tmp + "/b/w.safetensors")), "epoch 2 was trained twice")
    }

    /// The state is written before the best checkpoint: a kill between the two leaves a state whose
    /// best epoch is its last, and resuming writes that checkpoint from the state's weights.
    func testAKillBeforeTheBestCheckpointIsRepairedOnResume() throws {
        let m = try phantoms(count: 12)
        let o = smallRecipe()
        let b = try trainer(m, o, out: tmp + "/b/w.safetensors")
        b.interruptAfterEpochs = 1
        XCTAssertNil(try b.run())
        let epoch1 = try Data(contentsOf: URL(fileURLWithPath: tmp + "/b/w.safetensors"))
        try FileManager.default.removeItem(atPath: tmp + "/b/w.safetensors")
        let c = try trainer(m, o, out: tmp + "/b/w.safetensors")
        c.interruptAfterEpochs = 0
        XCTAssertNil(try c.run(resume: true))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: tmp + "/b/w.safetensors")), epoch1)
    }

    /// A state written before the progress moved into it (tensors only, progress in `.resume.json`)
    /// still resumes.
    func testAnOlderTwoFileStateStillResumes() throws {
        let m = try phantoms(count: 12)
        let o = smallRecipe()
        try trainer(m, o, out: tmp + "/a/w.safetensors").run()
        let b = try trainer(m, o, out: tmp + "/b/w.safetensors")
        b.interruptAfterEpochs = 1
        XCTAssertNil(try b.run())
        let state = tmp + "/b/w.resume.safetensors"
        try savedProgressJSON(tmp + "/b/w").write(to: URL(fileURLWithPath: tmp + "/b/w.resume.json"))
        try Safetensors.encode(loadCheckpoint(path: state)).write(to: URL(fileURLWithPath: state))
        XCTAssertNil(try Safetensors.metadata(path: state)[Trainer.progressKey])
        try trainer(m, o, out: tmp + "/b/w.safetensors").run(resume: true)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: tmp + "/a/w.safetensors")),
                       try Data(contentsOf: URL(fileURLWithPath: tmp + "/b/w.safetensors")))
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp + "/b/w.resume.json"), "the next state replaces the older pair")
    }

    func testARefusedResumeNamesTheOptionsThatDiffer() throws {
        let m = try phantoms(count: 12)
        let o = smallRecipe()
        let b = try trainer(m, o, out: tmp + "/b/w.safetensors")
        b.interruptAfterEpochs = 1
        XCTAssertNil(try b.run())
        var other = o
        other.lr = 2e-3; other.seed = 9
        XCTAssertThrowsError(try trainer(m, other, out: tmp + "/b/w.safetensors").run(resume: true)) {
            let text = "\($0)"
            XCTAssertTrue(text.contains("--lr 0.001 (now 0.002)"), text)
            XCTAssertTrue(text.contains("--seed 42 (now 9)"), text)
            XCTAssertFalse(text.contains("--epochs"), "unchanged options are not listed: \(text)")
        }
    }

    /// Rerunning a killed run without --resume would throw its saved epochs away: refused, unless
    /// `overwrite` says to start over.
    func testAFreshRunDoesNotDiscardAnUnfinishedRunsState() throws {
        let m = try phantoms(count: 12)
        let o = smallRecipe()
        let b = try trainer(m, o, out: tmp + "/b/w.safetensors")
        b.interruptAfterEpochs = 1
        XCTAssertNil(try b.run())
        let state = try Data(contentsOf: URL(fileURLWithPath: tmp + "/b/w.resume.safetensors"))
        XCTAssertThrowsError(try trainer(m, o, out: tmp + "/b/w.safetensors").run()) {
            guard case .taken(let path, let reason) = $0 as? TrainingError else { return XCTFail("\($0)") }
            XCTAssertTrue(path.hasSuffix("w.resume.safetensors"), path)
            XCTAssertTrue(reason.contains("after epoch 1 of 3") && reason.contains("--resume"), reason)
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: tmp + "/b/w.resume.safetensors")), state)
        let fresh = try trainer(m, o, out: tmp + "/b/w.safetensors")
        fresh.overwrite = true
        XCTAssertNotNil(try fresh.run())
    }

    func testProgressLinesPrintLargeEpochCounts() {
        let line = Trainer.bar(epoch: 1, of: Int.max, batch: 1, of: 3, loss: 1, accuracy: 0, imagesPerSecond: 1, eta: 1)
        XCTAssertTrue(line.hasPrefix("epoch 1/\(Int.max) "), line)
    }
}
