import Foundation
import TensorCore

/// The patient's body in a CT slice, and what a model sees outside it.
///
/// Burned-in annotations, text, rulers and the scanner table sit outside the body; a model whose
/// explanation lands there, or whose prediction changes when that region is blanked, has learned
/// something that is not the patient (the "outside_body" audit check).
public enum BodyMask {
    /// The body of a preprocessed slice `[C, H, W]` (or `[1, C, H, W]`), row-major `[H·W]`.
    ///
    /// On the channel mean, with the air level the median of the image's border and Otsu's level
    /// between air/lung and tissue:
    /// 1. foreground: above air + 0.2 × (Otsu − air). Low enough that lung (−850 HU against air's
    ///    −1000 in a lung window) and partial-volume wall pixels count, so a wall thinned by
    ///    partial volume, or a lung touching it, cannot open the lungs to the outside air; high
    ///    enough to stay above the noise of air;
    /// 2. an opening by a disc of radius r = max(1, round(size / 64)) cuts thin bridges (the
    ///    table under the patient, a line of text touching the skin), the largest 4-connected
    ///    region is kept and grown back by r within the foreground;
    /// 3. holes filled (lungs, airways);
    /// 4. the outline peeled once (a pixel on the body's edge below Otsu's level is more air than
    ///    tissue), and the largest region kept again: at 64 px the table lies within a pixel of the
    ///    back and is joined to it only by such pixels.
    ///
    /// Measured against the phantoms' drawn body (BodyMaskPhantomTests): IoU ≥ 0.98 at 128 and
    /// 224 px, ≥ 0.92 at 64 px (one-pixel disagreements along the outline weigh most there). An image with one grey level has no body: every pixel is outside.
    public static func find(image: Tensor) throws -> [Bool] {
        let s = image.shape
        guard s.count >= 3, s.dropLast(3).allSatisfy({ $0 == 1 }) else {
            throw EvaluationError.shapeMismatch(op: "BodyMask.find", detail: "image must be [C, H, W] (or [1, C, H, W]), got \(s)")
        }
        let (c, h, w) = (s[s.count - 3], s[s.count - 2], s[s.count - 1])
        let n = h * w
        var grey = [Float](repeating: 0, count: n)
        for ch in 0..<c { for i in 0..<n { grey[i] += image.data[ch * n + i] / Float(c) } }
        guard let otsuLevel = otsu(grey) else { return [Bool](repeating: false, count: n) }
        var border: [Float] = []
        for x in 0..<w { border.append(grey[x]); border.append(grey[(h - 1) * w + x]) }
        for y in 1..<max(1, h - 1) { border.append(grey[y * w]); border.append(grey[y * w + w - 1]) }
        border.sort()
        let air = min(border[border.count / 2], otsuLevel)
        let t = air + 0.2 * (otsuLevel - air)
        let fg = grey.map { $0 > t }
        let r = max(1, Int((Double(min(h, w)) / 64).rounded()))
        let disc = Self.disc(radius: r)
        let opened = morph(morph(fg, width: w, height: h, offsets: disc, erode: true), width: w, height: h, offsets: disc, erode: false)
        let grown = zip(morph(largestComponent(opened, width: w, height: h), width: w, height: h, offsets: disc, erode: false), fg).map { $0 && $1 }
        var body = fillHoles(grown, width: w, height: h)
        let edge = morph(body.map { !$0 }, width: w, height: h, offsets: Self.disc(radius: 1), erode: false)
        for i in 0..<n where body[i] && edge[i] && grey[i] < otsuLevel { body[i] = false }
        // Peeling can cut a table joined to the back only by partial-volume pixels: one region stays.
        return largestComponent(body, width: w, height: h)
    }

    /// Offsets (dx, dy) of a digital disc: dx² + dy² ≤ r² + r/2 (radius 1 is the 4-neighbourhood cross).
    static func disc(radius r: Int) -> [(Int, Int)] {
        var o: [(Int, Int)] = []
        for dy in -r...r { for dx in -r...r where Double(dx * dx + dy * dy) <= Double(r * r) + Double(r) / 2 { o.append((dx, dy)) } }
        return o
    }

    /// Binary erosion or dilation by `offsets`; pixels beyond the image are background.
    static func morph(_ m: [Bool], width w: Int, height h: Int, offsets: [(Int, Int)], erode: Bool) -> [Bool] {
        var out = [Bool](repeating: false, count: m.count)
        for y in 0..<h {
            for x in 0..<w {
                var hit = erode
                for (dx, dy) in offsets {
                    let nx = x + dx, ny = y + dy
                    let v = nx >= 0 && ny >= 0 && nx < w && ny < h && m[ny * w + nx]
                    if erode ? !v : v { hit = !erode; break }
                }
                out[y * w + x] = hit
            }
        }
        return out
    }

