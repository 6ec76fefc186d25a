import Foundation
import TensorCore
import Imaging
import Evaluation
import Report
import Sweep

/// What was audited: the model and the data, each with a content digest, so a verdict names
/// exactly the bytes it judged.
public struct AuditSubject: Codable, Sendable, Equatable {
    public struct Model: Codable, Sendable, Equatable {
        public var architecture: String
        public var weights: String
        /// SHA-256 of the checkpoint bytes (with the state-dict selection), or of the random seed.
        public var digest: String
        public var method: String
        public var imageSize: Int
        /// The CAM target layer (PyTorch module path): `--layer`, or the architecture's default.
        public var layer: String
        /// The layer is the architecture's usual one.
        public var defaultLayer: Bool
    }
    public struct Data: Codable, Sendable, Equatable {
        public var path: String
        public var split: String?
        public var images: Int
        /// SHA-256 over the images' content keys (image bytes, masks, class), in the plan's order.
        public var digest: String
        public var classes: [String]
        public var lesionTruth: Bool
    }
    public var model: Model
    public var data: Data

    public init(plan: Plan, method: String) {
        let w = plan.weights[0]
        model = Model(architecture: w.architecture, weights: w.path ?? "random (seed \(w.seed ?? 0))", digest: w.digest, method: method,
                      imageSize: plan.config.imageSize, layer: plan.camLayer(weights: 0), defaultLayer: plan.resolved.layer == nil)
        var d = ContentDigest()
        for i in plan.images { d.update(i.id + "\n") }
        data = Data(path: plan.config.data.path, split: plan.config.data.split, images: plan.images.count, digest: d.finalizeHex(),
                    classes: plan.manifest.classes, lesionTruth: plan.manifest.items.contains { $0.hasLesionTruth })
    }
}

/// audit.json: the checks, the model and the data.
public struct AuditDocument: Codable, Sendable {
    public var checks: [AuditCheck]
    public var model: AuditSubject.Model
    public var data: AuditSubject.Data

    public init(checks: [AuditCheck], model: AuditSubject.Model, data: AuditSubject.Data) {
        self.checks = checks; self.model = model; self.data = data
    }

    public func json() throws -> Foundation.Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try e.encode(self)
    }

    /// The worst status among the checks.
    public var worst: AuditStatus { checks.map(\.status).max { $0.severity < $1.severity } ?? .pass }
}

/// Writes the audit's three outputs into OUT: audit.json, audit.md and report.html (with the
/// report's markdown twin, figures/ and tables/).
public enum AuditReport {
    public static let files = ["audit.json", "audit.md", "report.html", "report.md", "figures", "tables"]

    /// How many slices the gallery shows.
    public static let galleryCount = 6

    public static func write(_ doc: AuditDocument, evaluation: AuditEvaluation, executor: Executor, plan: Plan, to out: String) throws {
        try atomicWrite(try doc.json(), to: out + "/audit.json")
        try atomicWrite(Foundation.Data(verdictMarkdown(doc).utf8), to: out + "/audit.md")
        try page(doc, evaluation: evaluation, executor: executor, plan: plan).write(to: out)
    }

    static func valueText(_ c: AuditCheck) -> String {
        guard let v = c.value else { return "—" }
        return fmt(v) + (c.ci.map { " [\(fmt($0[0])), \(fmt($0[1]))]" } ?? "")
    }

    static func verdictRows(_ doc: AuditDocument) -> [[String]] {
        doc.checks.map { c in [c.id, c.status.rawValue.uppercased(), valueText(c), c.chance.map { fmt($0) } ?? "—", c.threshold, c.reason] }
    }
    static let verdictHeader = ["check", "status", "value [95% CI]", "chance", "threshold", "reason"]

    static func perClassRows(_ doc: AuditDocument) -> [[String]] {
        doc.checks.flatMap { c in
            c.perClass.map { p in [c.id, p.className, p.status.rawValue, p.value.map { fmt($0) + (p.ci.map { " [\(fmt($0[0])), \(fmt($0[1]))]" } ?? "") } ?? "—",
                                   String(p.n), p.reason] }
        }
    }

    static func heading(_ doc: AuditDocument) -> String {
        "\(doc.model.architecture) · \(doc.model.method) · \(doc.data.images) images\(doc.data.split.map { " (\($0) split)" } ?? "")"
    }

    /// audit.md: the verdict, per class, and what each check means.
    static func verdictMarkdown(_ doc: AuditDocument) -> String {
        var r = ReportDocument(title: "Grad-CAM audit: \(heading(doc))")
        r.paragraph(subjectText(doc))
        r.table(caption: "Verdict (worst: **\(doc.worst.rawValue)**)", header: verdictHeader, rows: verdictRows(doc), csvName: nil)
        r.table(caption: "Per class", header: ["check", "class", "status", "value [95% CI]", "n", "note"], rows: perClassRows(doc), csvName: nil)
        return r.markdown()
    }

