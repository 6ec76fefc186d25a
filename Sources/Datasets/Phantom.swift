import TensorCore
import Foundation

/// Synthetic axial chest-CT slices with exact lesion ground truth.
///
/// Each slice is drawn in Hounsfield units (field of view 358.4 mm: 0.7 mm/pixel at 512): air, a
/// body outline with subcutaneous fat and muscle, ribs, spine and sternum, mediastinum with heart,
/// pericardial fat, aorta and airways, two lungs with gravity-dependent density, branching vessels
/// and bronchi, then the class's lesion. Below 384 pixels the anatomy and lesion are drawn on a
/// finer grid (`supersampling`× the size) and area-averaged down, as a detector integrates over a
/// pixel: a vessel thinner than a pixel becomes a faint partial-volume line instead of scattered
/// full-contrast dots that look like nodules. Noise is then added at the output resolution and
/// blurred (CT noise is spatially correlated), and the slice is shown in the lung window
/// (−600/1500) as 8-bit grey. The mask is exact: the output pixels at least half covered by the
/// painted lesion (the most covered pixel when a tiny nodule covers none by half).
///
/// Classes (sizes in mm, so the task means the same at every resolution):
/// - normal: no lesion;
/// - benign: one solitary, smooth, round, well-defined nodule, 20–28 mm across, 40% calcified;
/// - malignant: one irregular mass, 30–60 mm across, strongly lobulated, 80% spiculated, 35%
///   abutting the pleura, 30% with a necrotic (low-density) centre.
/// Diameters do not overlap between benign and malignant; shape differs too.
/// Every slice draws its anatomy, its lesion and its noise from three streams of its own, each
/// seeded by a hash of (seed, index, purpose) (`StreamSeed`): no slice shares draws with another,
/// so lesions never repeat across slices or splits, and the same seed gives the same bytes in any
/// order and with any thread count.
public struct PhantomGenerator: Sendable {
    /// 4: benign nodules 20–28 mm (3: 14–24 mm, which at 64 px left a benign nodule 3–4 pixels
    /// among vessels of its size: ResNet-50 stopped at 77–82% test accuracy, 90% with 20–28 mm).
    /// 3: lesion sizes in mm that stay visible at 64–96 px and separate the classes, supersampled
    /// anatomy, the unmarked image kept beside a marked one (2: independent hashed streams per slice;
    /// 1 reused shifted streams, so lesions repeated).
    public static let version = "4"
    /// Millimetres per pixel at 512 pixels (field of view 358.4 mm).
    public static let pixelMillimetres512 = 0.7
    /// Lesion diameters in mm per class.
    public static let benignDiameterMM = 20.0...28.0
    public static let malignantDiameterMM = 30.0...60.0
    public static let classes = ["benign", "malignant", "normal"]

    public var size: Int
    public var seed: UInt64
    /// Fraction of slices carrying the class-correlated shortcut tag.
    public var shortcutFraction: Double

    public init(size: Int = 512, seed: UInt64 = 0, shortcutFraction: Double = 0) {
        self.size = size; self.seed = seed; self.shortcutFraction = shortcutFraction
    }

    /// Class of slice `index`: benign, malignant, normal in turn (balanced classes).
    public func classIndex(of index: Int) -> Int { index % 3 }

    /// Shortcut tag corner per class: benign top-left, malignant top-right, normal bottom-left.
    public static let shortcutCorners = ["top-left", "top-right", "bottom-left"]

    /// The drawing grid is this many times finer than the output (1 from 384 pixels up).
    public static func supersampling(size: Int) -> Int { max(1, (384 + size - 1) / size) }

    /// Millimetres per output pixel.
    public var pixelMillimetres: Double { Self.pixelMillimetres512 * 512 / Double(size) }

    /// Draws slice `index`.
    public func slice(_ index: Int) -> PhantomSlice {
        let i = UInt64(truncatingIfNeeded: index)
        var d = PhantomDrawer(size: size, supersampling: Self.supersampling(size: size),
                              rng: StreamSeed.rng(seed, index: i, purpose: .anatomy),
                              lesionRNG: StreamSeed.rng(seed, index: i, purpose: .lesion),
                              renderingRNG: StreamSeed.rng(seed, index: i, purpose: .rendering))
        return d.draw(classIndex: classIndex(of: index), shortcutFraction: shortcutFraction)
    }
}

