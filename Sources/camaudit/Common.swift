import ArgumentParser
import Foundation
import TensorCore
import NN
import Models
import Imaging
import Datasets

/// Options shared by the commands that run a model.
struct ModelOptions: ParsableArguments {
    @Option(help: "Architecture: \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")).")
    var model: String

    @Option(help: "Checkpoint (.safetensors or .pth state_dict). Without it: random weights from --seed.")
    var weights: String?

    @OptionGroup var checkpoint: CheckpointOptions

    @Option(help: "Seed for random weights (when no --weights; 0...2^64-1, default 0).", transform: seedOption)
    var seed: UInt64 = 0

    @Option(name: .customLong("num-classes"), help: "Class count for random weights (\(OptionRange.numClasses), default 3); a checkpoint's head keeps its own.",
            transform: intOption(OptionRange.numClasses))
    var numClasses: Int?

    @Option(name: .customLong("image-size"), help: "Input size images are resized to (\(OptionRange.imageSize), default 224; ViT: a multiple of 16).",
            transform: intOption(OptionRange.imageSize))
    var imageSize: Int = 224

    @Flag(name: .customLong("imagenet-norm"), help: "Apply ImageNet mean/std to image inputs (off by default, as in the study).")
    var imagenetNorm = false

    @Option(help: "Threads for BLAS and our loops (\(OptionRange.threads); default: OPENBLAS_NUM_THREADS or all cores).",
            transform: intOption(OptionRange.threads))
    var threads: Int?

    func architecture() throws -> Architecture {
        guard let a = Architecture(rawValue: model) else {
            throw ValidationError("unknown model '\(model)'; choose one of \(Architecture.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return a
    }

    /// Builds the model: from a checkpoint, or seeded random weights (announced on stderr).
    func load() throws -> ImageClassifier {
        let arch = try architecture()
        if let weights {
            guard FileManager.default.fileExists(atPath: weights) else { throw CLIError("\(weights): no such file") }
            // The selection, --num-classes and the notes' printer are the run's (`checkpointDefaults`).
            let m = try loadModel(arch, weights: weights, imageSize: imageSize)
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

    var runSettings: RunSettings { RunSettings(threads: threads) }
    var checkpointDefaults: CheckpointDefaults { checkpoint.defaults(numClasses: numClasses) }

    var preprocessing: Preprocessing { Preprocessing(size: imageSize, imagenetNormalize: imagenetNorm) }

    /// Preprocessing with the intensity mapping of `image`.
    func preprocessing(_ image: ImageOptions) -> Preprocessing { image.preprocessing(size: imageSize, imagenetNormalize: imagenetNorm) }

    /// Refuses a run whose model and activations cannot fit in memory, before building anything.
    func checkMemory(images: Int, backward: Bool) throws {
        let arch = try architecture()
        let numClasses = numClasses ?? 3
        try MemoryBudget.require(MemoryBudget.modelRun(arch, imageSize: imageSize, numClasses: numClasses, images: images, backward: backward),
                                 for: "\(arch.rawValue) at --image-size \(imageSize) with \(numClasses) classes, \(images) image(s) per pass (--image-size, --batch-size)")
    }
}

/// How 16-bit CT images and float HU slices become model inputs; shared by predict, cam and
/// evaluate, and carried in `Preprocessing` (so it enters result keys).
struct ImageOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Display window for 16-bit CT, DICOM and HU .npy slices: lung (-600,1500), mediastinum (40,400), bone (400,1800), file (each DICOM file's own; lung for the rest), none, or C,W in HU (default lung).",
                               discussion: "none: 16-bit samples are divided by 65535 and HU slices used as they are. 8-bit images are never windowed."),
            transform: { try WindowChoice(parsing: $0) })
    var window = WindowChoice(text: "lung", window: .lung)

    @Option(name: .customLong("hu-offset"), help: "Stored value of 0 HU in 16-bit images: HU = stored − N (0...65535, default 1024; 32768 for signed data stored unsigned).",
            transform: intOption(0...65535))
    var huOffset: Int = 1024

    func preprocessing(size: Int, imagenetNormalize: Bool) -> Preprocessing {
        var p = Preprocessing(size: size, imagenetNormalize: imagenetNormalize, window: window.window, rescaleSlope: 1, rescaleIntercept: -Double(huOffset))
        p.windowFromFile = HUWindow.isFromFile(window.text)
        return p
    }
}

/// A parsed `--window`: a preset, none, or center,width.
struct WindowChoice: Sendable {
    var text: String
    var window: HUWindow?
    init(text: String, window: HUWindow?) { self.text = text; self.window = window }
    init(parsing text: String) throws {
        do { window = try HUWindow.named(text) } catch let e as ImagingError { throw ValidationError(e.reason) }
        self.text = text
    }
}

/// A scanned folder's ground truth and input mapping (evaluate): `--masks`, `--boxes` and the image options.
struct DatasetOptions: ParsableArguments {
    @OptionGroup var image: ImageOptions

    @Option(help: "Folder of lesion mask PNGs for a scanned folder: <masks>/<relative path>.png, <masks>/<class>/<stem>.png or <masks>/<stem>.png (non-zero = lesion).")
    var masks: String?

    @Option(help: "CSV of lesion boxes for a scanned folder: columns file,x0,y0,x1,y1 in pixels (x1, y1 exclusive; several rows per file are united).")
    var boxes: String?

    /// Scan options with the masks and boxes given; both must exist.
    func scanOptions(strict: Bool) throws -> ScanOptions {
        var isDir: ObjCBool = false
        if let masks, !(FileManager.default.fileExists(atPath: masks, isDirectory: &isDir) && isDir.boolValue) {
            throw CLIError("--masks \(masks): no such folder")
        }
        if let boxes, !(FileManager.default.fileExists(atPath: boxes, isDirectory: &isDir) && !isDir.boolValue) {
            throw CLIError("--boxes \(boxes): no such file")
        }
        return ScanOptions(maskFolder: masks, boxesCSV: boxes, strict: strict)
    }
}

/// A message for the user, printed as "Error: …" with a non-zero exit.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

func writeStderr(_ s: String) { FileHandle.standardError.write((s + "\n").data(using: .utf8)!) }
