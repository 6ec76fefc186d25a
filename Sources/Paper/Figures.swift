import Foundation
import Imaging
import Evaluation
import Report
import Sweep

/// One figure of the report.
public struct PaperFigure {
    public var name: String
    public var caption: String
    public var svg: String
}

/// Stage 6: the figures, drawn with the Report module from the stages' results (pure functions of them).
public enum Figures {
    static func values(_ rows: [ResultRow], model: String? = nil, method: String, metric: String) -> [Double] {
        rows.compactMap { r in
            guard r.key.method == method, r.key.metric == metric, model.map({ $0 == r.key.model }) ?? true, let v = r.value, v.isFinite else { return nil }
            return v
        }
    }

    public static func accuracy(_ acc: [ArchitectureAccuracy], chance: Double, floor: Double) -> PaperFigure {
        let svg = Plot.bars(title: "Test accuracy per architecture (mean over seeds)", yLabel: "accuracy",
                            categories: acc.map(\.architecture),
                            series: [(name: "accuracy", values: acc.map { Optional($0.mean) },
                                      lo: acc.map { Optional($0.accuracies.min() ?? $0.mean) }, hi: acc.map { Optional($0.accuracies.max() ?? $0.mean) })],
                            reference: (label: String(format: "chance %.2f (largest class)", chance), y: chance))
        return PaperFigure(name: "accuracy", caption: String(format: "Test accuracy per architecture, mean over seeds; whiskers span the seeds' lowest and highest. The line is chance (the largest class's share of the test split, %.3f); the accuracy floor below which explanation metrics are flagged is %.2f.", chance, floor), svg: svg)
    }

    public static func grid(_ g: GridResult) throws -> PaperFigure {
        var rows: [(label: String, cells: [GridCell])] = []
        for r in g.rows {
            let outline: [UInt8]? = try r.mask.map { try PNG.read(path: $0).bytes8() }
            var cells = [GridCell(image: try PNG.read(path: r.input), outline: outline, caption: (r.file as NSString).lastPathComponent)]
            for (k, o) in r.overlays.enumerated() {
                cells.append(GridCell(image: try PNG.read(path: o), outline: outline, caption: "predicted \(r.predicted[k])"))
            }
            rows.append((label: r.label, cells: cells))
        }
        let svg = try CAMGrid.svg(columnTitles: ["input"] + g.columns, rows: rows)
        let chosen = g.rows.map { "\($0.label): `\($0.file)` (\($0.reason))" }.joined(separator: "; ")
        // The map's own resolution: at 64 px a CNN's last stage is 2×2, so a smooth blob is all a map can show.
        let sizes = g.mapSizes == nil ? "" : " Each map is computed on its target layer's grid ("
            + g.columns.indices.map { "\(g.columns[$0]) \(g.mapSize($0)!)" }.joined(separator: ", ")
            + ") and bilinearly upsampled to the slice, so it cannot hold finer detail than that grid."
        return PaperFigure(name: "gradcam_grid", caption: "Grad-CAM of each architecture (first seed) in the study's layout: 0.5·image + 0.5·JET(map), "
                           + "map of the predicted class, lesion outlined where a mask exists." + sizes + " Slices chosen per class as the test slice classified "
                           + "correctly by the most architectures (ties: first in manifest order): \(chosen).", svg: svg)
    }

    /// Mean curve per architecture with a 95% bootstrap band per point.
    public static func curves(_ sets: [CurveSet], deletion: Bool) -> PaperFigure? {
        var series: [Series] = []
        for s in sets {
            let curves = deletion ? s.deletion : s.insertion
            guard let first = curves.first else { continue }
            var y: [Double] = [], lo: [Double] = [], hi: [Double] = []
            for j in first.indices {
                let col = curves.compactMap { j < $0.count ? $0[j] : nil }
                y.append(Stats.mean(col) ?? 0)
                let ci = Stats.bootstrapCI(col, resamples: 500, seed: UInt64(j))
                lo.append(ci?.low ?? y[j]); hi.append(ci?.high ?? y[j])
            }
            series.append(Series(name: s.architecture, x: s.fractions, y: y, lo: lo, hi: hi))
        }
        guard !series.isEmpty else { return nil }
        let kind = deletion ? "Deletion" : "Insertion"
        let svg = Plot.lines(title: "\(kind) curves of Grad-CAM", xLabel: deletion ? "fraction of pixels removed (most salient first)" : "fraction of pixels revealed (most salient first)",
                             yLabel: "softmax probability of the explained class", series: series, yRange: 0...1)
        let n = sets.first.map { (deletion ? $0.deletion : $0.insertion).count } ?? 0
        return PaperFigure(name: deletion ? "deletion_curves" : "insertion_curves",
                           caption: "\(kind) curves (RISE; \(deletion ? "removed pixels set to 0" : "pixels revealed over a Gaussian blur, kernel 11, σ 5"); "
                           + "score = softmax probability of the predicted class) of each architecture's first seed on the first \(n) test images; "
                           + "line = mean, band = 95% bootstrap CI of the mean per point. \(deletion ? "Lower" : "Higher") area = more faithful.", svg: svg)
    }

