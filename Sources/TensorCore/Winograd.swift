// Winograd convolution for dense 3×3 stride-1 convolutions (Lavin & Gray, "Fast Algorithms for
// Convolutional Neural Networks", 2016): F(2×2, 3×3) here, F(4×4, 3×3) in WinogradF43.swift, one
// driver for both.
//
// Each m×m output tile comes from an α×α input tile (α = m + 2): Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A.
// Over all channels the elementwise product becomes α² independent GEMMs, M[ξ] = U[ξ] · V[ξ] with
// U[ξ] = [Cout, Cin] (transformed filters) and V[ξ] = [Cin, tiles] (transformed inputs): α²/m²
// multiply-adds per output and input channel (4 for F(2,3), 2.25 for F(4,3)) instead of im2col's
// 9, and no 9×-sized column matrix. F(2,3)'s transforms have coefficients 0, ±1 and ±½ only, so
// its result differs from the direct sum by rounding alone; F(4,3)'s (points 0, ±1, ±2, ∞) reach
// 8 and 1/24, which amplifies rounding (measured and bounded in the tests), so the plan takes it
// only on maps large enough for its saving to matter (`ConvTuning.winogradF43MinSize`).

/// The output tile of a Winograd convolution: F(2×2, 3×3) or F(4×4, 3×3).
public enum WinogradTile: Int, Sendable, Hashable {
    case f2x3 = 2, f4x3 = 4
    /// Output tile side m.
    var m: Int { rawValue }
    /// Input tile side α = m + 2.
    var alpha: Int { rawValue + 2 }
    /// Number of GEMMs α².
    var points: Int { alpha * alpha }
}

/// Whether `conv2d` takes the Winograd path for a weight [Cout, Cin/g, kh, kw]: 3×3, stride 1,
/// dilation 1, one group, padding ≤ 2, and enough channels on both sides for the α² small GEMMs to beat
/// one im2col GEMM.
func winogradApplies(weight s: [Int], _ cfg: Conv2dConfig, _ tuning: ConvTuning = .default) -> Bool {
    tuning.winograd && s.count == 4 && s[2] == 3 && s[3] == 3 && cfg.strideH == 1 && cfg.strideW == 1
        && cfg.dilationH == 1 && cfg.dilationW == 1 && cfg.groups == 1
        && cfg.padH <= 2 && cfg.padW <= 2
        && s[1] >= tuning.winogradMinChannels && s[0] >= tuning.winogradMinChannels
}

/// The tile `conv2d` uses for an input [N, Cin, H, W] and a weight [Cout, Cin/g, kh, kw], or nil when
/// it does not take the Winograd path: F(4×4, 3×3) when both output sides are at least
/// `tuning.winogradF43MinSize` (ResNet's and DenseNet's 56² and 28² maps by default), else F(2×2, 3×3).
public func winogradTile(input x: [Int], weight: [Int], _ cfg: Conv2dConfig, tuning: ConvTuning = .default) -> WinogradTile? {
    guard x.count == 4, winogradApplies(weight: weight, cfg, tuning) else { return nil }
    let ho = x[2] + 2 * cfg.padH - 2, wo = x[3] + 2 * cfg.padW - 2
    return tuning.winogradF43 && min(ho, wo) >= tuning.winogradF43MinSize ? .f4x3 : .f2x3
}

/// The transformed filters [α², Cout, Cin] `conv2d` uses with `tile` for a 3×3 weight [Cout, Cin, 3, 3].
/// Callers that run the same weight many times (inference) keep these and pass them back as
/// `conv2d(…, winogradFilters:)` for inputs of that tile (`winogradTile`).
public func winogradFilters(_ weight: Tensor, tile: WinogradTile) -> Tensor {
    let (cout, cin) = (weight.shape[0], weight.shape[1])
    let u = Tensor(uninitialized: [tile.points, cout, cin])
    switch tile {
    case .f2x3: winogradTransformFilters(weight.data, cout: cout, cin: cin, u.data)
    case .f4x3: winogradF43TransformFilters(weight.data, cout: cout, cin: cin, u.data)
    }
    return u
}

