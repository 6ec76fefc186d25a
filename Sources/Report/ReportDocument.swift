import Foundation
import Datasets

/// A report built section by section and written as `report.html` (self-contained: CSS inline,
/// every figure an SVG data: URI, no external requests, opens offline), `report.md` (figures as
/// `figures/NAME.png`, linked to their SVG), `figures/NAME.svg` + `.png` and `tables/NAME.csv`.
public struct ReportDocument {
    enum Block {
        case heading(String, Int)
        case paragraph(String)
        case table(caption: String, header: [String], rows: [[String]], csvName: String?, rowStyles: [RowStyle?])
        case figure(name: String, caption: String, svg: String)
    }

    public var title: String
    var blocks: [Block] = []
    /// The PNG copies' scale relative to the SVG's px size (2 keeps text sharp on paper and HiDPI screens).
    public var pngScale: Double = 2

    public init(title: String) { self.title = title }

    /// A section heading; `level` 2 is a section, 3 a subsection (clamped to 2…6, the title is level 1).
    public mutating func heading(_ text: String, level: Int = 2) { blocks.append(.heading(text, min(max(level, 2), 6))) }

    /// A paragraph of plain text with **bold** and `code` at most.
    public mutating func paragraph(_ markdown: String) { blocks.append(.paragraph(markdown)) }

    /// A table with a caption; numeric columns are right-aligned. With `csvName` the table is also
    /// written as `tables/csvName.csv` (".csv" added if missing).
    public mutating func table(caption: String, header: [String], rows: [[String]], csvName: String?, rowStyles: [RowStyle?] = []) {
        blocks.append(.table(caption: caption, header: header, rows: rows, csvName: csvName, rowStyles: rowStyles))
    }

    /// A row's background in HTML, by what it reports (a verdict table colours each check by its status).
    public enum RowStyle: String, Sendable {
        case pass, warn, fail, undefined
    }

    /// Figures added so far: the next one is numbered `figureCount + 1`, so text can cite it.
    public var figureCount: Int { blocks.filter { if case .figure = $0 { return true } else { return false } }.count }

    /// A figure written as `figures/NAME.svg` and `figures/NAME.png` (rendered by rsvg-convert).
    public mutating func figure(name: String, caption: String, svg: String) {
        blocks.append(.figure(name: name, caption: caption, svg: svg))
    }

    // MARK: - Writing

    /// Writes everything under `dir` (created if needed). Names must be file-name safe
    /// (letters, digits, `.`, `_`, `-`) and unique.
    public func write(to dir: String) throws {
        try validateNames()
        let fm = FileManager.default
        let root = URL(fileURLWithPath: dir)
        for sub in ["figures", "tables"] {
            do { try fm.createDirectory(at: root.appendingPathComponent(sub), withIntermediateDirectories: true) } catch {
                throw ReportError.writeFailed(path: root.appendingPathComponent(sub).path, reason: "\(error)")
            }
        }
        for block in blocks {
            switch block {
            case let .figure(name, _, svg):
                try save(svg, root.appendingPathComponent("figures/\(name).svg"))
                try Rasterize.png(svg: svg, to: root.appendingPathComponent("figures/\(name).png").path, scale: pngScale)
            case let .table(_, header, rows, csvName?, _):
                try save((header.isEmpty ? "" : CSV.record(header)) + rows.map(CSV.record).joined(),
                         root.appendingPathComponent("tables/\(Self.csvFile(csvName))"))
            default: break
            }
        }
        try save(html(), root.appendingPathComponent("report.html"))
        try save(markdown(), root.appendingPathComponent("report.md"))
    }

    static func csvFile(_ name: String) -> String { name.hasSuffix(".csv") ? name : name + ".csv" }

    func validateNames() throws {
        var figures = Set<String>(), tables = Set<String>()
        func check(_ name: String, _ kind: String, _ seen: inout Set<String>) throws {
            guard !name.isEmpty, !name.hasPrefix("."), name.range(of: #"^[A-Za-z0-9._-]+$"#, options: .regularExpression) != nil else {
                throw ReportError.invalidArgument(op: "ReportDocument", detail: "\(kind) name \"\(name)\" must be letters, digits, '.', '_' or '-' (it becomes a file name)")
            }
            guard seen.insert(name).inserted else {
                throw ReportError.invalidArgument(op: "ReportDocument", detail: "two \(kind)s are named \"\(name)\"")
            }
        }
        for block in blocks {
            if case let .figure(name, _, _) = block { try check(name, "figure", &figures) }
            if case let .table(_, _, _, csv?, _) = block { try check(Self.csvFile(csv), "table", &tables) }
        }
    }

    func save(_ text: String, _ url: URL) throws {
        do { try text.write(to: url, atomically: true, encoding: .utf8) } catch {
            throw ReportError.writeFailed(path: url.path, reason: "\(error)")
        }
    }

    // MARK: - HTML

