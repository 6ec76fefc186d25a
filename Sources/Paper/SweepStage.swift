import Foundation
import TensorCore
import Evaluation
import Sweep

/// The rows of one finished sweep, restricted to the current plan's.
public struct SweepOutcome: Sendable {
    public var name: String
    public var directory: String
    public var config: SweepConfig
    /// The rows this configuration defines (older rows of changed settings stay in results.csv but
    /// are not read).
    public var rows: [ResultRow]
}

/// Stage 3: Grad-CAM and RandomCAM on every test image of every trained model, all metrics (the
/// `main` sweep), and the CAM methods compared on one architecture with the randomisation cascade
/// (the `methods` sweep), both through the Sweep engine. Each sweep's store lives in a fixed folder
/// and keys its rows by content, so a changed setting recomputes only the units whose rows it
/// changes; the stage's own key (configuration + data + weights) decides whether to plan at all.
public enum SweepStage {
    static let wantedName = "current-rows.txt"

    /// Grad-CAM and RandomCAM (the chance level) on all architectures × seeds.
    public static func mainConfig(_ c: PaperConfig, data: PaperData, models: [TrainedModel]) -> SweepConfig {
        var s = SweepConfig(data: .init(path: data.manifestPath, split: "test"),
                            models: c.architectures.map { a in
                                .init(architecture: a, weights: models.filter { $0.architecture == a }.map(\.checkpoint))
                            })
        s.methods = ["gradcam", "random"]
        s.metrics = ([MetricName.locacc, .pointing, .energy, .faith, .deletion, .insertion, .consist]
                     + (c.architectures.count > 1 ? [.cross_arch] : [])).map(\.rawValue)
        common(&s, c)
        return s
    }

    /// The methods compared on one architecture's first seed, with the sanity cascade.
    public static func methodsConfig(_ c: PaperConfig, data: PaperData, models: [TrainedModel]) -> SweepConfig {
        let arch = methodArchitecture(c)
        let first = models.first { $0.architecture == arch }.map { [$0.checkpoint] } ?? []
        var s = SweepConfig(data: .init(path: data.manifestPath, split: "test"), models: [.init(architecture: arch, weights: first)])
        s.methods = c.analysis.methods
        s.metrics = ([MetricName.locacc, .pointing, .energy, .faith, .deletion, .insertion, .cascade]
                     + (c.analysis.methods.count > 1 ? [.cross_method] : [])).map(\.rawValue)
        common(&s, c)
        return s
    }

    public static func methodArchitecture(_ c: PaperConfig) -> String {
        c.architectures.contains(c.analysis.methodArchitecture) ? c.analysis.methodArchitecture : c.architectures[0]
    }

    static func common(_ s: inout SweepConfig, _ c: PaperConfig) {
        s.grid = .init(steps: [c.analysis.deletionSteps], threshold: [c.analysis.threshold])
        s.imageSize = c.training.imageSize
        s.seeds = []
        s.numClasses = nil
        s.camSeed = c.analysis.camSeed
        s.batchSize = c.analysis.batchSize
    }

    public static func run(name: String, config s: SweepConfig, data: PaperData, models: [TrainedModel], version: String,
                           slurm: SlurmSpec?, workers: Int? = nil, cache: StageCache, log: @escaping (String) -> Void) throws -> SweepOutcome {
        let json = String(decoding: try s.json(), as: UTF8.self)
        let key = StageCache.key(["sweep", name, data.digest, json, version] + models.map(\.key))
        let dir = try cache.run(stage: "sweep", item: name, key: key, inPlace: true) { work in
            let plan: Plan
            do { plan = try Plan.expand(s, manifest: data.manifest) } catch { throw PaperError.stage("sweep \(name)", "\(error)") }
            var options = LaunchOptions()
            options.threads = Parallel.threads   // the run's --threads, not every core
            if let w = workers, w > 1 {
                // Worker processes on this machine, each on its own units with its share of the cores.
                options.workers = w
                options.threads = max(1, Parallel.threads / w)
            }
            if let sl = slurm {
                var o = SlurmOptions(shards: sl.shards)
                o.resources = sl.resources; o.cpusPerTask = sl.cpusPerTask; o.jobName = "camaudit-paper-\(name)"
                options.slurm = o
            }
            let outcome = try Launch.run(plan: plan, out: work, options: options, log: log, progress: { _ in })
            switch outcome {
            case .finished(let r):
                if let r { log("  sweep \(name): \(r.unitsComputed) units computed, \(r.unitsReused) reused, \(r.rowsWritten) rows written") }
            case .submitted(let sub, _):
                log("  sweep \(name): Slurm array job \(sub.arrayJob), merge job \(sub.mergeJob); waiting")
                try SlurmWait.until(jobs: [sub.arrayJob, sub.mergeJob], log: log)
                let merged = try Merge.run(plan: plan, sources: [work], out: work)
                guard merged.complete else { throw PaperError.stage("sweep \(name)", merged.describeMissing(plan: plan, out: work)) }
            case .shardDone, .dryRun:
                throw PaperError.stage("sweep \(name)", "the sweep did not finish")
            }
            var ids: [String] = []
            for u in plan.units { for e in plan.expectedRows(u) { ids.append(e.id) } }
            try atomicWrite(ids.joined(separator: "\n") + "\n", to: work + "/" + wantedName)
        }
        // The ids of the rows this configuration defines, written with the result.
        guard let text = try? String(contentsOfFile: dir + "/" + wantedName, encoding: .utf8) else {
            throw PaperError.stage("sweep \(name)", "\(dir)/\(wantedName) is missing; delete \(dir)/\(StageCache.markerName) to recompute")
        }
        let wanted = Set(text.split(separator: "\n").map(String.init))
        let rows = try Store.read(path: dir + "/" + Store.fileName).filter { wanted.contains($0.id) }
        return SweepOutcome(name: name, directory: dir, config: s, rows: rows)
    }
}
