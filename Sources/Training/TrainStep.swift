import TensorCore
import Autograd
import NN
import Models

/// What one training step's loss is made of.
public struct LossConfig: Sendable, Codable, Equatable {
    public var labelSmoothing: Float
    /// Per-class weights (nil: unweighted), as nn.CrossEntropyLoss(weight=).
    public var classWeights: [Float]?

    public init(labelSmoothing: Float = 0, classWeights: [Float]? = nil) {
        self.labelSmoothing = labelSmoothing
        self.classWeights = classWeights
    }
}

/// The outcome of one optimizer step.
public struct StepResult: Sendable {
    /// The batch's mean loss before the update.
    public let loss: Float
    /// Images whose arg-max logit was their label (before the update).
    public let correct: Int
    public let count: Int
}

/// One step as PyTorch's loop does it: forward in training mode (BatchNorm on batch statistics and
/// updating its running statistics), cross-entropy, full backward to every parameter, optimizer step.
///
/// - Parameters:
///   - stochasticLayers: dropout and stochastic depth on (false: `--no-dropout`).
///   - seed: the stream for dropout and stochastic depth in this step.
/// - Throws: `TrainingError.nonFiniteLoss` before touching the weights when the loss is NaN or ±∞
///   (the running statistics of this forward are then restored too).
public func trainStep(_ model: ImageClassifier, images: Tensor, labels: [Int], optimizer: Optimizer, lr: Float,
                      loss lossConfig: LossConfig = LossConfig(), stochasticLayers: Bool = true, seed: UInt64 = 0) throws -> StepResult {
    let r = try computeGradients(model, images: images, labels: labels, loss: lossConfig, stochasticLayers: stochasticLayers, seed: seed)
    try optimizer.step(r.gradients, lr: lr)
    return r.result
}

/// The forward and backward half of `trainStep`: the loss, and every parameter's gradient.
public func computeGradients(_ model: ImageClassifier, images: Tensor, labels: [Int], loss lossConfig: LossConfig = LossConfig(),
                             stochasticLayers: Bool = true, seed: UInt64 = 0) throws -> (result: StepResult, gradients: [Gradient]) {
    let params = model.namedParameters()
    let buffers = params.filter { $0.1.kind != .parameter }.map { ($0.1, $0.1.value) }
    let ctx = ForwardContext(training: true, parameterGrads: true, seed: seed)
    ctx.stochasticLayers = stochasticLayers
    let logits = try model.logits(images, ctx)
    let ce = try crossEntropy(logits.value, targets: labels, labelSmoothing: lossConfig.labelSmoothing,
                              classWeights: lossConfig.classWeights)
    guard ce.loss.isFinite else {
        for (p, v) in buffers { p.value = v }
        throw TrainingError.nonFiniteLoss(ce.loss)
    }
    try backward(logits, seed: ce.dlogits)
    var grads: [Gradient] = []
    grads.reserveCapacity(params.count)
    for (key, p) in params where p.kind == .parameter {
        // Only variables bound in this forward carry this step's gradient.
        guard let v = p.variable, let g = v.grad, v.value.storage === p.value.storage else { continue }
        try grads.append(Gradient(key: key, parameter: p, grad: g))
    }
    return (StepResult(loss: ce.loss, correct: try countCorrect(logits.value, labels), count: labels.count), grads)
}

/// Rows of logits [N,K] whose arg-max (first on ties, `rowArgmax`) equals the label.
public func countCorrect(_ logits: Tensor, _ labels: [Int]) throws -> Int {
    try rowArgmax(logits).enumerated().reduce(0) { $0 + ($1.element == labels[$1.offset] ? 1 : 0) }
}
