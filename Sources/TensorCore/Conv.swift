import Foundation

// MARK: - Configuration

/// Stride, padding, dilation and groups of a 2-D convolution (PyTorch's nn.Conv2d arguments).
public struct Conv2dConfig: Sendable, Equatable, CustomStringConvertible {
    public var strideH: Int, strideW: Int
    public var padH: Int, padW: Int
    public var dilationH: Int, dilationW: Int
    public var groups: Int

    /// Per-axis configuration; every argument defaults to PyTorch's default.
    public init(strideH: Int = 1, strideW: Int = 1, padH: Int = 0, padW: Int = 0,
                dilationH: Int = 1, dilationW: Int = 1, groups: Int = 1) {
        self.strideH = strideH; self.strideW = strideW
        self.padH = padH; self.padW = padW
        self.dilationH = dilationH; self.dilationW = dilationW
        self.groups = groups
    }

    /// Square configuration: the same stride, padding and dilation on both axes.
    public init(stride: Int = 1, padding: Int = 0, dilation: Int = 1, groups: Int = 1) {
        self.init(strideH: stride, strideW: stride, padH: padding, padW: padding,
                  dilationH: dilation, dilationW: dilation, groups: groups)
    }

    /// Stride 1, no padding, dilation 1, one group (resolves the ambiguity between the two inits above).
    public init() { self.init(strideH: 1) }

    public var description: String {
        "stride (\(strideH),\(strideW)) pad (\(padH),\(padW)) dilation (\(dilationH),\(dilationW)) groups \(groups)"
    }
}

/// Tuning knobs of the convolution kernels: a value passed down to each call (`conv2d(…, tuning:)`,
/// `ForwardContext.convTuning`, taken from the run's `RunSettings.convTuning`), with the defaults
/// the kernels were tuned with. The bench and the tests pass other values to time or check the
/// other paths.
public struct ConvTuning: Sendable, Equatable {
    /// Images are batched into one im2col matrix until it has about this many columns
    /// (N·Ho·Wo), so small late-stage feature maps still give BLAS wide GEMMs.
    public var targetColumns = 4096
    /// Upper bound of the im2col workspace in floats (the batch is split to respect it).
    public var maxWorkspaceFloats = 16 << 20
    /// Dense 3×3 stride-1 convolutions use Winograd F(2×2, 3×3) or F(4×4, 3×3) (see Winograd.swift).
    public var winograd = true
    /// ... F(4×4, 3×3) on output maps at least `winogradF43MinSize` on both sides (fewer
    /// multiplications, larger rounding error; on small maps its few tiles make narrow GEMMs).
    public var winogradF43 = true
    public var winogradF43MinSize = 28
    /// ... when both Cin and Cout are at least this (below it the 16 small GEMMs lose to one im2col GEMM).
    public var winogradMinChannels = 16
    /// The backward's dW takes Winograd F(3×3, 2×2) (where the forward would take Winograd) when Cin
    /// or Cout is at least this. Measured at batch 16 on 2 cores against im2col: 1.05–1.56× with
    /// 128 to 512 channels from 4×4 to 28×28 maps (0.91× for 128² on 8×8), 1.14–1.74× for
    /// DenseNet-161's 192 → 48, but 0.74–0.78× for 64² on 16×16 and 32×32 maps.
    public var winogradWeightGradientMinChannels = 128
    /// Floats of transformed inputs and products one Winograd block may hold (per worker).
    public var winogradBlockFloats = 1 << 22
    /// Fewest tiles per Winograd block (the N of its GEMMs) when the batch is split into blocks.
    public var winogradMinTiles = 64
    /// ... and at least Cin·Cout / `winogradFilterPairsPerTile` tiles: each block's GEMMs pack all
    /// transformed filters again, so wide filters need more tiles to pay for it. Measured on 2 cores
    /// against 64 tiles: ResNet's 256² filters on 8×8 maps at batch 16 (256 tiles) 1.29× and on
    /// 14×14 at batch 8 1.38×, 512² on 7×7 at batch 8 1.11×; 128² and narrower unchanged.
    public var winogradFilterPairsPerTile = 256
    /// 1×1 stride-1 convolutions of a batch run one GEMM per image, images spread over the workers
    /// (instead of copying the batch into one wide column matrix and scattering the product back),
    /// where `pointwisePerImageForward` says the per-image GEMMs are wide enough.
    public var pointwisePerImage = true
    /// ... and their backward too (dx per image over the workers, dW accumulated image by image), on
    /// maps of at least this many pixels; on smaller ones one GEMM over the gathered batch is wider.
    /// Measured at batch 16 on 2 cores against the gathered path: 1.1–1.8× (dx) and 1.1–1.5× (dW)
    /// on 8×8 to 32×32 maps; on 4×4, 0.7× for ResNet's 2048↔512.
    public var pointwiseBackwardMinPixels = 64
    /// Graph convolutions (`Autograd.conv2d`) take the Winograd path only when
    /// N·Ho·Wo·`graphWinogradPixelsPerFilterPair` ≥ Cin·Cout (see `graphConvTuning` there).
    public var graphWinogradPixelsPerFilterPair = 64

    public init() {}

    /// The tuned defaults.
    public static let `default` = ConvTuning()
}

/// Output height and width of a convolution: ⌊(H + 2p − d(k − 1) − 1)/s⌋ + 1.
public func conv2dOutputSize(_ h: Int, _ w: Int, _ kh: Int, _ kw: Int, _ cfg: Conv2dConfig) throws -> (Int, Int) {
    guard cfg.strideH > 0, cfg.strideW > 0, cfg.dilationH > 0, cfg.dilationW > 0, cfg.padH >= 0, cfg.padW >= 0,
          cfg.groups > 0, kh > 0, kw > 0 else {
        throw TensorError.invalidArgument(op: "conv2d", detail: "kernel \(kh)×\(kw), \(cfg)")
    }
    let ho = (h + 2 * cfg.padH - cfg.dilationH * (kh - 1) - 1) / cfg.strideH + 1
    let wo = (w + 2 * cfg.padW - cfg.dilationW * (kw - 1) - 1) / cfg.strideW + 1
    guard h + 2 * cfg.padH - cfg.dilationH * (kh - 1) - 1 >= 0, w + 2 * cfg.padW - cfg.dilationW * (kw - 1) - 1 >= 0,
          ho > 0, wo > 0 else {
        throw TensorError.shapeMismatch(op: "conv2d", detail: "input \(h)×\(w) too small for kernel \(kh)×\(kw) with \(cfg)")
    }
    return (ho, wo)
}

