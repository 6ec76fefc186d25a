import Foundation

extension Plot {
    /// Grouped bars: one group per category, one bar per series (coloured, in the legend), with
    /// error bars from `lo` to `hi` where given. A nil value leaves its bar out and prints "n/a".
    /// The y axis always includes 0, so bar lengths compare.
    public static func bars(title: String, yLabel: String, categories: [String],
                            series: [(name: String, values: [Double?], lo: [Double?]?, hi: [Double?]?)],
                            reference: (label: String, y: Double)? = nil) -> String {
        func at(_ a: [Double?]?, _ i: Int) -> Double? {
            guard let a, i < a.count, let v = a[i], v.isFinite else { return nil }
            return v
        }
        var allY: [Double] = []
        for s in series { for i in categories.indices { allY += [at(s.values, i), at(s.lo, i), at(s.hi, i)].compactMap { $0 } } }
        if let reference { allY.append(reference.y) }
        let yTicks = Ticks.covering(allY, includeZero: true)
        let perGroup = Double(max(series.count, 1))
        let plotW = categoryPlotWidth(labels: categories, perCategory: perGroup * 26 + 36, range: 260...640)
        let slot = plotW / Double(max(categories.count, 1))
        let axis = CategoryAxis(labels: categories, slotWidth: slot)
        let legend = series.enumerated().map { LegendEntry(name: $1.name, color: Palette.color($0), mark: .box) }
            + ChartFrame.referenceEntry(reference)
        var f = ChartFrame(kind: "bars", title: title, yLabel: yLabel, yTicks: yTicks, legend: legend,
                           bottomSpace: axis.height + 12, plotWidth: plotW)
        let barW = min(slot * 0.8 / perGroup, 48)
        let zero = f.y(0)
        let centers = categories.indices.map { f.plot.x + slot * (Double($0) + 0.5) }
        for (k, s) in series.enumerated() {
            let color = Palette.color(k)
            for c in categories.indices {
                let x = centers[c] + (Double(k) - (perGroup - 1) / 2) * barW
                guard let v = at(s.values, c) else {
                    f.canvas.text("n/a", x: x + 4, y: zero - 6, size: 11, fill: "#555", rotate: -90, cls: "na")
                    continue
                }
                f.canvas.rect(x: x - barW / 2 + 1, y: min(f.y(v), zero), w: barW - 2, h: abs(f.y(v) - zero),
                              fill: color, stroke: "#333", strokeWidth: 0.6, cls: "bar")
                if let lo = at(s.lo, c), let hi = at(s.hi, c) {
                    let cap = max(barW * 0.3, 3)
                    f.canvas.line(x, f.y(lo), x, f.y(hi), stroke: "#111", width: 1.3, cls: "errorbar")
                    f.canvas.line(x - cap, f.y(lo), x + cap, f.y(lo), stroke: "#111", width: 1.3, cls: "errorbar")
                    f.canvas.line(x - cap, f.y(hi), x + cap, f.y(hi), stroke: "#111", width: 1.3, cls: "errorbar")
                }
            }
        }
        // The reference after the bars so the dashes stay visible across them.
        f.drawReference(reference?.y ?? .nan)
        if yTicks.lo < 0 { f.canvas.line(f.plot.x, zero, f.plot.x + f.plot.w, zero, stroke: "#444", cls: "zero") }
        f.drawAxes()
        axis.draw(on: &f, centers: centers)
        return f.canvas.document(title: title)
    }
}