    static func subjectText(_ doc: AuditDocument) -> String {
        "Model `\(doc.model.architecture)`, weights `\(doc.model.weights)` (SHA-256 `\(doc.model.digest.prefix(16))…`), method `\(doc.model.method)` "
            + "at layer `\(doc.model.layer)`\(doc.model.defaultLayer ? " (the architecture's default)" : " (`--layer`)"), "
            + "input \(doc.model.imageSize) px. Data `\(doc.data.path)`\(doc.data.split.map { ", split \($0)" } ?? ""): \(doc.data.images) images of "
            + "\(doc.data.classes.joined(separator: ", ")) (content digest `\(doc.data.digest.prefix(16))…`)"
            + (doc.data.lesionTruth ? ", with lesion masks or boxes." : ", without lesion masks or boxes.")
    }

    static func page(_ doc: AuditDocument, evaluation: AuditEvaluation, executor: Executor, plan: Plan) throws -> ReportDocument {
        var r = ReportDocument(title: "Grad-CAM audit: \(heading(doc))")
        r.paragraph(subjectText(doc))
        let styles = doc.checks.map { ReportDocument.RowStyle(rawValue: $0.status.rawValue) }
        r.table(caption: "Verdict, one row per check (worst: **\(doc.worst.rawValue)**). Values are means over images with 95% bootstrap CIs.",
                header: verdictHeader, rows: verdictRows(doc), csvName: "verdict", rowStyles: styles)
        if doc.checks.first?.status == .fail {
            r.paragraph("**The model has not learned the task** (accuracy at chance): every other check describes the explanations of an untrained model.")
        }

        r.heading("Evidence")
        r.paragraph("Each check's value beside its chance level: RandomCAM for localisation and faithfulness, a uniform map for outside_body (no excess of mass outside the body over that region's share of the image).")
        r.figure(name: "chance", caption: "Checks against chance, means with 95% CIs.", svg: chanceFigure(doc))
        let faithNumber = r.figureCount + 1
        r.figure(name: "faith", caption: "Faithfulness: the study's Faith, f(x)_y − f(x⊙(1−L))_y in raw logits (the drop of the explained class's logit once the map's region is removed), of \(doc.model.method) beside RandomCAM on the same images, over all images and per true class; right, RISE deletion (lower = more faithful) and insertion (higher) AUCs. Means with 95% bootstrap CIs.",
                 svg: faithFigure(evaluation, method: doc.model.method))
        let curve = evaluation.cascadeCurve()
        if !curve.isEmpty {
            let x = curve.map { Double($0.stage) }
            func series(_ name: String, _ v: [AuditValue]) -> Series {
                Series(name: name, x: x, y: v.map { $0.value ?? .nan }, lo: v.map { $0.ci?[0] ?? .nan }, hi: v.map { $0.ci?[1] ?? .nan })
            }
            let atLayer = doc.model.defaultLayer ? "" : " The map is taken at `\(doc.model.layer)`: stages that re-initialise blocks above it change the map only through its gradients (the channel weights); from the stage that reaches its own block on, its activations change too."
            r.figure(name: "cascade", caption: "Cascading randomisation: similarity of the map to the trained model's as blocks are re-initialised from the head down (stage k: blocks 0…k), mean and 95% CI." + atLayer,
                     svg: Plot.lines(title: "Model-parameter randomisation", xLabel: "cascade stage (blocks randomised from the head)", yLabel: "similarity to the trained map",
                                     series: [series("Spearman ρ", curve.map(\.spearman)), series("SSIM", curve.map(\.ssim))],
                                     reference: (label: "threshold", y: evaluation.thresholds["randomization"])))
        }
        r.figure(name: "per-class", caption: "Each check per true class (value; see the per-class table for CIs).", svg: perClassFigure(doc))
        if let gallery = try galleryFigure(evaluation: evaluation, executor: executor, plan: plan) {
            r.figure(name: "gallery", caption: "The slices whose map most favours the outside of the body (mass outside minus area outside): input with the body outline, and the map (0.5·image + 0.5·JET) with the body outline.",
                     svg: gallery)
        }
        r.table(caption: "Per class", header: ["check", "class", "status", "value [95% CI]", "n", "note"], rows: perClassRows(doc), csvName: "per_class")

        r.heading("Conventions")
        // Checks whose evidence is drawn name their figure.
        let figures = ["faithfulness": faithNumber]
        for c in doc.checks {
            r.paragraph("**\(c.id)** — \(c.meaning) Threshold: \(c.threshold)." + (c.evidence.isEmpty ? "" : " Evidence: "
                + c.evidence.map { "\($0.name) \(fmt($0.value))" + ($0.ci.map { " [\(fmt($0[0])), \(fmt($0[1]))]" } ?? "") }.joined(separator: "; ") + ".")
                + (figures[c.id].map { " Drawn in Figure \($0) (`figure-faith`)." } ?? ""))
        }
        r.paragraph("Statuses: pass; warn (the value meets the threshold but its 95% CI does not, or a comparison is not significant); fail; undefined (the check could not be made, and never counts as passed). Thresholds are overridable with `--threshold ID=VALUE`; docs/AUDIT.md gives their sources.")
        return r
    }

    static func chanceFigure(_ doc: AuditDocument) -> String {
        let ids = ["outside_body", "localization", "faithfulness"]
        let cs = ids.compactMap { id in doc.checks.first { $0.id == id } }
        // Faith is in logits, the others are shares: each bar pair is the check's own unit, so the
        // figure shows one panel of shares and leaves Faith to its own scale by normalising to chance.
        let shares = cs.filter { $0.id != "faithfulness" }
        var cats = shares.map(\.id)
        var mine: [Double?] = shares.map(\.value), lo: [Double?] = shares.map { $0.ci?[0] }, hi: [Double?] = shares.map { $0.ci?[1] }
        var chance: [Double?] = shares.map(\.chance)
        if let acc = doc.checks.first(where: { $0.id == "accuracy" }) {
            cats.insert("accuracy", at: 0); mine.insert(acc.value, at: 0); lo.insert(acc.ci?[0], at: 0); hi.insert(acc.ci?[1], at: 0)
            chance.insert(acc.chance, at: 0)
        }
        return Plot.bars(title: "Value and chance level", yLabel: "share", categories: cats,
                         series: [(name: doc.model.method, values: mine, lo: lo, hi: hi), (name: "chance (RandomCAM / uniform / majority)", values: chance, lo: nil, hi: nil)])
    }

    /// Faith of the judged method and RandomCAM (all images, per class) beside the deletion and
    /// insertion AUCs: two panels, as Faith is in logits and the AUCs are probabilities.
    static func faithFigure(_ evaluation: AuditEvaluation, method: String) -> String {
        let c = evaluation.faithComparison()
        func panel(_ title: String, _ yLabel: String, _ rows: [(name: String, mine: AuditValue, chance: AuditValue)]) -> String {
            Plot.bars(title: title, yLabel: yLabel, categories: rows.map { $0.name },
                      series: [(name: method, values: rows.map { $0.mine.value }, lo: rows.map { $0.mine.ci?[0] }, hi: rows.map { $0.mine.ci?[1] }),
                               (name: "RandomCAM (chance)", values: rows.map { $0.chance.value }, lo: rows.map { $0.chance.ci?[0] }, hi: rows.map { $0.chance.ci?[1] })])
        }
        return Plot.sideBySide([panel("Faith against RandomCAM", "Faith (logit drop)", c.faith),
                                panel("Deletion (lower = more faithful) and insertion (higher)", "AUC (softmax probability)", c.auc)],
                               title: "Faithfulness against RandomCAM")
    }

    static func perClassFigure(_ doc: AuditDocument) -> String {
        let ids = doc.checks.filter { $0.id != "faithfulness" }.map(\.id)
        let classes = doc.data.classes
        let series = classes.map { cls in
            (name: cls, values: ids.map { id in doc.checks.first { $0.id == id }?.perClass.first { $0.className == cls }?.value } as [Double?],
             lo: nil as [Double?]?, hi: nil as [Double?]?)
        }
        return Plot.bars(title: "Checks per class", yLabel: "value", categories: ids, series: series)
    }

    /// The worst slices for outside_body, with the body outline on the input and on the map.
    static func galleryFigure(evaluation: AuditEvaluation, executor: Executor, plan: Plan) throws -> String? {
        let energy = evaluation.values("outside_energy"), area = evaluation.values("outside_area")
        let excess = energy.compactMapValues { $0 }.filter { area[$0.key] != nil }.map { ($0.key, $0.value - area[$0.key]!) }
        let worst = Dictionary(excess, uniquingKeysWith: { a, _ in a }).sorted { ($0.value, $1.key) > ($1.value, $0.key) }.prefix(galleryCount).map(\.key)
        let index = Dictionary(plan.images.enumerated().map { ($1.file, $0) }, uniquingKeysWith: { a, _ in a })
        guard let m = plan.config.methods.firstIndex(of: evaluation.method) else { return nil }
        let shown = try executor.imagesAndMaps(worst.compactMap { index[$0] }, weights: 0, method: m)
        guard !shown.isEmpty else { return nil }
        var rows: [(label: String, cells: [GridCell])] = []
        for s in shown {
            let img = try s.image.reshaped(Array(s.image.shape.dropFirst()))
            let body = try BodyMask.find(image: img).map { $0 ? UInt8(255) : 0 }
            let grey = try Overlay.render(image: img, map: s.map, imageWeight: 1)
            let overlay = try Overlay.render(image: img, map: s.map)
            let name = (plan.images[s.index].file as NSString).lastPathComponent
            let file = plan.images[s.index].file
            let e = "\(energy[file].map { pct($0) } ?? "n/a") of the mass, \(area[file].map { pct($0) } ?? "n/a") of the image"
            rows.append((label: plan.images[s.index].className, cells: [GridCell(image: grey, outline: body, caption: name),
                                                                       GridCell(image: overlay, outline: body, caption: "outside: \(e)")]))
        }
        return try CAMGrid.svg(columnTitles: ["Input, body outlined", "\(evaluation.method)"], rows: rows, tileWidth: 200,
                               colorbarLabel: "CAM value (each map scaled to 0–1), overlaid as 0.5·image + 0.5·JET; white line: the body")
    }
}