// MARK: - Geometry shared by the kernels

/// Everything the convolution loops need, checked once.
struct ConvGeometry {
    let n: Int, cin: Int, h: Int, w: Int
    let cout: Int, kh: Int, kw: Int
    let ho: Int, wo: Int
    let cfg: Conv2dConfig
    var tuning = ConvTuning.default
    var groups: Int { cfg.groups }
    var cinG: Int { cin / cfg.groups }
    var coutG: Int { cout / cfg.groups }
    /// Rows of one group's column matrix: (Cin/g)·kh·kw.
    var kG: Int { cinG * kh * kw }
    /// Output pixels per image.
    var p: Int { ho * wo }
    /// Whether the forward of a 1×1 convolution runs one GEMM per image (`ConvTuning.pointwisePerImage`).
    /// Each per-image GEMM packs the whole weight again for only P columns, so it pays where the
    /// weight is small against the image: Cout ≤ 256, or Cin·Cout ≤ 4·P·(Cin + Cout). Measured at
    /// batch 8 and 16 on 2 cores against one GEMM over the gathered batch: 1.0–1.5× for Cout ≤ 256
    /// (DenseNet's 192, 4×4 to 32×32 maps) and for the ResNets' 1×1 convolutions on 14×14 and larger;
    /// 0.67–0.96× for 2048↔512 and 1024→2048 on 7×7 and 8×8, and 0.74–0.89× for 384 to 1024
    /// outputs on 4×4, which therefore take the gathered GEMM.
    var pointwisePerImageForward: Bool {
        guard isPointwise, groups == 1, n > 1, tuning.pointwisePerImage else { return false }
        return cout <= 256 || cin * cout <= 4 * p * (cin + cout)
    }
    /// 1×1, stride 1, no padding: the image itself is the column matrix.
    var isPointwise: Bool { kh == 1 && kw == 1 && cfg.strideH == 1 && cfg.strideW == 1 && cfg.padH == 0 && cfg.padW == 0 }
    var isDepthwise: Bool { cfg.groups == cin && cin == cout && cfg.groups > 1 }

    init(_ op: String, x: [Int], weight: [Int], _ cfg: Conv2dConfig) throws {
        guard x.count == 4, weight.count == 4 else {
            throw TensorError.shapeMismatch(op: op, detail: "expected x [N,Cin,H,W] and weight [Cout,Cin/g,kh,kw], got \(x) and \(weight)")
        }
        guard cfg.groups > 0, x[1] % cfg.groups == 0, weight[0] % cfg.groups == 0, weight[1] * cfg.groups == x[1] else {
            throw TensorError.shapeMismatch(op: op, detail: "x \(x), weight \(weight), groups \(cfg.groups): need Cin = groups·weight[1] and Cout divisible by groups")
        }
        (n, cin, h, w) = (x[0], x[1], x[2], x[3])
        (cout, kh, kw) = (weight[0], weight[2], weight[3])
        self.cfg = cfg
        (ho, wo) = try conv2dOutputSize(h, w, kh, kw, cfg)
    }

    /// Output columns [lo, hi) of kernel column kj whose input column lies inside the image.
    @inline(__always)
    func validOutputColumns(_ kj: Int) -> (Int, Int) {
        let off = kj * cfg.dilationW - cfg.padW          // iw = ow·s + off
        let lo = off >= 0 ? 0 : (-off + cfg.strideW - 1) / cfg.strideW
        let hiRaw = w - off <= 0 ? 0 : (w - off + cfg.strideW - 1) / cfg.strideW
        let hi = min(wo, hiRaw)
        return (min(lo, hi), hi)
    }

    /// `validOutputColumns` for every filter column, flattened as [lo0, hi0, lo1, hi1, …].
    func validOutputColumnRanges() -> [Int] {
        var ranges = [Int](repeating: 0, count: 2 * kw)
        for kj in 0..<kw { let (lo, hi) = validOutputColumns(kj); ranges[2 * kj] = lo; ranges[2 * kj + 1] = hi }
        return ranges
    }

    /// Same for rows: output rows [lo, hi) of kernel row ki with the input row inside.
    @inline(__always)
    func validOutputRows(_ ki: Int) -> (Int, Int) {
        let off = ki * cfg.dilationH - cfg.padH
        let lo = off >= 0 ? 0 : (-off + cfg.strideH - 1) / cfg.strideH
        let hiRaw = h - off <= 0 ? 0 : (h - off + cfg.strideH - 1) / cfg.strideH
        let hi = min(ho, hiRaw)
        return (min(lo, hi), hi)
    }

    /// The convolution's class in `KernelProfile`'s operation table: kernel, stride, input size, path.
    func profileLabel(winograd: WinogradTile?, backward: Bool = false) -> String {
        let kind = isDepthwise ? "depthwise" : groups > 1 ? "grouped conv" : "conv"
        let path = winograd.map { " Winograd F(\($0.m),3)" } ?? (isDepthwise || isPointwise ? "" : " im2col")
        return "\(kind)\(backward ? " backward" : "") \(kh)×\(kw) s\(cfg.strideH) @\(h)²\(path)"
    }

