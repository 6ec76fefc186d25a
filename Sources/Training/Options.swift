import Foundation
import Models
import TensorCore

/// The optimizer family.
public enum OptimizerKind: String, CaseIterable, Sendable, Codable {
    case adamw, sgd
}

/// The first `epochs` epochs of a training at `size` pixels (`--progressive SIZE:EPOCHS`).
public struct ProgressiveResize: Sendable, Codable, Equatable {
    public var size: Int
    public var epochs: Int
    public init(size: Int, epochs: Int) { self.size = size; self.epochs = epochs }

    /// `SIZE:EPOCHS`, e.g. `64:8`.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let s = Int(parts[0]), let e = Int(parts[1]) else { return nil }
        self.init(size: s, epochs: e)
    }
}

/// Everything that decides a training run's result (the JSON record stores it; `--resume`
/// refuses a state written with different options).
///
/// Defaults are the study's recipe: AdamW, lr 1e-4, weight decay 0.01, 20 epochs, batch 16,
/// cross-entropy, no augmentation, Resize to 224 + ToTensor, seed 42, best-validation checkpoint.
public struct TrainingOptions: Sendable, Codable, Equatable {
    public var architecture: String
    public var epochs = 20
    public var batchSize = 16
    public var optimizer: OptimizerKind = .adamw
    public var lr = 1e-4
    /// AdamW: decoupled decay (PyTorch's default 0.01); SGD: L2 added to the gradient.
    public var weightDecay = 0.01
    /// SGD only.
    public var momentum = 0.9
    public var nesterov = false
    public var schedule: Schedule = .none
    public var warmupEpochs = 0
    public var labelSmoothing: Float = 0
    public var classWeights: ClassWeighting = .none
    public var augment: Augmentation = .none
    public var imageSize = 224
    public var seed: UInt64 = 42
    /// Dropout and stochastic depth in training (`--no-dropout` turns them off).
    public var dropout = true
    public var shuffle = true
    /// Stop after this many optimizer steps in all.
    public var maxSteps: Int?
    /// The checkpoint fine-tuning started from.
    public var initFrom: String?
    /// How the classifier's last Linear starts; nil is torchvision's rule (`HeadInit.torchvision`).
    /// Optional so that records and cache keys written before the option existed read the same.
    public var headInit: HeadInit?
    /// Progressive resizing (fast.ai's, FixRes's observation behind it): the first epochs at a lower
    /// size, the rest at `imageSize`. A CNN's weights do not depend on the input size, and an epoch
    /// at 64 px costs about a twelfth of one at 224. Validation runs at each epoch's size; only an
    /// epoch at `imageSize` can become the best checkpoint, the one used at `imageSize` afterwards.
    /// nil: every epoch at `imageSize` (optional for the same reason as `headInit`).
    public var progressive: ProgressiveResize?

    public init(architecture: String) { self.architecture = architecture }

