import ArgumentParser
import Foundation
import TensorCore
import Autograd
import NN
import Models
import Explain
import Evaluation
import Sweep

/// `camaudit bench`: the speed table. Ratios are taken against the square-SGEMM rate measured in the
/// same run, and against PyTorch when scripts/bench_torch.py's numbers are merged by
/// scripts/compare_bench.py (`make bench` does both).
struct Bench: ParsableCommand, ConfiguresRun {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark kernels, model forwards, CAM methods, deletion/insertion, training and sweeps; table on stdout, JSON file.")

    @Option(help: "Threads for BLAS and our loops (\(OptionRange.threads); default: all cores).", transform: intOption(OptionRange.threads))
    var threads: Int = min(ProcessInfo.processInfo.activeProcessorCount, OptionRange.threads.upperBound)
    @Option(help: "Write all rows as JSON here.") var json: String = "bench.json"
    @Option(help: "Sections to run: kernels, models, cams, metrics, training, sweep (comma-separated).") var sections: String = "kernels,models,cams,metrics,training,sweep"
    @Flag(help: "Small sizes and one repetition (a smoke run); skips Score-CAM on resnet50.") var quick = false
    @Option(help: "Repetitions, best time kept (\(OptionRange.reps)).", transform: intOption(OptionRange.reps)) var reps: Int = 3
    @Option(help: "Architectures for the models, cams, metrics and training sections: one, a comma-separated list, or all (default).")
    var model: String = "all"
    /// The option's former name, kept for a release.
    @Option(name: .customLong("models"), help: .hidden) var modelsAlias: String?
    @Option(help: "Batch sizes for model forwards and Grad-CAM (comma-separated; default 1,8, or 1,2 with --quick).")
    var batches: String?
    @Flag(help: "cams section: Grad-CAM only (skip the other methods on resnet50 and Score-CAM on efficientnet_b0).")
    var gradcamOnly = false
    @Option(help: "Image sizes of the training section (comma-separated; default 224,128, or 64 with --quick).")
    var trainSizes: String?

    /// The architectures selected by `--model` (checked by `validate`), in the usual order.
    var archs: [Architecture] { (try? architectureList(modelsAlias ?? model)) ?? [] }

    /// The batch sizes selected by `--batches` (checked by `validate`).
    var batchSizes: [Int] { batches.flatMap { try? intList($0, option: "--batches", OptionRange.batchSize) } ?? (quick ? [1, 2] : [1, 8]) }

    /// The image sizes of the training section (checked by `validate`).
    var trainingSizes: [Int] { trainSizes.flatMap { try? intList($0, option: "--train-sizes", OptionRange.imageSize) } ?? (quick ? [64] : [224, 128]) }

    static let sectionNames = ["kernels", "models", "cams", "metrics", "training", "sweep"]

    /// Every name and number before anything runs, and the memory of the largest row.
    func validate() throws {
        for s in sections.split(separator: ",").map(String.init) where !Self.sectionNames.contains(s) {
            throw ValidationError("--sections: unknown '\(s)'; choose from \(Self.sectionNames.joined(separator: ", "))")
        }
        _ = try architectureList(modelsAlias ?? model, option: modelsAlias != nil ? "--models" : "--model")
        let batches = try self.batches.map { try intList($0, option: "--batches", OptionRange.batchSize) } ?? batchSizes
        let sizes = try trainSizes.map { try intList($0, option: "--train-sizes", OptionRange.imageSize) } ?? trainingSizes
        for arch in archs {
            try MemoryBudget.require(MemoryBudget.modelRun(arch, imageSize: 224, numClasses: 1000, images: batches.max() ?? 1, backward: true),
                                     for: "bench \(arch.rawValue) at batch \(batches.max() ?? 1) (--batches)")
            for s in sizes {
                try MemoryBudget.require(MemoryBudget.modelRun(arch, imageSize: s, numClasses: 3, images: 16, backward: true),
                                         for: "bench training \(arch.rawValue) at \(s) px (--train-sizes)")
            }
        }
    }


    var runSettings: RunSettings { RunSettings(threads: threads) }

