import ArgumentParser
import Foundation
import TensorCore
import Imaging
import Evaluation

struct Metrics: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics",
        abstract: "Localization scores of precomputed maps against masks (no model needed).")

    @Option(help: "Maps [N,H,W] (or [H,W]) as .npy, values in [0,1].")
    var maps: String

    @Option(help: "Masks: a .npy [N,H,W] / [H,W] (non-zero = lesion) or a folder of PNG masks (sorted by name, one per map).")
    var masks: String

    @Option(help: "Binarisation threshold τ in [0, 1] (default 0.5).", transform: { Float(try doubleOption(0...1)($0)) })
    var threshold: Float = 0.5

    @Option(help: "Write the per-image table as CSV here (default: stdout only).")
    var output: String?

    func run() throws {
        if let output { try checkWritableFile(output, option: "--output") }
        var m = try NPY.read(path: maps)
        if m.rank == 2 { m = try m.reshaped([1] + m.shape) }
        guard m.rank == 3 else { throw CLIError("\(maps): expected maps [N,H,W], got \(m.shape)") }
        let (n, h, w) = (m.shape[0], m.shape[1], m.shape[2])
        guard n > 0, h > 0, w > 0 else { throw CLIError("\(maps): empty array (shape \(m.shape)); expected at least one map") }
        try checkMapValues(m)
        var maskList: [Tensor] = []
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: masks, isDirectory: &isDir) else { throw CLIError("\(masks): no such file or folder") }
        if isDir.boolValue {
            let files = ImageFile.listImages(in: masks)
            guard files.count == n else { throw CLIError("\(masks): \(files.count) mask images for \(n) maps") }
            for f in files {
                let img = try ImageFile.read(f).grey()
                guard img.width == w, img.height == h else {
                    throw CLIError("\(f): mask is \(img.width)×\(img.height), maps are \(w)×\(h)")
                }
                let t = Tensor(uninitialized: [h, w])
                for i in 0..<(h * w) { t.data[i] = img.sample(i) != 0 ? 1 : 0 }
                maskList.append(t)
            }
        } else {
            var t = try NPY.read(path: masks)
            if t.rank == 2 { t = try t.reshaped([1] + t.shape) }
            guard t.shape == [n, h, w] else { throw CLIError("\(masks): masks \(t.shape) do not match maps [\(n), \(h), \(w)]") }
            if let i = (0..<t.count).first(where: { !t.data[$0].isFinite }) {
                throw CLIError("\(masks): mask \(i / (h * w)) has a NaN or infinite value at row \(i % (h * w) / w), column \(i % w)")
            }
            for i in 0..<n {
                let s = try t.slice0(i..<(i + 1)).reshaped([h, w])
                for j in 0..<s.count { s.data[j] = s.data[j] != 0 ? 1 : 0 }
                maskList.append(s)
            }
        }
        func f(_ v: Double?) -> String { v.map { String(format: "%.6f", $0) } ?? "" }
        var lines = ["index,locacc,pointing,energy,iou,dice,auc"]
        for i in 0..<n {
            let map = try m.slice0(i..<(i + 1)).reshaped([h, w])
            let mask = maskList[i]
            let o = try Localization.overlapAtThreshold(map: map, mask: mask, threshold: threshold)
            lines.append([String(i), f(try Localization.locAcc(map: map, mask: mask, threshold: threshold)),
                          f(try Localization.pointingGame(map: map, mask: mask)), f(try Localization.energyPointingGame(map: map, mask: mask)),
                          f(o.iou), f(o.dice), f(try Localization.rocAUC(map: map, mask: mask))].joined(separator: ","))
        }
        let text = lines.joined(separator: "\n") + "\n"
        if let output { try atomicWrite(Data(text.utf8), to: output) }
        print(text, terminator: "")
    }

    /// Scores are defined for maps in [0, 1] (pytorch-grad-cam's normalisation): a NaN would make
    /// every score silently wrong and values outside the range shift the threshold's meaning.
    func checkMapValues(_ m: Tensor) throws {
        let per = m.shape[1] * m.shape[2], w = m.shape[2]
        var lo = Float.infinity, hi = -Float.infinity
        for i in 0..<m.count {
            let v = m.data[i]
            guard v.isFinite else {
                throw CLIError("\(maps): map \(i / per) has a NaN or infinite value at row \(i % per / w), column \(i % w); maps must be finite, in [0, 1]")
            }
            lo = min(lo, v); hi = max(hi, v)
        }
        guard lo >= 0, hi <= 1 else {
            throw CLIError("\(maps): values span \(lo) … \(hi); maps must lie in [0, 1] (normalise each map: (m − min) / (max − min))")
        }
    }
}
