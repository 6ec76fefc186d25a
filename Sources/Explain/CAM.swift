import Foundation
import TensorCore
import Autograd
import NN
import Models

// Grad-CAM and its relatives with pytorch-grad-cam 1.5.x's semantics (base_cam.py and one file
// per method): targets are raw logits of one class per image (default: the predicted class); the
// per-layer map is ReLU(Σ_k w_k A_k) (or the method's own combination), scaled per image with
// `x -= min; x /= 1e-7 + max` at feature resolution, resized bilinearly with half-pixel centres
// (cv2.resize INTER_LINEAR) to the input size; layers are averaged and the result scaled again.

/// Computes class activation maps for a model.
public struct CAMExplainer {
    public let model: ImageClassifier

    public init(model: ImageClassifier) { self.model = model }

    /// Every module path of the model (valid `--layer` values).
    public var layerPaths: [String] { model.namedModules().map(\.0).filter { !$0.isEmpty } }

    /// Maps for a batch of images [N,3,H,W].
    public func explain(_ images: Tensor, _ options: CAMOptions) throws -> CAMResult {
        try model.validateInput(images.shape)
        let layers = options.layers.isEmpty ? [model.architecture.defaultCAMLayer] : options.layers
        try validateLayers(layers)
        if let t = options.targetClasses {
            guard t.count == images.shape[0] else {
                throw CAMError("target classes: \(t.count) given for a batch of \(images.shape[0]) images (one per image)")
            }
            for c in t where c < 0 || c >= model.numClasses {
                throw CAMError("target class \(c) is out of range: the model has \(model.numClasses) classes (0…\(model.numClasses - 1))")
            }
        }
        guard options.augSmooth else { return try explainOnce(images, options, layers: layers) }
        // pytorch-grad-cam's forward_augmentation_smoothing: ttach HorizontalFlip × Multiply(0.9, 1, 1.1);
        // each augmented map is de-augmented (flipped back) and the maps averaged without re-scaling.
        var sum: Tensor? = nil
        var plain: CAMResult? = nil
        var warnings: [String] = []
        for flip in [false, true] {
            for factor: Float in [0.9, 1.0, 1.1] {
                var x = factor == 1 ? images : multiplied(images, factor)
                if flip { x = flipHorizontally(x) }
                var r = try explainOnce(x, options, layers: layers)
                if flip { r.maps = flipHorizontally(r.maps) }
                if !flip && factor == 1 { plain = r }
                warnings += r.warnings
                if let s = sum { try addInPlace(s, r.maps) } else { sum = r.maps.copy() }
            }
        }
        guard let s = sum, let p = plain else { throw CAMError("aug_smooth produced no maps") }
        for i in 0..<s.count { s.data[i] /= 6 }
        return CAMResult(maps: s, targetClasses: p.targetClasses, logits: p.logits, warnings: Array(Set(warnings)).sorted(), notes: p.notes,
                         layerSizes: p.layerSizes)
    }

    // MARK: - One pass

    func explainOnce(_ images: Tensor, _ options: CAMOptions, layers: [String]) throws -> CAMResult {
        let method = options.method
        let heads = layers.map { model.pooledHead(for: $0) }
        let closedForm = method.usesGradients && options.closedFormHead && heads.allSatisfy { $0 != nil }
        let generic = method.usesGradients && !closedForm
        let ctx = ForwardContext(gradientLayers: generic ? Set(layers) : [], captureLayers: Set(layers))
        let logitsVar = try model.logits(images, ctx)
        let logits = logitsVar.value
        let n = images.shape[0], k = logits.shape[1]
        let targets = try options.targetClasses ?? rowArgmax(logits)
        if generic {
            let seed = Tensor(zeros: logits.shape)
            for i in 0..<n { seed.data[i * k + targets[i]] = 1 }
            guard logitsVar.requiresGrad else {
                throw CAMError("layer(s) \(layers.joined(separator: ", ")) do not reach the logits: no gradient can flow")
            }
            try backward(logitsVar, seed: seed)
        }
        var warnings: [String] = []
        var perLayer: [Tensor] = []
        var layerSizes: [[Int]] = []
        let (h, w) = (images.shape[2], images.shape[3])
        for (li, layer) in layers.enumerated() {
            guard let rawA = ctx.activation(layer) else { throw CAMError("layer '\(layer)' was not reached by the forward pass") }
            let a = try spatial(rawA, layer: layer, imageSize: (h, w))
            layerSizes.append([a.shape[2], a.shape[3]])
            var g: Tensor? = nil
            if method.usesGradients {
                if closedForm, let head = heads[li] {
                    g = try closedFormGradient(head.weight, activation: a, targets: targets, reluMask: head.reluBeforePool)
                } else {
                    guard let rawG = ctx.gradient(layer) else {
                        throw CAMError("no gradient reached layer '\(layer)' (it does not lie on the path to the logits)")
                    }
                    g = try spatial(rawG, layer: layer, imageSize: (h, w))
                }
                if let g, g.maxAbs == 0 {
                    warnings.append("the gradient at layer '\(layer)' is identically zero for the target class; maps from it are blank. "
                        + zeroGradientHint(layer))
                }
            }
            let cam = try layerCAM(method: method, activation: a, gradient: g, images: images, targets: targets,
                                   layer: layer, options: options, baseLogits: logits, recorded: rawA)
            perLayer.append(try scaleAndResize(cam, to: (h, w)))
        }
        // aggregate_multi_layers: ReLU (already non-negative), mean over layers, scale again.
        let mean = perLayer[0].copy()
        if perLayer.count > 1 {
            for m in perLayer.dropFirst() { try addInPlace(mean, m) }
            for i in 0..<mean.count { mean.data[i] /= Float(perLayer.count) }
        }
        minMaxPerImage(mean)
        return CAMResult(maps: mean, targetClasses: targets, logits: logits, warnings: warnings,
                         notes: layers.compactMap { ctx.notes[$0] }, layerSizes: layerSizes)
    }

