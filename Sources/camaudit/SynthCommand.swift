import ArgumentParser
import Datasets
import Foundation
import TensorCore

/// `camaudit synth`: synthetic axial chest-CT phantoms with exact lesion masks (see `PhantomGenerator`).
struct Synth: ParsableCommand, ConfiguresRun {
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

    /// What synth writes into --out: a folder holding anything else is not replaced.
    static let ownEntries: Set<String> = ["images", "masks", "shortcut_masks", "images_clean", "manifest.csv", "manifest_clean.csv"]

    var runSettings: RunSettings { RunSettings(threads: threads) }

    func run() throws {
        try checkResources()
        // The set is drawn in a hidden sibling folder and moved into place when complete, so a
        // failed or killed run never leaves old and new slices mixed under one manifest.
        var target = out
        while target.count > 1, target.hasSuffix("/") { target.removeLast() }
        try refuseForeignFolder(target)
        let parent = parentFolder(target)
        Temporaries.sweep(folder: parent.isEmpty ? "." : parent, targets: [(target as NSString).lastPathComponent])
        let staged = Temporaries.name(for: target)
        var s: SynthDataset.Summary
        do {
            s = try SynthDataset.generate(out: staged, count: count, size: size, seed: seed, shortcutFraction: shortcut, alsoClean: alsoClean)
            try replaceFolder(at: target, with: staged)
        } catch {
            try? FileManager.default.removeItem(atPath: staged)
            throw error
        }
        func moved(_ p: String) -> String { target + "/" + (p as NSString).lastPathComponent }
        s.manifestPath = moved(s.manifestPath)
        s.cleanManifestPath = s.cleanManifestPath.map(moved)
        let classes = s.perClass.keys.sorted().map { "\($0) \(s.perClass[$0] ?? 0)" }.joined(separator: ", ")
        print("wrote \(s.count) slices (\(classes); \(s.shortcutCount) with shortcut tag) in \(String(format: "%.2f", s.seconds)) s "
              + "(\(String(format: "%.1f", Double(s.count) / max(s.seconds, 1e-9))) slices/s) → \(s.manifestPath)"
              + (s.cleanManifestPath.map { " and, without markers, \($0)" } ?? ""))
    }

    /// Refuses an --out that is a file, or a folder holding anything synth did not write there.
    func refuseForeignFolder(_ path: String) throws {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDir) else { return }
        guard isDir.boolValue else { throw CLIError("--out \(path): is a file, not a folder") }
        let entries = ((try? fm.contentsOfDirectory(atPath: path)) ?? []).sorted()
        let foreign = entries.filter { !Self.ownEntries.contains($0) }
        guard foreign.isEmpty else {
            throw CLIError("--out \(path): the folder holds files synth did not write (\(foreign.prefix(3).joined(separator: ", "))\(foreign.count > 3 ? ", …" : "")); synth replaces only an empty folder or a set it wrote; choose another --out")
        }
        if !entries.isEmpty {
            let header = (try? String(contentsOfFile: path + "/manifest.csv", encoding: .utf8))?.prefix { $0 != "\n" } ?? ""
            guard header.contains("phantom_index") else {
                throw CLIError("--out \(path): the folder is not empty and holds no manifest.csv written by synth; choose another --out")
            }
        }
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
