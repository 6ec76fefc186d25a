// Winograd F(4×4, 3×3): the transforms for Winograd.swift's driver (Lavin & Gray 2016, §4.2;
// interpolation points 0, ±1, ±2, ∞):
//
//   Bᵀ = [4  0 −5  0 1 0;  0 −4 −4  1 1 0;  0 4 −4 −1 1 0;  0 −2 −1 2 1 0;  0 2 −1 −2 1 0;  0 4 0 −5 0 1]
//   G  = [¼ 0 0;  −⅙ −⅙ −⅙;  −⅙ ⅙ −⅙;  1/24 1/12 ⅙;  1/24 −1/12 ⅙;  0 0 1]
//   Aᵀ = [1 1 1 1 1 0;  0 1 −1 2 −2 0;  0 1 1 4 4 0;  0 1 −1 8 −8 1]
//
// A 4×4 output tile from a 6×6 input tile: 36 GEMMs per block instead of F(2,3)'s 16, on a quarter
// of the tiles, so 2.25 multiply-adds per output and input channel instead of 4, and 36/16 floats
// of transformed data per output pixel instead of 16/4. The price is accuracy: the transforms'
// coefficients (up to 8 in Aᵀ, 5 in Bᵀ) amplify the rounding of the products; the tests bound the
// error against a Double reference.

/// U[ξ, co, ci] = (G g Gᵀ)[ξ] for each 3×3 filter g = w[co, ci], computed in Double and rounded once.
func winogradF43TransformFilters(_ w: UnsafePointer<Float>, cout: Int, cin: Int, _ u: UnsafeMutablePointer<Float>) {
    let plane = cout * cin
    Parallel.forEachChunk(plane, minPerThread: 1024, kind: .winogradTransform) { r in
        @inline(__always) func gRows(_ a: Double, _ b: Double, _ c: Double) -> (Double, Double, Double, Double, Double, Double) {
            (a / 4, -(a + b + c) / 6, -(a - b + c) / 6, a / 24 + b / 12 + c / 6, a / 24 - b / 12 + c / 6, c)
        }
        for idx in r {
            let g = w + idx * 9
            // G g by columns of g: c_k.i = (G g)[i][k].
            let c0 = gRows(Double(g[0]), Double(g[3]), Double(g[6]))
            let c1 = gRows(Double(g[1]), Double(g[4]), Double(g[7]))
            let c2 = gRows(Double(g[2]), Double(g[5]), Double(g[8]))
            @inline(__always) func store(_ i: Int, _ a: Double, _ b: Double, _ c: Double) {
                let t = gRows(a, b, c)   // row i of (G g) times Gᵀ
                let o = u + 6 * i * plane + idx
                o[0] = Float(t.0); o[plane] = Float(t.1); o[2 * plane] = Float(t.2)
                o[3 * plane] = Float(t.3); o[4 * plane] = Float(t.4); o[5 * plane] = Float(t.5)
            }
            store(0, c0.0, c1.0, c2.0); store(1, c0.1, c1.1, c2.1); store(2, c0.2, c1.2, c2.2)
            store(3, c0.3, c1.3, c2.3); store(4, c0.4, c1.4, c2.4); store(5, c0.5, c1.5, c2.5)
        }
    }
}

/// The rows of Bᵀ applied to d0…d5 (eight tiles per lane vector).
@inline(__always)
private func bt6(_ d0: SIMD8<Float>, _ d1: SIMD8<Float>, _ d2: SIMD8<Float>, _ d3: SIMD8<Float>, _ d4: SIMD8<Float>,
                 _ d5: SIMD8<Float>) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
    let four = SIMD8<Float>(repeating: 4), five = SIMD8<Float>(repeating: 5), two = SIMD8<Float>(repeating: 2)
    let s12 = d1 + d2, d12 = d1 - d2, s34 = d3 + d4, d43 = d4 - d3, d42 = d4 - d2, d31 = d3 - d1
    return (four * d0 - five * d2 + d4,
            s34 - four * s12,
            d43 + four * d12,
            d42 + two * d31,
            d42 - two * d31,
            four * d1 - five * d3 + d5)
}

/// Aᵀ applied to m0…m5: four values.
@inline(__always)
private func at6(_ m0: SIMD8<Float>, _ m1: SIMD8<Float>, _ m2: SIMD8<Float>, _ m3: SIMD8<Float>, _ m4: SIMD8<Float>,
                 _ m5: SIMD8<Float>) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
    let s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4
    return (m0 + s12 + s34,
            d12 + SIMD8<Float>(repeating: 2) * d34,
            s12 + SIMD8<Float>(repeating: 4) * s34,
            d12 + SIMD8<Float>(repeating: 8) * d34 + m5)
}

