import Foundation

/// Checks qkv [B,T,3C] and heads; returns (B, T, C, head dim).
func attentionDims(_ qkv: Tensor, heads: Int, _ op: String) throws -> (b: Int, t: Int, c: Int, d: Int) {
    guard qkv.rank == 3, qkv.shape[2] % 3 == 0, heads > 0, (qkv.shape[2] / 3) % heads == 0, qkv.shape[2] > 0 else {
        throw TensorError.shapeMismatch(op: op, detail: "qkv \(qkv.shape) with \(heads) heads: need [B,T,3C] with C divisible by heads")
    }
    let c = qkv.shape[2] / 3
    return (qkv.shape[0], qkv.shape[1], c, c / heads)
}

/// Multi-head scaled dot-product attention on nn.MultiheadAttention's packed in-projection.
///
/// qkv [B,T,3C] holds q | k | v along the last dimension; head h uses columns h·d ..< (h+1)·d of each.
/// Per (batch, head): S = Q Kᵀ/√d, P = softmax(S) by rows, O = P V, all as strided SGEMMs on qkv
/// (row stride 3C) without copying Q, K or V.
/// - Returns: out [B,T,C] (heads concatenated, before the out-projection), probs [B,heads,T,T].
public func attention(_ qkv: Tensor, heads: Int) throws -> (out: Tensor, probs: Tensor) {
    let (b, t, c, d) = try attentionDims(qkv, heads: heads, "attention")
    let out = Tensor(uninitialized: [b, t, c])
    let probs = Tensor(uninitialized: [b, heads, t, t])
    let ld = 3 * c, scale = 1 / Float(d).squareRoot()
    for bi in 0..<b {
        let base = qkv.data + bi * t * ld
        for h in 0..<heads {
            let pm = probs.data + (bi * heads + h) * t * t
            BLAS.sgemm(transB: true, m: t, n: t, k: d, alpha: scale, a: base + h * d, lda: ld,
                       b: base + c + h * d, ldb: ld, c: pm, ldc: t)
        }
        let pb = probs.data + bi * heads * t * t
        Parallel.forEachChunk(heads * t, minPerThread: max(1, 4096 / max(t, 1))) { r in
            for row in r { softmaxRow(pb + row * t, pb + row * t, t) }
        }
        for h in 0..<heads {
            BLAS.sgemm(m: t, n: d, k: t, a: probs.data + (bi * heads + h) * t * t, lda: t,
                       b: base + 2 * c + h * d, ldb: ld, c: out.data + bi * t * c + h * d, ldc: c)
        }
    }
    return (out, probs)
}

/// Gradient of `attention` with respect to the packed qkv.
///
/// dV = Pᵀ dO; dP = dO Vᵀ; dS = P ⊙ (dP − rowsum(dP ⊙ P)) / √d; dQ = dS K; dK = dSᵀ Q.
public func attentionBackward(_ dOut: Tensor, _ qkv: Tensor, probs: Tensor, heads: Int) throws -> Tensor {
    let (b, t, c, d) = try attentionDims(qkv, heads: heads, "attentionBackward")
    guard dOut.shape == [b, t, c], probs.shape == [b, heads, t, t] else {
        throw TensorError.shapeMismatch(op: "attentionBackward", detail: "dOut \(dOut.shape), qkv \(qkv.shape), probs \(probs.shape), heads \(heads)")
    }
    let dqkv = Tensor(uninitialized: qkv.shape)
    let dS = Tensor(uninitialized: [heads, t, t])
    let ld = 3 * c, scale = 1 / Float(d).squareRoot()
    for bi in 0..<b {
        let base = qkv.data + bi * t * ld, dbase = dqkv.data + bi * t * ld, go = dOut.data + bi * t * c
        for h in 0..<heads {
            let pm = probs.data + (bi * heads + h) * t * t
            BLAS.sgemm(transA: true, m: t, n: d, k: t, a: pm, lda: t, b: go + h * d, ldb: c,
                       c: dbase + 2 * c + h * d, ldc: ld)
            BLAS.sgemm(transB: true, m: t, n: t, k: d, a: go + h * d, lda: c, b: base + 2 * c + h * d, ldb: ld,
                       c: dS.data + h * t * t, ldc: t)
        }
        let pb = probs.data + bi * heads * t * t, sb = dS.data
        Parallel.forEachChunk(heads * t, minPerThread: max(1, 4096 / max(t, 1))) { r in
            for row in r {
                let p = pb + row * t, g = sb + row * t
                var dot: Float = 0
                for j in 0..<t { dot += g[j] * p[j] }
                for j in 0..<t { g[j] = p[j] * (g[j] - dot) * scale }
            }
        }
        for h in 0..<heads {
            let sm = dS.data + h * t * t
            BLAS.sgemm(m: t, n: d, k: t, a: sm, lda: t, b: base + c + h * d, ldb: ld, c: dbase + h * d, ldc: ld)
            BLAS.sgemm(transA: true, m: t, n: d, k: t, a: sm, lda: t, b: base + h * d, ldb: ld, c: dbase + c + h * d, ldc: ld)
        }
    }
    return dqkv
}
