import Foundation
import TensorCore
import Models
import Explain
import Training
import Sweep

/// What one architecture costs on this machine, measured in a few seconds before a plan is
/// printed: the time to build the model and to initialise its weights, and per image the time of an inference
/// forward (at the analysis batch size) and of a training step (forward, backward, AdamW), each at
/// one thread and at the threads a process of the run gets.
public struct Calibration: Codable, Sendable {
    public struct Rates: Codable, Sendable {
        /// Seconds to build the model (every process that runs it), and to draw its initial weights (a training).
        public var build: Double
        public var initialize: Double
        /// Seconds per image by thread count.
        public var forward: [Int: Double]
        public var train: [Int: Double]
    }
    public var imageSize: Int
    public var rates: [String: Rates]
    /// Bytes per second of a synced file write in the output folder (checkpoints and resume states).
    public var writeRate: Double

    /// Measures every architecture at `imageSize` for each thread count (the best of two timed
    /// repetitions after a warm-up; training with up to 8 images a step).
    public static func measure(architectures: [String], imageSize: Int, forwardBatch: Int, trainBatch: Int,
                               threads: [Int], numClasses: Int, scratch: String) throws -> Calibration {
        let probe = Data(count: 64 << 20)
        let t = Date()
        try atomicWrite(probe, to: scratch + "/.calibration-write")
        let writeRate = Double(probe.count) / max(1e-3, Date().timeIntervalSince(t))
        try? FileManager.default.removeItem(atPath: scratch + "/.calibration-write")
        var rates: [String: Rates] = [:]
        for name in architectures {
            guard let arch = Architecture(rawValue: name) else { throw PaperError.invalid("unknown architecture \(name)") }
            let t0 = Date()
            let model = try makeModel(arch, numClasses: numClasses, imageSize: imageSize)
            let build = Date().timeIntervalSince(t0)
            let t1 = Date()
            model.initialize(seed: 1)
            let initialize = Date().timeIntervalSince(t1)
            func images(_ n: Int) -> Tensor {
                var rng = SeededRNG(seed: 3)
                let x = Tensor(uninitialized: [n, 3, imageSize, imageSize])
                for i in 0..<x.count { x.data[i] = rng.uniform() }
                return x
            }
            func best(_ body: () throws -> Void) rethrows -> Double {
                try body()
                var b = Double.infinity
                for _ in 0..<2 { let s = Date(); try body(); b = min(b, Date().timeIntervalSince(s)) }
                return b
            }
            var r = Rates(build: build, initialize: initialize, forward: [:], train: [:])
            let fb = max(1, forwardBatch), tb = max(1, min(trainBatch, 8))
            let xf = images(fb), xt = images(tb)
            let labels = (0..<tb).map { $0 % numClasses }
            for t in Set(threads) {
                try Parallel.with(threads: t) {
                    r.forward[t] = try best { _ = try model.logits(xf) } / Double(fb)
                    let opt = AdamW()
                    r.train[t] = try best { _ = try trainStep(model, images: xt, labels: labels, optimizer: opt, lr: 1e-4, stochasticLayers: false) } / Double(tb)
                }
            }
            rates[name] = r
        }
        return Calibration(imageSize: imageSize, rates: rates, writeRate: writeRate)
    }
}

/// `camaudit paper --dry-run`: every stage, its work and its estimated time, on this machine (the
/// run's threads and workers) and on larger servers.
///
/// The model, stated in docs/PAPER.md: a stage's work is counted in model forwards per image (a
/// training image in training steps), priced by the calibration. On this machine a process with t
/// threads runs at the measured t-thread rate. On a server of N cores the per-thread rate is this
/// machine's one-thread rate and t threads speed one process up by Amdahl's law, 1/((1−p) + p/t),
/// with p fitted to the measured one- and t-thread times. Trainings are independent processes,
/// packed longest first on N/t slots for the t that finishes first; sweep units go to N
/// one-thread workers (a sweep ends no sooner than its largest unit); the in-process stages
/// (curves, shortcut, grid) use every thread. Each process pays the model's build time once per
/// model it runs. Not modelled: memory bandwidth shared by many processes, disk, and stages
/// already in the cache (the plan counts everything as to be computed).
public struct RunEstimate {
    public struct Line: Sendable {
        public var stage: String
        public var work: String
        /// Seconds on this machine, then on each of `RunEstimate.servers` cores.
        public var seconds: [Double]
    }
    public static let servers = [16, 32, 64]

    public var lines: [Line] = []
    /// The per-process threads the estimate for this machine assumed.
    public var threads: Int
    public var workers: Int

