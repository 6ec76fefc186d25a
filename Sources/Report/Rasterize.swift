import Foundation

/// SVG → PNG through librsvg's `rsvg-convert` (Debian `librsvg2-bin`): text is laid out and
/// rasterised by Pango/FreeType with the installed DejaVu Sans, not by hand-drawn glyphs.
public enum Rasterize {
    /// Renders `svg` to a PNG file at `path`, `scale` × the SVG's own size in px (2 for print).
    public static func png(svg: String, to path: String, scale: Double = 1) throws {
        guard scale.isFinite, scale > 0, scale <= 16 else {
            throw ReportError.invalidArgument(op: "Rasterize.png", detail: "scale must be in (0, 16], got \(scale)")
        }
        let tool = try ExternalTool.locate(["rsvg-convert"], package: "librsvg2-bin fonts-dejavu-core", purpose: "render SVG figures to PNG")
        let dir = try ExternalTool.temporaryDirectory("camaudit-svg")
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("figure.svg")
        let output = dir.appendingPathComponent("figure.png")
        do { try svg.write(to: input, atomically: true, encoding: .utf8) } catch {
            throw ReportError.writeFailed(path: input.path, reason: "\(error)")
        }
        try ExternalTool.run(tool, ["--zoom=\(scale)", "--format=png", "--output=\(output.path)", input.path])
        // Written next to the target and renamed, so a reader never sees half a PNG.
        let target = URL(fileURLWithPath: path)
        let staged = target.deletingLastPathComponent().appendingPathComponent(".\(target.lastPathComponent).\(UUID().uuidString).tmp")
        do {
            try FileManager.default.copyItem(at: output, to: staged)
            guard rename(staged.path, target.path) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        } catch {
            try? FileManager.default.removeItem(at: staged)
            throw ReportError.writeFailed(path: path, reason: "\(error)")
        }
    }
}