/// One generated slice.
public struct PhantomSlice: Sendable {
    public var size: Int
    public var classIndex: Int
    public var className: String { PhantomGenerator.classes[classIndex] }
    /// Lung-window 8-bit grey pixels, row-major [size, size] (with the shortcut marker, if any).
    public var pixels: [UInt8]
    /// The same slice without the shortcut marker: equal to `pixels` outside `shortcutBox`.
    public var unmarkedPixels: [UInt8]
    /// Lesion mask, 0/255 [size, size]; all zero for normal slices.
    public var lesionMask: [UInt8]
    /// Shortcut tag mask, 0/255, when the slice carries the tag.
    public var shortcutMask: [UInt8]?
    public var lesionBox: LesionBox?
    public var lesionArea: Int
    public var shortcutBox: LesionBox?
    /// The patient's body (the outer outline, lungs included, table excluded), 0/255 [size, size]:
    /// the ground truth of the body finder behind the outside_body audit check.
    public var bodyMask: [UInt8]
    /// Generator parameters, recorded in the manifest.
    public var parameters: [String: String]
}

/// The drawing state for one slice: HU canvas plus masks.
struct PhantomDrawer {
    /// The drawing grid's size (output size × supersampling).
    let n: Int
    let out: Int
    let ss: Int
    let k: Double       // drawing-grid pixels per 512-grid pixel
    /// The stream being drawn from: anatomy first, then the lesion's, then the rendering's.
    var rng: SeededRNG
    var lesionRNG: SeededRNG
    var renderingRNG: SeededRNG
    var hu: [Float]
    var lung: [UInt8]   // 1 inside either lung (before lesions, vessels)
    var params: [String: String] = [:]

    init(size: Int, supersampling: Int, rng: SeededRNG, lesionRNG: SeededRNG, renderingRNG: SeededRNG) {
        out = size
        ss = supersampling
        n = size * supersampling
        k = Double(n) / 512
        self.rng = rng
        self.lesionRNG = lesionRNG
        self.renderingRNG = renderingRNG
        hu = [Float](repeating: -1000, count: n * n)
        lung = [UInt8](repeating: 0, count: n * n)
    }

    mutating func u(_ a: Double, _ b: Double) -> Double { rng.uniform(a, b) }

    // MARK: - primitives

    /// Radius multiplier of a lobulated outline: 1 + Σ a_h cos(hθ) + b_h sin(hθ), h = 2, 3, computed
    /// from cos θ, sin θ without trig per pixel.
    struct Lobes { var a2 = 0.0, b2 = 0.0, a3 = 0.0, b3 = 0.0
        @inline(__always) func factor(_ c: Double, _ s: Double) -> Double {
            let c2 = c * c - s * s, s2 = 2 * s * c
            let c3 = c * (4 * c * c - 3), s3 = s * (3 - 4 * s * s)
            return 1 + a2 * c2 + b2 * s2 + a3 * c3 + b3 * s3
        }
    }

    /// Visits pixels inside a rotated, lobulated ellipse.
    @inline(__always)
    func forEachInShape(cx: Double, cy: Double, rx: Double, ry: Double, angle: Double = 0, lobes: Lobes = Lobes(),
                        _ body: (Int) -> Void) {
        let amp = abs(lobes.a2) + abs(lobes.b2) + abs(lobes.a3) + abs(lobes.b3)
        let ext = max(rx, ry) * (1 + amp) + 2
        let x0 = max(0, Int(cx - ext)), x1 = min(n - 1, Int(cx + ext))
        let y0 = max(0, Int(cy - ext)), y1 = min(n - 1, Int(cy + ext))
        guard x0 <= x1, y0 <= y1 else { return }
        let ca = cos(angle), sa = sin(angle)
        let irx = 1 / rx, iry = 1 / ry
        // Inside the inner radius every direction is inside; beyond the outer none is: only the
        // band between needs the outline's harmonics.
        let inner2 = max(0, 1 - amp) * max(0, 1 - amp), outer2 = (1 + amp) * (1 + amp)
        for y in y0...y1 {
            let dy = Double(y) + 0.5 - cy
            let rowX = dy * sa, rowY = dy * ca
            for x in x0...x1 {
                let dx = Double(x) + 0.5 - cx
                let px = (dx * ca + rowX) * irx, py = (rowY - dx * sa) * iry
                let r2 = px * px + py * py
                if r2 <= inner2 { body(y * n + x); continue }
                if r2 > outer2 { continue }
                let r = r2.squareRoot()
                if r <= lobes.factor(px / r, py / r) { body(y * n + x) }
            }
        }
    }

