import TensorCore
import Autograd

// The inference plan: the steps a block's one forward is written in. Each step runs fused when the
// context allows it (inference, no graph, none of its modules observed; `ForwardContext.mayFuse`)
// and module by module otherwise, so a tap, a capture or a replacement always sees the module's own
// output and fusion never changes what a tapped layer means:
// - conv → BatchNorm → activation: one convolution with the BatchNorm folded into its weights
//   (derived, cached per convolution) and the activation as its epilogue;
// - BatchNorm → activation on a list of feature maps (DenseNet's pre-activation): one pass that
//   reads the pieces without concatenating them first;
// - a residual join (`out += identity`, then an in-place ReLU): one in-place pass.
// The plain path also reproduces torchvision's in-place aliasing for pytorch-grad-cam's hooks
// (`ForwardContext.modifiedInPlace`).

/// conv → optional BatchNorm → optional activation (torchvision's Conv2dNormActivation, ResNet's
/// conv/bn/relu triples).
public func convNormActivation(_ conv: Conv2d, _ bn: BatchNorm2d?, _ act: Activation?, _ x: Variable,
                               _ ctx: ForwardContext) throws -> Variable {
    if ctx.mayFuse([conv, bn, act], inputs: [x]) {
        return Variable(try conv.infer(x.value, foldedWith: bn, activation: act?.fused ?? .none, tuning: ctx.convTuning))
    }
    var h = try conv(x, ctx)
    if let bn, let act, act.kind == .relu, ctx.mayFuseTraining([bn, act]) { return try bn.trainingForward(h, ctx, relu: true) }
    if let bn { h = try bn(h, ctx) }
    if let act { h = try activate(act, after: bn ?? conv, h, ctx) }
    return h
}

/// BatchNorm → activation over the channel concatenation of `parts` (DenseNet reads all earlier
/// features; torchvision concatenates them first).
public func normActivation(_ bn: BatchNorm2d, _ act: Activation, _ parts: [Variable], _ ctx: ForwardContext) throws -> Variable {
    if ctx.mayFuse([bn, act], inputs: parts) {
        return Variable(try concatBatchNormActivation(parts.map(\.value), weight: bn.weight.value, bias: bn.bias.value,
                                                      runningMean: bn.runningMean.value, runningVar: bn.runningVar.value,
                                                      eps: bn.eps, activation: act.fused))
    }
    let x = parts.count == 1 ? parts[0] : try concatChannels(parts)
    if act.kind == .relu, ctx.mayFuseTraining([bn, act]) { return try bn.trainingForward(x, ctx, relu: true) }
    return try activate(act, after: bn, bn(x, ctx), ctx)
}

/// Runs an activation module on the output of `previous`; an in-place one (torchvision's
/// `inplace=True`) changes what pytorch-grad-cam records for `previous`.
public func activate(_ act: Activation, after previous: Module, _ x: Variable, _ ctx: ForwardContext) throws -> Variable {
    let y = try act(x, ctx)
    if act.inPlace { ctx.modifiedInPlace(previous.outputAliases, becomes: y, by: "the in-place \(act.kind.rawValue)") }
    return y
}

/// torchvision's residual join `out += identity` (then `relu(out)` in place when `act` is given),
/// where `out` is the output of `branch`. Fused: one in-place pass over `out`, which the plan owns
/// when nobody observes `branch` or `act`.
public func residualAdd(_ out: Variable, _ identity: Variable, branch: [Module], activation act: Activation?,
                        _ ctx: ForwardContext) throws -> Variable {
    let aliases = branch.flatMap(\.outputAliases)
    if ctx.mayFuse(aliases + [act], inputs: [out, identity]), act == nil || act?.kind == .relu {
        if act == nil { try addInPlace(out.value, identity.value) } else { try addReluInPlace(out.value, identity.value) }
        return out
    }
    var y = try add(out, identity)
    var op = "the in-place residual addition"
    if let act {
        y = try act(y, ctx)
        op += " and \(act.kind.rawValue)"
    }
    ctx.modifiedInPlace(aliases, becomes: y, by: op)
    return y
}
