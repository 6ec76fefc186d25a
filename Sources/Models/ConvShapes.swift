import TensorCore
import Autograd
import NN

/// A convolution as the kernels see it: channels, kernel, stride, padding, groups and input size.
public struct ConvShape: Hashable, Sendable {
    public let cin: Int, cout: Int, kernel: Int, stride: Int, padding: Int, groups: Int
    /// Input height (= width: square images).
    public let inputSize: Int

    /// One filter per channel (EfficientNet's depthwise convolutions).
    public var isDepthwise: Bool { groups > 1 && groups == cin && groups == cout }

    /// "3x3/2 128->128 @56", "dw5x5 240 @28".
    public var name: String {
        let k = "\(kernel)x\(kernel)" + (stride > 1 ? "/\(stride)" : "")
        return isDepthwise ? "dw\(k) \(cin) @\(inputSize)" : "\(k) \(cin)->\(cout) @\(inputSize)"
    }
}

extension ImageClassifier {
    /// Every distinct convolution of one forward on `imageSize`² images, with how often it runs, in
    /// order of first use (read from the model, so tables such as the bench's never drift from it).
    public func convolutionShapes(imageSize: Int = 224) throws -> [(shape: ConvShape, count: Int)] {
        var order: [ConvShape] = []
        var counts: [ConvShape: Int] = [:]
        let ctx = ForwardContext()
        ctx.planned = false   // every module runs its own forward, so every convolution is seen
        ctx.inputObserver = { module, shape in
            guard let conv = module as? Conv2d, shape.count == 4 else { return }
            let s = ConvShape(cin: conv.inChannels, cout: conv.outChannels, kernel: conv.kernelSize, stride: conv.config.strideH,
                              padding: conv.config.padH, groups: conv.config.groups, inputSize: shape[2])
            if counts[s] == nil { order.append(s) }
            counts[s, default: 0] += 1
        }
        _ = try logits(Tensor(zeros: [1, 3, imageSize, imageSize]), ctx)
        return order.map { ($0, counts[$0] ?? 0) }
    }
}
