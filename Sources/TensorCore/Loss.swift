import Foundation

/// Mean cross-entropy of logits [N,K] against class indices, with optional label smoothing
/// (PyTorch's nn.CrossEntropyLoss: target q = (1 − ε)·onehot + ε/K).
/// - Returns: the loss and its gradient dlogits = (softmax − q)/N.
public func crossEntropy(_ logits: Tensor, targets: [Int], labelSmoothing: Float = 0) throws -> (loss: Float, dlogits: Tensor) {
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
    let logp = try logSoftmaxLastDim(logits)
    let d = Tensor(uninitialized: logits.shape)
    let eps = labelSmoothing, off = eps / Float(k), on = 1 - eps + off
    var total: Double = 0
    for i in 0..<n {
        var rowLoss: Double = 0
        for j in 0..<k {
            let q = j == targets[i] ? on : off
            let lp = logp.data[i * k + j]
            if q != 0 { rowLoss -= Double(q * lp) }
            d.data[i * k + j] = (Foundation.exp(lp) - q) / Float(n)
        }
        total += rowLoss
    }
    return (Float(total / Double(n)), d)
}
