import TensorCore
import TestSupport

// Naive reference kernels in Double: the specification the fast kernels are checked against.

/// Direct 7-loop convolution (cross-correlation) in Double. x [N,Cin,H,W], w [Cout,Cin/g,kh,kw].
func naiveConv2d(_ x: [Double], _ xs: [Int], _ w: [Double], _ ws: [Int], _ b: [Double]?, _ cfg: Conv2dConfig) -> (y: [Double], shape: [Int]) {
    let (n, cin, h, wd) = (xs[0], xs[1], xs[2], xs[3])
    let (cout, cinG, kh, kw) = (ws[0], ws[1], ws[2], ws[3])
    let g = cfg.groups, coutG = cout / g
    let ho = (h + 2 * cfg.padH - cfg.dilationH * (kh - 1) - 1) / cfg.strideH + 1
    let wo = (wd + 2 * cfg.padW - cfg.dilationW * (kw - 1) - 1) / cfg.strideW + 1
    var y = [Double](repeating: 0, count: n * cout * ho * wo)
    for img in 0..<n {
        for co in 0..<cout {
            let grp = co / coutG
            for oh in 0..<ho {
                for ow in 0..<wo {
                    var acc = b?[co] ?? 0
                    for ci in 0..<cinG {
                        for ki in 0..<kh {
                            for kj in 0..<kw {
                                let ih = oh * cfg.strideH - cfg.padH + ki * cfg.dilationH
                                let iw = ow * cfg.strideW - cfg.padW + kj * cfg.dilationW
                                if ih < 0 || ih >= h || iw < 0 || iw >= wd { continue }
                                let c = grp * cinG + ci
                                acc += x[((img * cin + c) * h + ih) * wd + iw] * w[((co * cinG + ci) * kh + ki) * kw + kj]
                            }
                        }
                    }
                    y[((img * cout + co) * ho + oh) * wo + ow] = acc
                }
            }
        }
    }
    return (y, [n, cout, ho, wo])
}

/// Central finite differences of a scalar function in Double.
func finiteDifference(_ v: [Double], eps: Double, _ f: ([Double]) -> Double) -> [Double] {
    var v = v
    var g = [Double](repeating: 0, count: v.count)
    for i in 0..<v.count {
        let o = v[i]
        v[i] = o + eps; let fp = f(v)
        v[i] = o - eps; let fm = f(v)
        v[i] = o
        g[i] = (fp - fm) / (2 * eps)
    }
    return g
}

/// Central finite differences of L = Σ dy·f(x) with a Float kernel f, for smooth ops (ε = 1e-2 in x).
func finiteDifferenceFloat(_ x: Tensor, _ dy: Tensor, eps: Float = 1e-2, _ f: (Tensor) throws -> Tensor) rethrows -> [Float] {
    let xx = x.copy()
    var g = [Float](repeating: 0, count: x.count)
    func loss() throws -> Double {
        let y = try f(xx)
        var s = 0.0
        for i in 0..<y.count { s += Double(y.data[i]) * Double(dy.data[i]) }
        return s
    }
    for i in 0..<x.count {
        let o = xx.data[i]
        xx.data[i] = o + eps; let lp = try loss()
        xx.data[i] = o - eps; let lm = try loss()
        xx.data[i] = o
        g[i] = Float((lp - lm) / Double(2 * eps))
    }
    return g
}

/// Σ a·b in Double.
func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }

extension Tensor {
    var doubles: [Double] { values.map(Double.init) }
}

/// Relative closeness for gradient checks: |a − b| ≤ rtol·max|b| + atol.
func gradCloseness(_ a: [Float], _ b: [Float], rtol: Float = 1e-2, atol: Float = 1e-3) -> String? {
    let scale = b.reduce(Float(0)) { max($0, abs($1)) }
    return closeness(a, b, rtol: 0, atol: rtol * scale + atol)
}

/// dx and dW of a stride-1, one-group convolution from the Double sums
/// dx[n,ci,h,w] = Σ dy[n,co,oh,ow]·w[co,ci,a,b] and dW[co,ci,a,b] = Σ dy[n,co,oh,ow]·x[n,ci,h,w]
/// over h = oh + a·d − p, w = ow + b·d − p inside the input.
func naiveConvGradients(_ x: Tensor, _ w: Tensor, _ dy: Tensor, _ cfg: Conv2dConfig) -> (dx: [Double], dw: [Double]) {
    let (n, cin, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (cout, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
    let (ho, wo) = (dy.shape[2], dy.shape[3])
    precondition(cfg.strideH == 1 && cfg.strideW == 1 && cfg.groups == 1 && w.shape[1] == cin)
    let xd = x.doubles, wv = w.doubles, dyd = dy.doubles
    var dx = [Double](repeating: 0, count: x.count), dw = [Double](repeating: 0, count: w.count)
    for img in 0..<n { for co in 0..<cout { for oh in 0..<ho { for ow in 0..<wo {
        let g = dyd[((img * cout + co) * ho + oh) * wo + ow]
        for ci in 0..<cin { for a in 0..<kh { for b in 0..<kw {
            let ih = oh + a * cfg.dilationH - cfg.padH, iw = ow + b * cfg.dilationW - cfg.padW
            guard ih >= 0, ih < h, iw >= 0, iw < wd else { continue }
            let xi = ((img * cin + ci) * h + ih) * wd + iw, wi = ((co * cin + ci) * kh + a) * kw + b
            dx[xi] += g * wv[wi]
            dw[wi] += g * xd[xi]
        } } }
    } } } }
    return (dx, dw)
}