    mutating func fill(cx: Double, cy: Double, rx: Double, ry: Double, angle: Double = 0, lobes: Lobes = Lobes(), _ v: Float) {
        // Swap the canvas out so the closure can write it without copy-on-write or exclusivity conflicts.
        var h: [Float] = []
        swap(&h, &hu)
        forEachInShape(cx: cx, cy: cy, rx: rx, ry: ry, angle: angle, lobes: lobes) { h[$0] = v }
        swap(&h, &hu)
    }

    /// A disc painted only over lung (vessels, bronchi), value blended as max for vessels.
    mutating func lungDisc(_ cx: Double, _ cy: Double, _ r: Double, _ v: Float) {
        let x0 = max(0, Int(cx - r - 1)), x1 = min(n - 1, Int(cx + r + 1))
        let y0 = max(0, Int(cy - r - 1)), y1 = min(n - 1, Int(cy + r + 1))
        guard x0 <= x1, y0 <= y1 else { return }
        let r2 = r * r
        for y in y0...y1 {
            let dy = Double(y) + 0.5 - cy
            for x in x0...x1 {
                let dx = Double(x) + 0.5 - cx
                let i = y * n + x
                if dx * dx + dy * dy <= r2 && lung[i] != 0 { hu[i] = v }
            }
        }
    }

    // MARK: - anatomy

