import ArgumentParser
import Datasets
import Foundation
import TensorCore

/// `camaudit synth`: synthetic axial chest-CT phantoms with exact lesion masks (see `PhantomGenerator`).
struct Synth: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Draw synthetic lung-CT slices (normal / benign / malignant) with exact lesion masks and a manifest.")

    @Option(help: "Output folder (images/, masks/, shortcut_masks/, manifest.csv).") var out: String
    @Option(help: "Number of slices (classes alternate benign, malignant, normal).") var count: Int
    @Option(help: "Slice width and height in pixels.") var size: Int = 512
    @Option(help: "Seed: the same seed gives the same bytes.") var seed: UInt64 = 0
    @Option(help: "Fraction of slices carrying a class-correlated corner tag (shortcut), 0...1.") var shortcut: Double = 0
    @Option(help: "Worker threads (default: all cores).") var threads: Int?

    func run() throws {
        if let t = threads { Parallel.setThreads(t) }
        let s = try SynthDataset.generate(out: out, count: count, size: size, seed: seed, shortcutFraction: shortcut)
        let classes = s.perClass.keys.sorted().map { "\($0) \(s.perClass[$0] ?? 0)" }.joined(separator: ", ")
        print("wrote \(s.count) slices (\(classes); \(s.shortcutCount) with shortcut tag) in \(String(format: "%.2f", s.seconds)) s "
              + "(\(String(format: "%.1f", Double(s.count) / max(s.seconds, 1e-9))) slices/s) → \(s.manifestPath)")
    }
}
