import Foundation

// MARK: - Ticks

/// Tick positions for an axis: "nice" steps (1, 2 or 5 × 10^k) covering the data.
struct Ticks {
    var lo: Double
    var hi: Double
    var values: [Double]
    var decimals: Int

    /// Ticks whose ends enclose `values` (non-finite values ignored). An empty or all-non-finite
    /// input gives 0…1; a constant gives a small range around the constant.
    static func covering(_ values: [Double], target: Int = 5, includeZero: Bool = false) -> Ticks {
        var finite = values.filter(\.isFinite)
        if includeZero { finite.append(0) }
        guard var lo = finite.min(), var hi = finite.max() else { return Ticks.covering([0, 1], target: target) }
        if hi - lo <= Swift.max(abs(hi), abs(lo)) * 1e-12 {
            let pad = lo == 0 ? 1 : abs(lo) * 0.1
            lo -= pad; hi += pad
            if includeZero && lo < 0 && hi > 0 && finite.allSatisfy({ $0 >= 0 }) { lo = 0 }
        }
        let step = niceNumber((hi - lo) / Double(Swift.max(target - 1, 1)), round: true)
        let a = (lo / step).rounded(.down) * step, b = (hi / step).rounded(.up) * step
        return Ticks(lo: a, hi: b, step: step)
    }

    /// Ticks covering `values` from `bounds.lowerBound` (when it is 0) and never beyond `bounds`: a
    /// metric defined in [0, 1] keeps its axis inside [0, 1], even when every value is 0.
    static func covering(_ values: [Double], bounds: ClosedRange<Double>, target: Int = 5) -> Ticks {
        let t = covering(values, target: target, includeZero: bounds.contains(0))
        guard t.lo < bounds.lowerBound || t.hi > bounds.upperBound else { return t }
        return within(Swift.max(t.lo, bounds.lowerBound)...Swift.min(t.hi, bounds.upperBound), target: target)
    }

    /// Ticks inside a fixed range (the range's ends stay the axis ends).
    static func within(_ range: ClosedRange<Double>, target: Int = 5) -> Ticks {
        guard range.lowerBound.isFinite, range.upperBound.isFinite, range.upperBound > range.lowerBound else {
            return covering([range.lowerBound, range.upperBound], target: target)
        }
        let step = niceNumber((range.upperBound - range.lowerBound) / Double(Swift.max(target - 1, 1)), round: true)
        var t = Ticks(lo: (range.lowerBound / step).rounded(.up) * step, hi: (range.upperBound / step).rounded(.down) * step, step: step)
        t.lo = range.lowerBound; t.hi = range.upperBound
        return t
    }

    private init(lo: Double, hi: Double, step: Double) {
        self.lo = lo; self.hi = hi
        // Extreme data (a span that overflows, or a step lost in rounding) gets one tick, not a crash.
        let count = ((hi - lo) / step).rounded()
        let n = count.isFinite && count >= 0 ? Int(Swift.min(count, 100)) : 0
        let places = Swift.max(0, -Int((log10(step) + 1e-9).rounded(.down)))
        decimals = places
        // Multiples of the step rounded to its decimal places, so 3 × 0.2 is 0.6, not 0.6000000000000001.
        let unit = pow(10, Double(places + 1))
        values = (0...Swift.max(n, 0)).map { k in
            let v = ((lo / step).rounded() + Double(k)) * step
            return abs(v) < step * 1e-9 ? 0 : (v * unit).rounded() / unit
        }
    }

    /// Heckbert's nice numbers ("Graphics Gems", 1990): 1, 2, 5 or 10 × 10^k near `x`.
    static func niceNumber(_ x: Double, round: Bool) -> Double {
        guard x > 0, x.isFinite else { return 1 }
        let e = (log10(x)).rounded(.down)
        let f = x / pow(10, e)
        let nf: Double
        if round { nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10 } else { nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10 }
        return nf * pow(10, e)
    }

    func label(_ v: Double) -> String { formatValue(v, decimals: decimals) }
}