/// U[ξ, co, ci] = (G g Gᵀ)[ξ] for each 3×3 filter g = w[co, ci], G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1].
/// Eight filters at a time (lane j = filter idx + j), so each of the 16 outputs is one contiguous
/// 8-float store (fewer lanes at a chunk's end).
func winogradTransformFilters(_ w: UnsafePointer<Float>, cout: Int, cin: Int, _ u: UnsafeMutablePointer<Float>) {
    let plane = cout * cin
    Parallel.forEachChunk(plane, minPerThread: 4096, kind: .winogradTransform) { r in
        var idx = r.lowerBound
        while idx < r.upperBound {
            let lanes = min(8, r.upperBound - idx)
            var t = (SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(),
                     SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>())
            for j in 0..<lanes {
                let f = w + (idx + j) * 9
                t.0[j] = f[0]; t.1[j] = f[1]; t.2[j] = f[2]; t.3[j] = f[3]; t.4[j] = f[4]
                t.5[j] = f[5]; t.6[j] = f[6]; t.7[j] = f[7]; t.8[j] = f[8]
            }
            let half = SIMD8<Float>(repeating: 0.5)
            // Gg, row by row (columns a, b, c), then each row times Gᵀ.
            let rows = ((t.0, t.1, t.2),
                        (half * (t.0 + t.3 + t.6), half * (t.1 + t.4 + t.7), half * (t.2 + t.5 + t.8)),
                        (half * (t.0 - t.3 + t.6), half * (t.1 - t.4 + t.7), half * (t.2 - t.5 + t.8)),
                        (t.6, t.7, t.8))
            let d = u + idx
            @inline(__always) func store(_ xi: Int, _ v: SIMD8<Float>) {
                if lanes == 8 {
                    UnsafeMutableRawPointer(d + xi * plane).storeBytes(of: v, as: SIMD8<Float>.self)
                } else {
                    for k in 0..<lanes { d[xi * plane + k] = v[k] }
                }
            }
            for i in 0..<4 {
                let (a, b, c) = i == 0 ? rows.0 : i == 1 ? rows.1 : i == 2 ? rows.2 : rows.3
                store(4 * i, a); store(4 * i + 1, half * (a + b + c)); store(4 * i + 2, half * (a - b + c)); store(4 * i + 3, c)
            }
            idx += lanes
        }
    }
}

/// Tiles of one image: ⌈Ho/m⌉ × ⌈Wo/m⌉.
struct WinogradTiling {
    let tile: WinogradTile
    let th: Int, tw: Int
    /// Width of the zero-padded strip of α input rows one tile row reads (tile columns rounded up
    /// to the 8 lanes the transforms work on, plus what the last 8-tile group's loads reach past them).
    let stripCols: Int

    init(_ g: ConvGeometry, _ tile: WinogradTile) {
        self.tile = tile
        let m = tile.m
        th = (g.ho + m - 1) / m
        tw = (g.wo + m - 1) / m
        stripCols = m * ((tw + 7) / 8 * 8) + (tile == .f2x3 ? 2 : 4)
    }
}

/// One row of 8 tiles times B: (d B)[j] for columns 2(tx+k)+j of a padded row, j = 0…3.
@inline(__always)
private func winogradRow(_ p: UnsafePointer<Float>) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
    let a = UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
    let b = UnsafeRawPointer(p + 2).loadUnaligned(as: SIMD16<Float>.self)
    let d0 = a.evenHalf, d1 = a.oddHalf, d2 = b.evenHalf, d3 = b.oddHalf
    return (d0 - d2, d1 + d2, d2 - d1, d1 - d3)
}