    /// Otsu's threshold over 256 bins between the image's minimum and maximum; nil for a flat image.
    static func otsu(_ v: [Float]) -> Float? {
        guard let lo = v.min(), let hi = v.max(), hi > lo else { return nil }
        let bins = 256
        var hist = [Double](repeating: 0, count: bins)
        let scale = Float(bins - 1) / (hi - lo)
        for x in v { hist[min(bins - 1, max(0, Int((x - lo) * scale)))] += 1 }
        let total = Double(v.count)
        let sumAll = hist.enumerated().reduce(0.0) { $0 + Double($1.offset) * $1.element }
        var wB = 0.0, sumB = 0.0, best = -1.0, bestBin = 0
        for k in 0..<(bins - 1) {
            wB += hist[k]; sumB += Double(k) * hist[k]
            let wF = total - wB
            guard wB > 0, wF > 0 else { continue }
            let mB = sumB / wB, mF = (sumAll - sumB) / wF
            let between = wB * wF * (mB - mF) * (mB - mF)
            if between > best { best = between; bestBin = k }
        }
        return lo + (Float(bestBin) + 0.5) / scale
    }

    /// The largest 4-connected region of `mask` (first in row-major order on ties).
    static func largestComponent(_ mask: [Bool], width w: Int, height h: Int) -> [Bool] {
        var label = [Int](repeating: -1, count: mask.count)
        var bestLabel = -1, bestSize = 0, next = 0
        var stack: [Int] = []
        for start in 0..<mask.count where mask[start] && label[start] < 0 {
            var size = 0
            label[start] = next; stack.append(start)
            while let p = stack.popLast() {
                size += 1
                let x = p % w, y = p / w
                for (nx, ny) in [(x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)] where nx >= 0 && ny >= 0 && nx < w && ny < h {
                    let q = ny * w + nx
                    if mask[q] && label[q] < 0 { label[q] = next; stack.append(q) }
                }
            }
            if size > bestSize { bestSize = size; bestLabel = next }
            next += 1
        }
        return label.map { $0 == bestLabel && bestLabel >= 0 }
    }

    /// `mask` with every background region that does not reach the border filled.
    static func fillHoles(_ mask: [Bool], width w: Int, height h: Int) -> [Bool] {
        var outside = [Bool](repeating: false, count: mask.count)
        var stack: [Int] = []
        for x in 0..<w { stack.append(x); stack.append((h - 1) * w + x) }
        for y in 0..<h { stack.append(y * w); stack.append(y * w + w - 1) }
        while let p = stack.popLast() {
            guard !mask[p], !outside[p] else { continue }
            outside[p] = true
            let x = p % w, y = p / w
            if x > 0 { stack.append(p - 1) }
            if x < w - 1 { stack.append(p + 1) }
            if y > 0 { stack.append(p - w) }
            if y < h - 1 { stack.append(p + w) }
        }
        return outside.map { !$0 }
    }

    /// Share of the map's mass outside the body, in [0, 1]; nil when the map has no mass.
    public static func outsideEnergy(map: Tensor, body: [Bool]) throws -> Double? {
        let (h, w) = try planeSize(map, "BodyMask.outsideEnergy", "map")
        guard body.count == h * w else {
            throw EvaluationError.shapeMismatch(op: "BodyMask.outsideEnergy", detail: "map is \(h)×\(w) but the body mask has \(body.count) pixels")
        }
        var total = 0.0, outside = 0.0
        for i in 0..<(h * w) {
            let v = Double(max(map.data[i], 0))
            total += v
            if !body[i] { outside += v }
        }
        return total > 0 ? outside / total : nil
    }

    /// Share of the image outside the body: the outside energy of a uniform map (its chance level).
    public static func outsideArea(body: [Bool]) -> Double {
        body.isEmpty ? 0 : Double(body.lazy.filter { !$0 }.count) / Double(body.count)
    }

    /// The image `[1, C, H, W]` with every pixel outside the body set to the background value: per
    /// channel, the median of the outside pixels (air, whatever the window and normalisation).
    public static func blankOutside(image: Tensor, body: [Bool]) throws -> Tensor {
        let s = image.shape
        let (c, h, w) = (s[s.count - 3], s[s.count - 2], s[s.count - 1])
        let n = h * w
        guard body.count == n else {
            throw EvaluationError.shapeMismatch(op: "BodyMask.blankOutside", detail: "image is \(h)×\(w) but the body mask has \(body.count) pixels")
        }
        let out = image.copy()
        for ch in 0..<c {
            var values: [Float] = []
            for i in 0..<n where !body[i] { values.append(image.data[ch * n + i]) }
            guard !values.isEmpty else { continue }
            values.sort()
            let background = values[values.count / 2]
            for i in 0..<n where !body[i] { out.data[ch * n + i] = background }
        }
        return out
    }
}