    func run() throws {
        let wanted = Set(sections.split(separator: ",").map(String.init))
        var doc: [String: Any] = ["threads": threads, "quick": quick, "date": ISO8601DateFormatter().string(from: Date())]
        let r = quick ? 1 : max(1, reps)
        var sgemm: Double
        if wanted.contains("kernels") {
            let kernelRows = runKernelBench(threads: threads, quick: quick)
            doc["kernels"] = kernelRows
            sgemm = (kernelRows.first { ($0["section"] as? String) == "sgemm" }?["gflops"] as? Double) ?? 0
        } else if wanted.contains("models") {  // the yardstick of the model rows only
            sgemm = Self.sgemmRate(n: quick ? 1024 : 2048, reps: r)
            print(String(format: "sgemm square n=%d: %.1f GFLOP/s", quick ? 1024 : 2048, sgemm))
        } else {
            sgemm = 0
        }
        doc["sgemm_gflops"] = sgemm
        if wanted.contains("models") { doc["models"] = try benchModels(sgemm: sgemm, reps: r) }
        if wanted.contains("cams") { doc["cams"] = try benchCAMs(reps: r) }
        if wanted.contains("metrics") { doc["metrics"] = try benchMetrics() }
        if wanted.contains("training") { doc["training"] = try benchTraining(reps: r) }
        if wanted.contains("sweep") { doc["sweep"] = try benchSweep() }
        let data = try JSONSerialization.data(withJSONObject: doc, options: [.prettyPrinted, .sortedKeys])
        try atomicWrite(data, to: json)
        print("wrote \(json)")
    }