/// Where the transformed values of one group of eight tiles go: V[ξ] at `at + ξ·ld`, eight lanes
/// or the first `lanes`.
struct WinogradStore {
    let at: UnsafeMutablePointer<Float>, ld: Int, lanes: Int
    /// Whether all eight lanes may be stored (see `winogradInputGroups`).
    let whole: Bool

    @inline(__always)
    func put(_ xi: Int, _ val: SIMD8<Float>) {
        let dst = at + xi * ld
        if whole {
            UnsafeMutableRawPointer(dst).storeBytes(of: val, as: SIMD8<Float>.self)
        } else {
            for k in 0..<lanes { dst[k] = val[k] }
        }
    }
}

/// Walks the α×α input tiles of global tile rows [r0, r1) (row = image·th + ty; t = (row − r0)·tw + tx)
/// and channels `cs` in groups of eight: copies the α input rows a tile row reads into `strip`
/// (α·stripCols floats whose columns outside the image are zero, rows outside it zeroed here), then
/// calls `transform` with the strip at the group's first column and where its V[ξ, c, t] go.
@inline(__always)
func winogradInputGroups(_ x: UnsafePointer<Float>, _ g: ConvGeometry, _ tl: WinogradTiling, rows r0: Int, _ r1: Int,
                         channels cs: Range<Int>, strip: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>,
                         _ transform: (UnsafePointer<Float>, WinogradStore) -> Void) {
    let cin = g.cin, h = g.h, w = g.w, pH = g.cfg.padH, pW = g.cfg.padW, pc = tl.stripCols
    let m = tl.tile.m, alpha = tl.tile.alpha
    let tiles = (r1 - r0) * tl.tw
    let ld = cin * tiles                               // stride between ξ blocks
    let channelEnd = cs.upperBound * tiles
    for c in cs {
        for row in r0..<r1 {
            let img = row / tl.th, ty = row % tl.th
            let src = x + (img * cin + c) * h * w
            for i in 0..<alpha {
                let ir = m * ty - pH + i, d = strip + i * pc
                if ir >= 0 && ir < h {
                    (d + pW).update(from: src + ir * w, count: w)
                } else {
                    d.update(repeating: 0, count: pc)
                }
            }
            let base = v + c * tiles + (row - r0) * tl.tw
            var tx = 0
            while tx < tl.tw {
                let lanes = min(8, tl.tw - tx)
                // A short group may still store all 8 lanes: the spill lands on tiles of later
                // rows or channels, which this loop writes afterwards. It must not pass the end of
                // this call's channels (beyond lie another worker's channels or the next ξ's tiles).
                let whole = lanes == 8 || c * tiles + (row - r0) * tl.tw + tx + 8 <= channelEnd
                transform(UnsafePointer(strip) + m * tx, WinogradStore(at: base + tx, ld: ld, lanes: lanes, whole: whole))
                tx += 8
            }
        }
    }
}

/// V[ξ, c, t] = (Bᵀ d B)[ξ] for the 4×4 input tiles d, Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1].
/// Eight tiles at once.
private func winogradF23TransformInput(_ x: UnsafePointer<Float>, _ g: ConvGeometry, _ tl: WinogradTiling,
                                       rows r0: Int, _ r1: Int, channels cs: Range<Int>, strip: UnsafeMutablePointer<Float>,
                                       _ v: UnsafeMutablePointer<Float>) {
    let pc = tl.stripCols
    winogradInputGroups(x, g, tl, rows: r0, r1, channels: cs, strip: strip, v) { p, s in
        let (a0, a1, a2, a3) = winogradRow(p)
        let (b0, b1, b2, b3) = winogradRow(p + pc)
        let (c0, c1, c2, c3) = winogradRow(p + 2 * pc)
        let (d0, d1, d2, d3) = winogradRow(p + 3 * pc)
        s.put(0, a0 - c0); s.put(1, a1 - c1); s.put(2, a2 - c2); s.put(3, a3 - c3)
        s.put(4, b0 + c0); s.put(5, b1 + c1); s.put(6, b2 + c2); s.put(7, b3 + c3)
        s.put(8, c0 - b0); s.put(9, c1 - b1); s.put(10, c2 - b2); s.put(11, c3 - b3)
        s.put(12, b0 - d0); s.put(13, b1 - d1); s.put(14, b2 - d2); s.put(15, b3 - d3)
    }
}