    /// The convolution whose output is this one's dx (see `winogradInputGradient`): its configuration,
    /// weight shape and Winograd tile, or nil when it would not take the Winograd path.
    var turnedWinograd: (cfg: Conv2dConfig, weight: [Int], tile: WinogradTile)? {
        guard cfg.groups == 1, cfg.strideH == 1, cfg.strideW == 1, cfg.dilationH == 1, cfg.dilationW == 1,
              kh == 3, kw == 3, cfg.padH <= 2, cfg.padW <= 2 else { return nil }
        let cfgT = Conv2dConfig(padH: 2 - cfg.padH, padW: 2 - cfg.padW), shapeT = [cin, cout, 3, 3]
        guard let tile = winogradTile(input: [n, cout, ho, wo], weight: shapeT, cfgT, tuning: tuning) else { return nil }
        return (cfgT, shapeT, tile)
    }

    /// Images per GEMM: enough to reach `tuning.targetColumns`, within the workspace bound.
    func imagesPerBlock(rows: Int) -> Int {
        let byCols = max(1, tuning.targetColumns / max(p, 1))
        let byMem = max(1, tuning.maxWorkspaceFloats / max(1, rows * p))
        return max(1, min(n, byCols, byMem))
    }
}

// MARK: - im2col / col2im

/// Unfolds images [C,H,W] (one after another, `imageStride` apart) into the column matrix
/// [C·kh·kw, nb·Ho·Wo] with row stride `ldCol`: row (c, ki, kj), column (image, oh, ow).
/// Padding positions become 0. Split across cores by rows.
func im2colRaw(_ x: UnsafePointer<Float>, images nb: Int, imageStride: Int, channels c: Int,
               _ g: ConvGeometry, col: UnsafeMutablePointer<Float>, ldCol: Int) {
    let rows = c * g.kh * g.kw
    let p = g.p, h = g.h, w = g.w, wo = g.wo, sH = g.cfg.strideH, sW = g.cfg.strideW
    Parallel.forEachChunk(rows * nb, minPerThread: max(1, 16384 / max(p, 1)), kind: .im2col) { r in
        for item in r {
            let row = item / nb, img = item % nb
            let ch = row / (g.kh * g.kw), ki = (row / g.kw) % g.kh, kj = row % g.kw
            let (lo, hi) = g.validOutputColumns(kj)
            let (rlo, rhi) = g.validOutputRows(ki)
            let offW = kj * g.cfg.dilationW - g.cfg.padW, offH = ki * g.cfg.dilationH - g.cfg.padH
            let src = x + img * imageStride + ch * h * w
            let dst = col + row * ldCol + img * p
            for oh in 0..<g.ho {
                let d = dst + oh * wo
                if oh < rlo || oh >= rhi { d.update(repeating: 0, count: wo); continue }
                let s = src + (oh * sH + offH) * w + offW
                if lo > 0 { d.update(repeating: 0, count: lo) }
                if sW == 1 {
                    (d + lo).update(from: s + lo, count: hi - lo)
                } else {
                    for ow in lo..<hi { d[ow] = s[ow * sW] }
                }
                if hi < wo { (d + hi).update(repeating: 0, count: wo - hi) }
            }
        }
    }
}

/// Folds a column matrix back into images, accumulating overlapping taps (the adjoint of im2col).
/// `x` must be zeroed by the caller (or hold values to add to). Split across cores by image planes.
func col2imRaw(_ col: UnsafePointer<Float>, ldCol: Int, images nb: Int, imageStride: Int, channels c: Int,
               _ g: ConvGeometry, x: UnsafeMutablePointer<Float>) {
    let p = g.p, h = g.h, w = g.w, wo = g.wo, sH = g.cfg.strideH, sW = g.cfg.strideW
    Parallel.forEachChunk(c * nb, minPerThread: 1, kind: .im2col) { r in
        for item in r {
            let ch = item / nb, img = item % nb
            let dstPlane = x + img * imageStride + ch * h * w
            for ki in 0..<g.kh {
                let (rlo, rhi) = g.validOutputRows(ki)
                let offH = ki * g.cfg.dilationH - g.cfg.padH
                for kj in 0..<g.kw {
                    let (lo, hi) = g.validOutputColumns(kj)
                    if lo >= hi { continue }
                    let offW = kj * g.cfg.dilationW - g.cfg.padW
                    let row = (ch * g.kh + ki) * g.kw + kj
                    let src = col + row * ldCol + img * p
                    for oh in rlo..<rhi {
                        let s = src + oh * wo
                        let d = dstPlane + (oh * sH + offH) * w + offW
                        if sW == 1 {
                            for ow in lo..<hi { d[ow] += s[ow] }
                        } else {
                            for ow in lo..<hi { d[ow * sW] += s[ow] }
                        }
                    }
                }
            }
        }
    }
}

/// Unfolds x [N,C,H,W] into the column matrix [C·kh·kw, N·Ho·Wo] (row (c,ki,kj), column (n,oh,ow)).
public func im2col(_ x: Tensor, kh: Int, kw: Int, _ cfg: Conv2dConfig) throws -> Tensor {
    guard x.rank == 4 else { throw TensorError.shapeMismatch(op: "im2col", detail: "expected [N,C,H,W], got \(x.shape)") }
    let g = try ConvGeometry("im2col", x: x.shape, weight: [cfg.groups, x.shape[1] / max(cfg.groups, 1), kh, kw], cfg)
    let cols = x.shape[0] * g.p
    let out = Tensor(uninitialized: [g.cin * kh * kw, cols])
    im2colRaw(x.data, images: g.n, imageStride: g.cin * g.h * g.w, channels: g.cin, g, col: out.data, ldCol: cols)
    return out
}

