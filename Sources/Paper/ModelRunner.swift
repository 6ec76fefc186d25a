import Foundation
import TensorCore
import NN
import Models
import Explain
import Imaging
import Evaluation
import Sweep

/// A trained model loaded for inference (BatchNorm folded), with batched logits and Grad-CAM at the
/// architecture's default layer — what the figure and shortcut stages need beyond the sweeps.
struct ModelRunner {
    let model: ImageClassifier
    let batchSize: Int

    init(_ m: TrainedModel, imageSize: Int, batchSize: Int) throws {
        guard let arch = Architecture(rawValue: m.architecture) else { throw PaperError.invalid("unknown architecture \(m.architecture)") }
        let (model, _) = try loadModel(arch, weights: m.checkpoint, imageSize: imageSize, selection: CheckpointSelection())
        try model.foldBatchNorms()
        self.model = model
        self.batchSize = batchSize
    }

    var logitsFunction: LogitsFunction { Executor.batchedLogits(model, batchSize: batchSize) }

    /// Grad-CAM maps [N, H, W] of the given classes (pytorch-grad-cam conventions).
    func gradcam(_ images: Tensor, classes: [Int]) throws -> Tensor { try gradcamResult(images, classes: classes).maps }

    /// Grad-CAM with what the explainer reports beside the maps (the target layer's map size).
    func gradcamResult(_ images: Tensor, classes: [Int]) throws -> CAMResult {
        try CAMExplainer(model: model).explain(images, CAMOptions(method: .gradcam, targetClasses: classes))
    }

    /// Preprocessed images [N, 3, S, S] of the files.
    static func load(_ paths: [String], preprocessing: Preprocessing) throws -> Tensor {
        try Tensor.concat0(paths.map { p in
            let t = try preprocessing.load(p)
            return try t.reshaped([1] + t.shape)
        })
    }

    static func plane(_ maps: Tensor, _ i: Int) throws -> Tensor {
        try maps.slice0(i..<(i + 1)).reshaped([maps.shape[1], maps.shape[2]]).copy()
    }
}

extension ModelRunner {
    /// Pixels of a 0/1 mask that are set.
    static func positives(_ mask: Tensor) -> Int {
        var n = 0
        for i in 0..<mask.count where mask.data[i] > 0 { n += 1 }
        return n
    }
}