/// The products M[ξ] of one group of eight tiles: M is [α², Cout, tiles] followed by at least 8
/// readable floats, so short groups load 8 lanes too (the extra lanes are never stored).
struct WinogradLoad {
    let at: UnsafePointer<Float>, ld: Int

    @inline(__always)
    func get(_ xi: Int) -> SIMD8<Float> { UnsafeRawPointer(at + xi * ld).loadUnaligned(as: SIMD8<Float>.self) }
}

/// Walks the output tiles of global tile rows [r0, r1) and output channels `cs` in groups of eight:
/// `transform(load, bias, plane, ty, tx, lanes)` writes rows m·ty… of the output plane from the
/// group's products; each finished tile row then gets the activation in one pass.
@inline(__always)
func winogradOutputGroups(_ m: UnsafePointer<Float>, _ g: ConvGeometry, _ tl: WinogradTiling, rows r0: Int, _ r1: Int,
                          channels cs: Range<Int>, bias: UnsafePointer<Float>?, activation: FusedActivation,
                          _ y: UnsafeMutablePointer<Float>,
                          _ transform: (WinogradLoad, SIMD8<Float>, UnsafeMutablePointer<Float>, Int, Int, Int) -> Void) {
    let cout = g.cout, ho = g.ho, wo = g.wo, tm = tl.tile.m
    let tiles = (r1 - r0) * tl.tw
    let ld = cout * tiles
    for co in cs {
        let b = SIMD8<Float>(repeating: bias?[co] ?? 0)
        for row in r0..<r1 {
            let img = row / tl.th, ty = row % tl.th
            let dst = y + (img * cout + co) * ho * wo
            let base = m + co * tiles + (row - r0) * tl.tw
            var tx = 0
            while tx < tl.tw {
                transform(WinogradLoad(at: base + tx, ld: ld), b, dst, ty, tx, min(8, tl.tw - tx))
                tx += 8
            }
            activation.applyInPlaceSerial(dst + tm * ty * wo, min(tm, ho - tm * ty) * wo)
        }
    }
}

/// y[image, co] = act(Aᵀ M A + bias) for the tiles of global tile rows [r0, r1), Aᵀ = [1 1 1 0; 0 1 −1 −1].
private func winogradF23TransformOutput(_ m: UnsafePointer<Float>, _ g: ConvGeometry, _ tl: WinogradTiling,
                                        rows r0: Int, _ r1: Int, channels cs: Range<Int>, bias: UnsafePointer<Float>?,
                                        activation: FusedActivation, _ y: UnsafeMutablePointer<Float>) {
    let ho = g.ho, wo = g.wo
    winogradOutputGroups(m, g, tl, rows: r0, r1, channels: cs, bias: bias, activation: activation, y) { l, b, dst, ty, tx, lanes in
        // (Aᵀ M)[a][j] for a = 0, 1.
        let m0 = (l.get(0), l.get(1), l.get(2), l.get(3))
        let m1 = (l.get(4), l.get(5), l.get(6), l.get(7))
        let m2 = (l.get(8), l.get(9), l.get(10), l.get(11))
        let m3 = (l.get(12), l.get(13), l.get(14), l.get(15))
        let s00 = m0.0 + m1.0 + m2.0, s01 = m0.1 + m1.1 + m2.1, s02 = m0.2 + m1.2 + m2.2, s03 = m0.3 + m1.3 + m2.3
        let s10 = m1.0 - m2.0 - m3.0, s11 = m1.1 - m2.1 - m3.1, s12 = m1.2 - m2.2 - m3.2, s13 = m1.3 - m2.3 - m3.3
        // Output row 2ty + a: even columns (2tx + 2k) and odd columns (2tx + 2k + 1).
        let rows = ((s00 + s01 + s02 + b, s01 - s02 - s03 + b), (s10 + s11 + s12 + b, s11 - s12 - s13 + b))
        for a in 0..<2 {
            let oh = 2 * ty + a
            if oh >= ho { break }
            let (e, o) = a == 0 ? rows.0 : rows.1
            let d = dst + oh * wo + 2 * tx
            if 2 * tx + 16 <= wo {
                var z = SIMD16<Float>()
                z.evenHalf = e
                z.oddHalf = o
                UnsafeMutableRawPointer(d).storeBytes(of: z, as: SIMD16<Float>.self)
            } else {
                for k in 0..<lanes {
                    d[2 * k] = e[k]
                    if 2 * tx + 2 * k + 1 < wo { d[2 * k + 1] = o[k] }
                }
            }
        }
    }
}

