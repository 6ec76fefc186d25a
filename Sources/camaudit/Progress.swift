import Foundation

/// Progress with an ETA on stderr, for runs longer than a few seconds (Score-CAM takes ~17 s an
/// image): silent at first so quick runs stay quiet, then one line refreshed in place on a
/// terminal, or a line every few seconds when stderr is a file.
final class ProgressLine {
    let total: Int
    let label: String
    let start = Date()
    /// Seconds before the first line; `CAMAUDIT_PROGRESS_AFTER` overrides (0 shows it at once).
    let delay: Double
    let tty = isatty(2) != 0
    private var last: Date? = nil

    init(total: Int, label: String) {
        self.total = total
        self.label = label
        delay = ProcessInfo.processInfo.environment["CAMAUDIT_PROGRESS_AFTER"].flatMap(Double.init) ?? 3
    }

    /// Reports `done` of `total` items finished.
    func update(_ done: Int) {
        let now = Date()
        let elapsed = now.timeIntervalSince(start)
        guard elapsed >= delay, done > 0 else { return }
        if let last, now.timeIntervalSince(last) < (tty ? 0.5 : 5), done < total { return }
        last = now
        let line = ProgressLine.text(label: label, done: done, total: total, elapsed: elapsed)
        FileHandle.standardError.write(((tty ? "\r\u{1B}[K" : "") + line + (tty ? "" : "\n")).data(using: .utf8)!)
    }

    /// Ends the refreshed line on a terminal.
    func finish() {
        if tty && last != nil { FileHandle.standardError.write("\n".data(using: .utf8)!) }
    }

    /// "cam 3/40 (8%), 51 s elapsed, ETA 10 min 29 s".
    static func text(label: String, done: Int, total: Int, elapsed: Double) -> String {
        let pct = total > 0 ? 100 * done / total : 100
        let eta = done >= total ? "done" : "ETA " + duration(elapsed / Double(done) * Double(total - done))
        return "\(label) \(done)/\(total) (\(pct)%), \(duration(elapsed)) elapsed, \(eta)"
    }

    static func duration(_ s: Double) -> String {
        let t = Int(s.rounded())
        if t < 60 { return "\(t) s" }
        if t < 3600 { return "\(t / 60) min \(t % 60) s" }
        return "\(t / 3600) h \(t % 3600 / 60) min"
    }
}
