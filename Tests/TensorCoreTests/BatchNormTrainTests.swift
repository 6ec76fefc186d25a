import XCTest
import TensorCore
import TestSupport

/// The training BatchNorm kernels (8-lane plane sums, one fused pass per channel) against the
/// definitions evaluated in double, on planes whose sizes leave every tail length, and the same
/// bits on one and two threads.
final class BatchNormTrainTests: XCTestCase {
    var rng = TestRNG(seed: 7)

    /// mean, biased variance, y, and the gradients from their formulas in double.
    func naive(_ x: Tensor, _ w: Tensor, _ b: Tensor, _ dy: Tensor, eps: Double)
        -> (mean: [Double], variance: [Double], y: [Double], dx: [Double], dw: [Double], db: [Double]) {
        let n = x.shape[0], c = x.shape[1], p = x.count / (n * c), m = Double(n * p)
        var mean = [Double](repeating: 0, count: c), variance = mean, dw = mean, db = mean
        var y = [Double](repeating: 0, count: x.count), dx = y
        func at(_ img: Int, _ ch: Int, _ i: Int) -> Int { (img * c + ch) * p + i }
        for ch in 0..<c {
            var s = 0.0
            for img in 0..<n { for i in 0..<p { s += Double(x.data[at(img, ch, i)]) } }
            let mu = s / m
            var v = 0.0
            for img in 0..<n { for i in 0..<p { let d = Double(x.data[at(img, ch, i)]) - mu; v += d * d } }
            v /= m
            let iv = 1 / (v + eps).squareRoot()
            var sg = 0.0, sgx = 0.0
            for img in 0..<n {
                for i in 0..<p {
                    let k = at(img, ch, i), xh = (Double(x.data[k]) - mu) * iv
                    y[k] = xh * Double(w.data[ch]) + Double(b.data[ch])
                    sg += Double(dy.data[k]); sgx += Double(dy.data[k]) * xh
                }
            }
            for img in 0..<n {
                for i in 0..<p {
                    let k = at(img, ch, i), xh = (Double(x.data[k]) - mu) * iv
                    dx[k] = Double(w.data[ch]) * iv / m * (m * Double(dy.data[k]) - sg - xh * sgx)
                }
            }
            (mean[ch], variance[ch], dw[ch], db[ch]) = (mu, v, sgx, sg)
        }
        return (mean, variance, y, dx, dw, db)
    }

    func testMatchesDefinitionOnEveryTailLength() throws {
        for (n, c, h, w) in [(2, 3, 1, 1), (3, 5, 1, 7), (2, 4, 3, 5), (4, 6, 8, 8), (16, 3, 2, 2), (2, 2, 9, 13)] {
            // An offset mean makes the centred sums matter (the variance is not Σx²/M − mean²).
            let x = rng.tensor([n, c, h, w], 2, 5), wt = rng.tensor([c], 0.5, 1.5), bs = rng.tensor([c]), dy = rng.tensor([n, c, h, w])
            let f = try batchNorm2dTrain(x, weight: wt, bias: bs, eps: 1e-5)
            let g = try batchNorm2dTrainBackward(dy, x, weight: wt, mean: f.mean, invStd: f.invStd)
            let r = naive(x, wt, bs, dy, eps: 1e-5)
            let tag = "[\(n),\(c),\(h),\(w)]"
            if let e = closeness(f.mean.values, r.mean.map(Float.init), rtol: 1e-6, atol: 1e-6) { XCTFail("mean \(tag): \(e)") }
            if let e = closeness(f.variance.values, r.variance.map(Float.init), rtol: 1e-4, atol: 1e-6) { XCTFail("variance \(tag): \(e)") }
            let iv = r.variance.map { Float(1 / ($0 + 1e-5).squareRoot()) }
            if let e = closeness(f.invStd.values, iv, rtol: 1e-4, atol: 1e-6) { XCTFail("invStd \(tag): \(e)") }
            if let e = closeness(f.y.values, r.y.map(Float.init), rtol: 1e-4, atol: 1e-4) { XCTFail("y \(tag): \(e)") }
            if let e = closeness(g.db.values, r.db.map(Float.init), rtol: 1e-5, atol: 1e-5) { XCTFail("db \(tag): \(e)") }
            if let e = closeness(g.dw.values, r.dw.map(Float.init), rtol: 1e-4, atol: 1e-4) { XCTFail("dw \(tag): \(e)") }
            if let e = closeness(g.dx.values, r.dx.map(Float.init), rtol: 1e-3, atol: 1e-4) { XCTFail("dx \(tag): \(e)") }
        }
    }

    func testSameBitsOnOneAndTwoThreads() throws {
        let x = rng.tensor([8, 64, 5, 7]), wt = rng.tensor([64]), bs = rng.tensor([64]), dy = rng.tensor([8, 64, 5, 7])
        var runs: [[[Float]]] = []
        for t in [1, 2] {
            try Parallel.with(threads: t) {
                let f = try batchNorm2dTrain(x, weight: wt, bias: bs, eps: 1e-5)
                let g = try batchNorm2dTrainBackward(dy, x, weight: wt, mean: f.mean, invStd: f.invStd)
                runs.append([f.y.values, f.mean.values, f.invStd.values, f.variance.values, g.dx.values, g.dw.values, g.db.values])
            }
        }
        XCTAssertEqual(runs[0], runs[1])
    }
}
