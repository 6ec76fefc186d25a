import Foundation

extension Plot {
    /// Figures drawn by `Plot` set side by side in one SVG, top-aligned: measures in different
    /// units (each panel keeps its own y axis) that one figure shows together. Each panel stays a
    /// whole SVG document nested at its offset, so its ids and clip paths are its own.
    public static func sideBySide(_ panels: [String], title: String) -> String {
        var canvas = SVGCanvas(width: 0, height: 0)
        var x = 0.0
        for p in panels {
            guard let (w, h) = size(of: p) else { continue }
            let inner = p.replacingOccurrences(of: #"^<\?xml[^>]*\?>\s*"#, with: "", options: .regularExpression)
            guard inner.hasPrefix("<svg ") else { continue }
            canvas.body.append("<svg x=\"\(svgNum(x))\" y=\"0\" " + inner.dropFirst(5))
            x += w
            canvas.height = max(canvas.height, h)
        }
        canvas.width = x
        return canvas.document(title: title)
    }

    /// Width and height of an SVG document's root element.
    static func size(of svg: String) -> (Double, Double)? {
        guard let open = svg.range(of: "<svg "), let close = svg[open.upperBound...].firstIndex(of: ">") else { return nil }
        let tag = String(svg[open.upperBound..<close])
        func attribute(_ name: String) -> Double? {
            guard let r = tag.range(of: #"(^|\s)"# + name + #"="([0-9.]+)""#, options: .regularExpression) else { return nil }
            return Double(tag[r].split(separator: "\"")[1])
        }
        guard let w = attribute("width"), let h = attribute("height") else { return nil }
        return (w, h)
    }
}