    /// The plan of `c` on `data`.
    public init(_ c: PaperConfig, data: PaperData, calibration k: Calibration, threads: Int, workers: Int) throws {
        self.threads = threads
        self.workers = workers
        let m = data.manifest
        let nTrain = Double(m.items(in: .train).count), nVal = Double(m.items(in: .val).count), nTest = Double(m.items(in: .test).count)
        func rate(_ arch: String) throws -> Calibration.Rates {
            guard let r = k.rates[arch] else { throw PaperError.invalid("no calibration for \(arch)") }
            return r
        }
        /// Seconds per image at t threads: measured where measured, else Amdahl from 1 and the largest measured count.
        func at(_ table: [Int: Double], _ t: Int) -> Double {
            if let v = table[t] { return v }
            let one = table[1] ?? table.values.max() ?? 0
            guard let (tm, vm) = table.filter({ $0.key > 1 }).max(by: { $0.key < $1.key }), vm > 0 else { return one / Double(t) }
            let speedup = one / vm, tmD = Double(tm)
            // 1/s = (1−p) + p/tm  →  p = (1 − 1/s) · tm / (tm − 1)
            let p = min(1, max(0, (1 - 1 / speedup) * tmD / (tmD - 1)))
            return one * ((1 - p) + p / Double(t))
        }

        // Trainings: the main models, then one shortcut model per architecture on the marked set.
        var batches: [[(arch: String, work: Double)]] = []
        var main: [(String, Double)] = []
        for a in c.architectures {
            let o = c.training.options(architecture: a, seed: c.seeds[0])
            for _ in c.seeds { main.append((a, Double(o.epochs))) }
        }
        batches.append(main)
        if data.marked != nil { batches.append(c.architectures.map { ($0, Double(c.training.options(architecture: $0, seed: c.seeds[0]).epochs)) }) }
        func jobSeconds(_ arch: String, _ epochs: Double, _ t: Int) throws -> Double {
            let r = try rate(arch)
            // Each epoch writes the resume state (weights and AdamW's two moments) and, when it
            // improves, the best checkpoint: at most four copies of the parameters.
            let writes = 16 * Double(Architecture(rawValue: arch)?.spec.cost.parameters ?? 0) / k.writeRate
            return r.build + r.initialize + epochs * (nTrain * at(r.train, t) + nVal * at(r.forward, t) + writes) + nTest * at(r.forward, t)
        }
        /// Longest first on `slots`: the time the last slot finishes.
        func makespan(_ jobs: [Double], slots: Int) -> Double {
            var ends = Array(repeating: 0.0, count: max(1, slots))
            for j in jobs.sorted(by: >) { let i = ends.indices.min { ends[$0] < ends[$1] }!; ends[i] += j }
            return ends.max() ?? 0
        }
        func trainingSeconds(cores: Int?, batch: [(arch: String, work: Double)]) throws -> Double {
            guard let cores else {
                if workers <= 1 { return try batch.reduce(0) { $0 + (try jobSeconds($1.arch, $1.work, threads)) } }
                let t = max(1, threads / max(1, min(workers, batch.count)))
                return makespan(try batch.map { try jobSeconds($0.arch, $0.work, t) }, slots: workers)
            }
            var best = Double.infinity
            var t = 1
            while t <= cores {
                best = min(best, makespan(try batch.map { try jobSeconds($0.arch, $0.work, t) }, slots: cores / t))
                t *= 2
            }
            return best
        }
        for (i, batch) in batches.enumerated() {
            let epochs = Set(batch.map { Int($0.work) }).sorted().map(String.init).joined(separator: "/")
            let what = i == 0 ? "\(batch.count) models (\(c.architectures.count) architectures × \(c.seeds.count) seeds)" : "\(batch.count) shortcut models"
            lines.append(Line(stage: "train", work: "\(what), \(epochs) epochs of \(Int(nTrain)) train + \(Int(nVal)) val images at \(c.training.imageSize) px",
                              seconds: try ([nil] + Self.servers.map { Optional($0) }).map { try trainingSeconds(cores: $0, batch: batch) }))
        }

        // Sweeps: the sweep engine's own plan of units and their costs, with random weights standing
        // in for the checkpoints not trained yet (the same units, the same costs).
        for (name, config) in [("main", SweepStage.mainConfig(c, data: data, models: [])),
                               ("methods", SweepStage.methodsConfig(c, data: data, models: []))] {
            var s = config
            s.seeds = name == "main" ? c.seeds : Array(c.seeds.prefix(1))
            s.models = s.models.map { var e = $0; e.weights = []; return e }
            let plan: Plan
            do { plan = try Plan.expand(s, manifest: m) } catch { throw PaperError.stage("dry-run sweep \(name)", "\(error)") }
            // A unit's cost is in forwards at 224² times the architecture's multiply-accumulates.
            let scale = Double(c.training.imageSize * c.training.imageSize) / (224 * 224)
            func unitSeconds(_ u: WorkUnit, _ t: Int) throws -> Double {
                let arch = plan.weights[u.weights[0]].architecture
                let macs = (Architecture(rawValue: arch)?.spec.cost.gmacs224 ?? 1) * scale
                return u.cost / macs * at(try rate(arch).forward, t)
            }
            let builds = try plan.weights.reduce(0.0) { $0 + (try rate($1.architecture).build) }
            func seconds(cores: Int?) throws -> Double {
                guard let cores else {
                    if workers <= 1 { return try plan.units.reduce(0) { $0 + (try unitSeconds($1, threads)) } + builds }
                    let t = max(1, threads / workers)
                    let units = try plan.units.map { try unitSeconds($0, t) }
                    return max(units.reduce(0, +) / Double(workers), units.max() ?? 0) + builds
                }
                let units = try plan.units.map { try unitSeconds($0, 1) }
                return max(units.reduce(0, +) / Double(cores), units.max() ?? 0) + builds
            }
            lines.append(Line(stage: "sweep \(name)", work: "\(plan.units.count) units, \(plan.images.count) images × \(plan.weights.count) weights × \(s.methods.count) methods",
                              seconds: try ([nil] + Self.servers.map { Optional($0) }).map { try seconds(cores: $0) }))
        }

        // In-process stages: forwards per image priced at every thread.
        let steps = Double(c.analysis.deletionSteps)
        let curveImages = min(Double(c.analysis.curveImages), nTest)
        let gradcam = CAMMethod.gradcam.spec.cost
        let markedTest = Double(data.marked?.manifest.items(in: .test).count ?? 0)
        let inProcess: [(String, String, Double, (String) -> Double)] = [
            ("curves", "\(Int(curveImages)) images × \(c.architectures.count) architectures, \(Int(steps)) steps",
             Double(c.architectures.count), { _ in curveImages * (1 + gradcam + 2 * (steps + 1)) }),
            ("shortcut", "\(Int(markedTest)) marked test slices and their twins × \(2 * c.architectures.count) models",
             Double(2 * c.architectures.count), { _ in data.marked == nil ? 0 : 2 * markedTest }),
            ("grid", "Grad-CAM of a few test slices per architecture", Double(c.architectures.count), { _ in 4 * (1 + gradcam) }),
        ]
        for (stage, work, models, forwards) in inProcess {
            func seconds(_ t: Int) throws -> Double {
                try c.architectures.reduce(0) { $0 + forwards($1) * at(try rate($1).forward, t) + (try rate($1).build) } * models / Double(c.architectures.count)
            }
            lines.append(Line(stage: stage, work: work, seconds: try [seconds(threads)] + Self.servers.map { try seconds($0) }))
        }
        // The report: figures and tables, about 3.5 s plus 1.75 s per architecture on the 2-core
        // development machine (measured; single-threaded, so the same on a server).
        let report = 3.5 + 1.75 * Double(c.architectures.count)
        lines.append(Line(stage: "report", work: "figures, tables, report.html", seconds: Array(repeating: report, count: Self.servers.count + 1)))
    }

    public var total: [Double] { (0...Self.servers.count).map { i in lines.reduce(0) { $0 + $1.seconds[i] } } }

    /// The plan as a table.
    public func text() -> String {
        func f(_ s: Double) -> String {
            if s < 10 { return String(format: "%.1f s", s) }
            if s < 90 { return String(format: "%.0f s", s) }
            if s < 5400 { return String(format: "%.1f min", s / 60) }
            return String(format: "%.1f h", s / 3600)
        }
        let here = "here (\(workers > 1 ? "\(workers) workers, " : "")\(threads) thr)"
        var out = "stage          " + here.padding(toLength: 26, withPad: " ", startingAt: 0)
            + Self.servers.map { "\($0) cores".padding(toLength: 12, withPad: " ", startingAt: 0) }.joined() + "work\n"
        for l in lines + [Line(stage: "total", work: "", seconds: total)] {
            out += l.stage.padding(toLength: 15, withPad: " ", startingAt: 0)
                + f(l.seconds[0]).padding(toLength: 26, withPad: " ", startingAt: 0)
                + l.seconds.dropFirst().map { f($0).padding(toLength: 12, withPad: " ", startingAt: 0) }.joined() + l.work + "\n"
        }
        return out
    }
}
