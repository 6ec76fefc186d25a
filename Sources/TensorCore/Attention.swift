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
/// (row stride 3C) without copying Q, K or V. With `queries` = q < T only the first q tokens
/// attend (their rows of O are exactly those of the full computation): a ViT's last block needs
/// nothing but the class token's row.
/// - Returns: out [B,q,C] (heads concatenated, before the out-projection), probs [B,heads,q,T].
public func attention(_ qkv: Tensor, heads: Int, queries: Int? = nil) throws -> (out: Tensor, probs: Tensor) {
    try KernelProfile.operation("attention") { try attentionForward(qkv, heads: heads, queries: queries) }
}

private func attentionForward(_ qkv: Tensor, heads: Int, queries: Int?) throws -> (out: Tensor, probs: Tensor) {
    let (b, t, c, d) = try attentionDims(qkv, heads: heads, "attention")
    let nq = queries ?? t
    guard nq >= 1 && nq <= t else {
        throw TensorError.invalidArgument(op: "attention", detail: "queries \(nq) outside 1...\(t)")
    }
    let out = Tensor(uninitialized: [b, nq, c])
    let probs = Tensor(uninitialized: [b, heads, nq, t])
    let ld = 3 * c, scale = 1 / Float(d).squareRoot()
    let box = UncheckedBox((qkv.data, out.data, probs.data))
    // One (batch, head) pair per task: its scores stay in cache from QKᵀ through softmax to PV.
    Parallel.forEach(b * heads, kind: .attention) { task in
        let (q, o, p) = box.value
        let bi = task / heads, h = task % heads
        let base = q + bi * t * ld, pm = p + task * nq * t
        BLAS.sgemmSerial(transA: false, transB: true, m: nq, n: t, k: d, alpha: scale, a: base + h * d, lda: ld,
                         b: base + c + h * d, ldb: ld, beta: 0, c: pm, ldc: t)
        for row in 0..<nq { softmaxRow(pm + row * t, pm + row * t, t) }
        BLAS.sgemmSerial(transA: false, transB: false, m: nq, n: d, k: t, alpha: 1, a: pm, lda: t,
                         b: base + 2 * c + h * d, ldb: ld, beta: 0, c: o + bi * nq * c + h * d, ldc: c)
    }
    return (out, probs)
}

/// Gradient of `attention` with respect to the packed qkv (`probs` [B,heads,q,T] says how many
/// queries attended; Q rows past them get zero gradient).
///
/// dV = Pᵀ dO; dP = dO Vᵀ; dS = P ⊙ (dP − rowsum(dP ⊙ P)) / √d; dQ = dS K; dK = dSᵀ Q.
public func attentionBackward(_ dOut: Tensor, _ qkv: Tensor, probs: Tensor, heads: Int) throws -> Tensor {
    let (b, t, c, d) = try attentionDims(qkv, heads: heads, "attentionBackward")
    let nq = probs.rank == 4 ? probs.shape[2] : 0
    guard nq >= 1, nq <= t, dOut.shape == [b, nq, c], probs.shape == [b, heads, nq, t] else {
        throw TensorError.shapeMismatch(op: "attentionBackward", detail: "dOut \(dOut.shape), qkv \(qkv.shape), probs \(probs.shape), heads \(heads)")
    }
    let dqkv = nq == t ? Tensor(uninitialized: qkv.shape) : Tensor(zeros: qkv.shape)
    let dS = Tensor(uninitialized: [b, heads, nq, t])
    let ld = 3 * c, scale = 1 / Float(d).squareRoot()
    let box = UncheckedBox((qkv.data, dqkv.data, dOut.data, probs.data, dS.data))
    // Per (batch, head) task; tasks write disjoint columns of dqkv.
    Parallel.forEach(b * heads, kind: .attention) { task in
        let (q, dq, dy, p, ds) = box.value
        let bi = task / heads, h = task % heads
        let base = q + bi * t * ld, dbase = dq + bi * t * ld, go = dy + bi * nq * c
        let pm = p + task * nq * t, sm = ds + task * nq * t
        BLAS.sgemmSerial(transA: true, transB: false, m: t, n: d, k: nq, alpha: 1, a: pm, lda: t, b: go + h * d, ldb: c,
                         beta: 0, c: dbase + 2 * c + h * d, ldc: ld)
        BLAS.sgemmSerial(transA: false, transB: true, m: nq, n: t, k: d, alpha: 1, a: go + h * d, lda: c,
                         b: base + 2 * c + h * d, ldb: ld, beta: 0, c: sm, ldc: t)
        for row in 0..<nq { softmaxBackwardRow(sm + row * t, pm + row * t, sm + row * t, t, scale: scale) }
        BLAS.sgemmSerial(transA: false, transB: false, m: nq, n: d, k: t, alpha: 1, a: sm, lda: t, b: base + c + h * d,
                         ldb: ld, beta: 0, c: dbase + h * d, ldc: ld)
        BLAS.sgemmSerial(transA: true, transB: false, m: t, n: d, k: nq, alpha: 1, a: sm, lda: t, b: base + h * d,
                         ldb: ld, beta: 0, c: dbase + c + h * d, ldc: ld)
    }
    return dqkv
}
