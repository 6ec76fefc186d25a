import Foundation

/// RFC 4180 CSV: fields with commas, quotes or line breaks are quoted, quotes doubled — and, as
/// the OWASP guidance on CSV injection says, a text cell a spreadsheet would run as a formula (one
/// beginning with `=`, `+`, `-`, `@`, a tab or a carriage return) is written quoted with a leading
/// `'`, so `=1+2.png` becomes `"'=1+2.png"`. Numbers (`-0.5`, `+1e3`, `-inf`) stay numbers. Reading
/// removes the guard again, so every value round-trips (a value that itself starts with `'` before
/// such a character gets one more `'`). Every CSV camaudit writes goes through `line`.
public enum CSV {
    public struct ParseError: Error, CustomStringConvertible, LocalizedError {
        public let path: String
        public let reason: String
        public var description: String { "\(path): bad CSV: \(reason)" }
        public var errorDescription: String? { description }
    }

    /// Characters that make a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
    static let formulaStarts: Set<Unicode.Scalar> = ["=", "+", "-", "@", "\t", "\r"]

    /// Whether `s` is written with a leading `'`: it (after any `'`s) starts like a formula and is
    /// not a plain number.
    static func needsGuard<S: StringProtocol>(_ s: S) -> Bool {
        guard let first = s.unicodeScalars.first(where: { $0 != "'" }), formulaStarts.contains(first) else { return false }
        return s.unicodeScalars.first == "'" || Double(s) == nil
    }

    /// One field: guarded against formula evaluation and quoted when needed.
    public static func field(_ s: String) -> String {
        let v = needsGuard(s) ? "'" + s : s
        if v.first == "'" || v.unicodeScalars.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) || v.hasPrefix(" ") || v.hasSuffix(" ") {
            return "\"" + v.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return v
    }

    /// The value a written field stands for (the formula guard removed).
    static func unguarded(_ s: String) -> String {
        s.first == "'" && needsGuard(s.dropFirst()) ? String(s.dropFirst()) : s
    }

    /// One line (with trailing newline).
    public static func line(_ fields: [String]) -> String { fields.map(field).joined(separator: ",") + "\n" }

    /// One record ending in CRLF, for files meant for spreadsheets (report tables).
    public static func record(_ fields: [String]) -> String { fields.map(field).joined(separator: ",") + "\r\n" }

    /// Whether a value can be stored in a cell and read back as the same name: no line breaks or other
    /// control characters (a tab is fine), no U+FFFD (a file name that was not valid UTF-8).
    public static func isStorable(_ s: String) -> Bool {
        !s.unicodeScalars.contains { ($0.properties.generalCategory == .control && $0 != "\t") || $0 == "\u{FFFD}" }
    }

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
                    row.append(unguarded(field)); field = ""; fieldStarted = false
                case "\r":
                    break
                case "\n":
                    row.append(unguarded(field)); rows.append(row); row = []; field = ""; fieldStarted = false; line += 1
                default:
                    field.unicodeScalars.append(c); fieldStarted = true
                }
            }
            i += 1
        }
        if inQuotes { throw ParseError(path: name, reason: "unterminated quoted field at end of file") }
        if fieldStarted || !row.isEmpty { row.append(unguarded(field)); rows.append(row) }
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
