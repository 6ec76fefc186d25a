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
    let box = UncheckedBox((qkv.data, out.data, probs.data))
    // One (batch, head) pair per task: its T×T scores stay in cache from QKᵀ through softmax to PV.
    Parallel.forEach(b * heads) { task in
        let (q, o, p) = box.value
        let bi = task / heads, h = task % heads
        let base = q + bi * t * ld, pm = p + task * t * t
        BLAS.sgemmSerial(transA: false, transB: true, m: t, n: t, k: d, alpha: scale, a: base + h * d, lda: ld,
                         b: base + c + h * d, ldb: ld, beta: 0, c: pm, ldc: t)
        for row in 0..<t { softmaxRow(pm + row * t, pm + row * t, t) }
        BLAS.sgemmSerial(transA: false, transB: false, m: t, n: d, k: t, alpha: 1, a: pm, lda: t,
                         b: base + 2 * c + h * d, ldb: ld, beta: 0, c: o + bi * t * c + h * d, ldc: c)
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
    let dS = Tensor(uninitialized: [b, heads, t, t])
    let ld = 3 * c, scale = 1 / Float(d).squareRoot()
    let box = UncheckedBox((qkv.data, dqkv.data, dOut.data, probs.data, dS.data))
    // Per (batch, head) task; tasks write disjoint columns of dqkv.
    Parallel.forEach(b * heads) { task in
        let (q, dq, dy, p, ds) = box.value
        let bi = task / heads, h = task % heads
        let base = q + bi * t * ld, dbase = dq + bi * t * ld, go = dy + bi * t * c
        let pm = p + task * t * t, sm = ds + task * t * t
        BLAS.sgemmSerial(transA: true, transB: false, m: t, n: d, k: t, alpha: 1, a: pm, lda: t, b: go + h * d, ldb: c,
                         beta: 0, c: dbase + 2 * c + h * d, ldc: ld)
        BLAS.sgemmSerial(transA: false, transB: true, m: t, n: t, k: d, alpha: 1, a: go + h * d, lda: c,
                         b: base + 2 * c + h * d, ldb: ld, beta: 0, c: sm, ldc: t)
        for row in 0..<t {
            let pr = pm + row * t, g = sm + row * t
            var dot: Float = 0
            for j in 0..<t { dot += g[j] * pr[j] }
            for j in 0..<t { g[j] = pr[j] * (g[j] - dot) * scale }
        }
        BLAS.sgemmSerial(transA: false, transB: false, m: t, n: d, k: t, alpha: 1, a: sm, lda: t, b: base + c + h * d,
                         ldb: ld, beta: 0, c: dbase + h * d, ldc: ld)
        BLAS.sgemmSerial(transA: true, transB: false, m: t, n: d, k: t, alpha: 1, a: sm, lda: t, b: base + h * d,
                         ldb: ld, beta: 0, c: dbase + c + h * d, ldc: ld)
    }
    return dqkv
}
