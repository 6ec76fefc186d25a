import Foundation
import TensorCore
import Models
import Explain
import Evaluation
import Datasets
import Sweep
#if canImport(Glibc)
import Glibc
#endif

/// The `sweep` section of `camaudit bench`: what a user's sweep costs, measured through the same
/// machinery `camaudit sweep` runs (Plan, Launch, WorkerPool, ShardRun, Executor, Store, Merge).
///
/// 1. Throughput per core count c (1, 2, …, all; beyond 8 cores powers of two and all): one small
///    sweep — phantoms, EfficientNet-B0 at 128 px, Grad-CAM, LocAcc, energy, Faith and
///    deletion/insertion (10 steps) — run from scratch for each candidate split of c cores into
///    workers × threads (c × 1, 1 × c, and c/2 × 2 from 4 cores on); the best is the choice.
/// 2. Bookkeeping at 10⁶ units: expanding a plan of the same units (content keys included), the
///    row keys of a sample of its units, appending 10⁶ rows to a Store and reopening it, each as a
///    fraction of the run time those units would take at the best rate measured in 1.
/// 3. Deletion + insertion per image at perturbation batch 1 vs 16 (the batching across steps).
extension Bench {
    /// Images per unit of the measured sweep (its forward batch and deletion/insertion batch too).
    static let sweepBatch = 4
    static let sweepSize = 128

    func benchSweep() throws -> [String: Any] {
        let tmp = FileManager.default.temporaryDirectory.path + "/camaudit-bench-sweep-\(getpid())"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        // At least two units per worker at the largest count, so every worker has work and the
        // split's granularity (one unit) stays small against a worker's share.
        let units = max(4, 2 * threads)
        let data = try SynthDataset.generate(out: tmp + "/data", count: units * Self.sweepBatch, size: Self.sweepSize, seed: 3)
        let config = Self.sweepConfig(data: data.manifestPath, seeds: [0])
        let plan = try Plan.expand(config)
        print("\nsweep: \(plan.images.count) phantoms, efficientnet_b0 at \(Self.sweepSize) px, gradcam; "
              + "\(config.metrics.joined(separator: ",")), \(config.grid.steps[0]) steps → \(plan.units.count) units of \(Self.sweepBatch) images")
        // Warm-up (binary pages, page cache of the images): one unit, one process.
        var warm = config
        warm.data.limit = Self.sweepBatch
        _ = try sweepOnce(try Plan.expand(warm), workers: 1, threads: threads, out: tmp + "/warm")

        var counts = Array(1...min(threads, 8))
        var p = 16
        while p < threads { counts.append(p); p *= 2 }
        if threads > 8 { counts.append(threads) }
        var candidates: [[String: Any]] = []
        var scaling: [[String: Any]] = []
        var oneCore = 0.0
        for c in counts {
            var splits = [(c, 1)]
            if c > 1 { splits.append((1, c)) }
            if c >= 4 && c % 2 == 0 { splits.append((c / 2, 2)) }
            var best: (workers: Int, threads: Int, seconds: Double, values: Int)? = nil
            for (w, t) in splits {
                let (s, values) = try sweepOnce(plan, workers: w, threads: t, out: tmp + "/run-\(c)-\(w)x\(t)")
                candidates.append(["cores": c, "workers": w, "threads": t, "seconds": s,
                                   "units_per_s": Double(plan.units.count) / s, "values_per_s": Double(values) / s])
                print(String(format: "  %2d cores as %2d worker(s) × %2d thread(s): %7.2f s  %7.3f units/s  %8.1f values/s",
                             c, w, t, s, Double(plan.units.count) / s, Double(values) / s))
                if best == nil || s < best!.seconds { best = (w, t, s, values) }
            }
            guard let b = best else { continue }
            let rate = Double(plan.units.count) / b.seconds
            if c == 1 { oneCore = rate }
            let eff = oneCore > 0 ? rate / (Double(c) * oneCore) : 0
            scaling.append(["cores": c, "workers": b.workers, "threads": b.threads, "seconds": b.seconds, "units_per_s": rate,
                            "values_per_s": Double(b.values) / b.seconds, "efficiency": eff])
            print(String(format: "%2d cores: best %d × %d, %.3f units/s, %.1f metric values/s, scaling efficiency %.2f",
                         c, b.workers, b.threads, rate, Double(b.values) / b.seconds, eff))
        }
        let fastest = scaling.compactMap { $0["units_per_s"] as? Double }.max() ?? 1
        let overhead = try bookkeeping(tmp: tmp, phantoms: data.manifestPath, secondsPerUnit: 1 / fastest)
        let batching = try perturbationBatching()
        return ["units": plan.units.count, "images": plan.images.count, "model": "efficientnet_b0", "image_size": Self.sweepSize,
                "metrics": config.metrics, "steps": config.grid.steps[0], "images_per_unit": Self.sweepBatch,
                "candidates": candidates, "scaling": scaling, "overhead": overhead, "deletion_insertion_batching": batching]
    }

