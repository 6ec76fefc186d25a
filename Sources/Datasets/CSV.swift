import Foundation

/// RFC 4180 CSV: fields with commas, quotes or line breaks are quoted, quotes doubled.
public enum CSV {
    public struct ParseError: Error, CustomStringConvertible, LocalizedError {
        public let path: String
        public let reason: String
        public var description: String { "\(path): bad CSV: \(reason)" }
        public var errorDescription: String? { description }
    }

    /// One field, quoted when needed.
    public static func field(_ s: String) -> String {
        if s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) || s.hasPrefix(" ") || s.hasSuffix(" ") {
            return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return s
    }

    /// One line (with trailing newline).
    public static func line(_ fields: [String]) -> String { fields.map(field).joined(separator: ",") + "\n" }

    /// Parses CSV text into rows of fields. Accepts \n and \r\n line ends; a blank last line is ignored.
    public static func parse(_ text: String, name: String = "<csv>") throws -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var inQuotes = false
        var fieldStarted = false
        var it = Array(text.unicodeScalars)
        if it.first == "\u{FEFF}" { it.removeFirst() }  // byte-order mark from spreadsheet exports
        var i = 0
        var line = 1
        while i < it.count {
            let c = it[i]
            if inQuotes {
                if c == "\"" {
                    if i + 1 < it.count && it[i + 1] == "\"" { field.unicodeScalars.append("\""); i += 1 } else { inQuotes = false }
                } else {
                    if c == "\n" { line += 1 }
                    field.unicodeScalars.append(c)
                }
            } else {
                switch c {
                case "\"":
                    guard !fieldStarted || field.isEmpty else { throw ParseError(path: name, reason: "stray quote on line \(line)") }
                    inQuotes = true; fieldStarted = true
                case ",":
                    row.append(field); field = ""; fieldStarted = false
                case "\r":
                    break
                case "\n":
                    row.append(field); rows.append(row); row = []; field = ""; fieldStarted = false; line += 1
                default:
                    field.unicodeScalars.append(c); fieldStarted = true
                }
            }
            i += 1
        }
        if inQuotes { throw ParseError(path: name, reason: "unterminated quoted field at end of file") }
        if fieldStarted || !row.isEmpty { row.append(field); rows.append(row) }
        return rows.filter { !($0.count == 1 && $0[0].isEmpty) }
    }

    /// Parses a file; the first row is the header. Returns header and rows as dictionaries.
    public static func readTable(path: String) throws -> (header: [String], rows: [[String: String]]) {
        guard let data = FileManager.default.contents(atPath: path) else { throw ParseError(path: path, reason: "cannot read file") }
        guard let text = String(data: data, encoding: .utf8) else { throw ParseError(path: path, reason: "not UTF-8 text") }
        let all = try parse(text, name: path)
        guard let header = all.first else { throw ParseError(path: path, reason: "empty file (no header)") }
        var rows: [[String: String]] = []
        for (k, r) in all.dropFirst().enumerated() {
            guard r.count == header.count else {
                throw ParseError(path: path, reason: "row \(k + 2) has \(r.count) fields, header has \(header.count)")
            }
            var d: [String: String] = [:]
            for (h, v) in zip(header, r) { d[h] = v }
            rows.append(d)
        }
        return (header, rows)
    }
}
