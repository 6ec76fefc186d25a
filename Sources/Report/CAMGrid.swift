import Foundation
import Imaging

/// One tile of the CAM grid: an image (an RGB overlay, or the grey input), the lesion mask to
/// outline on it, and a caption printed under it.
public struct GridCell: Sendable {
    public var image: Image
    /// The lesion mask, `image.height × image.width` bytes, row-major, non-zero inside; nil for none.
    public var outline: [UInt8]?
    public var caption: String

    public init(image: Image, outline: [UInt8]? = nil, caption: String = "") {
        self.image = image; self.outline = outline; self.caption = caption
    }
}

/// The study's Grad-CAM figure: one row per class (e.g. malignant, normal, benign), one column for
/// the input and one per architecture, each tile a PNG embedded as a data: URI with the lesion
/// outline traced from its mask (a contour, not a bounding box) as an SVG path.
public enum CAMGrid {
    /// Outline style: white over a dark halo, visible on grey CT and on every JET colour.
    static let outlineColor = "#ffffff", outlineHalo = "#000000"

    /// - Parameters:
    ///   - columnTitles: one per column (e.g. "Input", "ResNet-50", …).
    ///   - rows: a label and at most `columnTitles.count` cells each; missing cells are drawn as
    ///     an empty "n/a" tile.
    ///   - tileWidth: display width of each tile in px (its height follows the image's aspect).
    ///   - colorbarLabel: label of a JET colorbar under the grid; nil for none.
    public static func svg(columnTitles: [String], rows: [(label: String, cells: [GridCell])],
                           tileWidth: Double = 180,
                           colorbarLabel: String? = "CAM value (each map scaled to 0–1), overlaid as 0.5·image + 0.5·JET") throws -> String {
        guard !columnTitles.isEmpty else { throw ReportError.invalidArgument(op: "CAMGrid.svg", detail: "no columns") }
        guard tileWidth.isFinite, tileWidth >= 16 else {
            throw ReportError.invalidArgument(op: "CAMGrid.svg", detail: "tileWidth must be at least 16 px, got \(tileWidth)")
        }
        for row in rows {
            guard row.cells.count <= columnTitles.count else {
                throw ReportError.invalidArgument(op: "CAMGrid.svg", detail: "row \"\(row.label)\" has \(row.cells.count) cells for \(columnTitles.count) columns")
            }
            for (c, cell) in row.cells.enumerated() {
                if let mask = cell.outline, mask.count != cell.image.width * cell.image.height {
                    throw ReportError.invalidArgument(op: "CAMGrid.svg", detail: "row \"\(row.label)\", column \(c + 1): mask has \(mask.count) bytes for a \(cell.image.width)×\(cell.image.height) image")
                }
            }
        }
        let id = figureID("camgrid", columnTitles.joined(separator: "|"), rows.map(\.label).joined(separator: "|"))
        let gap = 10.0, titleSize = 14.0, captionSize = 11.0, labelSize = 14.0
        // Every tile of a row shares the row's height: the tallest aspect in it.
        let rowHeights = rows.map { row in
            row.cells.map { tileWidth * Double($0.image.height) / Double($0.image.width) }.max() ?? tileWidth
        }
        let captionLines = rows.map { row in row.cells.map { wrapText($0.caption, width: tileWidth, size: captionSize, maxLines: 2) } }
        let captionH = captionLines.map { cells in Double(cells.map(\.count).max() ?? 0) * 14 + 8 }
        let titleLines = columnTitles.map { wrapText($0, width: tileWidth, size: titleSize, maxLines: 2, bold: true) }
        let titleH = Double(titleLines.map(\.count).max() ?? 1) * 18 + 8
        let labelW = (rows.map { textWidth($0.label, size: labelSize, bold: true) }.max() ?? 0) + 20
        let left = 12 + labelW
        let width = left + Double(columnTitles.count) * (tileWidth + gap) + 12 - gap
        let gridH = zip(rowHeights, captionH).reduce(0) { $0 + $1.0 + $1.1 + gap }
        let barH = colorbarLabel == nil ? 0.0 : 60
        var canvas = SVGCanvas(width: width, height: 12 + titleH + gridH + barH + 8)

        func columnX(_ c: Int) -> Double { left + Double(c) * (tileWidth + gap) }
        for (c, lines) in titleLines.enumerated() {
            for (k, line) in lines.enumerated() {
                canvas.text(line, x: columnX(c) + tileWidth / 2, y: 12 + 14 + Double(k) * 18, size: titleSize, anchor: .middle,
                            weight: "bold", cls: "column-title")
            }
        }
        var y = 12 + titleH
        for (r, row) in rows.enumerated() {
            let h = rowHeights[r]
            canvas.text(row.label, x: left - 12, y: y + h / 2 + 5, size: labelSize, anchor: .end, weight: "bold", cls: "row-label")
            for c in columnTitles.indices {
                let x = columnX(c)
                guard c < row.cells.count else {
                    canvas.rect(x: x, y: y, w: tileWidth, h: h, fill: "#eeeeee", stroke: "#cccccc", cls: "tile-missing")
                    canvas.text("n/a", x: x + tileWidth / 2, y: y + h / 2 + 5, size: 13, anchor: .middle, fill: "#777")
                    continue
                }
                let cell = row.cells[c]
                let th = tileWidth * Double(cell.image.height) / Double(cell.image.width)
                let ty = y + (h - th) / 2
                let png = try PNG.encode8(cell.image.bytes8(), width: cell.image.width, height: cell.image.height, channels: cell.image.channels, name: "CAMGrid tile \(row.label)/\(columnTitles[c])")
                canvas.raw("<image x=\"\(svgNum(x))\" y=\"\(svgNum(ty))\" width=\"\(svgNum(tileWidth))\" height=\"\(svgNum(th))\" preserveAspectRatio=\"none\" class=\"tile\" xlink:href=\"data:image/png;base64,\(Data(png).base64EncodedString())\"/>")
                if let mask = cell.outline {
                    let sx = tileWidth / Double(cell.image.width), sy = th / Double(cell.image.height)
                    let loops = Contour.trace(mask: mask, width: cell.image.width, height: cell.image.height)
                    let d = loops.map { loop in pathData(loop.map { (x + $0.0 * sx, ty + $0.1 * sy) }, closed: true) }.joined(separator: " ")
                    canvas.path(d, stroke: outlineHalo, width: 3.2, cls: "outline-halo")
                    canvas.path(d, stroke: outlineColor, width: 1.6, cls: "outline")
                }
                for (k, line) in captionLines[r][c].enumerated() {
                    canvas.text(line, x: x + tileWidth / 2, y: y + h + 15 + Double(k) * 14, size: captionSize, anchor: .middle,
                                fill: "#333", cls: "caption")
                }
            }
            y += h + captionH[r] + gap
        }
        if let colorbarLabel { drawJetBar(&canvas, id: id, x: left, y: y + 4, width: min(360, width - left - 12), label: colorbarLabel) }
        return canvas.document(title: "CAM grid: " + columnTitles.joined(separator: ", "))
    }

