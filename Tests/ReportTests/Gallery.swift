import Foundation
import TensorCore
import Imaging
@testable import Report

/// Figures like the study's, from made-up but plausible numbers: what the tests render, and what
/// `CAMAUDIT_FIGURE_DIR=dir swift test --filter ReportTests` leaves behind to look at.
enum Gallery {
    static let architectures = ["ResNet-50", "ResNet-101", "DenseNet-161", "EfficientNet-B0", "ViT-B/16"]

    static func deletionCurves() -> String {
        let x = (0...20).map { Double($0) / 20 }
        let series = architectures.enumerated().map { k, name -> Series in
            let rate = 2.0 + Double(k) * 0.9
            let y = x.map { exp(-rate * $0) * 0.9 + 0.05 }
            return Series(name: name, x: x, y: y, lo: y.map { max($0 - 0.06, 0) }, hi: y.map { min($0 + 0.06, 1) })
        }
        return Plot.lines(title: "Deletion curves (mean over test images, 95% bootstrap CI)", xLabel: "Fraction of pixels deleted",
                          yLabel: "Target-class probability", series: series, yRange: 0...1, reference: ("RandomCAM (chance)", 0.33))
    }

    static func locAccDistributions() -> String {
        let groups = architectures.enumerated().map { k, name -> (name: String, values: [Double]) in
            (name, (0..<40).map { i in min(max(0.35 + 0.1 * Double(k) + 0.18 * jitter(group: k + 7, index: i), 0), 1) })
        }
        return Plot.distributions(title: "LocAcc per test image", yLabel: "LocAcc (energy inside lesion)", groups: groups,
                                  reference: ("RandomCAM mean", 0.21))
    }

    static func agreementHeatmap() -> String {
        let n = architectures.count
        let values: [[Double?]] = (0..<n).map { r in (0..<n).map { c -> Double? in
            if r == c { return 1 }
            if Set([r, c]) == [2, 4] { return nil }   // e.g. a pair whose maps could not be compared
            let distance = Double(abs(r - c)), sum = Double(r + c)
            return 0.9 - 0.12 * distance - 0.03 * sum
        } }
        return Plot.heatmap(title: "Cross-architecture map agreement", rows: architectures, columns: architectures, values: values,
                            range: 0...1, colorbarLabel: "Spearman ρ between CAMs")
    }

    static func accuracyBars() -> String {
        let acc: [Double?] = [0.91, 0.89, 0.93, 0.88, nil]
        let f1: [Double?] = [0.90, 0.87, 0.92, 0.86, nil]
        return Plot.bars(title: "Test accuracy and macro-F1 (mean ± sd over 3 seeds)", yLabel: "Score", categories: architectures,
                         series: [(name: "Accuracy", values: acc, lo: acc.map { $0.map { $0 - 0.02 } }, hi: acc.map { $0.map { $0 + 0.02 } }),
                                  (name: "Macro-F1", values: f1, lo: nil, hi: nil)],
                         reference: ("Chance (3 classes)", 1.0 / 3))
    }

    /// A grey phantom slice with a bright disc lesion, its mask and a CAM peaking near the lesion.
    static func phantom(size: Int, lesion: (x: Double, y: Double, r: Double), camOffset: (Double, Double))
        -> (grey: Image, overlay: Image, mask: [UInt8]) {
        var grey = [UInt8](repeating: 0, count: size * size)
        var mask = [UInt8](repeating: 0, count: size * size)
        var rgb = [Float](repeating: 0, count: 3 * size * size)
        var cam = [Float](repeating: 0, count: size * size)
        let c = Double(size) / 2
        for y in 0..<size { for x in 0..<size {
            let (fx, fy) = (Double(x), Double(y))
            let body = ((fx - c) * (fx - c)) / (0.42 * 0.42 * c * c * 4) + ((fy - c) * (fy - c)) / (0.32 * 0.32 * c * c * 4) <= 1
            let inLesion = (fx - lesion.x) * (fx - lesion.x) + (fy - lesion.y) * (fy - lesion.y) <= lesion.r * lesion.r
            let v = inLesion ? 0.85 : body ? 0.35 + 0.05 * sin(fx * 0.4) : 0.05
            grey[y * size + x] = UInt8(v * 255)
            mask[y * size + x] = inLesion ? 1 : 0
            for ch in 0..<3 { rgb[ch * size * size + y * size + x] = Float(v) }
            let dx = fx - lesion.x - camOffset.0, dy = fy - lesion.y - camOffset.1
            cam[y * size + x] = Float(exp(-(dx * dx + dy * dy) / (2 * 9 * lesion.r * lesion.r / 4)))
        } }
        let overlay = try! Overlay.render(image: try! Tensor(shape: [3, size, size], values: rgb), map: try! Tensor(shape: [size, size], values: cam))
        return (try! Image(width: size, height: size, channels: 1, bytes: grey), overlay, mask)
    }