    /// Per-image distributions of each metric per architecture, RandomCAM's mean as the reference.
    public static func distributions(_ archs: [String], rows: [ResultRow]) -> [PaperFigure] {
        Tables.explanationMetrics.compactMap { m in
            let groups = archs.map { (name: $0, values: values(rows, model: $0, method: "gradcam", metric: m.primaryRow)) }
            guard groups.contains(where: { !$0.values.isEmpty }) else { return nil }
            let chance = Stats.mean(values(rows, method: "random", metric: m.primaryRow))
            let svg = Plot.distributions(title: "\(m.label) of Grad-CAM per architecture", yLabel: m.label, groups: groups,
                                         reference: chance.map { (label: String(format: "RandomCAM mean %.3f", $0), y: $0) },
                                         bounds: m.unitInterval ? 0...1 : nil)
            return PaperFigure(name: "dist_\(m.primaryRow)", caption: "\(m.label) (\(m.convention)) per test image and seed; box = quartiles, "
                               + "whiskers = 1.5 IQR, points = images; line = RandomCAM's mean over all architectures (chance).", svg: svg)
        }
    }

    /// Cross-architecture agreement: mean IoU of the binarised maps of two architectures' first seeds;
    /// the diagonal holds each architecture's Consist (agreement with itself across seeds).
    public static func agreement(_ archs: [String], rows: [ResultRow], threshold: Float) -> PaperFigure? {
        var v = [[Double?]](repeating: [Double?](repeating: nil, count: archs.count), count: archs.count)
        var any = false
        let consist = MetricName.consist.spec.primaryRow, iou = MetricName.cross_arch.spec.primaryRow
        for (i, a) in archs.enumerated() {
            for (j, b) in archs.enumerated() {
                let xs = i == j ? values(rows, model: a, method: "gradcam", metric: consist)
                    : values(rows, model: "\(a)~\(b)", method: "gradcam", metric: iou) + values(rows, model: "\(b)~\(a)", method: "gradcam", metric: iou)
                v[i][j] = Stats.mean(xs)
                if !xs.isEmpty { any = true }
            }
        }
        guard any else { return nil }
        let svg = Plot.heatmap(title: "Agreement of Grad-CAM maps", rows: archs, columns: archs, values: v, range: 0...1,
                               colorbarLabel: String(format: "mean IoU of maps ≥ %.1f", threshold))
        return PaperFigure(name: "agreement", caption: String(format: "Agreement between architectures: mean over test images of the IoU of the maps binarised at %.1f (first seed of each); diagonal: Consist, the same IoU across seeds of one architecture. n/a: no defined value (both binarised maps empty, or a single seed).", threshold), svg: svg)
    }

    /// The randomisation cascade: similarity of each method's map to the trained model's as blocks
    /// are re-initialised from the head down.
    public static func cascade(_ rows: [ResultRow], architecture: String) -> PaperFigure? {
        var series: [Series] = []
        let spearman = MetricName.cascade.spec.primaryRow
        let methods = Array(Set(rows.filter { $0.key.metric == spearman }.map(\.key.method))).sorted()
        for m in methods {
            var byStage: [Int: [Double]] = [:]
            for r in rows where r.key.metric == spearman && r.key.method == m {
                guard let v = r.value, v.isFinite, let k = MetricParameter.stage.value(in: r.key.params).flatMap({ Int($0) }) else { continue }
                byStage[k, default: []].append(v)
            }
            let stages = byStage.keys.sorted()
            guard !stages.isEmpty else { continue }
            let cis = stages.map { Stats.bootstrapCI(byStage[$0]!, resamples: 500) }
            series.append(Series(name: m, x: stages.map { Double($0) }, y: stages.map { Stats.mean(byStage[$0]!)! },
                                 lo: cis.enumerated().map { $1?.low ?? Stats.mean(byStage[stages[$0]]!)! },
                                 hi: cis.enumerated().map { $1?.high ?? Stats.mean(byStage[stages[$0]]!)! }))
        }
        guard !series.isEmpty else { return nil }
        // Methods whose means coincide would draw one line over another and hide it: one line, both names.
        // 0.002 is under a line's width on this axis (2 units over ~600 px).
        var merged: [Series] = []
        for s in series {
            if let k = merged.firstIndex(where: { $0.x == s.x && zip($0.y, s.y).allSatisfy { abs($0 - $1) <= 0.002 } }) {
                merged[k].name += " = " + s.name
            } else { merged.append(s) }
        }
        let shared = merged.filter { $0.name.contains(" = ") }.map(\.name)
        series = merged
        let svg = Plot.lines(title: "Randomisation cascade (\(architecture))", xLabel: "stage (blocks re-initialised from the head down to this one)",
                             yLabel: "Spearman ρ with the trained model's map", series: series, yRange: -1...1, reference: (label: "no similarity", y: 0))
        return PaperFigure(name: "cascade", caption: "Model-parameter randomisation test (Adebayo et al. 2018), cascading: stage k re-initialises "
                           + "the k+1 blocks nearest the head of \(architecture)'s first seed (torchvision's initialisation, seeded); Spearman rank "
                           + "correlation of each method's map with the trained model's, mean over test images with a 95% bootstrap band. A method "
                           + "that depends on the learned weights falls towards 0."
                           + (shared.isEmpty ? "" : " Methods whose means agreed within 0.002 at every stage share a line (" + shared.joined(separator: "; ")
                              + "): Grad-CAM, HiResCAM and XGrad-CAM give the same map, up to rounding, when the layer's gradient is constant "
                              + "over space, as under a global-average-pooled linear head."), svg: svg)
    }