    /// A horizontal JET colorbar from 0 to 1 with its label, the key to every overlay's colours.
    static func drawJetBar(_ canvas: inout SVGCanvas, id: String, x: Double, y: Double, width: Double, label: String) {
        let stops = (0...8).map { i -> String in
            let (r, g, b) = Overlay.jet(Float(i) / 8)
            return "<stop offset=\"\(svgNum(Double(i) / 8))\" stop-color=\"\(String(format: "#%02X%02X%02X", Int(r * 255), Int(g * 255), Int(b * 255)))\"/>"
        }.joined()
        canvas.defs.append("<linearGradient id=\"\(id)-jet\" x1=\"0\" y1=\"0\" x2=\"1\" y2=\"0\">\(stops)</linearGradient>")
        canvas.rect(x: x, y: y, w: width, h: 12, fill: "url(#\(id)-jet)", stroke: "#444", strokeWidth: 0.8, cls: "colorbar")
        for (t, text) in [(0.0, "0"), (0.5, "0.5"), (1.0, "1")] {
            canvas.line(x + t * width, y + 12, x + t * width, y + 16, stroke: "#444")
            canvas.text(text, x: x + t * width, y: y + 28, size: 11, anchor: .middle, fill: "#333", cls: "tick")
        }
        canvas.text(ellipsize(label, width: canvas.width - x - 12, size: 12), x: x, y: y + 46, size: 12, cls: "axis-label")
    }
}
