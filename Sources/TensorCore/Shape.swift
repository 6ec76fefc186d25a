import Foundation

/// Concatenates NCHW (or any [N, C, ...]) tensors along dimension 1.
public func concatChannels(_ parts: [Tensor]) throws -> Tensor {
    guard let first = parts.first, first.rank >= 2 else {
        throw TensorError.invalidArgument(op: "concatChannels", detail: "needs at least one tensor of rank ≥ 2")
    }
    let n = first.shape[0], tail = Array(first.shape.dropFirst(2)), p = tail.reduce(1, *)
    var total = 0
    for t in parts {
        guard t.rank == first.rank, t.shape[0] == n, Array(t.shape.dropFirst(2)) == tail else {
            throw TensorError.shapeMismatch(op: "concatChannels", detail: "\(parts.map(\.shape))")
        }
        total += t.shape[1]
    }
    let out = Tensor(uninitialized: [n, total] + tail)
    var offset = 0
    for t in parts {
        let c = t.shape[1], src = t.data, dst = out.data, off = offset
        Parallel.forEachChunk(n, minPerThread: max(1, 16384 / max(1, c * p)), kind: .copy) { r in
            for img in r { (dst + (img * total + off) * p).update(from: src + img * c * p, count: c * p) }
        }
        offset += c
    }
    return out
}

/// Splits dy [N, ΣC, ...] along dimension 1 into pieces of `sizes` channels (the backward of `concatChannels`).
public func splitChannelsGrad(_ dy: Tensor, sizes: [Int]) throws -> [Tensor] {
    guard dy.rank >= 2, sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(0, +) == dy.shape[1] else {
        throw TensorError.shapeMismatch(op: "splitChannelsGrad", detail: "dy \(dy.shape) vs sizes \(sizes)")
    }
    let n = dy.shape[0], total = dy.shape[1], tail = Array(dy.shape.dropFirst(2)), p = tail.reduce(1, *)
    var out: [Tensor] = []
    var offset = 0
    for c in sizes {
        let t = Tensor(uninitialized: [n, c] + tail)
        let src = dy.data, dst = t.data, off = offset
        Parallel.forEachChunk(n, minPerThread: max(1, 16384 / max(1, c * p)), kind: .copy) { r in
            for img in r { (dst + img * c * p).update(from: src + (img * total + off) * p, count: c * p) }
        }
        out.append(t)
        offset += c
    }
    return out
}

/// y[n,c,…] = x[n,c,…] · s[n,c] (squeeze-and-excitation scaling).
public func mulChannelBroadcast(_ x: Tensor, _ s: Tensor) throws -> Tensor {
    let (n, c, p) = try nchwDims(x, "mulChannelBroadcast")
    guard s.shape == [n, c] else { throw TensorError.shapeMismatch(op: "mulChannelBroadcast", detail: "x \(x.shape) vs s \(s.shape) (expected [N,C])") }
    let y = Tensor(uninitialized: x.shape)
    let xp = x.data, yp = y.data, sp = s.data
    Parallel.forEachChunk(n * c, minPerThread: max(1, 8192 / max(p, 1)), kind: .elementwise) { r in
        for plane in r {
            let k = sp[plane], a = xp + plane * p, b = yp + plane * p
            for i in 0..<p { b[i] = a[i] * k }
        }
    }
    return y
}

/// Gradients of `mulChannelBroadcast`: dx = dy · s, ds[n,c] = Σ_pixels dy · x.
public func mulChannelBroadcastBackward(_ dy: Tensor, _ x: Tensor, _ s: Tensor) throws -> (dx: Tensor, ds: Tensor) {
    try requireSameShape(dy, x, "mulChannelBroadcastBackward")
    let dx = try mulChannelBroadcast(dy, s)
    let (n, c, p) = try nchwDims(x, "mulChannelBroadcastBackward")
    let ds = Tensor(uninitialized: [n, c])
    let gp = dy.data, xp = x.data, dp = ds.data
    Parallel.forEachChunk(n * c, minPerThread: max(1, 8192 / max(p, 1)), kind: .elementwise) { r in
        for plane in r {
            let g = gp + plane * p, a = xp + plane * p
            var acc: Float = 0
            for i in 0..<p { acc += g[i] * a[i] }
            dp[plane] = acc
        }
    }
    return (dx, ds)
}

/// Swaps the last two dimensions: [..., M, N] → [..., N, M] (a copy).
public func transposeLast2(_ x: Tensor) throws -> Tensor {
    guard x.rank >= 2 else { throw TensorError.shapeMismatch(op: "transposeLast2", detail: "needs rank ≥ 2, got \(x.shape)") }
    let m = x.shape[x.rank - 2], n = x.shape[x.rank - 1], b = x.count / max(1, m * n)
    var s = x.shape; s.swapAt(s.count - 1, s.count - 2)
    let y = Tensor(uninitialized: s)
    let xp = x.data, yp = y.data
    let tile = 32
    let tilesM = (m + tile - 1) / tile
    Parallel.forEachChunk(b * tilesM, minPerThread: 1, kind: .copy) { r in
        for item in r {
            let bi = item / tilesM, i0 = (item % tilesM) * tile
            let src = xp + bi * m * n, dst = yp + bi * m * n
            var j0 = 0
            while j0 < n {
                for i in i0..<min(i0 + tile, m) { for j in j0..<min(j0 + tile, n) { dst[j * m + i] = src[i * n + j] } }
                j0 += tile
            }
        }
    }
    return y
}