/// V = Bᵀ d B for the tile rows [r0, r1) and channels `cs` (see the F(2,3) and F(4,3) transforms).
private func winogradTransformInput(_ x: UnsafePointer<Float>, _ g: ConvGeometry, _ tl: WinogradTiling,
                                    rows r0: Int, _ r1: Int, channels cs: Range<Int>, strip: UnsafeMutablePointer<Float>,
                                    _ v: UnsafeMutablePointer<Float>) {
    switch tl.tile {
    case .f2x3: winogradF23TransformInput(x, g, tl, rows: r0, r1, channels: cs, strip: strip, v)
    case .f4x3: winogradF43TransformInput(x, g, tl, rows: r0, r1, channels: cs, strip: strip, v)
    }
}

/// y = act(Aᵀ M A + bias) for the tile rows [r0, r1) and output channels `cs`.
private func winogradTransformOutput(_ m: UnsafePointer<Float>, _ g: ConvGeometry, _ tl: WinogradTiling,
                                     rows r0: Int, _ r1: Int, channels cs: Range<Int>, bias: UnsafePointer<Float>?,
                                     activation: FusedActivation, _ y: UnsafeMutablePointer<Float>) {
    switch tl.tile {
    case .f2x3: winogradF23TransformOutput(m, g, tl, rows: r0, r1, channels: cs, bias: bias, activation: activation, y)
    case .f4x3: winogradF43TransformOutput(m, g, tl, rows: r0, r1, channels: cs, bias: bias, activation: activation, y)
    }
}

