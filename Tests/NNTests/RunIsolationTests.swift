import Foundation
import XCTest
import TensorCore
import TestSupport
import NN
import Models

/// Two runs in one process, each with its own thread count and checkpoint defaults, loading
/// checkpoints by path alone (as the sweep executor does) and computing logits: each gives what it
/// gives alone, and neither sees the other's settings.
final class RunIsolationTests: XCTestCase {
    typealias F = CheckpointFixtures

    struct Outcome: Sendable, Equatable {
        var logits: [Float]
        var notes: [String]
        var numClasses: Int
        var threads: Set<Int>
    }

    /// Loads `file` by path with the run's defaults, takes the logits of the 112-pixel input twice,
    /// and notes the thread counts its workers saw.
    static func run(_ arch: Architecture, _ file: String, threads: Int, _ defaults: CheckpointDefaults) throws -> Outcome {
        let notes = NoteBox()
        var d = defaults
        d.report = { notes.add($0) }
        return try RunSettings(threads: threads).run {
            try d.run {
                let model = try loadModel(arch, weights: F.path(file))
                let x = try Fixtures.input(size: 112)
                let y = try model.logits(x).value.values
                XCTAssertEqual(try model.logits(x).value.values, y)
                let lock = NSLock()
                var seen = Set<Int>()
                Parallel.forEach(32) { _ in
                    let t = Parallel.threads
                    lock.withLock { _ = seen.insert(t) }
                }
                return Outcome(logits: y, notes: notes.notes, numClasses: model.numClasses, threads: seen)
            }
        }
    }

    func testTwoRunsKeepTheirOwnThreadsAndCheckpointDefaults() throws {
        // Run A: the Lightning file with its entry and prefix said explicitly, and --num-classes 5
        // (a note says the 3-class head is kept). Run B: a training checkpoint found automatically.
        let lightning = CheckpointDefaults(selection: CheckpointSelection(key: "state_dict", stripPrefix: "model."), numClasses: 5)
        let automatic = CheckpointDefaults()
        let runA: @Sendable () throws -> Outcome = { try Self.run(.efficientnet_b0, "lightning_efficientnet_b0.ckpt", threads: 1, lightning) }
        let runB: @Sendable () throws -> Outcome = { try Self.run(.resnet50, "resnet50_model_state_dict.pth", threads: 2, automatic) }
        let aloneA = try runA(), aloneB = try runB()
        XCTAssertEqual(aloneA.threads, [1])
        XCTAssertEqual(aloneB.threads, [2])
        XCTAssertEqual(aloneA.numClasses, 3)
        XCTAssertTrue(aloneA.notes.contains { $0.contains("3 classes; inference keeps it") }, "\(aloneA.notes)")
        XCTAssertFalse(aloneB.notes.contains { $0.contains("inference keeps it") }, "\(aloneB.notes)")
        XCTAssertTrue(aloneB.notes.contains { $0.contains("under 'model_state_dict'") }, "\(aloneB.notes)")
        // Run A's selection said where the state dict is and which prefix to strip: no automatic choice.
        XCTAssertTrue(aloneA.notes.contains { $0.contains("under 'state_dict' (--checkpoint-key)") }, "\(aloneA.notes)")
        XCTAssertFalse(aloneA.notes.contains { $0.contains("carried by every key") }, "\(aloneA.notes)")

        for round in 0..<2 {
            let (a, b) = try concurrently(runA, runB)
            XCTAssertEqual(a, aloneA, "round \(round): run A beside run B differs from run A alone")
            XCTAssertEqual(b, aloneB, "round \(round): run B beside run A differs from run B alone")
        }
        // Outside any run, nothing of either is left behind.
        XCTAssertEqual(CheckpointDefaults.current.selection, CheckpointSelection())
        XCTAssertNil(CheckpointDefaults.current.numClasses)
        XCTAssertNil(CheckpointDefaults.current.report)
        XCTAssertEqual(Parallel.threads, RunSettings.environmentThreads)
    }
}

private final class NoteBox: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func add(_ s: String) { lock.withLock { items.append(s) } }
    var notes: [String] { lock.withLock { items } }
}