    /// The measured sweep's configuration on `data` (absolute path: workers read it from config.json).
    static func sweepConfig(data: String, seeds: [UInt64]) -> SweepConfig {
        var c = SweepConfig(data: .init(path: data), models: [.init(architecture: Architecture.efficientnet_b0.rawValue)])
        c.seeds = seeds
        c.methods = [CAMMethod.gradcam.rawValue]
        c.metrics = [MetricName.locacc, .energy, .faith, .deletion, .insertion].map(\.rawValue)
        c.grid = .init(steps: [10], threshold: [0.5])
        c.imageSize = sweepSize
        c.batchSize = sweepBatch
        return c
    }

    /// One complete run of `plan` into a fresh `out` as `camaudit sweep --workers W --threads T`
    /// runs it (merge included). Returns the wall time and the metric values written (rows other
    /// than the truth/prediction facts).
    func sweepOnce(_ plan: Plan, workers: Int, threads t: Int, out: String) throws -> (seconds: Double, values: Int) {
        var o = LaunchOptions()
        o.workers = workers > 1 ? workers : nil
        o.threads = t
        // Workers inherit stderr and print a progress line per unit: keep the table readable.
        let saved = dup(2), null = open("/dev/null", O_WRONLY)
        if null >= 0 { dup2(null, 2) }
        defer { if saved >= 0 { dup2(saved, 2); close(saved) }; if null >= 0 { close(null) } }
        let start = DispatchTime.now().uptimeNanoseconds
        _ = try Launch.run(plan: plan, out: out, options: o, log: { _ in }, progress: { _ in })
        let s = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        let facts: Set<String> = [FactMetric.truth, FactMetric.predicted, FactMetric.correct]
        let values = try Store.read(path: out + "/" + Store.fileName).filter { !facts.contains($0.key.metric) }.count
        return (s, values)
    }