/// The Winograd path of `conv2d`. The tile rows of the batch are split into blocks, a multiple of
/// the worker count when there are enough tiles; each worker transforms a block, runs the α² GEMMs
/// on it and writes its outputs (bias and activation on the way), so no batch-sized intermediate
/// is stored and a block's transformed data stays in cache. With too few tiles for that (a
/// 7×7 or 14×14 map at batch 1), the whole batch is one block and each of its three phases is
/// split across the workers instead: by channel, by GEMM, by output channel.
/// `filters` are `winogradFilters(weight, tile:)` if the caller keeps them.
func conv2dWinograd(_ x: Tensor, _ weight: Tensor, _ bias: Tensor?, _ g: ConvGeometry, _ y: Tensor,
                    activation: FusedActivation, tile: WinogradTile, filters: Tensor?) {
    let tl = WinogradTiling(g, tile)
    let u = filters ?? winogradFilters(weight, tile: tile)
    let points = tile.points
    let tileRows = g.n * tl.th, workers = Parallel.threads
    let perRow = points * tl.tw * (g.cin + g.cout)
    // Blocks: at least two per worker and within the cache budget, but never below
    // `winogradMinTiles` tiles, nor below Cin·Cout / `winogradFilterPairsPerTile` (narrower GEMMs
    // lose more to packing the filters than they gain).
    let byBudget = (tileRows * perRow + g.tuning.winogradBlockFloats - 1) / g.tuning.winogradBlockFloats
    let minTiles = max(g.tuning.winogradMinTiles, g.cin * g.cout / max(1, g.tuning.winogradFilterPairsPerTile))
    let byTiles = max(1, tileRows * tl.tw / minTiles)
    var blocks = min(max(2 * workers, byBudget), byTiles, tileRows)
    if blocks >= workers { blocks = blocks / workers * workers }
    let rowsPerBlock = (tileRows + blocks - 1) / blocks
    let box = UncheckedBox((x.data, u.data, bias?.data, y.data))
    let maxTiles = rowsPerBlock * tl.tw
    let scratch = points * maxTiles * (g.cin + g.cout)

    if blocks < workers && workers > 1 {
        let tiles = tileRows * tl.tw
        withUnsafeTemporaryAllocation(of: Float.self, capacity: points * tiles * (g.cin + g.cout) + 8) { buf in
            let v = UncheckedBox(buf.baseAddress!)
            Parallel.forEachChunk(g.cin, minPerThread: 1, kind: .winogradTransform) { cr in
                let (xp, _, _, _) = box.value
                withUnsafeTemporaryAllocation(of: Float.self, capacity: tile.alpha * tl.stripCols) { sb in
                    sb.baseAddress!.initialize(repeating: 0, count: tile.alpha * tl.stripCols)
                    winogradTransformInput(xp, g, tl, rows: 0, tileRows, channels: cr, strip: sb.baseAddress!, v.value)
                }
            }
            let m = v.value + points * tiles * g.cin
            BLAS.sgemmStridedBatched(m: g.cout, n: tiles, k: g.cin, a: u.data, lda: g.cin, strideA: g.cout * g.cin,
                                     b: v.value, ldb: tiles, strideB: g.cin * tiles,
                                     c: m, ldc: tiles, strideC: g.cout * tiles, batch: points)
            let mb = UncheckedBox(m)
            Parallel.forEachChunk(g.cout, minPerThread: 1, kind: .winogradTransform) { cr in
                let (_, _, bp, yp) = box.value
                winogradTransformOutput(mb.value, g, tl, rows: 0, tileRows, channels: cr, bias: bp, activation: activation, yp)
            }
        }
        return
    }

    Parallel.forEachChunk(blocks, minPerThread: 1, kind: .winogradTransform) { r in
        let (xp, up, bp, yp) = box.value
        withUnsafeTemporaryAllocation(of: Float.self, capacity: scratch + tile.alpha * tl.stripCols) { buf in
            let v = buf.baseAddress!, m = v + points * maxTiles * g.cin, strip = m + points * maxTiles * g.cout
            strip.initialize(repeating: 0, count: tile.alpha * tl.stripCols)
            for blk in r {
                let r0 = blk * rowsPerBlock, r1 = min(tileRows, r0 + rowsPerBlock)
                if r0 >= r1 { continue }
                let tiles = (r1 - r0) * tl.tw
                winogradTransformInput(xp, g, tl, rows: r0, r1, channels: 0..<g.cin, strip: strip, v)
                for xi in 0..<points {
                    BLAS.sgemmSerial(transA: false, transB: false, m: g.cout, n: tiles, k: g.cin, alpha: 1,
                                     a: up + xi * g.cout * g.cin, lda: g.cin, b: v + xi * g.cin * tiles, ldb: tiles,
                                     beta: 0, c: m + xi * g.cout * tiles, ldc: tiles)
                }
                winogradTransformOutput(m, g, tl, rows: r0, r1, channels: 0..<g.cout, bias: bp, activation: activation, yp)
            }
        }
    }
}

// MARK: - Weight gradient