/// A linear map from data values to pixels.
struct LinearScale {
    var lo: Double, hi: Double, from: Double, to: Double
    func callAsFunction(_ v: Double) -> Double {
        guard hi != lo, v.isFinite else { return (from + to) / 2 }
        return from + (v - lo) / (hi - lo) * (to - from)
    }
}

// MARK: - Chart frame

/// An entry in a chart's legend.
struct LegendEntry {
    enum Mark { case line(dash: String?), band(dash: String?), box, point }
    var name: String
    var color: String
    var mark: Mark
}

/// The parts every chart shares: title, y axis with grid and ticks, y label, legend outside the
/// plot on the right (so it never covers data), and the plot rectangle in between. Charts draw
/// their x axis and data into `plot`.
struct ChartFrame {
    var canvas: SVGCanvas
    var plot: (x: Double, y: Double, w: Double, h: Double)
    var y: LinearScale
    let id: String

    static let titleSize = 16.0, labelSize = 13.0, tickSize = 12.0, legendSize = 12.0

    /// - Parameters:
    ///   - bottomSpace: room below the plot for the x axis (ticks, labels, x title).
    ///   - plotWidth: width of the plot area in px.
    init(kind: String, title: String, yLabel: String, yTicks: Ticks, legend: [LegendEntry],
         bottomSpace: Double, plotWidth: Double = 560, plotHeight: Double = 320) {
        id = figureID(kind, title)
        let tickLabelW = yTicks.values.map { textWidth(yTicks.label($0), size: Self.tickSize) }.max() ?? 0
        let left = 14 + (yLabel.isEmpty ? 0 : Self.labelSize + 10) + tickLabelW + 8
        // Long names wrap onto a second line rather than widen the figure without limit.
        let legendLabels = legend.map { wrapText($0.name, width: 220, size: Self.legendSize) }
        let legendW = legend.isEmpty ? 0 : 16 + 28 + (legendLabels.joined().map { textWidth($0, size: Self.legendSize) }.max() ?? 0)
        let right = legend.isEmpty ? 24 : legendW + 16
        let width = left + plotWidth + right
        let titleLines = wrapText(title, width: width - 24, size: Self.titleSize, bold: true)
        let top = 14 + Double(titleLines.count) * 20 + 12
        let legendH = legendLabels.reduce(0.0) { $0 + 20 + 15 * Double(max($1.count - 1, 0)) }
        canvas = SVGCanvas(width: width, height: max(top + plotHeight + bottomSpace, top + legendH + 16))
        plot = (left, top, plotWidth, plotHeight)
        y = LinearScale(lo: yTicks.lo, hi: yTicks.hi, from: top + plotHeight, to: top)
        canvas.defs.append("<clipPath id=\"\(id)-plot\"><rect x=\"\(svgNum(left))\" y=\"\(svgNum(top))\" width=\"\(svgNum(plotWidth))\" height=\"\(svgNum(plotHeight))\"/></clipPath>")

        for (i, line) in titleLines.enumerated() {
            canvas.text(line, x: width / 2, y: 14 + 15 + Double(i) * 20, size: Self.titleSize, anchor: .middle, weight: "bold", cls: "title")
        }
        // Horizontal grid lines and y tick labels.
        for v in yTicks.values {
            let py = y(v)
            canvas.line(left, py, left + plotWidth, py, stroke: "#e3e3e3", cls: "grid")
            canvas.line(left - 4, py, left, py, stroke: "#444")
            canvas.text(yTicks.label(v), x: left - 7, y: py + 4, size: Self.tickSize, anchor: .end, fill: "#333", cls: "tick")
        }
        if !yLabel.isEmpty {
            let cx = 14 + Self.labelSize - 2, cy = top + plotHeight / 2
            canvas.text(yLabel, x: cx, y: cy, size: Self.labelSize, anchor: .middle, rotate: -90, cls: "axis-label")
        }
        // Legend: one row per entry, from the plot's top edge.
        let lx = left + plotWidth + 16
        var ly = top + 8
        for (i, entry) in legend.enumerated() {
            defer { ly += 20 + 15 * Double(max(legendLabels[i].count - 1, 0)) }
            switch entry.mark {
            case .line(let dash):
                canvas.line(lx, ly, lx + 22, ly, stroke: entry.color, width: 2.5, dash: dash)
            case .band(let dash):
                canvas.rect(x: lx, y: ly - 6, w: 22, h: 12, fill: entry.color, opacity: 0.2)
                canvas.line(lx, ly, lx + 22, ly, stroke: entry.color, width: 2.5, dash: dash)
            case .box:
                canvas.rect(x: lx + 4, y: ly - 6, w: 14, h: 12, fill: entry.color, stroke: "#333", strokeWidth: 0.6)
            case .point:
                canvas.circle(cx: lx + 11, cy: ly, r: 4, fill: entry.color)
            }
            for (k, line) in legendLabels[i].enumerated() {
                canvas.text(line, x: lx + 28, y: ly + 4 + 15 * Double(k), size: Self.legendSize, cls: k == 0 ? "legend" : "legend-more")
            }
        }
    }

