import Foundation
import XCTest
import TensorCore
import NN
import Training
import TestSupport

/// torch.optim.AdamW / SGD and nn.CrossEntropyLoss against `Tests/Fixtures/training/optim.json`
/// (written by `/tmp/tv/bin/python scripts/gen_training_fixtures.py --only optim`).
final class OptimizerFixtureTests: XCTestCase {
    struct Case: Decodable {
        let name: String
        let initial: [Float]
        let grads: [[Float]]
        let after: [[Float]]
        let hyper: [String: Double]
    }
    struct LossCase: Decodable {
        let label_smoothing: Float
        let weights: [Float]?
        let loss: Float
        let grad: [Float]
    }
    struct CE: Decodable { let logits: [Float]; let shape: [Int]; let targets: [Int]; let cases: [LossCase] }
    struct File: Decodable { let fixture_version: Int; let optimizers: [Case]; let cross_entropy: CE }

    func load() throws -> File {
        let path = fixturesDirectory + "/training/optim.json"
        let f = try JSONDecoder().decode(File.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        XCTAssertEqual(f.fixture_version, TrainingFixture.version, "\(path): regenerate with \(TrainingFixture.regenerate)")
        return f
    }

    func testOptimizersMatchTorch() throws {
        let file = try load()
        XCTAssertEqual(file.optimizers.count, 5)
        for c in file.optimizers {
            let h = c.hyper
            let opt: Optimizer = c.name.hasPrefix("adamw")
                ? AdamW(beta1: h["beta1"]!, beta2: h["beta2"]!, eps: h["eps"]!, weightDecay: h["weight_decay"]!)
                : SGD(momentum: Float(h["momentum"]!), weightDecay: Float(h["weight_decay"]!), nesterov: h["nesterov"]! != 0)
            let p = Parameter(try Tensor(shape: [c.initial.count], values: c.initial))
            for (k, g) in c.grads.enumerated() {
                try opt.step([Gradient(key: "w", parameter: p, grad: Tensor(shape: [g.count], values: g))], lr: Float(h["lr"]!))
                let worst = maxAbsDiff(p.value.values, c.after[k])
                // Float32 arithmetic in PyTorch's order: a few ulps at most.
                XCTAssertNil(closeness(p.value.values, c.after[k], rtol: 2e-6, atol: 1e-7), "\(c.name) step \(k + 1): max |Δ| \(worst)")
            }
        }
    }

    /// The updates split large parameters across workers; each element's arithmetic is its own,
    /// so one and two workers give the same bits.
    func testUpdatesIndependentOfThreadCount() throws {
        var rng = TestRNG(seed: 5)
        let initial = rng.tensor([100_003]), grads = [rng.tensor([100_003]), rng.tensor([100_003])]
        func run(_ threads: Int, _ opt: Optimizer) throws -> [Float] {
            try Parallel.with(threads: threads) {
                let p = Parameter(initial.copy())
                for g in grads { try opt.step([Gradient(key: "w", parameter: p, grad: g)], lr: 0.01) }
                return p.value.values
            }
        }
        XCTAssertEqual(try run(1, AdamW()), try run(2, AdamW()))
        XCTAssertEqual(try run(1, SGD(momentum: 0.9, weightDecay: 1e-4, nesterov: true)),
                       try run(2, SGD(momentum: 0.9, weightDecay: 1e-4, nesterov: true)))
    }

    func testOptimizerStateRoundTrip() throws {
        let file = try load()
        for c in file.optimizers where c.hyper["momentum"] ?? 1 != 0 {
            let h = c.hyper
            func make() -> Optimizer {
                c.name.hasPrefix("adamw") ? AdamW(beta1: h["beta1"]!, beta2: h["beta2"]!, eps: h["eps"]!, weightDecay: h["weight_decay"]!)
                    : SGD(momentum: Float(h["momentum"]!), weightDecay: Float(h["weight_decay"]!), nesterov: h["nesterov"]! != 0)
            }
            let a = make(), p = Parameter(try Tensor(shape: [c.initial.count], values: c.initial))
            for (k, g) in c.grads.enumerated() {
                let opt: Optimizer
                if k == 0 { opt = a } else {
                    // A fresh optimizer restored from the previous one's state continues identically.
                    opt = make()
                    try opt.restore(Dictionary(uniqueKeysWithValues: a.stateTensors()))
                }
                try opt.step([Gradient(key: "w", parameter: p, grad: Tensor(shape: [g.count], values: g))], lr: Float(h["lr"]!))
                if k > 0 { try a.restore(Dictionary(uniqueKeysWithValues: opt.stateTensors())) }
                XCTAssertNil(closeness(p.value.values, c.after[k], rtol: 2e-6, atol: 1e-7), "\(c.name) restored step \(k + 1)")
            }
        }
    }

    func testCrossEntropyMatchesTorch() throws {
        let ce = try load().cross_entropy
        let logits = try Tensor(shape: ce.shape, values: ce.logits)
        XCTAssertEqual(ce.cases.count, 4)
        for c in ce.cases {
            let r = try crossEntropy(logits, targets: ce.targets, labelSmoothing: c.label_smoothing, classWeights: c.weights)
            XCTAssertEqual(r.loss, c.loss, accuracy: 1e-6 * max(1, abs(c.loss)), "loss ε=\(c.label_smoothing) w=\(String(describing: c.weights))")
            XCTAssertNil(closeness(r.dlogits.values, c.grad, rtol: 1e-5, atol: 1e-7), "grad ε=\(c.label_smoothing) w=\(String(describing: c.weights))")
        }
        XCTAssertThrowsError(try crossEntropy(logits, targets: ce.targets, classWeights: [1, 2]))
    }

    func testSchedules() {
        let s = Schedule.self
        XCTAssertEqual(s.none.learningRate(base: 1, epoch: 7, epochs: 10, warmupEpochs: 0), 1)
        XCTAssertEqual(s.none.learningRate(base: 1, epoch: 0, epochs: 10, warmupEpochs: 3), 0.25, accuracy: 1e-12)
        XCTAssertEqual(s.none.learningRate(base: 1, epoch: 2, epochs: 10, warmupEpochs: 3), 0.75, accuracy: 1e-12)
        XCTAssertEqual(s.cosine.learningRate(base: 2, epoch: 3, epochs: 10, warmupEpochs: 3), 2, accuracy: 1e-12)
        // Halfway through a cosine schedule: half the base rate.
        XCTAssertEqual(s.cosine.learningRate(base: 1, epoch: 5, epochs: 10, warmupEpochs: 0), 0.5 * (1 + cos(Double.pi / 2)), accuracy: 1e-12)
        XCTAssertEqual(s.step.learningRate(base: 1, epoch: 2, epochs: 9, warmupEpochs: 0), 1, accuracy: 1e-12)
        XCTAssertEqual(s.step.learningRate(base: 1, epoch: 3, epochs: 9, warmupEpochs: 0), 0.1, accuracy: 1e-12)
        XCTAssertEqual(s.step.learningRate(base: 1, epoch: 8, epochs: 9, warmupEpochs: 0), 0.01, accuracy: 1e-12)
        let balanced: [Float] = ClassWeighting.balanced.weights(counts: [120, 561, 416]) ?? []
        let expected: [Double] = [1097.0 / 360, 1097.0 / 1683, 1097.0 / 1248]
        XCTAssertEqual(balanced, expected.map { Float($0) })
        XCTAssertNil(ClassWeighting.none.weights(counts: [1, 2]))
    }
}

/// Shared facts of the training fixtures.
enum TrainingFixture {
    static let version = 1
    static let regenerate = "/tmp/tv/bin/python scripts/gen_training_fixtures.py"
}
