import ArgumentParser
import Datasets
import Foundation
import TensorCore

/// `camaudit synth`: synthetic axial chest-CT phantoms with exact lesion masks (see `PhantomGenerator`).
struct Synth: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Draw synthetic lung-CT slices (normal / benign / malignant) with exact lesion masks and a manifest.")

    static let countRange = 1...10_000_000
    static let sizeRange = 64...4096

    @Option(help: "Output folder (images/, masks/, shortcut_masks/, manifest.csv).") var out: String
    @Option(help: "Number of slices (\(countRange); classes alternate benign, malignant, normal).",
            transform: intOption(countRange)) var count: Int
    @Option(help: "Slice width and height in pixels (\(sizeRange), default 512).",
            transform: intOption(sizeRange)) var size: Int = 512
    @Option(help: "Seed: the same seed gives the same bytes (0...2^64-1, default 0).", transform: seedOption) var seed: UInt64 = 0
    @Option(help: "Fraction of slices carrying a class-correlated corner tag (shortcut), 0...1 (default 0).",
            transform: doubleOption(0...1)) var shortcut: Double = 0
    @Flag(name: .customLong("also-clean"), help: "With --shortcut: also write the same slices without any marker (images_clean/, manifest_clean.csv; same rows and splits).")
    var alsoClean = false
    @Option(help: "Worker threads (\(OptionRange.threads); default: all cores).",
            transform: intOption(OptionRange.threads)) var threads: Int?

    func run() throws {
        if let t = threads { Parallel.setThreads(t) }
        try checkResources()
        let s = try SynthDataset.generate(out: out, count: count, size: size, seed: seed, shortcutFraction: shortcut,
                                          alsoClean: alsoClean)
        let classes = s.perClass.keys.sorted().map { "\($0) \(s.perClass[$0] ?? 0)" }.joined(separator: ", ")
        print("wrote \(s.count) slices (\(classes); \(s.shortcutCount) with shortcut tag) in \(String(format: "%.2f", s.seconds)) s "
              + "(\(String(format: "%.1f", Double(s.count) / max(s.seconds, 1e-9))) slices/s) → \(s.manifestPath)"
              + (s.cleanManifestPath.map { " and, without markers, \($0)" } ?? ""))
    }

    func checkResources() throws { try checkPhantomResources(count: count, size: size, under: out, what: "synth --count \(count) --size \(size)") }
}

/// Refuses a phantom set that cannot fit (synth, and paper's phantoms): manifest rows in memory,
/// per-thread canvases, and the PNGs on the disk that holds `folder`.
func checkPhantomResources(count: Int, size: Int, under folder: String, what: String) throws {
    let px = Double(size) * Double(size)
    let grid = Double(size * PhantomGenerator.supersampling(size: size))
    // ~2 KB per manifest row (generator parameters as strings) + HU canvas, masks and noise per worker
    // on the (finer) drawing grid.
    let memory = Double(count) * 2048 + Double(Parallel.threads) * grid * grid * 24
    try MemoryBudget.require(memory, for: what)
    // Noisy 8-bit slices compress to about half a byte per pixel; masks are nearly free.
    let disk = Double(count) * (px * 0.4 + 2048)
    var probe = folder
    while !FileManager.default.fileExists(atPath: probe), probe != "/", !probe.isEmpty {
        probe = parentFolder(probe)
    }
    if let attrs = try? FileManager.default.attributesOfFileSystem(forPath: probe.isEmpty ? "." : probe),
       let free = (attrs[.systemFreeSize] as? NSNumber)?.doubleValue, disk > free {
        throw CLIError("\(what) needs about \(MemoryBudget.gib(disk)) on disk, more than the \(MemoryBudget.gib(free)) free under \(probe.isEmpty ? "." : probe); lower the count or size")
    }
}