    /// [N,C,h,w] from a layer's output; token sequences [N,T,C] (ViT) drop the class token and fold
    /// the rest into the (H/p)×(W/p) grid, channels first (pytorch-grad-cam's reshape_transform).
    func spatial(_ t: Tensor, layer: String, imageSize: (Int, Int)) throws -> Tensor {
        if t.rank == 4 { return t }
        if t.rank == 3, let grid = model.tokenGrid {
            let (n, tokens, c) = (t.shape[0], t.shape[1], t.shape[2])
            let gh = imageSize.0 / grid.patch, gw = imageSize.1 / grid.patch
            guard tokens == gh * gw + grid.classTokens else {
                throw CAMError("layer '\(layer)': \(tokens) tokens do not fold into a \(gh)×\(gw) grid plus \(grid.classTokens) class token")
            }
            let out = Tensor(uninitialized: [n, c, gh, gw])
            for b in 0..<n {
                for p in 0..<(gh * gw) {
                    let src = t.data + (b * tokens + p + grid.classTokens) * c
                    for ch in 0..<c { out.data[((b * c + ch) * gh * gw) + p] = src[ch] }
                }
            }
            return out
        }
        throw CAMError("layer '\(layer)' has output shape \(t.shape): a CAM needs a spatial map [N,C,H,W] (or ViT tokens); choose a convolutional stage")
    }

    /// ∂y_c/∂A for a layer read by global average pooling and a linear head: W[c,k]/HW, masked by A > 0
    /// when a ReLU sits between the layer and the pool.
    func closedFormGradient(_ weight: Tensor, activation a: Tensor, targets: [Int], reluMask: Bool) throws -> Tensor {
        let (n, c, hw) = (a.shape[0], a.shape[1], a.shape[2] * a.shape[3])
        guard weight.rank == 2, weight.shape[1] == c else {
            throw CAMError("closed-form head: weight \(weight.shape) does not match activation \(a.shape)")
        }
        let g = Tensor(uninitialized: a.shape)
        for b in 0..<n {
            for ch in 0..<c {
                let v = weight.data[targets[b] * c + ch] / Float(hw)
                let dst = g.data + (b * c + ch) * hw, src = a.data + (b * c + ch) * hw
                for i in 0..<hw { dst[i] = reluMask && src[i] <= 0 ? 0 : v }
            }
        }
        return g
    }

    /// Why a gradient can vanish: a ViT block output feeds the head only through the class token, so
    /// its patch tokens get no gradient; otherwise the head itself may be zero (torchvision
    /// initialises ViT's head to zeros, so a randomly initialised ViT has no gradient anywhere).
    func zeroGradientHint(_ layer: String) -> String {
        let headIsZero = model.pooledHead(for: layer)?.weight.maxAbs == 0
            || model.namedParameters().first { $0.0 == model.architecture.classifierWeightKey }?.1.value.maxAbs == 0
        if headIsZero { return "The classifier weight is all zero (torchvision's initialisation of a fresh ViT head): load trained weights." }
        if let hint = model.vanishingGradientHint(for: layer) { return hint }
        return "Check that the layer lies on the path to the target logit."
    }

