import Foundation

/// Renders HTML in a real browser — headless Chromium from Debian's `chromium` package — so a
/// report is checked the way a reader will see it.
public enum Browser {
    /// Names Chromium goes by on PATH (Debian, Ubuntu's snap wrapper, Google's build).
    static let executables = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]

    /// Screenshots `html` as a PNG at `png`, `width` px wide and as tall as the whole page (measured
    /// first in the same browser, up to `maxHeight`); `height` fixes the height instead.
    public static func screenshot(html: String, png: String, width: Int = 1400, height: Int? = nil, maxHeight: Int = 16000) throws {
        guard width >= 100, width <= 8000 else {
            throw ReportError.invalidArgument(op: "Browser.screenshot", detail: "width must be in 100...8000 px, got \(width)")
        }
        let tool = try ExternalTool.locate(executables, package: "chromium", purpose: "render the report in a browser")
        let dir = try ExternalTool.temporaryDirectory("camaudit-browser")
        defer { try? FileManager.default.removeItem(at: dir) }
        let page = dir.appendingPathComponent("page.html")
        try write(html, to: page)
        let pageHeight = try height ?? measureHeight(html: html, width: width, tool: tool, dir: dir)
        let shot = dir.appendingPathComponent("shot.png")
        try ExternalTool.run(tool, commonFlags(dir: dir) + [
            "--hide-scrollbars", "--screenshot=\(shot.path)", "--window-size=\(width),\(min(max(pageHeight, 100), maxHeight))",
            page.absoluteString,
        ])
        guard FileManager.default.fileExists(atPath: shot.path) else {
            throw ReportError.toolFailed(tool: "chromium", status: 0, output: "no screenshot written for \(png)")
        }
        try? FileManager.default.removeItem(atPath: png)
        do { try FileManager.default.copyItem(at: shot, to: URL(fileURLWithPath: png)) } catch {
            throw ReportError.writeFailed(path: png, reason: "\(error)")
        }
    }

    /// The page's full height in px at `width`: a copy of the page records
    /// `documentElement.scrollHeight` once loaded, and Chromium's `--dump-dom` hands it back.
    static func measureHeight(html: String, width: Int, tool: String, dir: URL) throws -> Int {
        let probe = dir.appendingPathComponent("measure.html")
        let script = "<script>window.addEventListener('load',function(){document.documentElement.setAttribute('data-page-height',String(Math.ceil(document.documentElement.scrollHeight)));});</script>"
        try write(html + script, to: probe)
        let dom = try ExternalTool.run(tool, commonFlags(dir: dir) + ["--window-size=\(width),800", "--dump-dom", probe.absoluteString])
        guard let r = dom.range(of: #"data-page-height="(\d+)""#, options: .regularExpression) else { return 3000 }
        return Int(dom[r].filter(\.isNumber)) ?? 3000
    }

    static func commonFlags(dir: URL) -> [String] {
        ["--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-extensions", "--mute-audio",
         "--user-data-dir=\(dir.appendingPathComponent("profile").path)", "--virtual-time-budget=5000"]
    }

    static func write(_ text: String, to url: URL) throws {
        do { try text.write(to: url, atomically: true, encoding: .utf8) } catch {
            throw ReportError.writeFailed(path: url.path, reason: "\(error)")
        }
    }
}