/// One row of eight 6-wide tiles times B: columns 4(tx+k)+j of a padded row for j = 0…5, then Bᵀ.
@inline(__always)
private func winogradF43Row(_ p: UnsafePointer<Float>) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
    let a = UnsafeRawPointer(p).loadUnaligned(as: SIMD32<Float>.self)
    let b = UnsafeRawPointer(p + 4).loadUnaligned(as: SIMD32<Float>.self)
    // Lane 4k + j of a is column j of tile k; b starts four columns later (j = 4, 5).
    let ae = a.evenHalf, ao = a.oddHalf
    return bt6(ae.evenHalf, ao.evenHalf, ae.oddHalf, ao.oddHalf, b.evenHalf.evenHalf, b.oddHalf.evenHalf)
}

/// V[ξ, c, t] = (Bᵀ d B)[ξ] for the 6×6 input tiles d (see `winogradInputGroups`), ξ = 6a + b.
/// Eight tiles at once.
func winogradF43TransformInput(_ x: UnsafePointer<Float>, _ g: ConvGeometry, _ tl: WinogradTiling,
                               rows r0: Int, _ r1: Int, channels cs: Range<Int>, strip: UnsafeMutablePointer<Float>,
                               _ v: UnsafeMutablePointer<Float>) {
    let pc = tl.stripCols
    withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: 36) { rb in
        let rt = rb.baseAddress!                       // (d B) of the six rows: rt[6i + j]
        winogradInputGroups(x, g, tl, rows: r0, r1, channels: cs, strip: strip, v) { p, s in
            for i in 0..<6 {
                let r = winogradF43Row(p + i * pc)
                rt[6 * i] = r.0; rt[6 * i + 1] = r.1; rt[6 * i + 2] = r.2
                rt[6 * i + 3] = r.3; rt[6 * i + 4] = r.4; rt[6 * i + 5] = r.5
            }
            for j in 0..<6 {
                let col = bt6(rt[j], rt[6 + j], rt[12 + j], rt[18 + j], rt[24 + j], rt[30 + j])
                s.put(j, col.0); s.put(6 + j, col.1); s.put(12 + j, col.2)
                s.put(18 + j, col.3); s.put(24 + j, col.4); s.put(30 + j, col.5)
            }
        }
    }
}

/// y[image, co] = act(Aᵀ M A + bias) for the tiles of global tile rows [r0, r1) (see `winogradOutputGroups`).
func winogradF43TransformOutput(_ m: UnsafePointer<Float>, _ g: ConvGeometry, _ tl: WinogradTiling,
                                rows r0: Int, _ r1: Int, channels cs: Range<Int>, bias: UnsafePointer<Float>?,
                                activation: FusedActivation, _ y: UnsafeMutablePointer<Float>) {
    let ho = g.ho, wo = g.wo
    withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: 24) { tb in
        let t = tb.baseAddress!                        // (Aᵀ M) by columns: t[4j + a]
        winogradOutputGroups(m, g, tl, rows: r0, r1, channels: cs, bias: bias, activation: activation, y) { l, b, dst, ty, tx, lanes in
            for j in 0..<6 {
                let c = at6(l.get(j), l.get(6 + j), l.get(12 + j), l.get(18 + j), l.get(24 + j), l.get(30 + j))
                t[4 * j] = c.0; t[4 * j + 1] = c.1; t[4 * j + 2] = c.2; t[4 * j + 3] = c.3
            }
            for a in 0..<4 {
                let oh = 4 * ty + a
                if oh >= ho { break }
                let (y0, y1, y2, y3) = at6(t[a], t[4 + a], t[8 + a], t[12 + a], t[16 + a], t[20 + a])
                let d = dst + oh * wo + 4 * tx
                if 4 * tx + 32 <= wo {
                    // Lane 4k + c of the row is column c of tile k.
                    var lo = SIMD16<Float>(), hi = SIMD16<Float>()
                    lo.evenHalf = y0 + b; lo.oddHalf = y2 + b
                    hi.evenHalf = y1 + b; hi.oddHalf = y3 + b
                    var z = SIMD32<Float>()
                    z.evenHalf = lo
                    z.oddHalf = hi
                    UnsafeMutableRawPointer(d).storeBytes(of: z, as: SIMD32<Float>.self)
                } else {
                    let cols = (y0 + b, y1 + b, y2 + b, y3 + b)
                    for k in 0..<lanes {
                        let ow = 4 * (tx + k)
                        d[4 * k] = cols.0[k]
                        if ow + 1 < wo { d[4 * k + 1] = cols.1[k] }
                        if ow + 2 < wo { d[4 * k + 2] = cols.2[k] }
                        if ow + 3 < wo { d[4 * k + 3] = cols.3[k] }
                    }
                }
            }
        }
    }
}