    /// Methods compared on one architecture, the metrics in [0, 1] side by side with CIs.
    public static func methods(_ groups: [SummaryGroup], architecture: String, methods: [String]) -> PaperFigure? {
        // One weights per architecture here: nothing across weights is defined.
        let metrics = Tables.explanationMetrics.filter { $0.unitInterval && $0.scope != .acrossWeights }
        var series: [(name: String, values: [Double?], lo: [Double?]?, hi: [Double?]?)] = []
        for m in metrics {
            let gs = methods.map { me in groups.first { $0.model == architecture && $0.method == me && $0.metric == m.primaryRow } }
            guard gs.contains(where: { $0?.mean != nil }) else { continue }
            series.append((name: m.label, values: gs.map { $0?.mean }, lo: gs.map { $0?.ciLow }, hi: gs.map { $0?.ciHigh }))
        }
        guard !series.isEmpty else { return nil }
        let svg = Plot.bars(title: "CAM methods on \(architecture)", yLabel: "mean over test images", categories: methods, series: series)
        return PaperFigure(name: "methods", caption: "CAM methods compared on \(architecture) (first seed): mean over test images with 95% bootstrap CIs. "
                           + metrics.map { "\($0.label): \($0.convention)" }.joined(separator: "; ") + ". `random` = RandomCAM, the chance level.", svg: svg)
    }

    /// The shortcut experiment as two figures: where the map's mass lands, and what the marker buys —
    /// for the shortcut models and for the controls trained without markers.
    public static func shortcut(_ archs: [String], _ rs: [ShortcutResult]) -> [PaperFigure] {
        let present = archs.filter { a in rs.contains { $0.architecture == a } }
        guard !present.isEmpty else { return [] }
        func series(_ name: String, _ trainedOn: String, _ pick: (ShortcutResult) -> [Double]) -> (name: String, values: [Double?], lo: [Double?]?, hi: [Double?]?) {
            let xs = present.map { a in rs.filter { $0.architecture == a && $0.trainedOn == trainedOn }.flatMap(pick) }
            let cis = xs.map { Stats.bootstrapCI($0) }
            return (name: name, values: xs.map { Stats.mean($0) }, lo: cis.map { $0?.low }, hi: cis.map { $0?.high })
        }
        let markerArea = Stats.mean(rs.map(\.markerArea)) ?? 0
        let energy = Plot.bars(title: "Where Grad-CAM looks on marked slices", yLabel: "share of the map's mass",
                               categories: present, series: [series("shortcut model: on the marker", "marked", { $0.markerEnergy }),
                                                             series("shortcut model: on the lesion", "marked", { $0.lesionEnergy }),
                                                             series("control: on the marker", "clean", { $0.markerEnergy }),
                                                             series("control: on the lesion", "clean", { $0.lesionEnergy })],
                               reference: (label: String(format: "marker's share of the image %.3f", markerArea), y: markerArea))
        let accuracy = Plot.bars(title: "Accuracy on marked slices, with and without the marker", yLabel: "accuracy",
                                 categories: present, series: [series("shortcut model, with the marker", "marked", { [$0.accuracyMarked] }),
                                                               series("shortcut model, marker removed", "marked", { [$0.accuracyClean] }),
                                                               series("control, with the marker", "clean", { [$0.accuracyMarked] }),
                                                               series("control, marker removed", "clean", { [$0.accuracyClean] })])
        return [
            PaperFigure(name: "shortcut_energy", caption: "Shortcut experiment, on the test slices carrying the class-correlated corner marker: "
                        + "share of the Grad-CAM mass (energy) on the marker and on the lesion, mean over slices with 95% bootstrap CIs, for "
                        + "the model trained on marked slices and for the control trained without markers; the line is the marker's share "
                        + "of the image, what a uniform map would put on it.", svg: energy),
            PaperFigure(name: "shortcut_accuracy", caption: "Accuracy on the same marked test slices with the marker and with it removed "
                        + "(the slice drawn again without it). A model that learned the marker loses accuracy without it; the control "
                        + "never saw a marker.", svg: accuracy),
        ]
    }
}
