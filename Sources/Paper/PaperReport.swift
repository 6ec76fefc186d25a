import Foundation
import TensorCore
import Datasets
import Evaluation
import Sweep
import Report
import Models

/// Writes OUT/report.html, report.md, figures/, tables/*.csv and run.json (the run manifest).
public enum PaperReport {
    public static func write(_ run: PaperRun, to out: String, version: String, seconds: Double) throws {
        let c = run.config
        let archs = c.architectures
        var doc = ReportDocument(title: "Grad-CAM faithfulness and localization — camaudit paper (\(c.profile.rawValue) profile)")
        let test = run.data.manifest.items(in: .test)
        let counts = run.data.manifest.classes.indices.map { k in test.filter { $0.classIndex == k }.count }
        let chance = Tables.chanceAccuracy(classCounts: counts)
        let hasMasks = test.contains { $0.hasLesionTruth }

        doc.heading("Setup")
        doc.paragraph(dataSentence(run) + " " + recipeSentence(c))
        doc.paragraph("Every number states its convention in its caption; definitions are in `docs/PAPER.md` of the camaudit repository. "
                      + "The run manifest `run.json` records the software version, seeds, thread count, data and weights digests and every configuration.")

        doc.heading("Classification (Table I)")
        let (t1, acc) = try Tables.tableI(archs, models: run.models, floor: c.analysis.accuracyFloor,
                                          origins: Dictionary(uniqueKeysWithValues: archs.map { ($0, origin($0, c.training)) }))
        doc.table(caption: t1.caption, header: t1.header, rows: t1.rows, csvName: t1.csvName)
        let fa = Figures.accuracy(acc, chance: chance, floor: c.analysis.accuracyFloor)
        doc.figure(name: fa.name, caption: fa.caption, svg: fa.svg)
        let flagged = acc.filter(\.flagged).map(\.architecture)
        doc.paragraph(String(format: "Chance accuracy (always the largest class of the test split) is **%.3f**; the accuracy floor is **%.2f**. ", chance, c.analysis.accuracyFloor)
                      + (flagged.isEmpty ? "Every architecture is above it."
                         : "**Below the floor: \(flagged.joined(separator: ", ")).** Their explanation metrics are flagged: explanations of a model that has not learned measure noise."))

        doc.heading("Explanations")
        if !hasMasks {
            doc.paragraph("**Localization metrics are undefined for this data:** its images have no lesion masks (give `MASKS=` to add them), "
                          + "so LocAcc, pointing game and energy are reported as undefined with their reason, never as zeros. Faithfulness, "
                          + "consistency and agreement need no mask and are computed.")
        }
        if let note = coarseMapNote(run.grid) { doc.paragraph(note) }
        let (et, groups) = Tables.explanation(archs, rows: run.main.rows, accuracy: acc, resamples: c.analysis.bootstrapResamples,
                                              maps: mapBasis(run))
        doc.table(caption: et.caption, header: et.header, rows: et.rows, csvName: et.csvName)
        let ct = Tables.comparisons(run.main.rows)
        if !ct.rows.isEmpty { doc.table(caption: ct.caption, header: ct.header, rows: ct.rows, csvName: ct.csvName) }
        _ = groups

        doc.heading("Figures")
        if let g = run.grid, !g.rows.isEmpty {
            let f = try Figures.grid(g)
            doc.figure(name: f.name, caption: f.caption, svg: f.svg)
        }
        for d in [true, false] { if let f = Figures.curves(run.curves, deletion: d) { doc.figure(name: f.name, caption: f.caption, svg: f.svg) } }
        for f in Figures.distributions(archs, rows: run.main.rows) { doc.figure(name: f.name, caption: f.caption, svg: f.svg) }
        if let f = Figures.agreement(archs, rows: run.main.rows, threshold: c.analysis.threshold) { doc.figure(name: f.name, caption: f.caption, svg: f.svg) }

        if let m = run.methods {
            let arch = SweepStage.methodArchitecture(c)
            doc.heading("CAM methods and the sanity cascade (\(arch))")
            let mg = Summary.groups(m.rows, resamples: c.analysis.bootstrapResamples)
            if let f = Figures.methods(mg, architecture: arch, methods: c.analysis.methods) { doc.figure(name: f.name, caption: f.caption, svg: f.svg) }
            if let f = Figures.cascade(m.rows, architecture: arch) { doc.figure(name: f.name, caption: f.caption, svg: f.svg) }
            var rows: [[String]] = []
            for me in c.analysis.methods {
                // The methods sweep has one weights: nothing across weights is defined.
                for x in Tables.explanationMetrics where x.scope != .acrossWeights {
                    rows.append([me, x.label, Tables.cell(mg.first { $0.model == arch && $0.method == me && $0.metric == x.primaryRow }), x.convention])
                }
            }
            doc.table(caption: "CAM methods on \(arch) (first seed): mean over test images [95% bootstrap CI].",
                      header: ["method", "metric", "mean [95% CI]", "convention"], rows: rows, csvName: "methods")
        }

        doc.heading("Shortcut experiment")
        if run.shortcut.isEmpty {
            doc.paragraph(run.data.isPhantom ? "No marked test slice (shortcut fraction \(c.data.phantom?.shortcutFraction ?? 0)): nothing to measure."
                          : "Not applicable: the user's images carry no synthetic marker.")
        } else {
            let st = Tables.shortcut(archs, run.shortcut)
            doc.table(caption: st.caption, header: st.header, rows: st.rows, csvName: st.csvName)
            for f in Figures.shortcut(archs, run.shortcut) { doc.figure(name: f.name, caption: f.caption, svg: f.svg) }
        }

        doc.heading("Run")
        let hits = run.events.filter(\.cached).count
        doc.paragraph("\(run.events.count) stage runs, \(hits) reused from the cache (`cache/`, keyed by the SHA-256 of each stage's inputs and configuration); "
                      + String(format: "%.0f s in all. ", seconds) + "camaudit \(version), \(Parallel.threads) threads.")
        try doc.write(to: out)
        try writeManifest(run, to: out + "/run.json", version: version, seconds: seconds)
    }