/// Folds a column matrix [C·kh·kw, N·Ho·Wo] back into [N,C,H,W] = inputShape, summing overlaps.
public func col2im(_ col: Tensor, inputShape: [Int], kh: Int, kw: Int, _ cfg: Conv2dConfig) throws -> Tensor {
    guard inputShape.count == 4 else { throw TensorError.shapeMismatch(op: "col2im", detail: "inputShape must be [N,C,H,W], got \(inputShape)") }
    let g = try ConvGeometry("col2im", x: inputShape, weight: [cfg.groups, inputShape[1] / max(cfg.groups, 1), kh, kw], cfg)
    let cols = g.n * g.p
    guard col.shape == [g.cin * kh * kw, cols] else {
        throw TensorError.shapeMismatch(op: "col2im", detail: "col \(col.shape) vs expected \([g.cin * kh * kw, cols]) for input \(inputShape)")
    }
    let x = Tensor(zeros: inputShape)
    col2imRaw(col.data, ldCol: cols, images: g.n, imageStride: g.cin * g.h * g.w, channels: g.cin, g, x: x.data)
    return x
}

// MARK: - Forward

/// 2-D convolution (cross-correlation, as PyTorch): x [N,Cin,H,W], weight [Cout,Cin/g,kh,kw], bias [Cout]?
/// → [N,Cout,Ho,Wo].
///
/// 1×1 stride-1 convolutions multiply the image directly; depthwise convolutions (groups = Cin = Cout)
/// use a direct kernel; everything else unfolds blocks of images with im2col and runs one SGEMM per
/// group per block.
public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, _ cfg: Conv2dConfig = Conv2dConfig(),
                   tuning: ConvTuning = .default) throws -> Tensor {
    try conv2d(x, weight: weight, bias: bias, cfg, activation: .none, tuning: tuning)
}

/// `conv2d` followed by an activation applied in place to the fresh output (inference epilogue:
/// one allocation and no extra tensor for the activation).
///
/// `winogradFilters`, if given, must be `winogradFilters(weight, tile: winogradTile(input: x.shape, …))`
/// for this very weight (kept by the caller so repeated inference does not transform the filters again).
public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, _ cfg: Conv2dConfig, activation: FusedActivation,
                   winogradFilters filters: Tensor? = nil, tuning: ConvTuning = .default) throws -> Tensor {
    var g = try ConvGeometry("conv2d", x: x.shape, weight: weight.shape, cfg)
    g.tuning = tuning
    return try KernelProfile.operation(g.profileLabel(winograd: winogradTile(input: x.shape, weight: weight.shape, cfg, tuning: tuning))) {
        try conv2dForward(x, weight: weight, bias: bias, g, activation: activation, winogradFilters: filters)
    }
}

/// The body of `conv2d` once its geometry is checked.
private func conv2dForward(_ x: Tensor, weight: Tensor, bias: Tensor?, _ g: ConvGeometry, activation: FusedActivation,
                           winogradFilters filters: Tensor?) throws -> Tensor {
    let cfg = g.cfg, tuning = g.tuning
    if let b = bias, b.shape != [g.cout] {
        throw TensorError.shapeMismatch(op: "conv2d", detail: "bias \(b.shape) vs Cout \(g.cout)")
    }
    let y = Tensor(uninitialized: [g.n, g.cout, g.ho, g.wo])
    if g.n == 0 { return y }
    if g.isDepthwise {
        if depthwiseFastApplies(g) {
            depthwiseForwardFast(x.data, weight.data, bias?.data, g, y.data, activation: activation)
        } else {
            depthwiseForward(x.data, weight.data, bias?.data, g, y.data)
            activation.applyInPlace(y.data, y.count)
        }
        return y
    }
    if let tile = winogradTile(input: x.shape, weight: weight.shape, cfg, tuning: tuning) {
        if let f = filters, f.shape != [tile.points, g.cout, g.cin] {
            throw TensorError.shapeMismatch(op: "conv2d", detail: "Winograd filters \(f.shape) for weight \(weight.shape) and tile F(\(tile.m)×\(tile.m), 3×3)")
        }
        conv2dWinograd(x, weight, bias, g, y, activation: activation, tile: tile, filters: filters)
        return y
    }
    try conv2dGEMM(x, weight, bias, g, y, activation: activation)
    return y
}

