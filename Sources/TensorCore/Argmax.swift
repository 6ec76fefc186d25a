/// Argmax of each row of a `[N, K]` tensor; the first maximum wins (as `torch.argmax` on CPU).
/// The one argmax every prediction in camaudit goes through (CAM targets, evaluation, predict).
public func rowArgmax(_ t: Tensor) throws -> [Int] {
    guard t.rank == 2, t.shape[1] >= 1 else {
        throw TensorError.shapeMismatch(op: "rowArgmax", detail: "expected [N, K] with K ≥ 1, got \(t.shape)")
    }
    let (n, k) = (t.shape[0], t.shape[1])
    return (0..<n).map { i in
        var best = 0
        for j in 1..<k where t.data[i * k + j] > t.data[i * k + best] { best = j }
        return best
    }
}