    static func dataSentence(_ run: PaperRun) -> String {
        let m = run.data.manifest
        let split = Split.allCases.map { "\(m.items(in: $0).count) \($0.rawValue)" }.joined(separator: " / ")
        if run.data.isPhantom, let p = run.config.data.phantom {
            return "Data: \(p.count) synthetic lung-CT phantoms (\(p.size)×\(p.size) px, exact lesion masks, seed \(p.seed)); "
                + "the study's models are trained and explained on them without markers; the shortcut experiment trains one model per "
                + "architecture on the same slices with a class-correlated corner marker burned into " + String(format: "%.0f%%", 100 * p.shortcutFraction)
                + " of them. "
                + "Split \(split), stratified by class."
        }
        return "Data: \(m.items.count) images from `\(run.config.data.folder ?? "?")` in classes \(m.classes.joined(separator: ", ")); "
            + "split \(split), stratified by class, byte-identical files kept in one split (seed \(run.config.data.splitSeed))."
            + (run.config.data.masks.map { " Lesion masks from `\($0)`." } ?? " No lesion masks.")
    }

    /// How an architecture's models started: "from scratch" or the pretrained checkpoint.
    static func origin(_ arch: String, _ t: TrainingRecipe) -> String {
        t.initialCheckpoints?[arch]?.origin ?? "from scratch"
    }

    /// Each architecture's input side and Grad-CAM grid, as the grid stage measured them on its maps.
    static func mapBasis(_ run: PaperRun) -> [String: (input: String, grid: String)] {
        let size = run.config.training.imageSize
        var out: [String: (input: String, grid: String)] = [:]
        for a in run.config.architectures {
            var grid = "–"
            if let g = run.grid, let k = g.columns.firstIndex(of: a), let cells = g.mapSize(k) {
                grid = cells + (Architecture(rawValue: a)?.spec.patchSize != nil ? " tokens" : "")
            }
            out[a] = ("\(size)×\(size)", grid)
        }
        return out
    }

    static func recipeSentence(_ c: PaperConfig) -> String {
        let t = c.training
        let origins = Set(c.architectures.map { t.initialCheckpoints?[$0] == nil })
        let each = " with its 1000-class head replaced (" + c.architectures.map { "\($0): \(origin($0, t))" }.joined(separator: "; ") + ")"
        let start = origins == [true] ? "each trained from scratch"
            : origins == [false] ? "each fine-tuned from a pretrained checkpoint" + each
            : "each trained from scratch (torchvision's initialisation, seeded) or fine-tuned from a pretrained checkpoint" + each
        return "Models: \(c.architectures.joined(separator: ", ")), \(start) with seeds \(c.seeds.map(String.init).joined(separator: ", ")) "
            + "(\(t.optimizer.rawValue), lr \(t.lr), weight decay \(t.weightDecay), batch \(t.batchSize), \(t.epochs) epoch\(t.epochs == 1 ? "" : "s"), "
            + (t.augment == .none ? "" : "augmentation \(t.augment.rawValue), ")
            + (t.schedule == .none ? "" : "\(t.schedule.rawValue) schedule with \(t.warmupEpochs) warmup epoch\(t.warmupEpochs == 1 ? "" : "s"), ")
            + (t.headInit == .zeros ? "classifier head initialised to zero, " : "")
            + "Resize to \(t.imageSize)×\(t.imageSize) + ToTensor, no mean/std, best-validation checkpoint)"
            + exceptionsSentence(t) + "."
    }

