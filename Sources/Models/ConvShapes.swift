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

extension ImageClassifier {
    /// Multiply-accumulates of one forward on an `imageSize`² image, counted from the modules as
    /// they run: convolutions and linear layers, and self-attention's input projection and its two
    /// token × token products. Elementwise work and norms are not counted, as torchvision's
    /// "GFLOPS" column does not count them.
    public func multiplyAccumulates(imageSize: Int = 224) throws -> Double {
        var macs = 0.0
        let ctx = ForwardContext()
        ctx.planned = false
        ctx.inputObserver = { module, shape in
            switch module {
            case let conv as Conv2d where shape.count == 4:
                let c = conv.config
                func out(_ n: Int, _ pad: Int, _ stride: Int, _ dilation: Int) -> Double {
                    Double((n + 2 * pad - dilation * (conv.kernelSize - 1) - 1) / stride + 1)
                }
                let positions = out(shape[2], c.padH, c.strideH, c.dilationH) * out(shape[3], c.padW, c.strideW, c.dilationW)
                macs += Double(shape[0]) * positions * Double(conv.outChannels * conv.inChannels / c.groups * conv.kernelSize * conv.kernelSize)
            case let linear as Linear:
                macs += Double(shape.dropLast().reduce(1, *)) * Double(linear.inFeatures * linear.outFeatures)
            case let block as EncoderBlock where shape.count == 3:
                // The block runs its attention directly (no module call to observe); its output
                // projection is a Linear and counted as one.
                let (batch, tokens, dim) = (Double(shape[0]), Double(shape[1]), Double(block.selfAttention.dim))
                macs += batch * (tokens * dim * 3 * dim + 2 * tokens * tokens * dim)
            default: break
            }
        }
        _ = try logits(Tensor(zeros: [1, 3, imageSize, imageSize]), ctx)
        return macs
    }
}