/// Whether `conv2dBackward` computes dW of a weight [Cout, Cin, 3, 3] by `conv2dWinogradWeightGradient`:
/// where the forward would take a Winograd path (`winogradApplies`, with the caller's tuning), with
/// at least `tuning.winogradMinTiles` tiles and `tuning.winogradWeightGradientMinChannels` channels on one side.
func winogradWeightGradientApplies(_ g: ConvGeometry) -> Bool {
    guard winogradApplies(weight: [g.cout, g.cin, g.kh, g.kw], g.cfg, g.tuning), g.ho > 0, g.wo > 0 else { return false }
    let tiles = g.n * ((g.ho + 1) / 2) * ((g.wo + 1) / 2)
    return tiles >= g.tuning.winogradMinTiles && max(g.cin, g.cout) >= g.tuning.winogradWeightGradientMinChannels
}

/// dW of a dense 3×3 stride-1 convolution by Winograd F(3×3, 2×2), the transpose of the forward's
/// F(2×2, 3×3). With Y = Aᵀ[(G w Gᵀ) ⊙ (Bᵀ d B)]A per tile, ∂⟨dY, Y⟩/∂w = Gᵀ[(A dY Aᵀ) ⊙ (Bᵀ d B)]G,
/// and the sum over tiles moves inside: M[ξ] = Σ_t (A dY_t Aᵀ)[ξ] · (Bᵀ d_t B)[ξ]ᵀ is 16 GEMMs
/// [Cout, tiles] × [tiles, Cin] whose inner dimension is the tile count, then dW = Gᵀ M G per
/// filter: 4 multiply-adds per output pixel and channel pair instead of im2col's 9, and no 9×-sized
/// column matrix. The input transform is the forward's; all coefficients are 0, ±1 and ±½, so the
/// result differs from the direct sum by rounding alone. Tile rows are taken in blocks of
/// `tuning.winogradBlockFloats`, in order, accumulating into M.
func conv2dWinogradWeightGradient(_ dy: Tensor, _ x: Tensor, _ g: ConvGeometry) -> Tensor {
    let tl = WinogradTiling(g, .f2x3)
    let cin = g.cin, cout = g.cout, tileRows = g.n * tl.th
    let rowsPerBlock = max(1, min(tileRows, g.tuning.winogradBlockFloats / max(1, 16 * tl.tw * (cin + cout))))
    let maxTiles = rowsPerBlock * tl.tw
    let m = Tensor(uninitialized: [16, cout, cin])
    let box = UncheckedBox((UnsafePointer(x.data), UnsafePointer(dy.data)))
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 16 * maxTiles * (cin + cout) + 8) { buf in
        let v = UncheckedBox(buf.baseAddress!)
        var r0 = 0
        while r0 < tileRows {
            let r1 = min(tileRows, r0 + rowsPerBlock), tiles = (r1 - r0) * tl.tw
            let u = UncheckedBox(v.value + 16 * tiles * cin)
            // V[ξ, ci, t] = (Bᵀ d B)[ξ], as the forward transforms its input.
            Parallel.forEachChunk(cin, minPerThread: 1, kind: .winogradTransform) { cr in
                withUnsafeTemporaryAllocation(of: Float.self, capacity: 4 * tl.stripCols) { sb in
                    sb.baseAddress!.initialize(repeating: 0, count: 4 * tl.stripCols)
                    winogradF23TransformInput(box.value.0, g, tl, rows: r0, r1, channels: cr, strip: sb.baseAddress!, v.value)
                }
            }
            // U[ξ, co, t] = (A dY Aᵀ)[ξ] for the 2×2 output tiles (zero past the map's edge).
            Parallel.forEachChunk(cout, minPerThread: 1, kind: .winogradTransform) { cr in
                winogradF32TransformGradient(box.value.1, g, tl, rows: r0, r1, channels: cr, u.value)
            }
            for xi in 0..<16 {
                BLAS.sgemm(transB: true, m: cout, n: cin, k: tiles, a: u.value + xi * cout * tiles, lda: tiles,
                           b: v.value + xi * cin * tiles, ldb: tiles, beta: r0 == 0 ? 0 : 1,
                           c: m.data + xi * cout * cin, ldc: cin)
            }
            r0 = r1
        }
    }
    // dW = Gᵀ M G, G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1].
    let dw = Tensor(uninitialized: [cout, cin, 3, 3])
    let mb = UncheckedBox((UnsafePointer(m.data), dw.data))
    let plane = cout * cin
    Parallel.forEachChunk(plane, minPerThread: 4096, kind: .winogradTransform) { r in
        let (mp, wp) = mb.value
        for idx in r {
            // Rows of M (4 × 4), then Gᵀ M (3 × 4), then each of its rows times G.
            var mr = (SIMD4<Float>(), SIMD4<Float>(), SIMD4<Float>(), SIMD4<Float>())
            for j in 0..<4 {
                mr.0[j] = mp[j * plane + idx]; mr.1[j] = mp[(4 + j) * plane + idx]
                mr.2[j] = mp[(8 + j) * plane + idx]; mr.3[j] = mp[(12 + j) * plane + idx]
            }
            let half: Float = 0.5
            let t = (mr.0 + half * (mr.1 + mr.2), half * (mr.1 - mr.2), half * (mr.1 + mr.2) + mr.3)
            let out = wp + idx * 9
            for a in 0..<3 {
                let row = a == 0 ? t.0 : a == 1 ? t.1 : t.2
                out[3 * a] = row[0] + half * (row[1] + row[2])
                out[3 * a + 1] = half * (row[1] - row[2])
                out[3 * a + 2] = half * (row[1] + row[2]) + row[3]
            }
        }
    }
    return dw
}

