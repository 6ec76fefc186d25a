import Foundation

/// Cross-entropy of logits [N,K] against class indices, as PyTorch's nn.CrossEntropyLoss with
/// reduction "mean", optional label smoothing ε and optional class weights w:
///
///     L = [ (1−ε)·Σ_i w[y_i]·(−log p_i[y_i]) + (ε/K)·Σ_i Σ_j w[j]·(−log p_i[j]) ] / Σ_i w[y_i]
///
/// (without weights w ≡ 1 and the divisor is N: the target is q = (1 − ε)·onehot + ε/K).
/// - Returns: the loss and its gradient dlogits[i] = (c_i·softmax_i − (1−ε)·w[y_i]·e_{y_i} − (ε/K)·w) / Σ w[y_i]
///   with c_i = (1−ε)·w[y_i] + (ε/K)·Σ_j w[j].
public func crossEntropy(_ logits: Tensor, targets: [Int], labelSmoothing: Float = 0,
                         classWeights: [Float]? = nil) throws -> (loss: Float, dlogits: Tensor) {
    guard logits.rank == 2, logits.shape[0] == targets.count, logits.shape[0] > 0, logits.shape[1] > 0 else {
        throw TensorError.shapeMismatch(op: "crossEntropy", detail: "logits \(logits.shape) vs \(targets.count) targets")
    }
    guard labelSmoothing >= 0, labelSmoothing <= 1 else {
        throw TensorError.invalidArgument(op: "crossEntropy", detail: "labelSmoothing \(labelSmoothing) must be in [0, 1]")
    }
    let (n, k) = (logits.shape[0], logits.shape[1])
    if let bad = targets.first(where: { $0 < 0 || $0 >= k }) {
        throw TensorError.invalidArgument(op: "crossEntropy", detail: "target \(bad) outside 0..<\(k)")
    }
    if let w = classWeights {
        guard w.count == k, w.allSatisfy({ $0 >= 0 && $0.isFinite }) else {
            throw TensorError.invalidArgument(op: "crossEntropy", detail: "\(w.count) class weights for \(k) classes (each finite and ≥ 0)")
        }
    }
    let w = classWeights ?? [Float](repeating: 1, count: k)
    let logp = try logSoftmaxLastDim(logits)
    let eps = labelSmoothing, off = eps / Float(k)
    var divisor: Double = 0
    for t in targets { divisor += Double(w[t]) }
    guard divisor > 0 else {
        throw TensorError.invalidArgument(op: "crossEntropy", detail: "the targets' class weights sum to 0")
    }
    let wSum = w.reduce(Float(0), +)
    let d = Tensor(uninitialized: logits.shape)
    let scale = Float(1 / divisor)
    var nll: Double = 0, smooth: Double = 0
    for i in 0..<n {
        let y = targets[i]
        let row = logp.data + i * k, drow = d.data + i * k
        nll -= Double(w[y] * row[y])
        let c = (1 - eps) * w[y] + off * wSum
        for j in 0..<k {
            if eps != 0 { smooth -= Double(w[j] * row[j]) }
            var gj = c * Foundation.exp(row[j]) - off * w[j]
            if j == y { gj -= (1 - eps) * w[y] }
            drow[j] = gj * scale
        }
    }
    let loss = ((1 - Double(eps)) * nll + Double(off) * smooth) / divisor
    return (Float(loss), d)
}
