import XCTest
import TensorCore
import NN
import Training
import TestSupport

/// AdamW's update split over workers across parameters' elements: the same bits as the
/// per-element recurrence written out serially, on one and on two threads, with parameters
/// larger than a chunk and many small ones between them.
final class AdamWParallelTests: XCTestCase {
    func testChunkedStepEqualsSerialRecurrence() throws {
        var rng = TestRNG(seed: 3)
        let sizes = [70_001, 3, 1, 40_000, 17, 65_536, 5]
        let initial = sizes.map { rng.tensor([$0]) }
        let grads = (0..<3).map { _ in sizes.map { rng.tensor([$0]) } }
        var results: [[[Float]]] = []
        for threads in [1, 2] {
            try Parallel.with(threads: threads) {
                let params = initial.map { Parameter($0.copy()) }
                let opt = AdamW(weightDecay: 0.05)
                for (s, gs) in grads.enumerated() {
                    let lr: Float = [1e-3, 5e-4, 2e-4][s]
                    try opt.step(zip(params, gs).enumerated().map { try Gradient(key: "p\($0.offset)", parameter: $0.element.0, grad: $0.element.1) }, lr: lr)
                }
                results.append(params.map(\.value.values))
            }
        }
        XCTAssertEqual(results[0], results[1], "AdamW depends on the thread count")
        // The recurrence per element, serially, as torch.optim.AdamW's single-tensor path computes it.
        for (k, p0) in initial.enumerated() {
            var p = p0.values, m = [Float](repeating: 0, count: p.count), v = m
            for (s, gs) in grads.enumerated() {
                let lr = Double([Float(1e-3), 5e-4, 2e-4][s]), t = Double(s + 1)
                let decay = Float(1 - lr * 0.05), negStep = Float(-(lr / (1 - pow(0.9, t)))), bc2 = Float((1 - pow(0.999, t)).squareRoot())
                for i in 0..<p.count {
                    let g = gs[k].data[i]
                    let pi = p[i] * decay
                    m[i] = m[i] + Float(1 - 0.9) * (g - m[i])
                    v[i] = v[i] * Float(0.999) + Float(1 - 0.999) * g * g
                    p[i] = pi + negStep * m[i] / (v[i].squareRoot() / bc2 + Float(1e-8))
                }
            }
            XCTAssertEqual(results[1][k], p, "parameter \(k) (\(p.count) elements)")
        }
    }
}
