import ArgumentParser
import Foundation
import TensorCore
import Models

// Numeric options are checked where they are parsed (ArgumentParser's `transform:`), so a bad
// value is one line naming the option (ArgumentParser adds the name) and its valid range, exit 64,
// before anything is allocated.

/// A transform for an integer option that must lie in `range`.
func intOption(_ range: ClosedRange<Int>) -> @Sendable (String) throws -> Int {
    { text in
        guard let v = Int(text.trimmingCharacters(in: .whitespaces)) else {
            throw ValidationError("must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        guard range.contains(v) else { throw ValidationError("must be in \(range.lowerBound)...\(range.upperBound)") }
        return v
    }
}

/// A transform for a floating-point option that must be finite and lie in `range`.
func doubleOption(_ range: ClosedRange<Double>) -> @Sendable (String) throws -> Double {
    { text in
        guard let v = Double(text.trimmingCharacters(in: .whitespaces)), v.isFinite, range.contains(v) else {
            throw ValidationError("must be a finite number in [\(numberText(range.lowerBound)), \(numberText(range.upperBound))]")
        }
        return v
    }
}

/// The value of `--model` where several architectures make sense (evaluate, bench, paper): one
/// name, a comma-separated list, or `all`; in the usual order, each once.
func architectureList(_ text: String, option: String = "--model") throws -> [Architecture] {
    let names = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
    if names == ["all"] { return Architecture.allCases }
    for n in names where Architecture(rawValue: n) == nil {
        throw ValidationError("\(option): unknown architecture '\(n)'; choose from \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")) or all")
    }
    let wanted = Set(names)
    guard wanted.count == names.count else { throw ValidationError("\(option) '\(text)': an architecture is listed twice") }
    return Architecture.allCases.filter { wanted.contains($0.rawValue) }
}

/// A comma-separated list of integers, each in `range`, at least one.
func intList(_ text: String, option: String, _ range: ClosedRange<Int>) throws -> [Int] {
    let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
    return try parts.map {
        guard let v = Int($0), range.contains(v) else {
            throw ValidationError("\(option) '\(text)': each value must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return v
    }
}

private func numberText(_ v: Double) -> String { v == v.rounded() ? String(Int(v)) : String(v) }

/// A transform for an unsigned 64-bit seed.
@Sendable func seedOption(_ text: String) throws -> UInt64 {
    guard let v = UInt64(text.trimmingCharacters(in: .whitespaces)) else {
        throw ValidationError("must be an integer in 0...\(UInt64.max)")
    }
    return v
}

/// Ranges shared by the commands (one place, so help texts and checks agree).
enum OptionRange {
    /// Input side: 16 px is the smallest every architecture runs on (five stride-2 stages); above
    /// 4096 px no CT slice is stored and the activations outgrow any workstation.
    static let imageSize = 16...4096
    static let numClasses = 1...100_000
    static let batchSize = 1...4096
    static let threads = 1...1024
    /// Training epochs and warmup epochs: beyond this no schedule means anything.
    static let epochs = 1...100_000
    /// Deletion/insertion steps.
    static let steps = 1...10_000
    /// Optimizer steps (`--max-steps`).
    static let maxSteps = 1...1_000_000_000
    /// A count of images to take from a data set (`--limit`, `--curve-images`, overlays).
    static let images = 1...100_000_000
    /// Slurm array tasks and shards (Slurm's own MaxArraySize tops out at 4,000,001).
    static let shards = 1...1_000_000
    /// Processes on one machine.
    static let workers = 1...4096
    /// Benchmark repetitions.
    static let reps = 1...1000
}

/// Estimates the memory a run needs before it allocates, and refuses what cannot fit.
enum MemoryBudget {
    /// Physical memory, or the container's limit when it is lower (cgroup v2 `memory.max`).
    static var available: Double {
        var bytes = Double(ProcessInfo.processInfo.physicalMemory)
        if let text = try? String(contentsOfFile: "/sys/fs/cgroup/memory.max", encoding: .utf8),
           let limit = Double(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            bytes = min(bytes, limit)
        }
        return bytes
    }

    /// Throws a one-line error when `bytes` (an estimate) exceeds the memory available.
    static func require(_ bytes: Double, for what: String) throws {
        let have = available
        guard bytes <= have else {
            throw CLIError("\(what) needs about \(gib(bytes)) of memory, more than the \(gib(have)) this machine has; lower the sizes or counts")
        }
    }

    static func gib(_ b: Double) -> String { b >= 0x1p30 ? String(format: "%.1f GiB", b / 0x1p30) : String(format: "%.0f MiB", b / 0x1p20) }

    /// Bytes a model run needs at one image size: weights (with the folded copy) plus the
    /// activations (kept for the backward pass of gradient CAMs) of `images` images at once.
    /// Rough per-architecture constants measured at 224 px; the point is to refuse 100 GB, not to
    /// predict 1.2 GB.
    /// - Parameter backward: whether activations are kept for a backward pass (CAMs); inference
    ///   frees them layer by layer and needs about a fifth.
    static func modelRun(_ arch: Architecture, imageSize s: Int, numClasses k: Int, images: Int, backward: Bool) -> Double {
        let cost = arch.spec.cost
        let px = Double(s) * Double(s)
        var activations = cost.activationBytesPerPixel * px * (backward ? 1 : 0.2)
        if let (layers, heads) = cost.attention, let patch = arch.spec.patchSize {
            // Attention probabilities: heads × tokens² per layer, every layer's kept for a backward pass.
            let tokens = px / Double(patch * patch) + 1
            activations += Double(backward ? layers : 1) * Double(heads) * tokens * tokens * 4 * 2
        }
        let weights = Double(max(arch.parameterCount(numClasses: k), 0)) * 4 * 2
        return weights + activations * Double(max(1, images))
    }
}

/// Refuses an output file that cannot be written, before any compute: its folder must exist and
/// be writable, and the path must not be a folder.
func checkWritableFile(_ path: String, option: String) throws {
    let fm = FileManager.default
    var isDir: ObjCBool = false
    if fm.fileExists(atPath: path, isDirectory: &isDir) {
        guard !isDir.boolValue else { throw CLIError("\(option) \(path): is a folder, not a file") }
        guard fm.isWritableFile(atPath: path) else { throw CLIError("\(option) \(path): file is not writable") }
        return
    }
    let dir = parentFolder(path)
    let folder = dir.isEmpty ? "." : dir
    guard fm.fileExists(atPath: folder, isDirectory: &isDir), isDir.boolValue else {
        throw CLIError("\(option) \(path): folder \(folder) does not exist")
    }
    guard fm.isWritableFile(atPath: folder) else { throw CLIError("\(option) \(path): folder \(folder) is not writable") }
}
