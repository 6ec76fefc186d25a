import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
import Imaging
@testable import Report

/// An SVG (or any XML) document parsed with Foundation's XMLParser: every element with its
/// attributes and the text inside `<text>` elements.
struct ParsedSVG {
    struct Element { var name: String; var attributes: [String: String]; var text: String }
    var elements: [Element] = []

    /// Parses `svg`, failing the test (and returning nil) if it is not well-formed XML.
    init?(_ svg: String, file: StaticString = #filePath, line: UInt = #line) {
        let delegate = Collector()
        let parser = XMLParser(data: Data(svg.utf8))
        parser.delegate = delegate
        guard parser.parse() else {
            XCTFail("not well-formed XML: \(parser.parserError.map { "\($0)" } ?? "?") at line \(parser.lineNumber)", file: file, line: line)
            return nil
        }
        elements = delegate.elements
        // Embedded base64 may spell anything; the drawing itself must not hold NaN or infinities.
        let drawing = svg.replacingOccurrences(of: #"data:[^"]*"#, with: "", options: .regularExpression)
        XCTAssertNil(drawing.range(of: #"(?i)\bnan\b|\binf(inity)?\b"#, options: .regularExpression), "NaN or infinity in SVG output", file: file, line: line)
    }

    /// Fails for every upright `<text>` whose estimated extent leaves the canvas (clipped text).
    func assertTextInside(_ name: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let root = all("svg").first, let w = Double(root.attributes["width"] ?? ""), let h = Double(root.attributes["height"] ?? "") else {
            return XCTFail("\(name): no svg size", file: file, line: line)
        }
        for t in all("text") where t.attributes["transform"] == nil {
            let x = Double(t.attributes["x"] ?? "0") ?? 0, y = Double(t.attributes["y"] ?? "0") ?? 0
            let size = Double(t.attributes["font-size"] ?? "13") ?? 13
            let width = textWidth(t.text, size: size, bold: t.attributes["font-weight"] == "bold")
            let left: Double
            switch t.attributes["text-anchor"] { case "middle": left = x - width / 2; case "end": left = x - width; default: left = x }
            XCTAssertTrue(left >= 0 && left + width <= w && y - size >= 0 && y <= h,
                          "\(name): text \"\(t.text)\" at \(x), \(y) leaves the \(w)×\(h) canvas", file: file, line: line)
        }
    }

    /// Elements named `name` whose class list contains `cls` (any class when nil).
    func all(_ name: String, cls: String? = nil) -> [Element] {
        elements.filter { $0.name == name && (cls == nil || ($0.attributes["class"] ?? "").split(separator: " ").contains(Substring(cls!))) }
    }

    func count(_ name: String, cls: String? = nil) -> Int { all(name, cls: cls).count }

    /// The `<text>` contents in document order.
    var texts: [String] { all("text").map(\.text) }

    private final class Collector: NSObject, XMLParserDelegate {
        var elements: [Element] = []
        var open: [Int] = []
        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) {
            elements.append(Element(name: name, attributes: attributes, text: ""))
            open.append(elements.count - 1)
        }
        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) { _ = open.popLast() }
        func parser(_ parser: XMLParser, foundCharacters string: String) {
            if let i = open.last { elements[i].text += string }
        }
    }
}

/// The points of an SVG path's `d` made only of M/L/Z commands.
func pathPoints(_ d: String) -> [(Double, Double)] {
    let numbers = d.split(whereSeparator: { " MLZ,".contains($0) }).compactMap { Double($0) }
    return stride(from: 0, to: numbers.count - 1, by: 2).map { (numbers[$0], numbers[$0 + 1]) }
}

/// Pixel statistics of a decoded 8-bit image.
struct PixelStats {
    let image: Image
    init(_ image: Image) { self.image = image.rgb() }

    /// Variance of all samples (0 for a blank image).
    var variance: Double {
        let b = image.bytes8()
        let mean = b.reduce(0.0) { $0 + Double($1) } / Double(max(b.count, 1))
        return b.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(max(b.count, 1))
    }

    /// Rows that hold at least `minimum` pixels within `tolerance` of colour `rgb`.
    func rows(matching rgb: (Int, Int, Int), tolerance: Int = 10, minimum: Int = 3) -> [Int] {
        let b = image.bytes8()
        return (0..<image.height).filter { y in
            var n = 0
            for x in 0..<image.width {
                let i = (y * image.width + x) * 3
                if abs(Int(b[i]) - rgb.0) <= tolerance && abs(Int(b[i + 1]) - rgb.1) <= tolerance && abs(Int(b[i + 2]) - rgb.2) <= tolerance { n += 1 }
            }
            return n >= minimum
        }
    }

    /// Fraction of pixels in rows `rows` that are not (near) white.
    func inkFraction(rows: Range<Int>) -> Double {
        let b = image.bytes8()
        var ink = 0
        let r = rows.clamped(to: 0..<image.height)
        for y in r { for x in 0..<image.width {
            let i = (y * image.width + x) * 3
            if Int(b[i]) + Int(b[i + 1]) + Int(b[i + 2]) < 3 * 235 { ink += 1 }
        } }
        return Double(ink) / Double(max(r.count * image.width, 1))
    }
}

/// Fails with the install hint when an external renderer is missing: these tests must not skip,
/// CI installs the tools with `make deps`.
func requireTool(_ name: String, package: String, file: StaticString = #filePath, line: UInt = #line) -> Bool {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
    let found = path.split(separator: ":").contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(name)") }
    if !found { XCTFail("\(name) is not installed: run `make deps` as root (apt-get install \(package))", file: file, line: line) }
    return found
}

/// A scratch directory for one test; kept under $CAMAUDIT_FIGURE_DIR/NAME when that is set (to
/// look at the figures), otherwise a temporary one the caller removes.
func scratchDirectory(_ name: String) throws -> (URL, keep: Bool) {
    if let keep = ProcessInfo.processInfo.environment["CAMAUDIT_FIGURE_DIR"], !keep.isEmpty {
        let dir = URL(fileURLWithPath: keep).appendingPathComponent(name)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return (dir, true)
    }
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("report-tests-\(name)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return (dir, false)
}
