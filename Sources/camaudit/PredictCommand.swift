import ArgumentParser
import Foundation
import TensorCore
import Autograd
import NN
import Models

struct Predict: ParsableCommand, RunsModel {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Raw logits and class probabilities for images or .npy arrays.")

    @OptionGroup var options: ModelOptions
    @OptionGroup var image: ImageOptions

    @Option(help: "Write logits [N,K] as float32 .npy.")
    var output: String?

    @Option(name: .customLong("batch-size"), help: "Images per forward pass (\(OptionRange.batchSize), default 8).",
            transform: intOption(OptionRange.batchSize))
    var batchSize: Int = 8

    @Option(name: .customLong("class-names"), help: "Comma-separated class names for the table.")
    var classNames: String?

    @Flag(help: "Refuse an unreadable image instead of skipping it.")
    var strict = false

    @Argument(help: "Image files, folders, or .npy arrays: HU slices [H,W] / [1,H,W] / [N,1,H,W] (windowed and resized like 16-bit images) or preprocessed [N,3,H,W] / [3,H,W] (used as they are).")
    var inputs: [String]

    func run() throws {
        if let output { try checkWritableFile(output, option: "--output") }
        try options.checkMemory(images: batchSize, backward: false)
        var set = try InputSet(inputs, preprocessing: options.preprocessing(image), strict: strict)
        let model = try options.load()
        let n = set.items.count
        var outs: [Tensor] = []
        var names: [String] = []
        let progress = ProgressLine(total: n, label: "predict")
        var start = 0
        while start < n {
            let end = min(n, start + batchSize)
            if let (x, kept) = try set.batch(start..<end) {
                outs.append(try model.logits(x).value)
                names += kept.map { set.items[$0].name }
            }
            start = end
            progress.update(end)
        }
        progress.finish()
        set.reportSkipped()
        guard !outs.isEmpty else { throw CLIError("none of the \(n) input(s) could be read") }
        let logits = try Tensor.concat0(outs)
        if let output { try NPY.write(logits, path: output) }
        let k = logits.shape[1]
        let labels = classNames?.split(separator: ",").map(String.init) ?? (0..<k).map { "class \($0)" }
        let probs = try softmaxLastDim(logits)
        print(["input", "predicted"].joined(separator: "\t") + "\t" + (0..<k).map { $0 < labels.count ? "p(\(labels[$0]))" : "p(\($0))" }.joined(separator: "\t"))
        let predicted = try rowArgmax(logits)
        for i in 0..<names.count {
            let best = predicted[i]
            let ps = (0..<k).map { String(format: "%.4f", probs.data[i * k + $0]) }
            print("\(names[i])\t\(best < labels.count ? labels[best] : String(best))\t" + ps.joined(separator: "\t"))
        }
    }
}
