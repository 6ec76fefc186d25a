import Foundation

/// The text face every figure asks for. DejaVu Sans is Debian's `fonts-dejavu-core`, which
/// `make deps` installs, so rsvg-convert and Chromium draw the same glyphs; the generic family is
/// the fallback elsewhere.
public let figureFontFamily = "DejaVu Sans, sans-serif"

// MARK: - Escaping and numbers

/// Escapes text for XML/HTML character data and attribute values.
public func xmlEscape(_ s: String) -> String {
    var out = ""
    out.reserveCapacity(s.count)
    for ch in s.unicodeScalars {
        switch ch {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        // Control characters other than tab/newline are not allowed in XML 1.0 at all.
        case _ where ch.value < 0x20 && ch != "\t" && ch != "\n" && ch != "\r": out += " "
        default: out.unicodeScalars.append(ch)
        }
    }
    return out
}

/// A coordinate as SVG text: two decimals at most, never "nan" or "inf" (a non-finite value,
/// which only a bug upstream could produce here, is drawn at 0 rather than breaking the file).
func svgNum(_ v: Double) -> String {
    guard v.isFinite else { return "0" }
    let r = (v * 100).rounded() / 100
    if r == r.rounded() { return String(Int(r)) }
    return String(format: "%.2f", r).replacingOccurrences(of: "0+$", with: "", options: .regularExpression)
}

/// A data value for a label: `decimals` places, a proper minus sign, "n/a" for non-finite values.
public func formatValue(_ v: Double, decimals: Int) -> String {
    guard v.isFinite else { return "n/a" }
    var s = String(format: "%.\(max(0, min(decimals, 10)))f", v)
    if s.hasPrefix("-") {
        // "-0.00" reads as a sign error; a value that rounds to zero is 0.
        s = s.allSatisfy({ "-0.".contains($0) }) ? String(s.dropFirst()) : "\u{2212}" + s.dropFirst()
    }
    return s
}

/// A deterministic id prefix for a figure's defs (clip paths, patterns, gradients), so that two
/// figures inlined into one page never share an id and the same input gives the same bytes.
func figureID(_ parts: String...) -> String {
    var h: UInt64 = 0xcbf29ce484222325   // FNV-1a
    for p in parts { for b in p.utf8 { h = (h ^ UInt64(b)) &* 0x100000001b3 } }
    return "f" + String(h & 0xffffffffff, radix: 36)
}

// MARK: - Text metrics

/// Estimated advance width of `text` in DejaVu Sans at `size` px. Layout needs widths before any
/// renderer runs; these per-class averages of the face's advances are within ~10% for Latin text,
/// and every margin built on them keeps slack for the rest. DejaVu Sans Bold runs ~13% wider.
func textWidth(_ text: String, size: Double, bold: Bool = false) -> Double {
    var em = 0.0
    for ch in text {
        switch ch {
        case "i", "l", "j", "I", "!", "|", ".", ",", ":", ";", "'", "\u{2019}": em += 0.30
        case " ", "f", "t", "r", "(", ")", "[", "]", "-", "/": em += 0.38
        case "m", "w", "M", "W", "%", "@": em += 0.92
        case _ where ch.isUppercase: em += 0.70
        case _ where ch.isNumber: em += 0.64
        default: em += 0.60
        }
    }
    return em * size * (bold ? 1.13 : 1)
}

/// Splits `text` into at most `maxLines` lines no wider than `width` (the last line ellipsised
/// if the words do not fit).
func wrapText(_ text: String, width: Double, size: Double, maxLines: Int = 2, bold: Bool = false) -> [String] {
    let words = text.split(separator: " ").map(String.init)
    guard !words.isEmpty else { return [] }
    var lines: [String] = []
    var current = ""
    for w in words {
        let candidate = current.isEmpty ? w : current + " " + w
        if textWidth(candidate, size: size, bold: bold) <= width || current.isEmpty {
            current = candidate
        } else {
            lines.append(current)
            current = w
        }
    }
    lines.append(current)
    if lines.count > maxLines {
        let kept = Array(lines.prefix(maxLines - 1))
        let rest = lines.dropFirst(maxLines - 1).joined(separator: " ")
        lines = kept + [ellipsize(rest, width: width, size: size, bold: bold)]
    }
    return lines.map { ellipsize($0, width: width, size: size, bold: bold) }
}

/// `text` shortened with "…" to fit `width`.
func ellipsize(_ text: String, width: Double, size: Double, bold: Bool = false) -> String {
    if textWidth(text, size: size, bold: bold) <= width { return text }
    var s = text
    while !s.isEmpty && textWidth(s + "…", size: size, bold: bold) > width { s.removeLast() }
    return s + "…"
}

// MARK: - Canvas

/// An SVG document under construction: `defs` and drawing elements, emitted by `document()`.
struct SVGCanvas {
    var width: Double
    var height: Double
    var defs: [String] = []
    var body: [String] = []

    enum Anchor: String { case start, middle, end }

