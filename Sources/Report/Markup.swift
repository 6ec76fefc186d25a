import Foundation

/// The text conventions of report documents: the small markdown subset paragraphs may use
/// (**bold** and `code`), CSV as RFC 4180 and markdown table cells.
enum Markup {
    /// HTML for a paragraph in the subset: text escaped, `code` spans verbatim (no bold inside),
    /// **bold** spans; unmatched markers stay as typed.
    static func inlineHTML(_ text: String) -> String {
        var out = ""
        let parts = text.components(separatedBy: "`")
        for (i, part) in parts.enumerated() {
            let isCode = i % 2 == 1 && i < parts.count - 1   // an odd part closed by a later backtick
            if isCode { out += "<code>\(xmlEscape(part))</code>"; continue }
            if i % 2 == 1 { out += "`" }   // the unmatched last backtick
            out += bold(xmlEscape(part))
        }
        return out
    }

    private static func bold(_ escaped: String) -> String {
        let pieces = escaped.components(separatedBy: "**")
        var out = ""
        for (i, piece) in pieces.enumerated() {
            if i == 0 { out += piece; continue }
            let opening = i % 2 == 1
            if opening && i == pieces.count - 1 { out += "**" + piece; continue }   // unmatched
            out += (opening ? "<strong>" : "</strong>") + piece
        }
        return out
    }

    /// Text for report.md: a `<` that could open an HTML tag (`<script>`, `</b>`, `<!--`) becomes
    /// `&lt;` outside code spans, so markdown renderers show it instead of interpreting it; `p < 0.05`
    /// stays as typed.
    static func markdownText(_ text: String) -> String {
        text.components(separatedBy: "`").enumerated().map { i, part in
            i % 2 == 1 ? part : part.replacingOccurrences(of: #"<(?=[A-Za-z/!?])"#, with: "&lt;", options: .regularExpression)
        }.joined(separator: "`")
    }

    /// A cell for a markdown pipe table: pipes escaped, line breaks as spaces.
    static func markdownCell(_ s: String) -> String {
        markdownText(s).replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\r\n", with: " ").replacingOccurrences(of: "\n", with: " ")
    }

    /// "Table 3. " before a caption, unless the caption already names itself ("Table I: …").
    static func numbered(_ kind: String, _ number: Int, _ caption: String) -> (label: String, caption: String) {
        caption.hasPrefix(kind + " ") ? ("", caption) : ("\(kind) \(number).", caption)
    }

    /// Whether a cell reads as a number (so its column is right-aligned): a leading sign or digit,
    /// as in "0.83", "−1.2", "0.81 ± 0.03", "12.5 [10.1, 14.0]", "85%".
    static func isNumeric(_ s: String) -> Bool {
        s.trimmingCharacters(in: .whitespaces).range(of: #"^[-+\u2212]?(\d|\.\d)"#, options: .regularExpression) != nil
    }

    /// Cells that mean "no value" and do not decide a column's alignment.
    static func isMissing(_ s: String) -> Bool {
        ["", "n/a", "na", "nan", "—", "–", "-"].contains(s.trimmingCharacters(in: .whitespaces).lowercased())
    }

    /// For each column: right-align it (every present cell numeric, at least one present)?
    static func numericColumns(header: [String], rows: [[String]]) -> [Bool] {
        let n = max(header.count, rows.map(\.count).max() ?? 0)
        return (0..<n).map { c in
            let cells = rows.compactMap { c < $0.count ? $0[c] : nil }.filter { !isMissing($0) }
            return !cells.isEmpty && cells.allSatisfy(isNumeric)
        }
    }
}