    mutating func draw(classIndex: Int, shortcutFraction: Double) -> PhantomSlice {
        let s = Double(n)
        let cx = s * u(0.48, 0.52), cy = s * u(0.50, 0.54)
        // Body: wide flat ellipse, flatter at the back (lying on the table).
        let bodyRx = s * u(0.40, 0.45), bodyRy = s * u(0.28, 0.32)
        let bodyLobes = Lobes(a2: u(-0.03, 0.03), b2: 0, a3: 0, b3: u(0.02, 0.05))
        let fat = u(6, 20) * k
        let o = Double(ss)   // parameters are recorded in output pixels
        params["body_rx"] = fmt(bodyRx / o); params["body_ry"] = fmt(bodyRy / o); params["fat_px"] = fmt(fat / o)
        // Table under the patient.
        let tableY = Int(cy + bodyRy * 1.04 + 6 * k)
        for y in max(0, tableY)..<min(n, tableY + Int(5 * k) + 1) {
            for x in Int(s * 0.08)..<Int(s * 0.92) { hu[y * n + x] = 150 }
        }
        fill(cx: cx, cy: cy, rx: bodyRx, ry: bodyRy, lobes: bodyLobes, -100)                // fat
        var body = [UInt8](repeating: 0, count: n * n)
        forEachInShape(cx: cx, cy: cy, rx: bodyRx, ry: bodyRy, lobes: bodyLobes) { body[$0] = 1 }
        fill(cx: cx, cy: cy, rx: bodyRx - fat, ry: bodyRy - fat, lobes: bodyLobes, 45)      // muscle
        // Thoracic cavity (inside ribs): extrapleural fat.
        let tRx = bodyRx - fat - 14 * k, tRy = bodyRy - fat - 12 * k
        fill(cx: cx, cy: cy, rx: tRx, ry: tRy, lobes: bodyLobes, -60)
        // Ribs around the cavity, tangential ovals: cortical shell and marrow.
        let ribs = 7 + rng.below(3)
        for side in [-1.0, 1.0] {
            for r in 0..<ribs {
                let t = Double.pi * (0.12 + 0.76 * (Double(r) + u(0.2, 0.8)) / Double(ribs))
                let ax = cx + side * (tRx + 5 * k) * sin(t), ay = cy - (tRy + 5 * k) * cos(t)
                let ang = atan2(ay - cy, ax - cx) + Double.pi / 2
                let rx = u(6, 9) * k, ry = u(3, 4.5) * k
                fill(cx: ax, cy: ay, rx: rx, ry: ry, angle: ang, 750)
                fill(cx: ax, cy: ay, rx: rx * 0.6, ry: ry * 0.45, angle: ang, 250)
            }
        }
        // Lungs: two lobulated ellipses filling most of the cavity.
        let gap = s * u(0.045, 0.06)
        let lungRx = (tRx - gap) / 2 * u(0.93, 0.99), lungRy = tRy * u(0.86, 0.93)
        for side in [-1.0, 1.0] {
            let lx = cx + side * (gap + lungRx * 1.0), ly = cy + u(-0.02, 0.03) * s
            let lobes = Lobes(a2: u(-0.06, 0.02), b2: side * u(0.0, 0.05), a3: side * u(-0.08, -0.02), b3: u(-0.04, 0.04))
            let angle = side * u(-0.08, 0.05)
            var m: [UInt8] = []
            swap(&m, &lung)
            forEachInShape(cx: lx, cy: ly, rx: lungRx, ry: lungRy, angle: angle, lobes: lobes) { m[$0] = 1 }
            swap(&m, &lung)
        }
        // Mediastinum, heart with pericardial fat, aorta, spine, sternum carve the lungs medially.
        let heartX = cx + s * u(0.03, 0.07), heartY = cy - s * u(0.0, 0.05)
        let heartRx = s * u(0.11, 0.14), heartRy = s * u(0.09, 0.115)
        let heartAngle = u(-0.6, -0.3)
        params["heart_rx"] = fmt(heartRx / o)
        var mediastinum = [Int]()
        forEachInShape(cx: cx, cy: cy - tRy * 0.1, rx: gap * 1.2, ry: tRy * 0.95) { mediastinum.append($0) }
        forEachInShape(cx: heartX, cy: heartY, rx: heartRx + 4 * k, ry: heartRy + 4 * k, angle: heartAngle) { mediastinum.append($0) }
        let spineY = cy + tRy * 0.82
        forEachInShape(cx: cx, cy: spineY, rx: 30 * k, ry: 26 * k) { mediastinum.append($0) }
        let aortaX = cx + 20 * k, aortaY = spineY - 26 * k
        forEachInShape(cx: aortaX, cy: aortaY, rx: 14 * k, ry: 14 * k) { mediastinum.append($0) }
        for i in mediastinum { lung[i] = 0 }
        // Lungs in HU: denser towards the back (gravity), slight per-slice variation.
        let base = Float(u(-880, -840)), grad = Float(u(40, 90))
        for y in 0..<n {
            let v = base + grad * Float(y) / Float(n)
            for x in 0..<n where lung[y * n + x] != 0 { hu[y * n + x] = v }
        }
        fill(cx: cx, cy: cy - tRy * 0.1, rx: gap * 1.0, ry: tRy * 0.85, 35)
        fill(cx: heartX, cy: heartY, rx: heartRx + 4 * k, ry: heartRy + 4 * k, angle: heartAngle, -90)
        fill(cx: heartX, cy: heartY, rx: heartRx, ry: heartRy, angle: heartAngle, 40)
        fill(cx: aortaX, cy: aortaY, rx: 12 * k, ry: 12 * k, 45)
        let ascending = rng.unit() < 0.5
        if ascending { fill(cx: cx - 8 * k, cy: heartY - heartRy * 0.9, rx: 13 * k, ry: 13 * k, 45) }
        // Airway: trachea (upper slices) or the two main bronchi.
        let upper = rng.unit() < 0.4
        params["level"] = upper ? "upper" : "hilar"
        if upper {
            let ty = cy + tRy * 0.45
            fill(cx: cx, cy: ty, rx: 10 * k, ry: 9 * k, 30)
            fill(cx: cx, cy: ty, rx: 8 * k, ry: 7 * k, -1000)
        } else {
            for side in [-1.0, 1.0] {
                let bx = cx + side * gap * 1.1, by = cy + tRy * 0.35
                fill(cx: bx, cy: by, rx: 6 * k, ry: 5 * k, 30)
                fill(cx: bx, cy: by, rx: 4.5 * k, ry: 3.5 * k, -1000)
            }
        }
        // Spine: vertebral body (cortex + cancellous), canal, spinous process; sternum.
        fill(cx: cx, cy: spineY, rx: 25 * k, ry: 22 * k, 800)
        fill(cx: cx, cy: spineY, rx: 21 * k, ry: 18 * k, 230)
        fill(cx: cx, cy: spineY + 32 * k, rx: 11 * k, ry: 10 * k, 700)
        fill(cx: cx, cy: spineY + 32 * k, rx: 8 * k, ry: 7 * k, 15)
        fill(cx: cx, cy: spineY + 52 * k, rx: 5 * k, ry: 13 * k, 650)
        for side in [-1.0, 1.0] { fill(cx: cx + side * 26 * k, cy: spineY + 22 * k, rx: 16 * k, ry: 5 * k, angle: side * 0.4, 600) }
        fill(cx: cx, cy: cy - bodyRy + fat + 10 * k, rx: 13 * k, ry: 6 * k, 600)
        fill(cx: cx, cy: cy - bodyRy + fat + 10 * k, rx: 9 * k, ry: 3.5 * k, 220)

        drawVessels(centerX: cx, spineY: spineY, gap: gap)

        // Lesion, from its own stream: how much anatomy drew does not shift it.
        rng = lesionRNG
        var lesion = [UInt8](repeating: 0, count: n * n)
        var lesionArea = 0
        var lesionBox: LesionBox? = nil
        switch classIndex {
        case 0: drawNodule(&lesion)
        case 1: drawMass(&lesion)
        default: params["lesion_kind"] = "none"
        }
        let lesionMask = downsample(lesion: lesion)
        let bodyMask = downsample(lesion: body)
        hu = downsampleHU()
        var bx0 = out, by0 = out, bx1 = -1, by1 = -1
        for y in 0..<out { for x in 0..<out where lesionMask[y * out + x] != 0 {
            lesionArea += 1; bx0 = min(bx0, x); by0 = min(by0, y); bx1 = max(bx1, x); by1 = max(by1, y)
        } }
        if lesionArea > 0 { lesionBox = LesionBox(x0: bx0, y0: by0, x1: bx1 + 1, y1: by1 + 1) }

        rng = renderingRNG
        let pixels = render()

        // Shortcut marker, burned into the displayed image; `pixels` stays the unmarked slice.
        var shortcutMask: [UInt8]? = nil
        var shortcutBox: LesionBox? = nil
        var marked = pixels
        if shortcutFraction > 0 && rng.unit() < shortcutFraction {
            let (m, b) = burnTag(&marked, corner: classIndex)
            shortcutMask = m; shortcutBox = b
            params["shortcut"] = "1"; params["shortcut_corner"] = PhantomGenerator.shortcutCorners[classIndex]
        } else {
            params["shortcut"] = "0"; params["shortcut_corner"] = ""
        }
        return PhantomSlice(size: out, classIndex: classIndex, pixels: marked, unmarkedPixels: pixels, lesionMask: lesionMask,
                            shortcutMask: shortcutMask, lesionBox: lesionBox, lesionArea: lesionArea, shortcutBox: shortcutBox,
                            bodyMask: bodyMask, parameters: params)
    }

