import Foundation

/// Float vector of the depthwise kernel (plain + and * only: those compile to vector instructions).
typealias FloatV = SIMD16<Float>

// Depthwise convolution as a flat 1-D convolution over stride phases.
//
// For stride s and dilation 1, split the zero-padded plane into s×s phases
// Q_(a,b)[r][j] = x[s·r + a − pH][s·j + b − pW] (0 outside), each with row width
// Wr = Wo + (kw − 1)/s. Then y[oh][ow] = Σ w[ki][kj] · Q_(ki%s, kj%s)[oh + ki/s][ow + kj/s], which,
// on the flattened index i = oh·Wr + ow, is a sum of shifted contiguous vectors: no border
// branches, 16 outputs per vector op, even for 7×7 planes. Columns ow ≥ Wo are computed and
// discarded. The tap order (row-major over the filter, starting from the bias) is fixed, so results
// do not depend on the thread count.

/// Whether the flat-phase kernel handles this geometry (square stride, dilation 1).
func depthwiseFastApplies(_ g: ConvGeometry) -> Bool {
    g.cfg.dilationH == 1 && g.cfg.dilationW == 1 && g.cfg.strideH == g.cfg.strideW && g.cfg.strideH <= 4
}

/// Depthwise forward (groups = Cin = Cout) with an optional activation applied to the output.
func depthwiseForwardFast(_ x: UnsafePointer<Float>, _ wt: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                          _ g: ConvGeometry, _ y: UnsafeMutablePointer<Float>, activation: FusedActivation = .none) {
    let c = g.cin, h = g.h, w = g.w, ho = g.ho, wo = g.wo, kh = g.kh, kw = g.kw
    let s = g.cfg.strideH, pH = g.cfg.padH, pW = g.cfg.padW
    let wr = wo + (kw - 1) / s, hr = ho + (kh - 1) / s
    let phaseLen = hr * wr
    // Four vectors per step: four independent accumulator chains keep the vector units busy
    // (one chain waits out the add latency at every tap).
    let outLen = (ho * wr + 63) / 64 * 64
    // Reads reach at most outLen − 1 + ((kh − 1)/s)·wr + (kw − 1)/s into a phase.
    let phaseStride = max(phaseLen, outLen + ((kh - 1) / s) * wr + (kw - 1) / s + 16)
    let scratchLen = s * s * phaseStride + outLen
    let taps = kh * kw
    let xb = UncheckedBox(x), wb = UncheckedBox(wt), yb = UncheckedBox(y), bb = UncheckedBox(bias)
    Parallel.forEachChunk(g.n * c, minPerThread: max(1, 4096 / max(1, ho * wo * taps)), kind: .depthwise) { r in
        let x = xb.value, wt = wb.value, y = yb.value, bias = bb.value
        withUnsafeTemporaryAllocation(of: Float.self, capacity: scratchLen) { sbuf in
        withUnsafeTemporaryAllocation(of: Int.self, capacity: taps) { offBuf in
            let scratch = sbuf.baseAddress!, offs = offBuf.baseAddress!
            scratch.update(repeating: 0, count: scratchLen)
            let out = scratch + s * s * phaseStride
            // Tap offsets into the phase area: phase (ki%s, kj%s), shift (ki/s)·wr + kj/s.
            for ki in 0..<kh {
                for kj in 0..<kw {
                    offs[ki * kw + kj] = ((ki % s) * s + (kj % s)) * phaseStride + (ki / s) * wr + kj / s
                }
            }
            for plane in r {
                let ch = plane % c
                let src = x + plane * h * w, f = wt + ch * taps
                // Fill the phases (their padding stays zero: only in-image positions are written,
                // and a given geometry always writes the same positions).
                for a in 0..<s {
                    for b in 0..<s {
                        let q = scratch + (a * s + b) * phaseStride
                        for rr in 0..<hr {
                            let ih = s * rr + a - pH
                            if ih < 0 || ih >= h { continue }
                            let srow = src + ih * w, qrow = q + rr * wr
                            // Valid j: 0 ≤ s·j + b − pW < w.
                            let jlo = max(0, (pW - b + s - 1) / s)
                            let last = w - 1 + pW - b
                            let jhi = last < 0 ? 0 : min(wr, last / s + 1)
                            if jlo >= jhi { continue }
                            if s == 1 {
                                (qrow + jlo).update(from: srow + (jlo + b - pW), count: jhi - jlo)
                            } else if s == 2 {
                                // Stride 2: take the even or odd lanes of 16 consecutive inputs.
                                var j = jlo
                                while j + 8 <= jhi && 2 * j + b - pW + 16 <= w {
                                    let v = UnsafeRawPointer(srow + 2 * j + b - pW).loadUnaligned(as: SIMD16<Float>.self)
                                    UnsafeMutableRawPointer(qrow + j).storeBytes(of: v.evenHalf, as: SIMD8<Float>.self)
                                    j += 8
                                }
                                while j < jhi { qrow[j] = srow[2 * j + b - pW]; j += 1 }
                            } else {
                                for j in jlo..<jhi { qrow[j] = srow[s * j + b - pW] }
                            }
                        }
                    }
                }
                let b0 = bias?[ch] ?? 0
                var i = 0
                while i < outLen {
                    var a0 = FloatV(repeating: b0), a1 = a0, a2 = a0, a3 = a0
                    for t in 0..<taps {
                        let wv = FloatV(repeating: f[t])
                        let src = UnsafeRawPointer(scratch + offs[t] + i)
                        a0 += wv * src.loadUnaligned(as: FloatV.self)
                        a1 += wv * src.loadUnaligned(fromByteOffset: 64, as: FloatV.self)
                        a2 += wv * src.loadUnaligned(fromByteOffset: 128, as: FloatV.self)
                        a3 += wv * src.loadUnaligned(fromByteOffset: 192, as: FloatV.self)
                    }
                    let dst = UnsafeMutableRawPointer(out + i)
                    dst.storeBytes(of: a0, as: FloatV.self)
                    dst.storeBytes(of: a1, toByteOffset: 64, as: FloatV.self)
                    dst.storeBytes(of: a2, toByteOffset: 128, as: FloatV.self)
                    dst.storeBytes(of: a3, toByteOffset: 192, as: FloatV.self)
                    i += 64
                }
                let dst = y + plane * ho * wo
                if wr == wo {
                    activation.copy(out, dst, ho * wo)
                } else {
                    // Rows of Wo (7, 14, …) would run mostly in the loop's scalar remainder: apply
                    // the activation to the whole padded area (a multiple of 64) first, then copy.
                    activation.applyInPlaceSerial(out, outLen)
                    for oh in 0..<ho { (dst + oh * wo).update(from: out + oh * wr, count: wo) }
                }
            }
        } }
    }
}
