import Foundation

extension Plot {
    /// A line chart: one line per series, its confidence band as a translucent area, an optional
    /// dashed horizontal reference (e.g. chance level). Mismatched lengths use the common prefix.
    /// - Parameters:
    ///   - yRange: fixed y axis range (data outside it is clipped); nil fits the data and bands.
    ///   - reference: a labelled horizontal line, listed in the legend.
    public static func lines(title: String, xLabel: String, yLabel: String, series: [Series],
                             yRange: ClosedRange<Double>? = nil, reference: (label: String, y: Double)? = nil) -> String {
        let allX = series.flatMap(\.x)
        var allY = series.flatMap(\.y) + series.flatMap { $0.lo ?? [] } + series.flatMap { $0.hi ?? [] }
        if let reference { allY.append(reference.y) }
        let xTicks = Ticks.covering(allX, target: 6)
        let yTicks = yRange.map { Ticks.within($0) } ?? Ticks.covering(allY)
        // Beyond four series, dash patterns tell coinciding lines apart (the one drawn below shows
        // through the gaps of the one above).
        let dashes = series.count > 4 ? ["", "8 4", "2 3", "8 3 2 3"] : [""]
        func dash(_ i: Int) -> String? { let d = dashes[i % dashes.count]; return d.isEmpty ? nil : d }
        let legend = series.enumerated().map { i, s in
            LegendEntry(name: s.name, color: Palette.color(i), mark: s.lo != nil && s.hi != nil ? .band(dash: dash(i)) : .line(dash: dash(i)))
        } + ChartFrame.referenceEntry(reference)
        var f = ChartFrame(kind: "lines", title: title, yLabel: yLabel, yTicks: yTicks, legend: legend,
                           bottomSpace: xLabel.isEmpty ? 34 : 56)
        let x = LinearScale(lo: xTicks.lo, hi: xTicks.hi, from: f.plot.x, to: f.plot.x + f.plot.w)
        // Vertical grid and x ticks.
        let base = f.plot.y + f.plot.h
        for v in xTicks.values {
            f.canvas.line(x(v), f.plot.y, x(v), base, stroke: "#eeeeee", cls: "grid")
            f.canvas.line(x(v), base, x(v), base + 4, stroke: "#444")
            f.canvas.text(xTicks.label(v), x: x(v), y: base + 18, size: ChartFrame.tickSize, anchor: .middle, fill: "#333", cls: "tick")
        }
        let clip = "clip-path=\"url(#\(f.id)-plot)\""
        // Bands first, so every line stays on top of every band; fainter when many overlap.
        let bandCount = series.filter { $0.lo != nil && $0.hi != nil }.count
        let bandOpacity = max(0.08, 0.18 * min(1, 4 / Double(max(bandCount, 1))))
        for (i, s) in series.enumerated() {
            guard let lo = s.lo, let hi = s.hi else { continue }
            let n = min(s.x.count, lo.count, hi.count)
            f.canvas.path(bandPath(x: s.x.prefix(n).map { x($0) }, lo: lo.prefix(n).map { f.y($0) },
                                   hi: hi.prefix(n).map { f.y($0) }, valid: (0..<n).map { s.x[$0].isFinite && lo[$0].isFinite && hi[$0].isFinite }),
                          fill: Palette.color(i), opacity: bandOpacity, cls: "band", extra: clip)
        }
        f.drawReference(reference?.y ?? .nan)
        for (i, s) in series.enumerated() {
            let n = min(s.x.count, s.y.count)
            let points: [(Double, Double)?] = (0..<n).map { j in
                s.x[j].isFinite && s.y[j].isFinite ? (x(s.x[j]), f.y(s.y[j])) : nil
            }
            // One path per series, even an empty one, so every legend entry has its element.
            let d = pathData(points)
            f.canvas.raw("<path d=\"\(d.isEmpty ? "M0 0" : d)\" fill=\"none\" stroke=\"\(Palette.color(i))\" stroke-width=\"2.2\" stroke-linejoin=\"round\" stroke-linecap=\"round\"\(dash(i).map { " stroke-dasharray=\"\($0)\"" } ?? "") class=\"series\"\(d.isEmpty ? " visibility=\"hidden\"" : "") \(clip)/>")
            // Isolated points (a gap on both sides) would be invisible as a path: mark them.
            for j in 0..<n where points[j] != nil && (j == 0 || points[j - 1] == nil) && (j == n - 1 || points[j + 1] == nil) {
                f.canvas.circle(cx: points[j]!.0, cy: points[j]!.1, r: 3, fill: Palette.color(i), cls: "point")
            }
        }
        f.drawAxes()
        f.drawXLabel(xLabel, offset: 42)
        return f.canvas.document(title: title)
    }

    /// A closed area between the `hi` and `lo` curves, one subpath per run of valid points.
    static func bandPath(x: [Double], lo: [Double], hi: [Double], valid: [Bool]) -> String {
        var parts: [String] = []
        var j = 0
        while j < valid.count {
            guard valid[j] else { j += 1; continue }
            var k = j
            while k + 1 < valid.count && valid[k + 1] { k += 1 }
            let upper: [(Double, Double)?] = (j...k).map { (x[$0], hi[$0]) }
            let lower: [(Double, Double)?] = (j...k).reversed().map { (x[$0], lo[$0]) }
            parts.append(pathData(upper + lower, closed: true))
            j = k + 1
        }
        return parts.joined(separator: " ")
    }
}