/// The im2col/GEMM path of `conv2d` (everything but depthwise), writing into y. The bias and the
/// activation are applied in the same pass that moves the GEMM output into place: for a direct
/// GEMM without activation the output is pre-filled with the bias and the GEMM accumulates onto it
/// (beta = 1), otherwise one pass adds the bias and applies the activation.
func conv2dGEMM(_ x: Tensor, _ weight: Tensor, _ bias: Tensor?, _ g: ConvGeometry, _ y: Tensor,
                activation: FusedActivation = .none) throws {
    let p = g.p, kG = g.kG, coutG = g.coutG, imgIn = g.cin * g.h * g.w, imgOut = g.cout * p
    if g.isPointwise && g.groups == 1 && p == 1 && g.n > 1 {
        // 1×1 maps (squeeze-excitation's pooled vectors): the batch is one [N, Cin] matrix, so the
        // convolution is one linear layer over it instead of N matrix-vector products.
        if let b = bias { for i in 0..<g.n { (y.data + i * g.cout).update(from: b.data, count: g.cout) } }
        BLAS.sgemm(transB: true, m: g.n, n: g.cout, k: g.cin, a: x.data, lda: g.cin, b: weight.data, ldb: g.cin,
                   beta: bias == nil ? 0 : 1, c: y.data, ldc: g.cout)
        activation.applyInPlace(y.data, y.count)
        return
    }
    if g.pointwisePerImageForward && g.n >= Parallel.threads {
        // Each image is already its column matrix: one GEMM per image, images spread over the
        // workers, bias and activation applied while the image's output is still in cache.
        let box = UncheckedBox((x.data, weight.data, bias?.data, y.data))
        Parallel.forEach(g.n, kind: .elementwise) { i in
            let (xp, wp, bp, yp) = box.value
            let out = yp + i * imgOut
            if let bp { for c in 0..<g.cout { (out + c * p).update(repeating: bp[c], count: p) } }
            BLAS.sgemmSerial(transA: false, transB: false, m: g.cout, n: p, k: g.cin, alpha: 1, a: wp, lda: g.cin,
                             b: xp + i * imgIn, ldb: p, beta: bp != nil ? 1 : 0, c: out, ldc: p)
            // One pass over the whole image: per-channel loops of 49 or 196 would run partly scalar.
            activation.applyInPlaceSerial(out, imgOut)
        }
        return
    }
    let kAll = g.cin * g.kh * g.kw
    let nb = g.imagesPerBlock(rows: kAll + (g.n > 1 ? g.cout : 0))
    let direct = g.isPointwise && nb == 1
    let col = direct ? nil : Tensor(uninitialized: [kAll, nb * p])
    let tmp = nb > 1 ? Tensor(uninitialized: [g.cout, nb * p]) : nil
    var n0 = 0
    while n0 < g.n {
        let cnt = min(nb, g.n - n0)
        let cols = cnt * p
        let bMat: UnsafePointer<Float>, ldb: Int
        if let col {
            im2colRaw(x.data + n0 * imgIn, images: cnt, imageStride: imgIn, channels: g.cin, g, col: col.data, ldCol: cols)
            bMat = UnsafePointer(col.data); ldb = cols
        } else {
            bMat = UnsafePointer(x.data + n0 * imgIn); ldb = p
        }
        let outBase = tmp?.data ?? (y.data + n0 * imgOut)
        let prefilled = tmp == nil && bias != nil && activation == .none
        if prefilled, let b = bias { fillChannelBias(outBase, b.data, channels: g.cout, p: p) }
        for gi in 0..<g.groups {
            BLAS.sgemm(m: coutG, n: cols, k: kG, a: weight.data + gi * coutG * kG, lda: kG,
                       b: bMat + gi * kG * ldb, ldb: ldb, beta: prefilled ? 1 : 0, c: outBase + gi * coutG * cols, ldc: cols)
        }
        if let tmp {
            // [Cout, cnt·P] → [cnt, Cout, P], adding the bias and applying the activation on the way.
            scatterColumns(tmp.data, cols: cols, images: cnt, channels: g.cout, p: p, bias: bias?.data, out: y.data + n0 * imgOut,
                           activation: activation)
        } else if !prefilled {
            biasActivationInPlace(y.data + n0 * imgOut, bias?.data, channels: g.cout, p: p, activation: activation)
        }
        n0 += cnt
    }
}

/// out[n, c, :] = act(src[c, n·P ..< (n+1)·P] (+ bias[c])).
func scatterColumns(_ src: UnsafePointer<Float>, cols: Int, images: Int, channels: Int, p: Int,
                    bias: UnsafePointer<Float>?, out: UnsafeMutablePointer<Float>, activation: FusedActivation = .none) {
    Parallel.forEachChunk(images * channels, minPerThread: max(1, 8192 / max(p, 1)), kind: .copy) { r in
        for item in r {
            let img = item / channels, c = item % channels
            let s = src + c * cols + img * p, d = out + (img * channels + c) * p
            if let bias {
                let b = bias[c]
                for i in 0..<p { d[i] = s[i] + b }
            } else {
                d.update(from: s, count: p)
            }
        }
        // The chunk's outputs are contiguous: one activation pass, not one per short channel row.
        activation.applyInPlaceSerial(out + r.lowerBound * p, r.count * p)
    }
}

/// y[c, :] = bias[c] for one image [C, P] (the GEMM then accumulates with beta = 1).
func fillChannelBias(_ y: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>, channels: Int, p: Int) {
    Parallel.forEachChunk(channels, minPerThread: max(1, 8192 / max(p, 1)), kind: .elementwise) { r in
        for c in r { (y + c * p).update(repeating: bias[c], count: p) }
    }
}

/// y[c, :] = act(y[c, :] (+ bias[c])) in place for one image [C, P], one pass.
func biasActivationInPlace(_ y: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>?, channels: Int, p: Int,
                           activation: FusedActivation) {
    if bias == nil && activation == .none { return }
    Parallel.forEachChunk(channels, minPerThread: max(1, 8192 / max(p, 1)), kind: .elementwise) { r in
        if let bias {
            for c in r {
                let d = y + c * p, b = bias[c]
                for i in 0..<p { d[i] += b }
            }
        }
        activation.applyInPlaceSerial(y + r.lowerBound * p, r.count * p)
    }
}

/// dst[c, n·P ..< (n+1)·P] = src[n, c, :] (the inverse of `scatterColumns`).
func gatherColumns(_ src: UnsafePointer<Float>, images: Int, channels: Int, p: Int, dst: UnsafeMutablePointer<Float>, cols: Int) {
    Parallel.forEachChunk(images * channels, minPerThread: max(1, 8192 / max(p, 1)), kind: .copy) { r in
        for item in r {
            let img = item / channels, c = item % channels
            (dst + c * cols + img * p).update(from: src + (img * channels + c) * p, count: p)
        }
    }
}


// MARK: - Depthwise (direct)

