import Foundation

extension Plot {
    /// A matrix of values as coloured cells (viridis over `range`) with each value printed in its
    /// cell; nil or non-finite cells are hatched grey and read "n/a". A colorbar with
    /// `colorbarLabel` sits on the right. Rows shorter than `columns` are padded with n/a.
    /// - Parameter decimals: places printed in each cell.
    public static func heatmap(title: String, rows: [String], columns: [String], values: [[Double?]],
                               range: ClosedRange<Double>, colorbarLabel: String, decimals: Int = 2) -> String {
        let id = figureID("heatmap", title)
        let valueSize = 12.0
        let printed: [[String]] = rows.indices.map { r in
            columns.indices.map { c in
                guard r < values.count, c < values[r].count, let v = values[r][c], v.isFinite else { return "n/a" }
                return formatValue(v, decimals: decimals)
            }
        }
        let widestValue = printed.joined().map { textWidth($0, size: valueSize) }.max() ?? 0
        let cellW = max(52, widestValue + 14), cellH = 30.0
        let rowLabels = rows.map { ellipsize($0, width: 220, size: 12) }
        let rowLabelW = rowLabels.map { textWidth($0, size: 12) }.max() ?? 0
        let axis = CategoryAxis(labels: columns, slotWidth: cellW)
        let gridW = Double(columns.count) * cellW, gridH = Double(rows.count) * cellH
        let barH = max(gridH, 160, textWidth(colorbarLabel, size: 12) + 16), barW = 16.0
        let ticks = Ticks.within(range.lowerBound < range.upperBound ? range : range.lowerBound...(range.lowerBound + 1))
        let tickW = ticks.values.map { textWidth(ticks.label($0), size: 11) }.max() ?? 0

        let left = 16 + rowLabelW + 10
        let barX = left + gridW + 24
        let width = max(barX + barW + 6 + tickW + 10 + 16 + 12, 320)
        let titleLines = wrapText(title, width: width - 24, size: ChartFrame.titleSize, bold: true)
        let top = 14 + Double(titleLines.count) * 20 + 14
        let naUsed = printed.joined().contains("n/a")
        let height = top + max(gridH + axis.height, barH + (naUsed ? 36 : 0)) + 16
        var canvas = SVGCanvas(width: width, height: height)
        canvas.defs.append("""
        <pattern id="\(id)-na" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">\
        <rect width="8" height="8" fill="#e6e6e6"/><line x1="0" y1="0" x2="0" y2="8" stroke="#bdbdbd" stroke-width="3"/></pattern>
        """)
        let stops = (0...16).map { i -> String in
            let t = Double(i) / 16
            return "<stop offset=\"\(svgNum(t))\" stop-color=\"\(Palette.viridisHex(t))\"/>"
        }.joined()
        canvas.defs.append("<linearGradient id=\"\(id)-bar\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">\(stops)</linearGradient>")

        for (i, line) in titleLines.enumerated() {
            canvas.text(line, x: width / 2, y: 14 + 15 + Double(i) * 20, size: ChartFrame.titleSize, anchor: .middle, weight: "bold", cls: "title")
        }
        let span = range.upperBound - range.lowerBound
        for r in rows.indices {
            let y = top + Double(r) * cellH
            canvas.text(rowLabels[r], x: left - 8, y: y + cellH / 2 + 4, size: 12, anchor: .end, cls: "tick")
            for c in columns.indices {
                let x = left + Double(c) * cellW
                let label = printed[r][c]
                if label == "n/a" {
                    canvas.rect(x: x, y: y, w: cellW, h: cellH, fill: "url(#\(id)-na)", stroke: "#ffffff", strokeWidth: 1, cls: "cell na")
                    canvas.text("n/a", x: x + cellW / 2, y: y + cellH / 2 + 4, size: valueSize, anchor: .middle, fill: "#555", cls: "value")
                } else {
                    let v = values[r][c]!
                    let rgb = Palette.viridis(span > 0 ? (v - range.lowerBound) / span : 0.5)
                    canvas.rect(x: x, y: y, w: cellW, h: cellH, fill: String(format: "#%02X%02X%02X", rgb.r, rgb.g, rgb.b),
                                stroke: "#ffffff", strokeWidth: 1, cls: "cell")
                    canvas.text(label, x: x + cellW / 2, y: y + cellH / 2 + 4, size: valueSize, anchor: .middle,
                                fill: Palette.textColor(on: rgb), cls: "value")
                }
            }
        }
        // Column labels under the grid, reusing the chart's category axis layout.
        var frame = ChartFrame(canvas: canvas, plot: (left, top, gridW, gridH), y: LinearScale(lo: 0, hi: 1, from: 0, to: 1), id: id)
        axis.draw(on: &frame, centers: columns.indices.map { left + cellW * (Double($0) + 0.5) })
        canvas = frame.canvas

        // Colorbar with ticks and its label.
        canvas.rect(x: barX, y: top, w: barW, h: barH, fill: "url(#\(id)-bar)", stroke: "#444", strokeWidth: 0.8, cls: "colorbar")
        let scale = LinearScale(lo: ticks.lo, hi: ticks.hi, from: top + barH, to: top)
        for v in ticks.values {
            canvas.line(barX + barW, scale(v), barX + barW + 4, scale(v), stroke: "#444")
            canvas.text(ticks.label(v), x: barX + barW + 6, y: scale(v) + 4, size: 11, fill: "#333", cls: "tick")
        }
        let labelX = barX + barW + 6 + tickW + 14
        canvas.text(ellipsize(colorbarLabel, width: barH, size: 12), x: labelX, y: top + barH / 2, size: 12, anchor: .middle,
                    rotate: 90, cls: "axis-label")
        if naUsed {
            canvas.rect(x: barX, y: top + barH + 14, w: barW, h: 14, fill: "url(#\(id)-na)", stroke: "#444", strokeWidth: 0.8)
            canvas.text("n/a", x: barX + barW + 6, y: top + barH + 25, size: 11, fill: "#333")
        }
        return canvas.document(title: title)
    }
}

extension ChartFrame {
    /// A frame around an already laid-out canvas (for figures that are not x/y charts).
    init(canvas: SVGCanvas, plot: (x: Double, y: Double, w: Double, h: Double), y: LinearScale, id: String) {
        self.canvas = canvas; self.plot = plot; self.y = y; self.id = id
    }
}