    /// A recipe file: the JSON of these options (what a run's NAME.json holds under `options`, or
    /// that whole record), the keys it leaves out at their defaults. How a run submitted elsewhere (a
    /// Slurm job) gets its options, and how a user repeats a run: `camaudit train --recipe NAME.json`.
    /// Unknown keys are refused, so a misspelt option cannot silently fall back to its default.
    public static func recipe(contentsOf path: String, architecture: String? = nil) throws -> TrainingOptions {
        func bad(_ s: String) -> TrainingError { .invalidOption("--recipe \(path): \(s)") }
        guard let data = FileManager.default.contents(atPath: path) else { throw bad("cannot read the file") }
        guard var given = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw bad("not a JSON object")
        }
        if let options = given["options"] as? [String: Any], given["history"] != nil { given = options }
        if let architecture { given["architecture"] = architecture }
        guard given["architecture"] is String else { throw bad("names no architecture (give \"architecture\" or --model)") }
        let known = Set(Mirror(reflecting: TrainingOptions(architecture: "")).children.compactMap(\.label))
        if let unknown = given.keys.sorted().first(where: { !known.contains($0) }) {
            throw bad("unknown option \"\(unknown)\"; the recipe's keys are \(known.sorted().joined(separator: ", "))")
        }
        let defaults = try JSONSerialization.jsonObject(with: JSONEncoder().encode(TrainingOptions(architecture: ""))) as! [String: Any]
        let merged = try JSONSerialization.data(withJSONObject: defaults.merging(given) { $1 })
        do {
            return try JSONDecoder().decode(TrainingOptions.self, from: merged)
        } catch let DecodingError.typeMismatch(type, c), let DecodingError.valueNotFound(type, c) {
            throw bad("\"\(c.codingPath.map(\.stringValue).joined(separator: "."))\" must be \(type)")
        } catch let DecodingError.dataCorrupted(c) {
            throw bad("\"\(c.codingPath.map(\.stringValue).joined(separator: "."))\": \(c.debugDescription)")
        }
    }

    /// Checks the values before anything is read or written.
    public func validate() throws {
        func bad(_ s: String) -> TrainingError { .invalidOption(s) }
        guard (1...100_000).contains(epochs) else { throw bad("--epochs must be in 1...100000, got \(epochs)") }
        guard (1...4096).contains(batchSize) else { throw bad("--batch-size must be in 1...4096, got \(batchSize)") }
        guard lr > 0, lr.isFinite else { throw bad("--lr must be a positive number, got \(lr)") }
        guard weightDecay >= 0, weightDecay.isFinite else { throw bad("--weight-decay must be ≥ 0, got \(weightDecay)") }
        guard momentum >= 0, momentum < 1 else { throw bad("--momentum must be in [0, 1), got \(momentum)") }
        guard !nesterov || (optimizer == .sgd && momentum > 0) else { throw bad("--nesterov needs --optimizer sgd and a momentum > 0") }
        guard warmupEpochs >= 0, warmupEpochs < epochs || warmupEpochs == 0 else {
            throw bad("--warmup-epochs must be in 0..<epochs, got \(warmupEpochs)")
        }
        guard labelSmoothing >= 0, labelSmoothing <= 1 else { throw bad("--label-smoothing must be in [0, 1], got \(labelSmoothing)") }
        guard (16...4096).contains(imageSize) else { throw bad("--image-size must be in 16...4096, got \(imageSize)") }
        do { try Architecture(rawValue: architecture)?.checkImageSize(imageSize) } catch let e as TensorError { throw bad("--image-size: \(e.description)") }
        if let maxSteps, maxSteps < 1 { throw bad("--max-steps must be ≥ 1, got \(maxSteps)") }
        if let p = progressive {
            guard (16...imageSize).contains(p.size), p.size < imageSize else {
                throw bad("--progressive: the first epochs' size must be in 16..<\(imageSize) (--image-size), got \(p.size)")
            }
            guard (1..<epochs).contains(p.epochs) else {
                throw bad("--progressive: its epochs must be in 1..<\(epochs) (--epochs), so the last epochs run at --image-size; got \(p.epochs)")
            }
            guard Architecture(rawValue: architecture)?.inputSizeIsFixed != true else {
                throw bad("--progressive: \(architecture)'s positional embedding is built for one input size (--image-size); progressive resizing is for the CNNs")
            }
        }
    }

    /// The input size of epoch `epoch` (0-based).
    public func imageSize(epoch: Int) -> Int {
        if let p = progressive, epoch < p.epochs { return p.size }
        return imageSize
    }

    /// The options that differ from `other`, as `--option old (now new)`, in declaration order.
    public func differences(to other: TrainingOptions) -> [String] {
        let flags = ["architecture": "--model", "initFrom": "--init", "dropout": "dropout (--no-dropout)"]
        func kebab(_ name: String) -> String {
            "--" + name.reduce("") { $0 + ($1.isUppercase ? "-" + $1.lowercased() : String($1)) }
        }
        func text(_ v: Any) -> String {
            let m = Mirror(reflecting: v)
            guard m.displayStyle == .optional else { return "\(v)" }
            return m.children.first.map { "\($0.value)" } ?? "none"
        }
        let theirs = Dictionary(Mirror(reflecting: other).children.compactMap { c in c.label.map { ($0, text(c.value)) } }, uniquingKeysWith: { a, _ in a })
        return Mirror(reflecting: self).children.compactMap { c in
            guard let label = c.label, let new = theirs[label] else { return nil }
            let old = text(c.value)
            return old == new ? nil : "\(flags[label] ?? kebab(label)) \(old) (now \(new))"
        }
    }
}
