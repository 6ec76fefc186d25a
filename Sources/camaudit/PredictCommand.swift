import ArgumentParser
import Foundation
import TensorCore
import Autograd
import NN
import Models

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Raw logits and class probabilities for images or .npy arrays.")

    @OptionGroup var options: ModelOptions

    @Option(help: "Write logits [N,K] as float32 .npy.")
    var output: String?

    @Option(name: .customLong("batch-size"), help: "Images per forward pass.")
    var batchSize: Int = 8

    @Option(name: .customLong("class-names"), help: "Comma-separated class names for the table.")
    var classNames: String?

    @Argument(help: "Image files, folders, or .npy arrays [N,3,H,W] / [3,H,W] (used as-is).")
    var inputs: [String]

    func run() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be ≥ 1") }
        let model = try options.load()
        let (x, names) = try loadInputs(inputs, preprocessing: options.preprocessing)
        let n = x.shape[0]
        var outs: [Tensor] = []
        var start = 0
        while start < n {
            let end = min(n, start + batchSize)
            outs.append(try model.logits(x.slice0(start..<end)).value)
            start = end
        }
        let logits = try Tensor.concat0(outs)
        if let output { try NPY.write(logits, path: output) }
        let k = logits.shape[1]
        let labels = classNames?.split(separator: ",").map(String.init) ?? (0..<k).map { "class \($0)" }
        let probs = try softmaxLastDim(logits)
        print(["input", "predicted"].joined(separator: "\t") + "\t" + (0..<k).map { $0 < labels.count ? "p(\(labels[$0]))" : "p(\($0))" }.joined(separator: "\t"))
        for i in 0..<n {
            var best = 0
            for j in 0..<k where logits.data[i * k + j] > logits.data[i * k + best] { best = j }
            let ps = (0..<k).map { String(format: "%.4f", probs.data[i * k + $0]) }
            print("\(names[i])\t\(best < labels.count ? labels[best] : String(best))\t" + ps.joined(separator: "\t"))
        }
    }
}