    /// "; efficientnet_b0: 25 epochs, lr 0.002" for the architectures whose recipe differs.
    static func exceptionsSentence(_ t: TrainingRecipe) -> String {
        let parts = (t.perArchitecture ?? [:]).sorted { $0.key < $1.key }.compactMap { arch, x -> String? in
            var d: [String] = []
            if let e = x.epochs { d.append("\(e) epochs") }
            if let lr = x.lr { d.append("lr \(lr)") }
            return d.isEmpty ? nil : "\(arch): " + d.joined(separator: ", ")
        }
        return parts.isEmpty ? "" : "; except " + parts.joined(separator: "; ")
    }

    /// run.json: what produced the report, enough to reproduce it.
    static func writeManifest(_ run: PaperRun, to path: String, version: String, seconds: Double) throws {
        func weights(_ models: [TrainedModel]) throws -> [[String: Any]] {
            try models.map { m in ["architecture": m.architecture, "seed": m.seed, "file": m.checkpoint, "sha256": try ContentDigest.hex(file: m.checkpoint),
                                   "stage_key": m.key, "parameters": m.parameters,
                                   "initial_sha256": run.config.training.initialCheckpoints?[m.architecture]?.sha256 ?? NSNull()] }
        }
        func object(_ d: Data) -> Any { (try? JSONSerialization.jsonObject(with: d)) ?? NSNull() }
        var sweeps: [String: Any] = ["main": object(try run.main.config.json())]
        if let m = run.methods { sweeps["methods"] = object(try m.config.json()) }
        let obj: [String: Any] = [
            "software": "camaudit \(version)",
            "profile": run.config.profile.rawValue,
            "config": object(try run.config.json()),
            "seeds": run.config.seeds,
            "threads": Parallel.threads,
            "data": ["manifest": run.data.manifestPath, "manifest_sha256": try ContentDigest.hex(file: run.data.manifestPath),
                     "stage_key": run.data.digest, "images": run.data.manifest.items.count,
                     "marked_manifest": run.data.marked?.manifestPath ?? NSNull(),
                     "marked_manifest_sha256": try run.data.marked.map { try ContentDigest.hex(file: $0.manifestPath) } ?? NSNull()] as [String: Any],
            "weights": try weights(run.models),
            // What each architecture's training started from; the train stage's key holds the same digest.
            "initial_checkpoints": run.config.architectures.compactMap { a -> [String: Any]? in
                guard let i = run.config.training.initialCheckpoints?[a] else { return nil }
                return ["architecture": a, "file": i.path, "sha256": i.sha256, "torchvision_weights": i.weights ?? NSNull()]
            },
            "shortcut_weights": try weights(run.shortcutModels),
            "sweeps": sweeps,
            "stages": run.events.map { ["stage": $0.stage, "item": $0.item, "key": $0.key, "cached": $0.cached, "seconds": $0.seconds] as [String: Any] },
            "seconds": seconds,
            "finished": ISO8601DateFormatter().string(from: Date()),
        ]
        try atomicWrite(try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]), to: path)
    }

    /// What a reader must know when a map grid has a side of 2 or less (CNNs at 64 px are 2×2):
    /// upsampling spreads each cell over a block of the slice, so the maximum is a block, not a point.
    static func coarseMapNote(_ grid: GridResult?) -> String? {
        guard let g = grid, let sizes = g.mapSizes else { return nil }
        let coarse = g.columns.indices.filter { sizes[$0].contains { $0 <= 2 } }
        guard !coarse.isEmpty else { return nil }
        return "**Coarse maps.** At this image size the maps of " + coarse.map { "\(g.columns[$0]) (\(g.mapSize($0)!))" }.joined(separator: ", ")
            + " come from grids with two cells or fewer per side. Bilinear upsampling (pytorch-grad-cam's) turns such a grid into blocks: a map's maximum is a whole "
            + "block at the slice's edge or corner, where no lesion lies, so the pointing game (first maximal pixel in the lesion) "
            + "scores 0 and the energy share stays small; LocAcc, deletion and insertion still rank the methods. Larger images "
            + "(the full profile's 224 px: 7×7 for the CNNs) give maps with finer detail."
    }
}