    /// Best wall time of `reps` runs after one warm-up; `reps == 0` times a single cold run (for
    /// methods that take minutes).
    func time(_ reps: Int, _ body: () throws -> Void) rethrows -> Double {
        if reps == 0 {
            let t = DispatchTime.now().uptimeNanoseconds
            try body()
            return Double(DispatchTime.now().uptimeNanoseconds - t) * 1e-9
        }
        try body()  // warm-up: buffers, worker threads, caches
        var best = Double.infinity
        for _ in 0..<reps {
            let t = DispatchTime.now().uptimeNanoseconds
            try body()
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t) * 1e-9)
        }
        return best
    }

    static func randomImages(_ n: Int, size: Int = 224) -> Tensor {
        var rng = SeededRNG(seed: 99)
        let t = Tensor(uninitialized: [n, 3, size, size])
        for i in 0..<t.count { t.data[i] = rng.uniform() }
        return t
    }

    static func model(_ arch: Architecture) throws -> ImageClassifier {
        let m = try makeModel(arch, numClasses: 3)
        m.initialize(seed: 0)
        try m.foldBatchNorms()
        return m
    }

    /// Square SGEMM GFLOP/s (best of `reps`), the yardstick every ratio is taken against.
    static func sgemmRate(n: Int, reps: Int) -> Double {
        var rng = SeededRNG(seed: 1)
        let a = Tensor(uninitialized: [n, n]), b = Tensor(uninitialized: [n, n]), c = Tensor(zeros: [n, n])
        for i in 0..<a.count { a.data[i] = rng.uniform() - 0.5; b.data[i] = rng.uniform() - 0.5 }
        var best = Double.infinity
        for _ in 0...reps {
            let t = DispatchTime.now().uptimeNanoseconds
            BLAS.sgemm(m: n, n: n, k: n, a: a.data, lda: n, b: b.data, ldb: n, c: c.data, ldc: n)
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t) * 1e-9)
        }
        return 2 * Double(n * n * n) / best * 1e-9
    }

    static func peakRSSMB() -> Double {
        var u = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &u)
        return Double(u.ru_maxrss) / 1024
    }

    func benchModels(sgemm: Double, reps: Int) throws -> [[String: Any]] {
        print("\nmodel forward, 224×224, threads \(threads) (BatchNorm folded; ms per image; peak RSS of the process so far;")
        print("GFLOP/s counts the direct convolution's 2·MACs, so Winograd 3×3 layers count more than they execute)")
        var rows: [[String: Any]] = []
        for arch in archs {
            let m = try Self.model(arch)
            for batch in batchSizes {
                let x = Self.randomImages(batch)
                let s = try time(reps) { _ = try m.logits(x) }
                let msPerImage = s / Double(batch) * 1e3
                let gflops = 2 * arch.spec.cost.gmacs224 * Double(batch) / s
                var row: [String: Any] = ["model": arch.rawValue, "batch": batch, "ms_per_image": msPerImage, "gflops": gflops,
                                          "fraction_of_sgemm": sgemm > 0 ? gflops / sgemm : 0, "peak_rss_mb": Self.peakRSSMB()]
                print(String(format: "%@ batch %d %9.1f ms/img %8.1f GFLOP/s %5.1f%% of sgemm  peak %6.0f MB",
                             arch.rawValue.padding(toLength: 16, withPad: " ", startingAt: 0) as NSString, batch, msPerImage, gflops, (sgemm > 0 ? gflops / sgemm : 0) * 100, Self.peakRSSMB()))
                row["breakdown"] = try benchBreakdown("\(arch.rawValue) batch \(batch)", images: batch, runs: max(1, reps)) { _ = try m.logits(x) }
                rows.append(row)
            }
        }
        return rows
    }

    func benchCAMs(reps: Int) throws -> [[String: Any]] {
        print("\nCAM methods, 224×224, threads \(threads) (ms per image, map at input resolution)")
        var rows: [[String: Any]] = []
        func run(_ arch: Architecture, _ m: ImageClassifier, _ method: CAMMethod, batch: Int, reps: Int) throws {
            let x = Self.randomImages(batch)
            let e = CAMExplainer(model: m)
            let s = try time(reps) { _ = try e.explain(x, CAMOptions(method: method)) }
            let ms = s / Double(batch) * 1e3
            var row: [String: Any] = ["model": arch.rawValue, "method": method.rawValue, "batch": batch, "ms_per_image": ms]
            print(String(format: "%@ %@ batch %d %10.1f ms/img", arch.rawValue.padding(toLength: 16, withPad: " ", startingAt: 0) as NSString, method.rawValue.padding(toLength: 20, withPad: " ", startingAt: 0) as NSString, batch, ms))
            if method == .gradcam && !quick {
                row["breakdown"] = try benchBreakdown("\(arch.rawValue) Grad-CAM batch \(batch)", images: batch, runs: 1) {
                    _ = try e.explain(x, CAMOptions(method: method))
                }
            }
            rows.append(row)
        }
        for arch in archs {
            let m = try Self.model(arch)
            for batch in batchSizes { try run(arch, m, .gradcam, batch: batch, reps: reps) }
        }
        if archs.contains(.resnet50) && !gradcamOnly {
            let r50 = try Self.model(.resnet50)
            for method in CAMMethod.allCases where method != .gradcam {
                if method == .scorecam && quick { continue }
                try run(.resnet50, r50, method, batch: 1, reps: method == .scorecam ? 0 : reps)
            }
        }
        if archs.contains(.efficientnet_b0) && !gradcamOnly {
            try run(.efficientnet_b0, try Self.model(.efficientnet_b0), .scorecam, batch: 1, reps: 0)
        }
        return rows
    }

    func benchMetrics() throws -> [[String: Any]] {
        let steps = 50
        let images = quick ? 1 : 2
        print("\ndeletion + insertion, \(steps) steps each, 224×224, threads \(threads) (images per second; Grad-CAM map given)")
        var rows: [[String: Any]] = []
        for arch in archs {
            let m = try Self.model(arch)
            let x = Self.randomImages(images)
            let maps = try CAMExplainer(model: m).explain(x, CAMOptions(method: .gradcam)).maps
            let logits: LogitsFunction = { batch in try m.logits(batch).value }
            // As `camaudit evaluate` runs it (and as scripts/bench_torch.py times PyTorch): the clean
            // forward once (its score ends both curves), then 50 + 50 perturbed inputs in batches
            // of the evaluation's default size: 101 forwards per image.
            let batch = SweepConfig.defaultBatchSize
            let t = DispatchTime.now().uptimeNanoseconds
            for i in 0..<images {
                let img = try x.slice0(i..<(i + 1))
                let map = try maps.slice0(i..<(i + 1)).reshaped([224, 224])
                let probs = try softmaxLastDim(try m.logits(img).value)
                let cls = (0..<probs.count).max { probs.data[$0] < probs.data[$1] } ?? 0
                let clean = Double(probs.data[cls])
                _ = try Faithfulness.deletion(image: img, map: map, targetClass: cls, model: logits, steps: steps,
                                              cleanScore: clean, batchSize: batch)
                _ = try Faithfulness.insertion(image: img, map: map, targetClass: cls, model: logits, steps: steps,
                                               cleanScore: clean, batchSize: batch)
            }
            let s = Double(DispatchTime.now().uptimeNanoseconds - t) * 1e-9
            rows.append(["model": arch.rawValue, "steps": steps, "batch": batch, "forwards_per_image": 2 * steps + 1,
                         "images_per_second": Double(images) / s])
            print(String(format: "%@ %8.3f images/s (%.1f s per image)", arch.rawValue.padding(toLength: 16, withPad: " ", startingAt: 0) as NSString, Double(images) / s, s / Double(images)))
        }
        return rows
    }
}