    /// The output-resolution mask: pixels at least half covered by lesion (or body) on the drawing grid; if
    /// a lesion covers no pixel by half, its most covered pixel (first in row-major order).
    func downsample(lesion: [UInt8]) -> [UInt8] {
        guard ss > 1 else { return lesion }
        var cover = [Int](repeating: 0, count: out * out)
        for y in 0..<n { for x in 0..<n where lesion[y * n + x] != 0 { cover[(y / ss) * out + x / ss] += 1 } }
        let half = (ss * ss + 1) / 2
        var mask = cover.map { $0 >= half ? UInt8(255) : 0 }
        if !mask.contains(255), let top = cover.max(), top > 0, let i = cover.firstIndex(of: top) { mask[i] = 255 }
        return mask
    }

    /// The HU canvas area-averaged to the output grid (partial volume).
    func downsampleHU() -> [Float] {
        guard ss > 1 else { return hu }
        var o = [Float](repeating: 0, count: out * out)
        for y in 0..<n { let row = (y / ss) * out; for x in 0..<n { o[row + x / ss] += hu[y * n + x] } }
        let inv = 1 / Float(ss * ss)
        return o.map { $0 * inv }
    }

    /// Vessel trees from each hilum, random dots (vessels seen end-on) and a few bronchi.
    mutating func drawVessels(centerX: Double, spineY: Double, gap: Double) {
        let hilumY = Double(n) * 0.5
        for side in [-1.0, 1.0] {
            var stack: [(x: Double, y: Double, ang: Double, r: Double, len: Double, gen: Int)] = []
            let hx = centerX + side * gap * 1.6
            for _ in 0..<3 {
                let ang = (side > 0 ? 0 : Double.pi) + u(-1.1, 1.1)
                stack.append((hx, hilumY + u(-20, 20) * k, ang, u(2.2, 3.2) * k, u(30, 45) * k, 0))
            }
            while let seg = stack.popLast() {
                var x = seg.x, y = seg.y, ang = seg.ang
                let steps = Int(seg.len / max(1, seg.r * 0.6))
                for _ in 0..<max(1, steps) {
                    // Thin vessels lose contrast to partial volume with the surrounding air.
                    let contrast = Float(min(1, seg.r / (1.6 * k)))
                    lungDisc(x, y, seg.r, -850 + contrast * Float(u(870, 900)))
                    ang += u(-0.12, 0.12)
                    let step = max(1, seg.r * 0.6)
                    x += cos(ang) * step; y += sin(ang) * step
                }
                if seg.gen < 4 {
                    for b in [-1.0, 1.0] {
                        if rng.unit() < 0.8 { stack.append((x, y, ang + b * u(0.3, 0.7), seg.r * u(0.6, 0.72), seg.len * u(0.55, 0.75), seg.gen + 1)) }
                    }
                }
            }
        }
        // End-on vessels and bronchi scattered in the lungs.
        let dots = 120 + rng.below(80)
        for _ in 0..<dots {
            let x = u(0, Double(n)), y = u(0, Double(n))
            let i = Int(y) * n + Int(x)
            guard lung[i] != 0 else { continue }
            let r = u(0.7, 2.2) * k
            lungDisc(x, y, r, -850 + Float(min(1, r / (1.6 * k))) * Float(u(860, 900)))
            if rng.unit() < 0.12 {  // a bronchus beside its artery: thin wall, air lumen
                let bx = x + r * 2.5, by = y
                lungDisc(bx, by, r * 1.1, 0)
                lungDisc(bx, by, r * 0.7, -950)
            }
        }
    }

