// Token-sequence helpers for ViT ([B, T, C] layouts) and per-sample scaling.

/// Prepends `token` [1,1,C] to each sequence of x [B,T,C] → [B,T+1,C].
public func prependToken(_ x: Tensor, _ token: Tensor) throws -> Tensor {
    try require(x.rank == 3 && token.count == x.shape[2], "prependToken", "x \(x.shape), token \(token.shape)")
    let (b, t, c) = (x.shape[0], x.shape[1], x.shape[2])
    let y = Tensor(uninitialized: [b, t + 1, c])
    for i in 0..<b {
        (y.data + i * (t + 1) * c).update(from: token.data, count: c)
        (y.data + i * (t + 1) * c + c).update(from: x.data + i * t * c, count: t * c)
    }
    return y
}

/// Gradients of `prependToken`: dx [B,T,C] and dtoken [1,1,C] (summed over the batch).
public func prependTokenBackward(_ dy: Tensor) throws -> (dx: Tensor, dtoken: Tensor) {
    try require(dy.rank == 3 && dy.shape[1] >= 1, "prependTokenBackward", "dy \(dy.shape)")
    let (b, t1, c) = (dy.shape[0], dy.shape[1], dy.shape[2])
    let dx = Tensor(uninitialized: [b, t1 - 1, c])
    let dt = Tensor(zeros: [1, 1, c])
    for i in 0..<b {
        let src = dy.data + i * t1 * c
        for j in 0..<c { dt.data[j] += src[j] }
        (dx.data + i * (t1 - 1) * c).update(from: src + c, count: (t1 - 1) * c)
    }
    return (dx, dt)
}

/// x [B,T,C] + p [1,T,C].
public func addBroadcastBatch(_ x: Tensor, _ p: Tensor) throws -> Tensor {
    try require(x.rank >= 2 && p.count * x.shape[0] == x.count && Array(p.shape.dropFirst()) == Array(x.shape.dropFirst()),
                "addBroadcastBatch", "x \(x.shape), p \(p.shape)")
    let inner = p.count
    let y = Tensor(uninitialized: x.shape)
    Parallel.forEach(x.shape[0], kind: .elementwise) { i in
        let xs = x.data + i * inner, ys = y.data + i * inner
        for j in 0..<inner { ys[j] = xs[j] + p.data[j] }
    }
    return y
}

/// Σ over dimension 0: [B, ...] → [1, ...].
public func sumBatch(_ x: Tensor) throws -> Tensor {
    try require(x.rank >= 1, "sumBatch", "x \(x.shape)")
    let inner = x.count / max(x.shape[0], 1)
    let y = Tensor(zeros: [1] + Array(x.shape.dropFirst()))
    for i in 0..<x.shape[0] {
        let xs = x.data + i * inner
        for j in 0..<inner { y.data[j] += xs[j] }
    }
    return y
}

/// x[:, index, :] of [B,T,C] → [B,C].
public func selectToken(_ x: Tensor, index: Int) throws -> Tensor {
    try require(x.rank == 3 && index >= 0 && index < x.shape[1], "selectToken", "x \(x.shape), index \(index)")
    let (b, t, c) = (x.shape[0], x.shape[1], x.shape[2])
    let y = Tensor(uninitialized: [b, c])
    for i in 0..<b { (y.data + i * c).update(from: x.data + (i * t + index) * c, count: c) }
    return y
}

public func selectTokenBackward(_ dy: Tensor, inputShape: [Int], index: Int) throws -> Tensor {
    try require(inputShape.count == 3 && dy.shape == [inputShape[0], inputShape[2]], "selectTokenBackward",
                "dy \(dy.shape), input \(inputShape)")
    let (b, t, c) = (inputShape[0], inputShape[1], inputShape[2])
    let dx = Tensor(zeros: inputShape)
    for i in 0..<b { (dx.data + (i * t + index) * c).update(from: dy.data + i * c, count: c) }
    return dx
}

/// Scales each slice x[i, ...] by `factors[i]`.
public func mulRows(_ x: Tensor, _ factors: [Float]) throws -> Tensor {
    try require(x.rank >= 1 && factors.count == x.shape[0], "mulRows", "x \(x.shape), \(factors.count) factors")
    let inner = x.count / max(x.shape[0], 1)
    let y = Tensor(uninitialized: x.shape)
    for i in 0..<x.shape[0] {
        let f = factors[i], xs = x.data + i * inner, ys = y.data + i * inner
        for j in 0..<inner { ys[j] = xs[j] * f }
    }
    return y
}