    func validateLayers(_ layers: [String]) throws {
        let valid = Set(layerPaths)
        for l in layers where !valid.contains(l) {
            let near = nearestPaths(to: l, in: layerPaths, count: 8)
            throw CAMError("unknown layer '\(l)' for \(model.architecture.rawValue). Layers near it: \(near.joined(separator: ", "))")
        }
    }
}

// MARK: - Helpers

func multiplied(_ x: Tensor, _ f: Float) -> Tensor {
    let y = Tensor(uninitialized: x.shape)
    for i in 0..<x.count { y.data[i] = x.data[i] * f }
    return y
}

/// Mirrors the last dimension.
func flipHorizontally(_ x: Tensor) -> Tensor {
    let w = x.shape.last ?? 1
    let y = Tensor(uninitialized: x.shape)
    for r in 0..<(x.count / max(w, 1)) {
        for j in 0..<w { y.data[r * w + j] = x.data[r * w + (w - 1 - j)] }
    }
    return y
}

/// Per image: x -= min; x /= 1e-7 + max (pytorch-grad-cam's scale_cam_image), in place on [N,H,W].
func minMaxPerImage(_ m: Tensor) {
    let n = m.shape[0], hw = m.count / max(n, 1)
    for b in 0..<n {
        let p = m.data + b * hw
        var lo = Float.infinity
        for i in 0..<hw { lo = min(lo, p[i]) }
        var hi = -Float.infinity
        for i in 0..<hw { p[i] -= lo; hi = max(hi, p[i]) }
        let d = 1e-7 + hi
        for i in 0..<hw { p[i] /= d }
    }
}

/// ReLU, per-image min-max at feature resolution, bilinear (half-pixel) resize to the input size.
func scaleAndResize(_ cam: Tensor, to size: (Int, Int)) throws -> Tensor {
    for i in 0..<cam.count where !(cam.data[i] > 0) { cam.data[i] = 0 }  // also maps NaN to 0
    minMaxPerImage(cam)
    let n = cam.shape[0]
    if cam.shape[1] == size.0 && cam.shape[2] == size.1 { return cam }
    let up = try resizeBilinear(cam.reshaped([n, 1, cam.shape[1], cam.shape[2]]), outH: size.0, outW: size.1)
    return try up.reshaped([n, size.0, size.1])
}

/// Paths sharing the longest prefix with `query` (then by edit distance).
func nearestPaths(to query: String, in paths: [String], count: Int) -> [String] {
    func common(_ a: String, _ b: String) -> Int { zip(a, b).prefix { $0 == $1 }.count }
    func lev(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var prev = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var cur = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where !b.isEmpty {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            prev = cur
        }
        return prev[b.count]
    }
    return paths.sorted { (common($0, query), -lev($0, query)) > (common($1, query), -lev($1, query)) }.prefix(count).map { $0 }
}

// MARK: - Checking layers before a run

extension CAMExplainer {
    /// Refuses target layers that `architecture` cannot explain at `imageSize` before a run reads
    /// any data: paths that are not modules (naming the nearest ones, as `explain` does), and
    /// modules whose output is not a spatial map or does not reach the logits. It runs what a run
    /// runs — one Grad-CAM of a blank image by the model with zero-filled weights — so the two
    /// cannot disagree; each architecture, size and layer list is checked once per process.
    public static func checkLayers(_ layers: [String], architecture: Architecture, imageSize: Int) throws {
        let key = "\(architecture.rawValue)|\(imageSize)|\(layers.joined(separator: "\n"))"
        if CheckedLayers.shared.contains(key) { return }
        let explainer = CAMExplainer(model: try makeModel(architecture, numClasses: 2, imageSize: imageSize))
        try explainer.validateLayers(layers)
        _ = try explainer.explain(Tensor(zeros: [1, 3, imageSize, imageSize]), CAMOptions(method: .gradcam, layers: layers))
        CheckedLayers.shared.insert(key)
    }
}

/// Layer lists `checkLayers` has accepted in this process.
final class CheckedLayers: @unchecked Sendable {
    static let shared = CheckedLayers()
    private let lock = NSLock()
    private var keys = Set<String>()
    func contains(_ k: String) -> Bool { lock.lock(); defer { lock.unlock() }; return keys.contains(k) }
    func insert(_ k: String) { lock.lock(); defer { lock.unlock() }; keys.insert(k) }
}