/// U[ξ, co, t] = (A dY Aᵀ)[ξ] for the 2×2 tiles of dY of global tile rows [r0, r1) and output channels
/// `cs`, A = [1 0; 1 1; 1 −1; 0 −1] (the forward's Aᵀ transposed); outputs past the map are zero.
/// Eight consecutive tiles t at a time (they may span tile rows and images), so each of the 16
/// values is one contiguous 8-float store.
private func winogradF32TransformGradient(_ dy: UnsafePointer<Float>, _ g: ConvGeometry, _ tl: WinogradTiling,
                                          rows r0: Int, _ r1: Int, channels cs: Range<Int>, _ u: UnsafeMutablePointer<Float>) {
    let cout = g.cout, ho = g.ho, wo = g.wo, tw = tl.tw
    let tiles = (r1 - r0) * tw, ld = cout * tiles
    for co in cs {
        var t0 = 0
        while t0 < tiles {
            let lanes = min(8, tiles - t0)
            var p = SIMD8<Float>(), q = SIMD8<Float>(), r = SIMD8<Float>(), s = SIMD8<Float>()
            for k in 0..<lanes {
                let t = t0 + k, row = r0 + t / tw, tx = t % tw
                let img = row / tl.th, ty = row % tl.th
                let top = dy + ((img * cout + co) * ho + 2 * ty) * wo + 2 * tx
                let hasRight = 2 * tx + 1 < wo, hasBottom = 2 * ty + 1 < ho
                p[k] = top[0]
                q[k] = hasRight ? top[1] : 0
                r[k] = hasBottom ? top[wo] : 0
                s[k] = hasBottom && hasRight ? top[wo + 1] : 0
            }
            // Rows of A·dY, then each row [a, b] times Aᵀ: [a, a + b, a − b, −b].
            let d = u + co * tiles + t0
            @inline(__always) func store(_ xi: Int, _ v: SIMD8<Float>) {
                if lanes == 8 {
                    UnsafeMutableRawPointer(d + xi * ld).storeBytes(of: v, as: SIMD8<Float>.self)
                } else {
                    for k in 0..<lanes { d[xi * ld + k] = v[k] }
                }
            }
            @inline(__always) func put(_ i: Int, _ a: SIMD8<Float>, _ b: SIMD8<Float>) {
                store(4 * i, a); store(4 * i + 1, a + b); store(4 * i + 2, a - b); store(4 * i + 3, -b)
            }
            put(0, p, q); put(1, p + r, q + s); put(2, p - r, q - s); put(3, -r, -s)
            t0 += 8
        }
    }
}