/// Depthwise forward: each (n, c) plane is convolved with its own kh×kw filter.
///
/// Per output row, the taps whose input row is inside the image are listed once; columns whose
/// every tap is inside the image (the interior) accumulate all taps in registers, 8 outputs at a
/// time for stride 1, with no branches; the few border columns take the checked scalar path.
func depthwiseForward(_ x: UnsafePointer<Float>, _ wt: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                      _ g: ConvGeometry, _ y: UnsafeMutablePointer<Float>) {
    let c = g.cin, h = g.h, w = g.w, ho = g.ho, wo = g.wo, kh = g.kh, kw = g.kw
    let sH = g.cfg.strideH, sW = g.cfg.strideW, dH = g.cfg.dilationH, dW = g.cfg.dilationW
    let pH = g.cfg.padH, pW = g.cfg.padW
    // Interior columns: the intersection of every kernel column's valid range.
    var inLo = 0, inHi = wo
    for kj in 0..<kw { let (lo, hi) = g.validOutputColumns(kj); inLo = max(inLo, lo); inHi = min(inHi, hi) }
    if inHi < inLo { inHi = inLo }
    let (interiorLo, interiorHi) = (inLo, inHi)
    Parallel.forEachChunk(g.n * c, minPerThread: 1, kind: .depthwise) { r in
        withUnsafeTemporaryAllocation(of: Int.self, capacity: kh * kw) { offs in
        withUnsafeTemporaryAllocation(of: Float.self, capacity: kh * kw) { wts in
        withUnsafeTemporaryAllocation(of: Int.self, capacity: kh * kw) { cols in
            let op = offs.baseAddress!, wp = wts.baseAddress!, cp = cols.baseAddress!
            for plane in r {
                let ch = plane % c
                let src = x + plane * h * w, dst = y + plane * ho * wo, f = wt + ch * kh * kw
                let b0 = bias?[ch] ?? 0
                for oh in 0..<ho {
                    // Taps of this row: offset of the input for output column 0, weight, column shift.
                    var nt = 0
                    for ki in 0..<kh {
                        let ih = oh * sH - pH + ki * dH
                        if ih < 0 || ih >= h { continue }
                        for kj in 0..<kw {
                            op[nt] = ih * w + kj * dW - pW; wp[nt] = f[ki * kw + kj]; cp[nt] = kj * dW - pW; nt += 1
                        }
                    }
                    let d = dst + oh * wo
                    var ow = interiorLo
                    if sW == 1 {
                        while ow + 8 <= interiorHi {
                            var acc = SIMD8<Float>(repeating: b0)
                            for t in 0..<nt {
                                acc += SIMD8<Float>(repeating: wp[t]) * UnsafeRawPointer(src + op[t] + ow).loadUnaligned(as: SIMD8<Float>.self)
                            }
                            UnsafeMutableRawPointer(d + ow).storeBytes(of: acc, as: SIMD8<Float>.self)
                            ow += 8
                        }
                    }
                    while ow < interiorHi {
                        var acc = b0
                        for t in 0..<nt { acc += wp[t] * src[op[t] + ow * sW] }
                        d[ow] = acc
                        ow += 1
                    }
                    for k in 0..<(interiorLo + wo - interiorHi) {
                        let ow = k < interiorLo ? k : interiorHi + (k - interiorLo)
                        var acc = b0
                        for t in 0..<nt {
                            let iw = ow * sW + cp[t]
                            if iw >= 0 && iw < w { acc += wp[t] * src[op[t] + ow * sW] }
                        }
                        d[ow] = acc
                    }
                }
            }
        } } }
    }
}

