import ArgumentParser
import Foundation
import TensorCore
import NN
import Models
import Imaging

/// Options shared by the commands that run a model.
struct ModelOptions: ParsableArguments {
    @Option(help: "Architecture: \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")).")
    var model: String

    @Option(help: "Checkpoint (.safetensors or .pth state_dict). Without it: random weights from --seed.")
    var weights: String?

    @OptionGroup var checkpoint: CheckpointOptions

    @Option(help: "Seed for random weights (when no --weights).")
    var seed: UInt64 = 0

    @Option(name: .customLong("num-classes"), help: "Class count for random weights (default 3); a checkpoint's head keeps its own.")
    var numClasses: Int?

    @Option(name: .customLong("image-size"), help: "Input size images are resized to (ViT: a multiple of 16).")
    var imageSize: Int = 224

    @Flag(name: .customLong("imagenet-norm"), help: "Apply ImageNet mean/std to image inputs (off by default, as in the study).")
    var imagenetNorm = false

    @Option(help: "Threads for BLAS and our loops (default: OPENBLAS_NUM_THREADS or all cores).")
    var threads: Int?

    func architecture() throws -> Architecture {
        guard let a = Architecture(rawValue: model) else {
            throw ValidationError("unknown model '\(model)'; choose one of \(Architecture.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return a
    }

    /// Builds the model: from a checkpoint, or seeded random weights (announced on stderr).
    func load() throws -> ImageClassifier {
        if let threads { Parallel.setThreads(threads) }
        let arch = try architecture()
        if let weights {
            guard FileManager.default.fileExists(atPath: weights) else { throw CLIError("\(weights): no such file") }
            let m = try checkpoint.loadModel(arch, weights: weights, imageSize: arch == .vit_b_16 ? imageSize : nil, numClasses: numClasses)
            try m.foldBatchNorms()
            return m
        }
        let numClasses = numClasses ?? 3
        let m = try makeModel(arch, numClasses: numClasses, imageSize: imageSize)
        m.initialize(seed: seed)
        try m.foldBatchNorms()
        FileHandle.standardError.write("note: \(arch.rawValue) has random weights (seed \(seed), \(numClasses) classes); pass --weights for a trained model\n".data(using: .utf8)!)
        return m
    }

    var preprocessing: Preprocessing { Preprocessing(size: imageSize, imagenetNormalize: imagenetNorm) }
}

/// A message for the user, printed as "Error: …" with a non-zero exit.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// CLI inputs → one batch [N,3,H,W] and a name per image.
///
/// A `.npy` input is a float32 array [N,3,H,W] or [3,H,W] used as-is (already preprocessed); image
/// files and folders are decoded and preprocessed.
func loadInputs(_ inputs: [String], preprocessing: Preprocessing) throws -> (Tensor, [String]) {
    guard !inputs.isEmpty else { throw CLIError("no inputs given") }
    var parts: [Tensor] = []
    var names: [String] = []
    var images: [String] = []
    func flushImages() throws {
        guard !images.isEmpty else { return }
        let (t, files) = try preprocessing.batch(inputs: images)
        parts.append(t)
        names += files
        images = []
    }
    for input in inputs {
        if input.lowercased().hasSuffix(".npy") {
            try flushImages()
            var t = try NPY.read(path: input)
            if t.rank == 3 { t = try t.reshaped([1] + t.shape) }
            guard t.rank == 4, t.shape[1] == 3 else {
                throw CLIError("\(input): expected a float32 array [N,3,H,W] or [3,H,W], got shape \(t.shape)")
            }
            for v in t.values where !v.isFinite { throw CLIError("\(input): contains NaN or infinite values") }
            parts.append(t)
            names += (0..<t.shape[0]).map { "\(input)[\($0)]" }
        } else {
            images.append(input)
        }
    }
    try flushImages()
    if parts.count > 1, let s = parts.first?.shape.dropFirst() {
        for p in parts where p.shape.dropFirst() != s {
            throw CLIError("inputs have different sizes: \(Array(s)) and \(Array(p.shape.dropFirst())); use one size per run")
        }
    }
    return (try Tensor.concat0(parts), names)
}

func writeStderr(_ s: String) { FileHandle.standardError.write((s + "\n").data(using: .utf8)!) }