    /// Distance from (x, y) to the nearest non-lung pixel along 16 rays (capped at `cap`).
    func lungDepth(_ x: Double, _ y: Double, cap: Double) -> Double {
        var best = cap
        for a in 0..<16 {
            let t = Double(a) * Double.pi / 8
            let dx = cos(t), dy = sin(t)
            var d = 0.0
            while d < best {
                let px = Int(x + dx * d), py = Int(y + dy * d)
                if px < 0 || py < 0 || px >= n || py >= n || lung[py * n + px] == 0 { best = d; break }
                d += 1
            }
        }
        return best
    }

    /// Picks a lesion centre inside the lung whose depth is in `range` (falls back to the deepest found).
    mutating func lesionCentre(depth range: ClosedRange<Double>) -> (Double, Double) {
        var best = (Double(n) / 2, Double(n) / 2), bestScore = -Double.infinity
        for _ in 0..<400 {
            let x = u(0, Double(n)), y = u(0, Double(n))
            guard lung[Int(y) * n + Int(x)] != 0 else { continue }
            let d = lungDepth(x, y, cap: range.upperBound + 1)
            if range.contains(d) { return (x, y) }
            let score = -abs(d - (range.lowerBound + range.upperBound) / 2)
            if score > bestScore { bestScore = score; best = (x, y) }
        }
        return best
    }