/// Depthwise backward for the input: each dy tap is scattered back with the same column ranges as the forward.
func depthwiseBackwardInput(_ dy: UnsafePointer<Float>, _ wt: UnsafePointer<Float>, _ g: ConvGeometry,
                            _ dx: UnsafeMutablePointer<Float>) {
    let c = g.cin, h = g.h, w = g.w, ho = g.ho, wo = g.wo, kh = g.kh, kw = g.kw
    let sH = g.cfg.strideH, sW = g.cfg.strideW, dH = g.cfg.dilationH, dW = g.cfg.dilationW
    let pH = g.cfg.padH, pW = g.cfg.padW
    let ranges = g.validOutputColumnRanges()
    ranges.withUnsafeBufferPointer { rb in
        let rg = rb.baseAddress!
        Parallel.forEachChunk(g.n * c, minPerThread: 1, kind: .depthwise) { r in
            for plane in r {
                let ch = plane % c
                let src = dy + plane * ho * wo, dst = dx + plane * h * w, f = wt + ch * kh * kw
                dst.update(repeating: 0, count: h * w)
                for oh in 0..<ho {
                    let s = src + oh * wo
                    for ki in 0..<kh {
                        let ih = oh * sH - pH + ki * dH
                        if ih < 0 || ih >= h { continue }
                        let drow = dst + ih * w
                        for kj in 0..<kw {
                            let lo = rg[2 * kj], hi = rg[2 * kj + 1]
                            let wv = f[ki * kw + kj]
                            let d = drow + kj * dW - pW
                            if sW == 1 {
                                for ow in lo..<hi { d[ow] += wv * s[ow] }
                            } else {
                                for ow in lo..<hi { d[ow * sW] += wv * s[ow] }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Depthwise backward for the filters: dw[c, ki, kj] = Σ_n Σ_(oh,ow) dy[n,c,oh,ow] · x[n,c,ih,iw].
/// Split by channel so each filter is reduced by one worker in a fixed order.
func depthwiseBackwardWeight(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ g: ConvGeometry,
                             _ dw: UnsafeMutablePointer<Float>) {
    let c = g.cin, h = g.h, w = g.w, ho = g.ho, wo = g.wo, kh = g.kh, kw = g.kw
    let sH = g.cfg.strideH, sW = g.cfg.strideW, dH = g.cfg.dilationH, dW = g.cfg.dilationW
    let pH = g.cfg.padH, pW = g.cfg.padW
    let ranges = g.validOutputColumnRanges()
    ranges.withUnsafeBufferPointer { rb in
        let rg = rb.baseAddress!
        Parallel.forEachChunk(c, minPerThread: 1, kind: .depthwise) { r in
            for ch in r {
                let f = dw + ch * kh * kw
                for ki in 0..<kh {
                    for kj in 0..<kw {
                        let lo = rg[2 * kj], hi = rg[2 * kj + 1]
                        var acc: Float = 0
                        for img in 0..<g.n {
                            let plane = img * c + ch
                            let src = x + plane * h * w, gy = dy + plane * ho * wo
                            for oh in 0..<ho {
                                let ih = oh * sH - pH + ki * dH
                                if ih < 0 || ih >= h { continue }
                                let s = src + ih * w + kj * dW - pW, gr = gy + oh * wo
                                var rowAcc: Float = 0
                                if sW == 1 {
                                    for ow in lo..<hi { rowAcc += gr[ow] * s[ow] }
                                } else {
                                    for ow in lo..<hi { rowAcc += gr[ow] * s[ow * sW] }
                                }
                                acc += rowAcc
                            }
                        }
                        f[ki * kw + kj] = acc
                    }
                }
            }
        }
    }
}

// MARK: - Backward

/// Gradients of `conv2d`: dx (col2im of Wᵀ·dy), dw (dy · colᵀ summed over images), db (Σ dy).
///
/// - Parameters:
///   - dy: [N,Cout,Ho,Wo], the gradient of the output.
///   - x: the forward input [N,Cin,H,W] (only read when `needWeight`).
///   - weight: [Cout,Cin/g,kh,kw].
///   - needInput, needWeight, needBias: which gradients to compute; the others are nil.
public func conv2dBackward(_ dy: Tensor, _ x: Tensor, _ weight: Tensor, _ cfg: Conv2dConfig = Conv2dConfig(),
                           needInput: Bool = true, needWeight: Bool = true, needBias: Bool = true,
                           tuning: ConvTuning = .default)
    throws -> (dx: Tensor?, dw: Tensor?, db: Tensor?) {
    var g = try ConvGeometry("conv2dBackward", x: x.shape, weight: weight.shape, cfg)
    g.tuning = tuning
    let label = g.profileLabel(winograd: nil, backward: true) + (needInput ? g.turnedWinograd.map { ", dx Winograd F(\($0.tile.m),3)" } ?? "" : "")
        + (needWeight && winogradWeightGradientApplies(g) ? ", dW Winograd F(3,2)" : "")
    return try KernelProfile.operation(label) {
        try conv2dBackwardBody(dy, x, weight, g, needInput: needInput, needWeight: needWeight, needBias: needBias)
    }
}

/// The body of `conv2dBackward` once its geometry is checked.
private func conv2dBackwardBody(_ dy: Tensor, _ x: Tensor, _ weight: Tensor, _ g: ConvGeometry,
                                needInput: Bool, needWeight: Bool, needBias: Bool) throws -> (dx: Tensor?, dw: Tensor?, db: Tensor?) {
    let cfg = g.cfg
    guard dy.shape == [g.n, g.cout, g.ho, g.wo] else {
        throw TensorError.shapeMismatch(op: "conv2dBackward", detail: "dy \(dy.shape) vs expected \([g.n, g.cout, g.ho, g.wo]) for x \(x.shape), weight \(weight.shape), \(cfg)")
    }
    let p = g.p
    var db: Tensor?
    if needBias {
        let out = Tensor(uninitialized: [g.cout])
        let dyp = dy.data, op = out.data
        // Per channel, a fixed order over images and pixels: independent of the thread count.
        Parallel.forEachChunk(g.cout, minPerThread: max(1, 4096 / max(1, p * g.n)), kind: .elementwise) { r in
            for c in r {
                var acc: Float = 0
                for img in 0..<g.n {
                    let s = dyp + (img * g.cout + c) * p
                    var a: Float = 0
                    for i in 0..<p { a += s[i] }
                    acc += a
                }
                op[c] = acc
            }
        }
        db = out
    }
    if !needInput && !needWeight { return (nil, nil, db) }
    if g.isDepthwise {
        var dx: Tensor?, dw: Tensor?
        if needInput {
            let t = Tensor(uninitialized: x.shape)
            let padH2 = g.cfg.dilationH * (g.kh - 1) - g.cfg.padH, padW2 = g.cfg.dilationW * (g.kw - 1) - g.cfg.padW
            if g.cfg.strideH == 1 && g.cfg.strideW == 1 && padH2 >= 0 && padW2 >= 0 {
                // Stride 1: dx is dy convolved with the flipped filters ("full" padding), which the
                // register-blocked forward kernel computes faster than scattering.
                let flipped = Tensor(uninitialized: weight.shape)
                let taps = g.kh * g.kw
                for ch in 0..<g.cin { for k in 0..<taps { flipped.data[ch * taps + k] = weight.data[ch * taps + taps - 1 - k] } }
                var cfg2 = g.cfg
                cfg2.padH = padH2; cfg2.padW = padW2
                let g2 = try ConvGeometry("conv2dBackward", x: dy.shape, weight: weight.shape, cfg2)
                if depthwiseFastApplies(g2) {
                    depthwiseForwardFast(dy.data, flipped.data, nil, g2, t.data)
                } else {
                    depthwiseForward(dy.data, flipped.data, nil, g2, t.data)
                }
            } else {
                depthwiseBackwardInput(dy.data, weight.data, g, t.data)
            }
            dx = t
        }
        if needWeight {
            let t = Tensor(uninitialized: weight.shape)
            depthwiseBackwardWeight(dy.data, x.data, g, t.data); dw = t
        }
        return (dx, dw, db)
    }
    // dx of a 3×3 stride-1 convolution as a Winograd convolution of dy, where the forward takes that path.
    let winogradDx = needInput ? try winogradInputGradient(dy, weight, g) : nil
    let needInput = needInput && winogradDx == nil
    // dW of a 3×3 stride-1 convolution by Winograd F(3×3, 2×2) where the forward takes Winograd.
    let winogradDw = needWeight && winogradWeightGradientApplies(g) ? conv2dWinogradWeightGradient(dy, x, g) : nil
    let needWeight = needWeight && winogradDw == nil
    if !needInput && !needWeight { return (winogradDx, winogradDw, db) }
    let kG = g.kG, coutG = g.coutG, imgIn = g.cin * g.h * g.w, imgOut = g.cout * p
    if g.isPointwise && g.groups == 1 && g.n > 1 && g.tuning.pointwisePerImage && p >= g.tuning.pointwiseBackwardMinPixels {
        // Each image is already its column matrix (as in the forward): dx_i = Wᵀ·dy_i per image,
        // images spread over the workers, and dW = Σ_i dy_i·x_iᵀ as one accumulating GEMM per image
        // in image order, instead of gathering x and dy into column matrices and scattering dx back.
        var dx: Tensor?, dw: Tensor?
        if needInput {
            let t = Tensor(uninitialized: x.shape)
            let box = UncheckedBox((UnsafePointer(dy.data), UnsafePointer(weight.data), t.data))
            Parallel.forEach(g.n, kind: .elementwise) { i in
                let (dyp, wp, dxp) = box.value
                BLAS.sgemmSerial(transA: true, transB: false, m: g.cin, n: p, k: g.cout, alpha: 1, a: wp, lda: g.cin,
                                 b: dyp + i * imgOut, ldb: p, beta: 0, c: dxp + i * imgIn, ldc: p)
            }
            dx = t
        }
        if needWeight {
            let t = Tensor(uninitialized: weight.shape)
            for i in 0..<g.n {
                BLAS.sgemm(transB: true, m: g.cout, n: g.cin, k: p, a: dy.data + i * imgOut, lda: p,
                           b: x.data + i * imgIn, ldb: p, beta: i == 0 ? 0 : 1, c: t.data, ldc: g.cin)
            }
            dw = t
        }
        return (dx, dw, db)
    }
    let kAll = g.cin * g.kh * g.kw
    let nb = g.imagesPerBlock(rows: kAll + (g.n > 1 ? g.cout : 0))
    let direct = g.isPointwise && nb == 1
    let col = direct ? nil : Tensor(uninitialized: [kAll, nb * p])
    let dyCols = nb > 1 ? Tensor(uninitialized: [g.cout, nb * p]) : nil
    let dx = needInput ? Tensor(zeros: x.shape) : nil
    let dw = needWeight ? Tensor(zeros: weight.shape) : nil
    var n0 = 0
    while n0 < g.n {
        let cnt = min(nb, g.n - n0)
        let cols = cnt * p
        // dy of this block as [Cout, cnt·P].
        let dyMat: UnsafePointer<Float>
        if let dyCols {
            gatherColumns(dy.data + n0 * imgOut, images: cnt, channels: g.cout, p: p, dst: dyCols.data, cols: cols)
            dyMat = UnsafePointer(dyCols.data)
        } else {
            dyMat = UnsafePointer(dy.data + n0 * imgOut)
        }
        if let dw {
            let bMat: UnsafePointer<Float>, ldb: Int
            if let col {
                im2colRaw(x.data + n0 * imgIn, images: cnt, imageStride: imgIn, channels: g.cin, g, col: col.data, ldCol: cols)
                bMat = UnsafePointer(col.data); ldb = cols
            } else {
                bMat = UnsafePointer(x.data + n0 * imgIn); ldb = p
            }
            for gi in 0..<g.groups {
                BLAS.sgemm(transB: true, m: coutG, n: kG, k: cols, a: dyMat + gi * coutG * cols, lda: cols,
                           b: bMat + gi * kG * ldb, ldb: ldb, beta: 1, c: dw.data + gi * coutG * kG, ldc: kG)
            }
        }
        if let dx {
            if let col {
                for gi in 0..<g.groups {
                    BLAS.sgemm(transA: true, m: kG, n: cols, k: coutG, a: weight.data + gi * coutG * kG, lda: kG,
                               b: dyMat + gi * coutG * cols, ldb: cols, c: col.data + gi * kG * cols, ldc: cols)
                }
                col2imRaw(col.data, ldCol: cols, images: cnt, imageStride: imgIn, channels: g.cin, g, x: dx.data + n0 * imgIn)
            } else {
                for gi in 0..<g.groups {
                    BLAS.sgemm(transA: true, m: kG, n: p, k: coutG, a: weight.data + gi * coutG * kG, lda: kG,
                               b: dyMat + gi * coutG * p, ldb: p, c: dx.data + n0 * imgIn + gi * kG * p, ldc: p)
                }
            }
        }
        n0 += cnt
    }
    return (dx ?? winogradDx, dw ?? winogradDw, db)
}

/// dx of a dense 3×3 stride-1 convolution is the "full" correlation of dy with the filters turned
/// around: dx = conv2d(dy, W̃, padding 2 − p) with W̃[ci, co] = W[co, ci] rotated by 180°. Where that
/// convolution takes the Winograd path (`winogradTile`), this computes it so: 4 (F(2,3)) or 2.25
/// (F(4,3)) multiply-adds per output and channel pair instead of the GEMM's 9, and no col2im
/// scatter. Nil where it would not (the GEMM + col2im path is then as fast); the error is the
/// forward Winograd's (ConvTests bound both).
private func winogradInputGradient(_ dy: Tensor, _ weight: Tensor, _ g: ConvGeometry) throws -> Tensor? {
    guard let (cfgT, shapeT, _) = g.turnedWinograd else { return nil }
    let turned = Tensor(uninitialized: shapeT)
    let src = UnsafePointer(weight.data), dst = turned.data, cin = g.cin, cout = g.cout
    Parallel.forEachChunk(cin, minPerThread: max(1, 8192 / max(1, 9 * cout)), kind: .elementwise) { r in
        for ci in r {
            for co in 0..<cout {
                let s = src + (co * cin + ci) * 9, d = dst + (ci * cout + co) * 9
                for k in 0..<9 { d[k] = s[8 - k] }
            }
        }
    }
    var gT = try ConvGeometry("conv2dBackward", x: dy.shape, weight: shapeT, cfgT)
    gT.tuning = g.tuning
    let dx = try conv2dForward(dy, weight: turned, bias: nil, gT, activation: .none, winogradFilters: nil)
    guard dx.shape == [g.n, g.cin, g.h, g.w] else {
        throw TensorError.shapeMismatch(op: "conv2dBackward", detail: "Winograd dx \(dx.shape) vs input \([g.n, g.cin, g.h, g.w])")
    }
    return dx
}