    static let css = """
    body{font-family:"DejaVu Sans",sans-serif;color:#222;max-width:1400px;margin:2em auto;padding:0 1.5em;line-height:1.5}
    h1{font-size:1.7em;border-bottom:2px solid #ddd;padding-bottom:.3em}h2{margin-top:1.8em;font-size:1.35em}h3{font-size:1.12em}
    code{background:#f3f3f3;padding:0 .25em;border-radius:3px;font-size:.92em}
    figure{margin:1.5em 0}figure img{display:block;max-width:100%;height:auto}
    figcaption,caption{font-size:.92em;color:#333;text-align:left}figcaption{margin-top:.4em}
    .table-wrap{overflow-x:auto;margin:1.2em 0}table{border-collapse:collapse;font-size:.86em}
    caption{caption-side:top;padding-bottom:.4em}th,td{padding:.3em .5em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
    thead th{border-bottom:2px solid #777;vertical-align:bottom}thead th.num{white-space:normal}tbody tr:nth-child(even){background:#f7f7f7}
    .num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}.csv{font-size:.85em;color:#555;margin-left:.5em}
    tbody tr.status-pass{background:#d9f2e1}tbody tr.status-warn{background:#fff1c7}tbody tr.status-fail{background:#f9d3cf}tbody tr.status-undefined{background:#e6e6e6}
    """

    /// The HTML page. Figures are `<img>` with an SVG data: URI: the page stays one file, and ids
    /// inside different figures cannot clash as they could with inline `<svg>`.
    public func html() -> String {
        var out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        out += "<title>\(xmlEscape(title))</title>\n<style>\n\(Self.css)\n</style>\n</head>\n<body>\n"
        out += "<h1>\(xmlEscape(title))</h1>\n"
        var figureNo = 0, tableNo = 0
        for block in blocks {
            switch block {
            case let .heading(text, level):
                out += "<h\(level)>\(xmlEscape(text))</h\(level)>\n"
            case let .paragraph(text):
                out += "<p>\(Markup.inlineHTML(text))</p>\n"
            case let .table(caption, header, rows, csvName, rowStyles):
                tableNo += 1
                let numeric = Markup.numericColumns(header: header, rows: rows)
                func cls(_ c: Int) -> String { c < numeric.count && numeric[c] ? " class=\"num\"" : "" }
                let (label, text) = Markup.numbered("Table", tableNo, caption)
                out += "<div class=\"table-wrap\"><table>\n<caption>" + (label.isEmpty ? "" : "<strong>\(label)</strong> ") + Markup.inlineHTML(text)
                if let csvName { out += "<a class=\"csv\" href=\"tables/\(xmlEscape(Self.csvFile(csvName)))\">CSV</a>" }
                out += "</caption>\n"
                if !header.isEmpty {
                    out += "<thead><tr>" + header.enumerated().map { "<th\(cls($0))>\(xmlEscape($1))</th>" }.joined() + "</tr></thead>\n"
                }
                out += "<tbody>\n"
                for (r, row) in rows.enumerated() {
                    let style = r < rowStyles.count ? rowStyles[r].map { " class=\"status-\($0.rawValue)\"" } ?? "" : ""
                    out += "<tr\(style)>" + row.enumerated().map { "<td\(cls($0))>\(xmlEscape($1))</td>" }.joined() + "</tr>\n"
                }
                out += "</tbody></table></div>\n"
            case let .figure(name, caption, svg):
                figureNo += 1
                let uri = "data:image/svg+xml;base64," + Data(svg.utf8).base64EncodedString()
                out += "<figure id=\"figure-\(xmlEscape(name))\"><img src=\"\(uri)\" alt=\"\(xmlEscape(caption))\">\n"
                let (label, text) = Markup.numbered("Figure", figureNo, caption)
                out += "<figcaption>" + (label.isEmpty ? "" : "<strong>\(label)</strong> ") + "\(Markup.inlineHTML(text))</figcaption></figure>\n"
            }
        }
        out += "</body>\n</html>\n"
        return out
    }

    // MARK: - Markdown

    /// The markdown twin of the page; figures point at `figures/NAME.png` and link their SVG.
    public func markdown() -> String {
        var out = "# \(Markup.markdownText(title))\n\n"
        var figureNo = 0, tableNo = 0
        for block in blocks {
            switch block {
            case let .heading(text, level):
                out += String(repeating: "#", count: level) + " \(Markup.markdownText(text))\n\n"
            case let .paragraph(text):
                out += Markup.markdownText(text) + "\n\n"
            case let .table(caption, header, rows, csvName, _):
                tableNo += 1
                let (label, text) = Markup.numbered("Table", tableNo, caption)
                out += (label.isEmpty ? "" : "**\(label)** ") + Markup.markdownText(text)
                if let csvName { out += " ([CSV](tables/\(Self.csvFile(csvName))))" }
                out += "\n\n"
                let width = max(header.count, rows.map(\.count).max() ?? 0)
                guard width > 0 else { continue }
                let numeric = Markup.numericColumns(header: header, rows: rows)
                func line(_ cells: [String]) -> String {
                    "| " + (0..<width).map { $0 < cells.count ? Markup.markdownCell(cells[$0]) : "" }.joined(separator: " | ") + " |\n"
                }
                out += line(header.isEmpty ? Array(repeating: "", count: width) : header)
                out += "|" + (0..<width).map { numeric[$0] ? " ---: |" : " --- |" }.joined() + "\n"
                for row in rows { out += line(row) }
                out += "\n"
            case let .figure(name, caption, _):
                figureNo += 1
                let (label, text) = Markup.numbered("Figure", figureNo, caption)
                let alt = (label.isEmpty ? "" : label + " ") + Markup.markdownCell(text).replacingOccurrences(of: "]", with: "\\]")
                out += "![\(alt)](figures/\(name).png)\n\n"
                out += (label.isEmpty ? "" : "**\(label)** ") + "\(Markup.markdownText(text)) ([SVG](figures/\(name).svg))\n\n"
            }
        }
        return out
    }
}