    /// Paints lesion pixels (clipped to lung) with HU from `value`, marking the mask.
    mutating func paintLesion(_ mask: inout [UInt8], cx: Double, cy: Double, rx: Double, ry: Double, angle: Double, lobes: Lobes,
                              value: (Double) -> Float) {
        var idx: [Int] = []
        forEachInShape(cx: cx, cy: cy, rx: rx, ry: ry, angle: angle, lobes: lobes) { idx.append($0) }
        for i in idx where lung[i] != 0 {
            let dx = Double(i % n) + 0.5 - cx, dy = Double(i / n) + 0.5 - cy
            hu[i] = value((dx * dx + dy * dy).squareRoot() / max(rx, ry))
            mask[i] = 255
        }
    }

    /// Drawing-grid pixels per millimetre.
    var perMM: Double { k / PhantomGenerator.pixelMillimetres512 }

    /// Benign: a solitary, smooth, round, well-defined nodule, 20–28 mm across, 40% calcified
    /// (diffusely or centrally, as granulomas and hamartomas are).
    mutating func drawNodule(_ mask: inout [UInt8]) {
        let d = PhantomGenerator.benignDiameterMM
        let diameter = u(d.lowerBound, d.upperBound)
        let r = diameter / 2 * perMM
        let (x, y) = lesionCentre(depth: (r * 1.8)...(r * 1.8 + 60 * k))
        let calcified = rng.unit() < 0.4
        let centralCore = rng.unit() < 0.5
        let base = Float(u(20, 60))
        let calcHU = Float(u(250, 700))
        let lobes = Lobes(a2: u(-0.03, 0.03), b2: u(-0.03, 0.03))
        let aspect = u(0.88, 1.0)
        paintLesion(&mask, cx: x, cy: y, rx: r, ry: r * aspect, angle: u(0, .pi), lobes: lobes) { t in
            if calcified && (!centralCore || t < 0.55) { return calcHU }
            return base
        }
        params["lesion_kind"] = calcified ? "calcified_nodule" : "nodule"
        params["lesion_diameter_mm"] = fmt(diameter)
        params["lesion_radius_px"] = fmt(r / Double(ss)); params["lesion_cx"] = fmt(x / Double(ss)); params["lesion_cy"] = fmt(y / Double(ss))
        params["calcified"] = calcified ? "1" : "0"; params["spiculated"] = "0"; params["touches_pleura"] = "0"
    }

    /// Malignant: an irregular mass, 30–60 mm across (a "mass" is a lesion over 30 mm; most
    /// are malignant), strongly lobulated, usually spiculated.
    mutating func drawMass(_ mask: inout [UInt8]) {
        let d = PhantomGenerator.malignantDiameterMM
        let diameter = u(d.lowerBound, d.upperBound)
        let r = diameter / 2 * perMM
        let touches = rng.unit() < 0.35
        let (x, y) = touches ? lesionCentre(depth: (r * 0.55)...(r * 0.9)) : lesionCentre(depth: (r * 1.2)...(r * 1.2 + 60 * k))
        // Lobulation of at least 0.08 in one harmonic: never a smooth outline.
        func lobe() -> Double { (rng.unit() < 0.5 ? -1 : 1) * u(0.08, 0.18) }
        let lobes = Lobes(a2: lobe(), b2: u(-0.12, 0.12), a3: lobe(), b3: u(-0.12, 0.12))
        let base = Float(u(25, 55))
        let necrotic = rng.unit() < 0.3
        paintLesion(&mask, cx: x, cy: y, rx: r, ry: r * u(0.75, 1.0), angle: u(0, .pi), lobes: lobes) { t in
            necrotic && t < 0.4 ? base - 30 : base
        }
        let spiculated = rng.unit() < 0.8
        if spiculated {
            let count = 8 + rng.below(9)
            for _ in 0..<count {
                let a = u(0, 2 * .pi), len = r * u(0.4, 0.9), w = u(1.0, 2.0) * perMM
                var dist = r * 0.7
                while dist < r + len {
                    let px = x + cos(a) * dist, py = y + sin(a) * dist
                    let rr = w * (1 - 0.6 * max(0, dist - r) / len)
                    paintLesion(&mask, cx: px, cy: py, rx: rr, ry: rr, angle: 0, lobes: Lobes()) { _ in base }
                    dist += max(0.7, rr)
                }
            }
        }
        params["lesion_kind"] = spiculated ? "spiculated_mass" : "lobulated_mass"
        params["lesion_diameter_mm"] = fmt(diameter)
        params["lesion_radius_px"] = fmt(r / Double(ss)); params["lesion_cx"] = fmt(x / Double(ss)); params["lesion_cy"] = fmt(y / Double(ss))
        params["calcified"] = "0"; params["spiculated"] = spiculated ? "1" : "0"; params["touches_pleura"] = touches ? "1" : "0"
    }

