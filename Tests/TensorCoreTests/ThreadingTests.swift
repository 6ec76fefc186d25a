import XCTest
import TensorCore
import TestSupport

/// Kernels outside BLAS give bit-identical results with 1 and 2 workers.
final class ThreadingTests: XCTestCase {
    func testThreadCountIndependence() throws {
        var rng = TestRNG(seed: 77)
        let x = rng.tensor([3, 6, 13, 11]), dwW = rng.tensor([6, 1, 3, 3]), b6 = rng.tensor([6])
        let tokens = rng.tensor([4, 9, 20]), lw = rng.tensor([20]), lb = rng.tensor([20])
        let big = rng.tensor([70001])
        let cfg = Conv2dConfig(stride: 1, padding: 1, groups: 6)
        func run() throws -> [[Float]] {
            let y = try conv2d(x, weight: dwW, bias: b6, cfg)
            let g = try conv2dBackward(y, x, dwW, cfg)
            let bn = try batchNorm2dTrain(x, weight: b6, bias: b6, eps: 1e-5)
            let bnb = try batchNorm2dTrainBackward(x, x, weight: b6, mean: bn.mean, invStd: bn.invStd)
            let ln = try layerNorm(tokens, weight: lw, bias: lb, eps: 1e-5)
            let lnb = try layerNormBackward(tokens, tokens, weight: lw, mean: ln.mean, rstd: ln.rstd)
            let mp = try maxPool2d(x, Pool2dConfig(kernel: 3, stride: 2, padding: 1, ceilMode: true))
            let rz = try resizeBilinear(x, outH: 29, outW: 7)
            let rzb = try resizeBilinearBackward(rz, inputShape: x.shape)
            let ap = try adaptiveAvgPool2d(x, outH: 4, outW: 3)
            return [y.values, g.dx!.values, g.dw!.values, g.db!.values, bn.y.values, bnb.dx.values, bnb.dw.values,
                    ln.y.values, lnb.dx.values, lnb.dw.values, mp.y.values, rzb.values, ap.values,
                    try gelu(big).values, try softmaxLastDim(tokens).values, [try sumAll(big)]]
        }
        let one = try Parallel.with(threads: 1) { try run() }
        let two = try Parallel.with(threads: 2) { try run() }
        for i in 0..<one.count { XCTAssertEqual(one[i], two[i], "result \(i)") }
    }

    /// Parallel.map: results in index order on any thread count; the lowest failing index's error.
    func testParallelMapKeepsOrderAndReportsTheFirstError() throws {
        struct Bad: Error, Equatable { let i: Int }
        for threads in [1, 2, 3] {
            try Parallel.with(threads: threads) {
                XCTAssertEqual(try Parallel.map(1000) { $0 * $0 }, (0..<1000).map { $0 * $0 })
                XCTAssertEqual(try Parallel.map(0) { $0 }, [])
                XCTAssertThrowsError(try Parallel.map(100) { i -> Int in if i % 30 == 29 { throw Bad(i: i) }; return i }) { e in
                    XCTAssertEqual(e as? Bad, Bad(i: 29))
                }
            }
        }
    }
}