    /// Plan expansion, row keys and store appends at 10⁶ units (`--quick`: 10⁴), against the run
    /// time of those units at `secondsPerUnit`.
    func bookkeeping(tmp: String, phantoms manifest: String, secondsPerUnit: Double) throws -> [[String: Any]] {
        let target = quick ? 10_000 : 1_000_000
        // 1000 images × (target / 250) random-weight seeds, in units of 4 images: the measured
        // sweep's units, many of them. The files have a phantom PNG's size (expansion hashes bytes).
        let imageCount = 1000
        let phantom = try Manifest.read(path: manifest)
        let bytes = (try? FileManager.default.attributesOfItem(atPath: phantom.resolve(phantom.items[0].file))[.size] as? Int) ?? 10_000
        let dir = tmp + "/big"
        try FileManager.default.createDirectory(atPath: dir + "/images", withIntermediateDirectories: true)
        var rng = SeededRNG(seed: 5)
        var csv = "file,class,split\n"
        for i in 0..<imageCount {
            let content = Data((0..<bytes).map { _ in UInt8(truncatingIfNeeded: Int(rng.uniform() * 256)) })
            try content.write(to: URL(fileURLWithPath: dir + "/images/\(i).png"))
            csv += "images/\(i).png,\(PhantomGenerator.classes[i % 3]),test\n"
        }
        try csv.write(toFile: dir + "/manifest.csv", atomically: true, encoding: .utf8)
        let seeds = (target + imageCount / Self.sweepBatch - 1) / (imageCount / Self.sweepBatch)
        let config = Self.sweepConfig(data: dir + "/manifest.csv", seeds: (0..<seeds).map(UInt64.init))
        func timed<T>(_ body: () throws -> T) rethrows -> (T, Double) {
            let t = DispatchTime.now().uptimeNanoseconds
            let r = try body()
            return (r, Double(DispatchTime.now().uptimeNanoseconds - t) * 1e-9)
        }
        let (plan, expand) = try timed { try Plan.expand(config) }
        let units = Double(plan.units.count)
        let run = units * secondsPerUnit
        // Row keys: what the executor, completion checks and merge derive per unit; linear in the
        // units, so a sample spread over the plan is timed and scaled.
        let sample = stride(from: 0, to: plan.units.count, by: max(1, plan.units.count / 10_000)).map { plan.units[$0] }
        let (rowsOfSample, keysTime) = timed { sample.reduce(0) { $0 + plan.expectedRows($1).count } }
        let rowsPerUnit = Double(rowsOfSample) / Double(sample.count)
        // Store: 10⁶ distinct rows appended (each a write(2)), then reopened as a resumed run reads
        // it. (Units of other seeds share their images' truth rows: those are kept once.)
        let rowCount = target
        var rows: [ResultRow] = [], seen = Set<String>()
        rows.reserveCapacity(rowCount)
        for u in plan.units where rows.count < rowCount {
            for e in plan.expectedRows(u) where rows.count < rowCount && seen.insert(e.id).inserted {
                rows.append(ResultRow(key: e.key, value: 0.25, id: e.id))
            }
        }
        seen = []
        let storeDir = dir + "/out"
        let (_, appendTime) = try timed {
            let store = try Store(directory: storeDir)
            defer { store.close() }
            for r in rows { try store.append(r) }
        }
        let (reopened, reopenTime) = try timed { () -> Int in
            let store = try Store(directory: storeDir)
            defer { store.close() }
            return store.rows.count
        }
        guard reopened == rows.count else { throw CLIError("bench: the store reopened with \(reopened) rows, \(rows.count) were appended") }
        let perRow = appendTime / Double(rows.count)
        let allRows = rowsPerUnit * units
        let entries: [(String, Double, Double)] = [
            ("plan expansion, \(plan.units.count) units with content keys", expand, expand),
            ("row keys of \(plan.units.count) units (\(Int(allRows)) rows; timed on \(sample.count) units)", keysTime, keysTime * units / Double(sample.count)),
            ("store: append \(rows.count) rows", appendTime, appendTime),
            ("store: append all \(Int(allRows)) rows of \(plan.units.count) units (at the measured rate per row)", appendTime, perRow * allRows),
            ("store: reopen \(rows.count) rows (resume)", reopenTime, reopenTime),
        ]
        print(String(format: "\nbookkeeping at %d units (run time at the best rate above: %.0f s = %.1f h; %.1f rows per unit)",
                     plan.units.count, run, run / 3600, rowsPerUnit))
        var out: [[String: Any]] = []
        for (what, measured, scaled) in entries {
            out.append(["what": what, "measured_seconds": measured, "seconds": scaled, "units": units, "run_seconds": run,
                        "fraction_of_run": scaled / run])
            print(String(format: "  %@: %.2f s = %.4f%% of the run", what as NSString, scaled, 100 * scaled / run))
        }
        return out
    }

    /// Deletion + insertion (50 steps each, 101 forwards per image) at perturbation batch 1 and 16,
    /// on the sweep's model and image size, every core.
    func perturbationBatching() throws -> [[String: Any]] {
        let model = try Self.model(.efficientnet_b0)
        let size = Self.sweepSize, images = 2, steps = 50
        let x = Self.randomImages(images, size: size)
        let maps = try CAMExplainer(model: model).explain(x, CAMOptions(method: .gradcam)).maps
        let logits: LogitsFunction = { try model.logits($0).value }
        print("\ndeletion + insertion, \(steps) steps each, efficientnet_b0 at \(size) px, threads \(threads): perturbed inputs per forward")
        var rows: [[String: Any]] = []
        for batch in [1, 16] {
            let s = try time(1) {
                for i in 0..<images {
                    let img = try x.slice0(i..<(i + 1)), map = try maps.slice0(i..<(i + 1)).reshaped([size, size])
                    _ = try Faithfulness.deletion(image: img, map: map, targetClass: 0, model: logits, steps: steps, batchSize: batch)
                    _ = try Faithfulness.insertion(image: img, map: map, targetClass: 0, model: logits, steps: steps, batchSize: batch)
                }
            }
            rows.append(["batch": batch, "images_per_s": Double(images) / s, "steps": steps, "image_size": size])
            print(String(format: "  batch %2d: %.2f images/s", batch, Double(images) / s))
        }
        if let a = rows[0]["images_per_s"] as? Double, let b = rows[1]["images_per_s"] as? Double {
            print(String(format: "  batching gains %.2f×", b / a))
        }
        return rows
    }
}