    /// The plot's axes: left and bottom lines drawn over the data.
    mutating func drawAxes() {
        let (x, y0, w, h) = plot
        canvas.line(x, y0 + h, x + w, y0 + h, stroke: "#444", cls: "axis")
        canvas.line(x, y0, x, y0 + h, stroke: "#444", cls: "axis")
    }

    /// A dashed horizontal reference line across the plot (its label is in the legend).
    mutating func drawReference(_ value: Double) {
        guard value.isFinite, value >= min(y.lo, y.hi), value <= max(y.lo, y.hi) else { return }
        let py = y(value)
        canvas.line(plot.x, py, plot.x + plot.w, py, stroke: "#555", width: 1.5, dash: "6 4", cls: "reference")
    }

    /// The x axis title centred under the plot at `offset` px below it.
    mutating func drawXLabel(_ text: String, offset: Double) {
        guard !text.isEmpty else { return }
        canvas.text(text, x: plot.x + plot.w / 2, y: plot.y + plot.h + offset, size: Self.labelSize, anchor: .middle, cls: "axis-label")
    }

    static let referenceDash = "6 4"
    static func referenceEntry(_ r: (label: String, y: Double)?) -> [LegendEntry] {
        guard let r else { return [] }
        return [LegendEntry(name: r.label, color: "#555", mark: .line(dash: referenceDash))]
    }
}

/// Category positions along an x axis, with labels rotated when they do not fit their slot.
struct CategoryAxis {
    let labels: [String]
    let rotated: Bool
    /// Room the labels need below the plot.
    let height: Double
    static let size = 12.0

    init(labels: [String], slotWidth: Double) {
        let shown = labels.map { ellipsize($0, width: 160, size: Self.size) }
        self.labels = shown
        let widest = shown.map { textWidth($0, size: Self.size) }.max() ?? 0
        rotated = widest > slotWidth - 6
        // A label rotated by 35° needs sin(35°)·width vertically.
        height = rotated ? 12 + widest * 0.574 + 10 : 24
    }

    func draw(on frame: inout ChartFrame, centers: [Double]) {
        let base = frame.plot.y + frame.plot.h
        for (label, cx) in zip(labels, centers) {
            frame.canvas.line(cx, base, cx, base + 4, stroke: "#444")
            if rotated {
                frame.canvas.text(label, x: cx + 4, y: base + 16, size: Self.size, anchor: .end, rotate: -35, cls: "tick")
            } else {
                frame.canvas.text(label, x: cx, y: base + 18, size: Self.size, anchor: .middle, cls: "tick")
            }
        }
    }
}

/// The width of a plot over categories: `perCategory` px each within `range`, widened (up to
/// 900 px) so that every label fits its slot upright — tilted labels are harder to read.
func categoryPlotWidth(labels: [String], perCategory: Double, range: ClosedRange<Double>) -> Double {
    let n = Double(max(labels.count, 1))
    let base = min(max(n * perCategory, range.lowerBound), range.upperBound)
    let widest = labels.map { textWidth(ellipsize($0, width: 160, size: CategoryAxis.size), size: CategoryAxis.size) }.max() ?? 0
    return min(max(base, n * (widest + 14)), max(900, base))
}