    static func camGrid(size: Int = 96) throws -> String {
        let classes = [("Malignant", (x: 0.62, y: 0.45, r: 0.12)), ("Normal", (x: 0.5, y: 0.5, r: 0.0)), ("Benign", (x: 0.35, y: 0.55, r: 0.07))]
        let rows = classes.enumerated().map { k, cls -> (label: String, cells: [GridCell]) in
            let s = Double(size)
            let lesion = (x: cls.1.x * s, y: cls.1.y * s, r: cls.1.r * s)
            var cells: [GridCell] = []
            let base = phantom(size: size, lesion: lesion, camOffset: (0, 0))
            let hasLesion = lesion.r > 0
            cells.append(GridCell(image: base.grey, outline: hasLesion ? base.mask : nil, caption: "test image \(17 + k), label \(cls.0.lowercased())"))
            for (a, name) in architectures.enumerated() {
                let p = phantom(size: size, lesion: lesion, camOffset: (Double(a - 2) * s * 0.05, Double(a % 2) * s * 0.06))
                cells.append(GridCell(image: p.overlay, outline: hasLesion ? p.mask : nil, caption: "p(\(cls.0.lowercased())) = 0.\(90 - a * 7)"))
                _ = name
            }
            return (cls.0, cells)
        }
        return try CAMGrid.svg(columnTitles: ["Input"] + architectures, rows: rows, tileWidth: 150)
    }
}

/// Awkward inputs a real run can produce: long titles and names, many series, negative values,
/// integer x, a reference at 0.
enum StressGallery {
    static let longTitle = "Where Grad-CAM looks on marked slices: share of the map's mass on the corner marker versus the lesion, per architecture and seed"

    static func all() -> [(String, String)] {
        let cascadeX = (0...4).map(Double.init)
        let cascade = ["gradcam", "gradcam++", "scorecam", "eigencam", "layercam", "xgradcam", "random"].enumerated().map { k, m in
            Series(name: m, x: cascadeX, y: cascadeX.map { 0.95 - Double(k) * 0.04 - $0 * (0.2 + 0.02 * Double(k)) },
                   lo: cascadeX.map { 0.9 - Double(k) * 0.04 - $0 * 0.25 }, hi: cascadeX.map { 1.0 - Double(k) * 0.04 - $0 * 0.18 })
        }
        let shortcutNames = ["on the marker", "on the lesion", "accuracy with marker", "accuracy with the marker removed from every slice"]
        let shortcut = shortcutNames.enumerated().map { k, n -> (name: String, values: [Double?], lo: [Double?]?, hi: [Double?]?) in
            let v: [Double?] = Gallery.architectures.indices.map { 0.2 + 0.15 * Double(k) + 0.03 * Double($0) }
            return (n, v, v.map { $0.map { $0 - 0.05 } }, v.map { $0.map { $0 + 0.05 } })
        }
        let methods = ["gradcam", "gradcam++", "hirescam", "scorecam", "ablationcam", "xgradcam", "eigencam", "eigengradcam", "layercam", "fullgrad", "random"]
        return [
            ("stress_cascade", Plot.lines(title: "Randomisation cascade (resnet50)", xLabel: "stage (blocks re-initialised from the head down to this one)",
                                          yLabel: "Spearman ρ with the trained model's map", series: cascade, yRange: -0.2...1, reference: ("0", 0))),
            ("stress_shortcut", Plot.bars(title: longTitle, yLabel: "share of map mass", categories: Gallery.architectures, series: shortcut)),
            ("stress_methods", Plot.bars(title: "CAM methods on resnet50", yLabel: "mean over test images", categories: methods,
                                         series: [(name: "LocAcc", values: methods.indices.map { 0.1 + 0.07 * Double($0) }, lo: nil, hi: nil),
                                                  (name: "Deletion AUC", values: methods.indices.map { 0.5 - 0.03 * Double($0) }, lo: nil, hi: nil)],
                                         reference: ("chance", 0.2))),
            ("stress_negative", Plot.distributions(title: "Change in accuracy when the marker is removed", yLabel: "Δ accuracy (percentage points)",
                                                   groups: Gallery.architectures.enumerated().map { k, a in (a, (0..<12).map { -30 + Double(k * 5) + 8 * jitter(group: k, index: $0) }) },
                                                   reference: ("no change", 0))),
            ("stress_heatmap_wide", Plot.heatmap(title: "Deletion AUC per method and architecture", rows: Gallery.architectures, columns: methods,
                                                 values: Gallery.architectures.indices.map { r in methods.indices.map { c in (r + c) % 7 == 0 ? nil : Double(r * 11 + c) / 60 } },
                                                 range: 0...1, colorbarLabel: "Deletion AUC (lower = more faithful)", decimals: 3)),
        ]
    }
}
