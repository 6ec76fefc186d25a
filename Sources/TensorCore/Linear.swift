import Foundation

/// Fully connected layer: y = x · Wᵀ + b for x [..., in], weight [out, in], bias [out]? → [..., out].
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) throws -> Tensor {
    try KernelProfile.operation("linear \(weight.shape.count == 2 ? "\(weight.shape[1])→\(weight.shape[0])" : "")") {
        try linearForward(x, weight: weight, bias: bias)
    }
}

private func linearForward(_ x: Tensor, weight: Tensor, bias: Tensor?) throws -> Tensor {
    guard weight.rank == 2, let inF = x.shape.last, inF == weight.shape[1] else {
        throw TensorError.shapeMismatch(op: "linear", detail: "x \(x.shape) vs weight \(weight.shape) (expected [..., in] and [out, in])")
    }
    let outF = weight.shape[0], rows = x.count / max(inF, 1)
    if let b = bias { try requireVector(b, outF, "bias", "linear") }
    let y = Tensor(uninitialized: Array(x.shape.dropLast()) + [outF])
    if let b = bias {
        let yp = y.data, bp = b.data
        Parallel.forEachChunk(rows, minPerThread: max(1, 8192 / max(outF, 1)), kind: .elementwise) { r in
            for row in r { (yp + row * outF).update(from: bp, count: outF) }
        }
    }
    BLAS.sgemm(transB: true, m: rows, n: outF, k: inF, a: x.data, lda: inF, b: weight.data, ldb: inF,
               beta: bias == nil ? 0 : 1, c: y.data, ldc: outF)
    return y
}

/// Column sums of a [rows, cols] matrix, split by columns so the order over rows is fixed.
func columnSums(_ a: UnsafePointer<Float>, rows: Int, cols: Int, into out: UnsafeMutablePointer<Float>) {
    out.update(repeating: 0, count: cols)
    Parallel.forEachChunk(cols, minPerThread: 64, kind: .elementwise) { cr in
        for row in 0..<rows {
            let s = a + row * cols
            for j in cr { out[j] += s[j] }
        }
    }
}

/// Gradients of `linear`: dx = dy · W, dw = dyᵀ · x, db = Σ_rows dy.
public func linearBackward(_ dy: Tensor, _ x: Tensor, _ weight: Tensor, needInput: Bool = true, needWeight: Bool = true,
                           needBias: Bool = true) throws -> (dx: Tensor?, dw: Tensor?, db: Tensor?) {
    guard weight.rank == 2, let inF = x.shape.last, inF == weight.shape[1],
          dy.shape == Array(x.shape.dropLast()) + [weight.shape[0]] else {
        throw TensorError.shapeMismatch(op: "linearBackward", detail: "dy \(dy.shape), x \(x.shape), weight \(weight.shape)")
    }
    let outF = weight.shape[0], rows = x.count / max(inF, 1)
    var dx: Tensor?, dw: Tensor?, db: Tensor?
    if needInput {
        let t = Tensor(uninitialized: x.shape)
        BLAS.sgemm(m: rows, n: inF, k: outF, a: dy.data, lda: outF, b: weight.data, ldb: inF, c: t.data, ldc: inF)
        dx = t
    }
    if needWeight {
        let t = Tensor(uninitialized: weight.shape)
        BLAS.sgemm(transA: true, m: outF, n: inF, k: rows, a: dy.data, lda: outF, b: x.data, ldb: inF, c: t.data, ldc: inF)
        dw = t
    }
    if needBias {
        let t = Tensor(uninitialized: [outF])
        columnSums(dy.data, rows: rows, cols: outF, into: t.data)
        db = t
    }
    return (dx, dw, db)
}