    mutating func text(_ s: String, x: Double, y: Double, size: Double = 13, anchor: Anchor = .start,
                       weight: String? = nil, fill: String = "#222", rotate: Double? = nil,
                       baseline: String? = nil, cls: String? = nil) {
        var a = "x=\"\(svgNum(x))\" y=\"\(svgNum(y))\" font-size=\"\(svgNum(size))\""
        if anchor != .start { a += " text-anchor=\"\(anchor.rawValue)\"" }
        if let weight { a += " font-weight=\"\(weight)\"" }
        if fill != "#222" { a += " fill=\"\(fill)\"" }
        if let baseline { a += " dominant-baseline=\"\(baseline)\"" }
        if let rotate { a += " transform=\"rotate(\(svgNum(rotate)) \(svgNum(x)) \(svgNum(y)))\"" }
        if let cls { a += " class=\"\(cls)\"" }
        body.append("<text \(a)>\(xmlEscape(s))</text>")
    }

    mutating func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, stroke: String,
                       width: Double = 1, dash: String? = nil, cls: String? = nil) {
        var a = "x1=\"\(svgNum(x1))\" y1=\"\(svgNum(y1))\" x2=\"\(svgNum(x2))\" y2=\"\(svgNum(y2))\" stroke=\"\(stroke)\" stroke-width=\"\(svgNum(width))\""
        if let dash { a += " stroke-dasharray=\"\(dash)\"" }
        if let cls { a += " class=\"\(cls)\"" }
        body.append("<line \(a)/>")
    }

    mutating func rect(x: Double, y: Double, w: Double, h: Double, fill: String, stroke: String? = nil,
                       strokeWidth: Double = 1, opacity: Double? = nil, cls: String? = nil, extra: String = "") {
        var a = "x=\"\(svgNum(x))\" y=\"\(svgNum(y))\" width=\"\(svgNum(max(w, 0)))\" height=\"\(svgNum(max(h, 0)))\" fill=\"\(fill)\""
        if let stroke { a += " stroke=\"\(stroke)\" stroke-width=\"\(svgNum(strokeWidth))\"" }
        if let opacity { a += " fill-opacity=\"\(svgNum(opacity))\"" }
        if let cls { a += " class=\"\(cls)\"" }
        if !extra.isEmpty { a += " " + extra }
        body.append("<rect \(a)/>")
    }

    mutating func circle(cx: Double, cy: Double, r: Double, fill: String, opacity: Double? = nil,
                         stroke: String? = nil, cls: String? = nil) {
        var a = "cx=\"\(svgNum(cx))\" cy=\"\(svgNum(cy))\" r=\"\(svgNum(r))\" fill=\"\(fill)\""
        if let opacity { a += " fill-opacity=\"\(svgNum(opacity))\"" }
        if let stroke { a += " stroke=\"\(stroke)\" stroke-width=\"0.8\"" }
        if let cls { a += " class=\"\(cls)\"" }
        body.append("<circle \(a)/>")
    }

    /// A path; `d` is built with `pathData`. Empty paths are dropped (an empty `d` is invalid).
    mutating func path(_ d: String, fill: String = "none", stroke: String? = nil, width: Double = 1,
                       opacity: Double? = nil, dash: String? = nil, cls: String? = nil, extra: String = "") {
        guard !d.isEmpty else { return }
        var a = "d=\"\(d)\" fill=\"\(fill)\""
        if let opacity { a += " fill-opacity=\"\(svgNum(opacity))\"" }
        if let stroke { a += " stroke=\"\(stroke)\" stroke-width=\"\(svgNum(width))\" stroke-linejoin=\"round\" stroke-linecap=\"round\"" }
        if let dash { a += " stroke-dasharray=\"\(dash)\"" }
        if let cls { a += " class=\"\(cls)\"" }
        if !extra.isEmpty { a += " " + extra }
        body.append("<path \(a)/>")
    }

    mutating func raw(_ element: String) { body.append(element) }

    /// The complete standalone document: white background, the figure font on the root.
    func document(title: String) -> String {
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" "
        out += "width=\"\(svgNum(width))\" height=\"\(svgNum(height))\" viewBox=\"0 0 \(svgNum(width)) \(svgNum(height))\" "
        out += "font-family=\"\(figureFontFamily)\">\n"
        out += "<title>\(xmlEscape(title))</title>\n"
        if !defs.isEmpty { out += "<defs>\n" + defs.joined(separator: "\n") + "\n</defs>\n" }
        out += "<rect x=\"0\" y=\"0\" width=\"\(svgNum(width))\" height=\"\(svgNum(height))\" fill=\"#ffffff\" class=\"background\"/>\n"
        out += body.joined(separator: "\n")
        out += "\n</svg>\n"
        return out
    }
}

/// Path data for a polyline through `points`, broken wherever a point is missing (nil).
func pathData(_ points: [(Double, Double)?], closed: Bool = false) -> String {
    var d = ""
    var penDown = false
    for p in points {
        guard let (x, y) = p, x.isFinite, y.isFinite else { penDown = false; continue }
        d += (d.isEmpty ? "" : " ") + (penDown ? "L" : "M") + svgNum(x) + " " + svgNum(y)
        penDown = true
    }
    if closed && !d.isEmpty { d += " Z" }
    return d
}
