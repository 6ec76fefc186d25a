import Foundation

extension Plot {
    /// One box plot per group — median line, box from the first to the third quartile, whiskers
    /// to the furthest point within 1.5 × IQR (Tukey) — with every value drawn as a jittered dot
    /// on top, and n under each group's name. Non-finite values are left out (and not counted).
    /// `bounds`: where the quantity is defined (a share, an AUC: 0...1); the axis stays inside it.
    public static func distributions(title: String, yLabel: String, groups: [(name: String, values: [Double])],
                                     reference: (label: String, y: Double)? = nil, bounds: ClosedRange<Double>? = nil) -> String {
        var allY = groups.flatMap(\.values)
        if let reference { allY.append(reference.y) }
        let yTicks = bounds.map { Ticks.covering(allY, bounds: $0) } ?? Ticks.covering(allY)
        let plotW = categoryPlotWidth(labels: groups.map(\.name), perCategory: 110, range: 240...620)
        let slot = plotW / Double(max(groups.count, 1))
        let axis = CategoryAxis(labels: groups.map(\.name), slotWidth: slot)
        var f = ChartFrame(kind: "distributions", title: title, yLabel: yLabel, yTicks: yTicks,
                           legend: ChartFrame.referenceEntry(reference), bottomSpace: axis.height + 30, plotWidth: plotW)
        let centers = groups.indices.map { f.plot.x + slot * (Double($0) + 0.5) }
        f.drawReference(reference?.y ?? .nan)
        let boxW = min(slot * 0.5, 70)
        for (g, group) in groups.enumerated() {
            let cx = centers[g], color = Palette.color(g)
            guard let s = BoxSummary(group.values) else {
                f.canvas.text("no data", x: cx, y: f.plot.y + f.plot.h / 2, size: 12, anchor: .middle, fill: "#777", cls: "empty")
                continue
            }
            // Whiskers, box, median.
            f.canvas.line(cx, f.y(s.lowWhisker), cx, f.y(s.q1), stroke: "#333", width: 1.2, cls: "whisker")
            f.canvas.line(cx, f.y(s.q3), cx, f.y(s.highWhisker), stroke: "#333", width: 1.2, cls: "whisker")
            for w in [s.lowWhisker, s.highWhisker] {
                f.canvas.line(cx - boxW / 4, f.y(w), cx + boxW / 4, f.y(w), stroke: "#333", width: 1.2, cls: "whisker")
            }
            f.canvas.rect(x: cx - boxW / 2, y: f.y(s.q3), w: boxW, h: max(f.y(s.q1) - f.y(s.q3), 1),
                          fill: color, stroke: "#333", strokeWidth: 1.2, opacity: 0.25, cls: "box")
            f.canvas.line(cx - boxW / 2, f.y(s.median), cx + boxW / 2, f.y(s.median), stroke: "#111", width: 2.4, cls: "median")
            // Dots over the box, spread across 80% of its width.
            for (i, v) in group.values.enumerated() where v.isFinite {
                f.canvas.circle(cx: cx + jitter(group: g, index: i) * boxW * 0.4, cy: f.y(v), r: 2.6, fill: color,
                                opacity: 0.7, cls: "point")
            }
        }
        f.drawAxes()
        axis.draw(on: &f, centers: centers)
        let base = f.plot.y + f.plot.h + axis.height
        for (g, group) in groups.enumerated() {
            f.canvas.text("n = \(group.values.filter(\.isFinite).count)", x: centers[g], y: base + 10, size: 11,
                          anchor: .middle, fill: "#555", cls: "count")
        }
        return f.canvas.document(title: title)
    }
}
