import Foundation
import TensorCore

/// Noisy linear imputation of ROAD (Rong et al. 2022; the code pytorch-grad-cam 1.5 copies).
///
/// Every removed pixel is set to the weighted mean of its in-image 8-neighbours (weights 1/6 for
/// edge neighbours, 1/12 for diagonal ones, renormalised over the neighbours inside the image),
/// where neighbours that are removed too are unknowns of the same sparse system. Per channel
/// this is (D − W_uu) x_u = W_uk v_k with D the in-image weight sums — symmetric positive
/// definite whenever some pixel is kept — solved by conjugate gradients (relative residual
/// 1e-6, in Double) instead of a direct sparse solve; then `noise` × N(0, 1) is added to every
/// imputed value. If no pixel is kept the system is singular and the imputed values are 0 + noise.
public enum ROADImputer {
    static let offsets: [(dy: Int, dx: Int, w: Double)] = [
        (1, 1, 1.0 / 12), (0, 1, 1.0 / 6), (-1, 1, 1.0 / 12), (1, -1, 1.0 / 12),
        (0, -1, 1.0 / 6), (-1, -1, 1.0 / 12), (1, 0, 1.0 / 6), (-1, 0, 1.0 / 6),
    ]

    /// - Parameters:
    ///   - image: `[C, H, W]` or `[1, C, H, W]`.
    ///   - keep: HW flags, `true` = pixel kept, `false` = imputed.
    /// - Returns: the imputed image, same shape as `image`.
    public static func impute(image: Tensor, keep: [Bool], noise: Double, rng: inout SeededRNG) throws -> Tensor {
        let s = image.shape
        guard s.count >= 3, s.dropLast(3).allSatisfy({ $0 == 1 }) else {
            throw EvaluationError.shapeMismatch(op: "ROADImputer", detail: "image must be [C, H, W], got \(s)")
        }
        let c = s[s.count - 3], h = s[s.count - 2], w = s[s.count - 1], hw = h * w
        guard keep.count == hw else {
            throw EvaluationError.shapeMismatch(op: "ROADImputer", detail: "keep has \(keep.count) flags for a \(h)×\(w) image")
        }
        let out = image.copy()
        var vidx = [Int](repeating: -1, count: hw)
        var unknowns: [Int] = []
        for p in 0..<hw where !keep[p] { vidx[p] = unknowns.count; unknowns.append(p) }
        let m = unknowns.count
        guard m > 0 else { return out }
        // Sparse rows: diagonal D_i and off-diagonal (column, weight) for unknown neighbours.
        var diag = [Double](repeating: 0, count: m)
        var rowStart = [Int](repeating: 0, count: m + 1)
        var cols: [Int] = [], vals: [Double] = []
        var knownRefs: [[(p: Int, w: Double)]] = Array(repeating: [], count: m)
        for (i, p) in unknowns.enumerated() {
            let y = p / w, x = p % w
            for o in offsets {
                let ny = y + o.dy, nx = x + o.dx
                guard ny >= 0, ny < h, nx >= 0, nx < w else { continue }
                diag[i] += o.w
                let q = ny * w + nx
                if keep[q] { knownRefs[i].append((q, o.w)) } else { cols.append(vidx[q]); vals.append(o.w) }
            }
            rowStart[i + 1] = cols.count
        }
        func apply(_ v: [Double], _ r: inout [Double]) {
            for i in 0..<m {
                var s = diag[i] * v[i]
                for j in rowStart[i]..<rowStart[i + 1] { s -= vals[j] * v[cols[j]] }
                r[i] = s
            }
        }
        let anyKnown = keep.contains(true)
        // Channels are independent systems with one matrix: solve them in parallel, then add the
        // noise in a fixed order so the result does not depend on the thread count.
        let solutions = UnsafeMutablePointer<Double>.allocate(capacity: c * m)
        defer { solutions.deallocate() }
        solutions.initialize(repeating: 0, count: c * m)
        let sol = UncheckedBox(solutions), src = UncheckedBox(image.data)
        Parallel.forEach(c) { ch in
            let plane = src.value + ch * hw
            var b = [Double](repeating: 0, count: m)
            for i in 0..<m { for k in knownRefs[i] { b[i] += k.w * Double(plane[k.p]) } }
            var x = [Double](repeating: 0, count: m)
            if anyKnown {
                // Conjugate gradients from x = 0.
                var r = b, p = b, ap = [Double](repeating: 0, count: m)
                var rr = r.reduce(0) { $0 + $1 * $1 }
                let stop = max(rr, 1e-300) * 1e-12
                var it = 0
                while rr > stop && it < 10 * m + 100 {
                    apply(p, &ap)
                    var pap = 0.0
                    for i in 0..<m { pap += p[i] * ap[i] }
                    guard pap > 0 else { break }
                    let alpha = rr / pap
                    for i in 0..<m { x[i] += alpha * p[i]; r[i] -= alpha * ap[i] }
                    let rrNew = r.reduce(0) { $0 + $1 * $1 }
                    let beta = rrNew / rr
                    for i in 0..<m { p[i] = r[i] + beta * p[i] }
                    rr = rrNew
                    it += 1
                }
            }
            (sol.value + ch * m).update(from: x, count: m)
        }
        for ch in 0..<c {
            let dst = out.data + ch * hw
            for i in 0..<m { dst[unknowns[i]] = Float(solutions[ch * m + i] + (noise != 0 ? noise * rng.normalDouble() : 0)) }
        }
        return out
    }
}