    // MARK: - rendering

    /// Correlated noise, blur (point-spread), a little white noise, then the lung window to uint8.
    mutating func render() -> [UInt8] {
        let sigma = u(35, 70)   // before blur; ≈ 0.4× after
        params["noise_sigma_hu"] = fmt(sigma * 0.375)
        let scale = Float(sigma * 3.0.squareRoot() / 2 / 32768)   // sum of 4 uniform 16-bit → unit variance
        var a = hu
        let count = out * out
        a.withUnsafeMutableBufferPointer { p in
            for i in 0..<count {
                let r = rng.next()
                let s = Int(r & 0xFFFF) + Int((r >> 16) & 0xFFFF) + Int((r >> 32) & 0xFFFF) + Int(r >> 48) - 131070
                p[i] += Float(s) * scale
            }
        }
        var b = [Float](repeating: 0, count: count)
        // Separable [1 2 1]/4 blur, horizontal then vertical, edges clamped.
        a.withUnsafeBufferPointer { src in
            b.withUnsafeMutableBufferPointer { dst in
                for y in 0..<out {
                    let row = y * out
                    dst[row] = (3 * src[row] + src[row + 1]) * 0.25
                    for x in 1..<(out - 1) { dst[row + x] = (src[row + x - 1] + 2 * src[row + x] + src[row + x + 1]) * 0.25 }
                    dst[row + out - 1] = (src[row + out - 2] + 3 * src[row + out - 1]) * 0.25
                }
            }
        }
        var grey = [UInt8](repeating: 0, count: count)
        let lo: Float = -1350, inv: Float = 255 / 1500
        let white = Float(u(3, 6)) * Float(3.0.squareRoot()) / 2 / 32768
        b.withUnsafeBufferPointer { src in
            grey.withUnsafeMutableBufferPointer { o in
                for y in 0..<out {
                    let up = y > 0 ? (y - 1) * out : 0, dn = y < out - 1 ? (y + 1) * out : (out - 1) * out, row = y * out
                    for x in 0..<out {
                        let r = rng.next()
                        let s = Int(r & 0xFFFF) + Int((r >> 16) & 0xFFFF) + Int((r >> 32) & 0xFFFF) + Int(r >> 48) - 131070
                        let v = (src[up + x] + 2 * src[row + x] + src[dn + x]) * 0.25 + Float(s) * white
                        let g = (v - lo) * inv
                        o[row + x] = g <= 0 ? 0 : (g >= 255 ? 255 : UInt8(g + 0.5))
                    }
                }
            }
        }
        return grey
    }

    /// Burns a bright tag (a frame with two bars, like a burned-in annotation) into a corner.
    mutating func burnTag(_ px: inout [UInt8], corner: Int) -> ([UInt8], LesionBox) {
        let ko = Double(out) / 512
        let w = max(6, Int(28 * ko)), h = max(4, Int(16 * ko)), inset = max(2, Int(12 * ko))
        let x0 = corner == 1 ? out - inset - w : inset
        let y0 = corner == 2 ? out - inset - h : inset
        var mask = [UInt8](repeating: 0, count: out * out)
        let t = max(1, Int(2 * ko))
        for y in y0..<(y0 + h) {
            for x in x0..<(x0 + w) {
                let frame = x < x0 + t || x >= x0 + w - t || y < y0 + t || y >= y0 + h - t
                let bars = (y - y0 >= h / 3 && y - y0 < h / 3 + t) || (y - y0 >= 2 * h / 3 - t && y - y0 < 2 * h / 3) && x - x0 < w * 2 / 3
                if frame || bars { px[y * out + x] = 255; mask[y * out + x] = 255 }
            }
        }
        return (mask, LesionBox(x0: x0, y0: y0, x1: x0 + w, y1: y0 + h))
    }

    func fmt(_ v: Double) -> String { String(format: "%.3f", v) }
}
