import Foundation
import TensorCore

// Kernel micro-benchmarks: square SGEMM as the yardstick, then ResNet-50's convolutions (forward and
// backward), EfficientNet-B0's depthwise convolutions and ViT-B/16 attention, each as GFLOP/s and as a
// fraction of the SGEMM rate measured in the same run.

/// One convolution shape of a benchmark table; `count` is how often it occurs in the network.
private struct BenchConv {
    let name: String
    let cin: Int, cout: Int, k: Int, stride: Int, h: Int, groups: Int, count: Int
    var pad: Int { k / 2 }
}

/// ResNet-50 (torchvision v1.5: stride on the 3×3) at 224×224: every distinct conv shape and its multiplicity.
private let resnet50Convs: [BenchConv] = [
    .init(name: "stem 7x7/2 3->64 @224", cin: 3, cout: 64, k: 7, stride: 2, h: 224, groups: 1, count: 1),
    .init(name: "1x1 64->64 @56", cin: 64, cout: 64, k: 1, stride: 1, h: 56, groups: 1, count: 1),
    .init(name: "1x1 256->64 @56", cin: 256, cout: 64, k: 1, stride: 1, h: 56, groups: 1, count: 2),
    .init(name: "3x3 64->64 @56", cin: 64, cout: 64, k: 3, stride: 1, h: 56, groups: 1, count: 3),
    .init(name: "1x1 64->256 @56", cin: 64, cout: 256, k: 1, stride: 1, h: 56, groups: 1, count: 4),
    .init(name: "1x1 256->128 @56", cin: 256, cout: 128, k: 1, stride: 1, h: 56, groups: 1, count: 1),
    .init(name: "3x3/2 128->128 @56", cin: 128, cout: 128, k: 3, stride: 2, h: 56, groups: 1, count: 1),
    .init(name: "1x1 128->512 @28", cin: 128, cout: 512, k: 1, stride: 1, h: 28, groups: 1, count: 4),
    .init(name: "ds 1x1/2 256->512 @56", cin: 256, cout: 512, k: 1, stride: 2, h: 56, groups: 1, count: 1),
    .init(name: "1x1 512->128 @28", cin: 512, cout: 128, k: 1, stride: 1, h: 28, groups: 1, count: 3),
    .init(name: "3x3 128->128 @28", cin: 128, cout: 128, k: 3, stride: 1, h: 28, groups: 1, count: 3),
    .init(name: "1x1 512->256 @28", cin: 512, cout: 256, k: 1, stride: 1, h: 28, groups: 1, count: 1),
    .init(name: "3x3/2 256->256 @28", cin: 256, cout: 256, k: 3, stride: 2, h: 28, groups: 1, count: 1),
    .init(name: "1x1 256->1024 @14", cin: 256, cout: 1024, k: 1, stride: 1, h: 14, groups: 1, count: 6),
    .init(name: "ds 1x1/2 512->1024 @28", cin: 512, cout: 1024, k: 1, stride: 2, h: 28, groups: 1, count: 1),
    .init(name: "1x1 1024->256 @14", cin: 1024, cout: 256, k: 1, stride: 1, h: 14, groups: 1, count: 5),
    .init(name: "3x3 256->256 @14", cin: 256, cout: 256, k: 3, stride: 1, h: 14, groups: 1, count: 5),
    .init(name: "1x1 1024->512 @14", cin: 1024, cout: 512, k: 1, stride: 1, h: 14, groups: 1, count: 1),
    .init(name: "3x3/2 512->512 @14", cin: 512, cout: 512, k: 3, stride: 2, h: 14, groups: 1, count: 1),
    .init(name: "1x1 512->2048 @7", cin: 512, cout: 2048, k: 1, stride: 1, h: 7, groups: 1, count: 3),
    .init(name: "ds 1x1/2 1024->2048 @14", cin: 1024, cout: 2048, k: 1, stride: 2, h: 14, groups: 1, count: 1),
    .init(name: "1x1 2048->512 @7", cin: 2048, cout: 512, k: 1, stride: 1, h: 7, groups: 1, count: 2),
    .init(name: "3x3 512->512 @7", cin: 512, cout: 512, k: 3, stride: 1, h: 7, groups: 1, count: 2),
]

/// DenseNet-161's 3×3 convolutions (bn_size·growth = 192 → growth 48), one per dense layer.
private let denseNet161Convs: [BenchConv] = [
    .init(name: "3x3 192->48 @56", cin: 192, cout: 48, k: 3, stride: 1, h: 56, groups: 1, count: 6),
    .init(name: "3x3 192->48 @28", cin: 192, cout: 48, k: 3, stride: 1, h: 28, groups: 1, count: 12),
    .init(name: "3x3 192->48 @14", cin: 192, cout: 48, k: 3, stride: 1, h: 14, groups: 1, count: 36),
    .init(name: "3x3 192->48 @7", cin: 192, cout: 48, k: 3, stride: 1, h: 7, groups: 1, count: 24),
]

/// EfficientNet-B0's depthwise convolutions (channels = groups) at 224×224.
private let efficientNetDepthwise: [BenchConv] = [
    .init(name: "dw3x3 32 @112", cin: 32, cout: 32, k: 3, stride: 1, h: 112, groups: 32, count: 1),
    .init(name: "dw3x3/2 96 @112", cin: 96, cout: 96, k: 3, stride: 2, h: 112, groups: 96, count: 1),
    .init(name: "dw3x3 144 @56", cin: 144, cout: 144, k: 3, stride: 1, h: 56, groups: 144, count: 1),
    .init(name: "dw5x5/2 144 @56", cin: 144, cout: 144, k: 5, stride: 2, h: 56, groups: 144, count: 1),
    .init(name: "dw5x5 240 @28", cin: 240, cout: 240, k: 5, stride: 1, h: 28, groups: 240, count: 1),
    .init(name: "dw3x3/2 240 @28", cin: 240, cout: 240, k: 3, stride: 2, h: 28, groups: 240, count: 1),
    .init(name: "dw3x3 480 @14", cin: 480, cout: 480, k: 3, stride: 1, h: 14, groups: 480, count: 2),
    .init(name: "dw5x5 480 @14", cin: 480, cout: 480, k: 5, stride: 1, h: 14, groups: 480, count: 1),
    .init(name: "dw5x5 672 @14", cin: 672, cout: 672, k: 5, stride: 1, h: 14, groups: 672, count: 2),
    .init(name: "dw5x5/2 672 @14", cin: 672, cout: 672, k: 5, stride: 2, h: 14, groups: 672, count: 1),
    .init(name: "dw5x5 1152 @7", cin: 1152, cout: 1152, k: 5, stride: 1, h: 7, groups: 1152, count: 3),
    .init(name: "dw3x3 1152 @7", cin: 1152, cout: 1152, k: 3, stride: 1, h: 7, groups: 1152, count: 1),
]

/// A tensor with cheap deterministic values in [-1, 1).
private func benchTensor(_ shape: [Int], seed: UInt32) -> Tensor {
    let t = Tensor(uninitialized: shape)
    var s = seed &* 2_654_435_761 &+ 1
    for i in 0..<t.count {
        s = s &* 1_664_525 &+ 1_013_904_223
        t.data[i] = Float(s >> 8) * (2 / Float(1 << 24)) - 1
    }
    return t
}

/// Best wall time of `reps` runs of `body` (after one warm-up run).
private func bestTime(reps: Int, _ body: () throws -> Void) rethrows -> Double {
    try body()
    var best = Double.infinity
    for _ in 0..<max(1, reps) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        try body()
        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
    }
    return best
}

/// Runs the kernel benchmark, prints a table and returns one row per measurement
/// (keys: section, name, count, gflop, seconds, gflops, fraction).
///
/// - Parameters:
///   - threads: worker count for our loops and OpenBLAS.
///   - quick: batch 2, sgemm n = 1024 and one repetition (a smoke run), instead of batch 8, n = 2048, three repetitions.
func runKernelBench(threads: Int, quick: Bool) -> [[String: Any]] {
    Parallel.setThreads(threads)
    let batch = quick ? 2 : 8
    let reps = quick ? 1 : 3
    var rows: [[String: Any]] = []
    func line(_ section: String, _ name: String, count: Int, flop: Double, seconds: Double, ref: Double) {
        let gf = flop / seconds * 1e-9
        let frac = ref > 0 ? gf / ref : 1
        rows.append(["section": section, "name": name, "count": count, "gflop": flop * 1e-9, "seconds": seconds,
                     "gflops": gf, "fraction": frac])
        print(String(format: "%-10@ %-28@ %3d %9.3f ms %8.1f GFLOP/s %6.1f%%", section as NSString, name as NSString,
                     count, seconds * 1e3, gf, frac * 100))
    }
    print("kernel bench: threads \(threads), batch \(batch), best of \(reps)")

    // SGEMM yardstick.
    let n = quick ? 1024 : 2048
    let a = benchTensor([n, n], seed: 1), b = benchTensor([n, n], seed: 2), c = Tensor(zeros: [n, n])
    let tg = bestTime(reps: reps) {
        BLAS.sgemm(m: n, n: n, k: n, a: a.data, lda: n, b: b.data, ldb: n, c: c.data, ldc: n)
    }
    let sgemmRate = 2 * Double(n * n * n) / tg * 1e-9
    line("sgemm", "square n=\(n)", count: 1, flop: 2 * Double(n * n * n), seconds: tg, ref: sgemmRate)

    func convFlop(_ s: BenchConv) -> Double {
        let ho = (s.h + 2 * s.pad - s.k) / s.stride + 1
        return 2 * Double(batch * s.cout * ho * ho * (s.cin / s.groups) * s.k * s.k)
    }
    func runConvs(_ table: [BenchConv], section: String, backward: Bool) -> (flop: Double, seconds: Double) {
        var totalFlop = 0.0, totalSec = 0.0
        for (i, s) in table.enumerated() {
            let x = benchTensor([batch, s.cin, s.h, s.h], seed: UInt32(10 + i))
            let w = benchTensor([s.cout, s.cin / s.groups, s.k, s.k], seed: UInt32(100 + i))
            let bias = benchTensor([s.cout], seed: UInt32(200 + i))
            let cfg = Conv2dConfig(stride: s.stride, padding: s.pad, groups: s.groups)
            do {
                let flop = convFlop(s) * (backward ? 2 : 1)
                let sec: Double
                if backward {
                    let y = try conv2d(x, weight: w, bias: bias, cfg)
                    let dy = benchTensor(y.shape, seed: UInt32(300 + i))
                    sec = try bestTime(reps: reps) { _ = try conv2dBackward(dy, x, w, cfg, needInput: true, needWeight: true, needBias: true) }
                } else {
                    sec = try bestTime(reps: reps) { _ = try conv2d(x, weight: w, bias: bias, cfg) }
                }
                line(section, s.name, count: s.count, flop: flop, seconds: sec, ref: sgemmRate)
                totalFlop += flop * Double(s.count); totalSec += sec * Double(s.count)
            } catch {
                print("\(section) \(s.name): \(error)")
            }
        }
        return (totalFlop, totalSec)
    }

    let fwd = runConvs(resnet50Convs, section: "conv", backward: false)
    line("conv", "ResNet-50 total (weighted)", count: 53, flop: fwd.flop, seconds: fwd.seconds, ref: sgemmRate)
    // Dense 3×3 stride-1 convolutions run Winograd F(2,3); the same shapes through im2col + GEMM
    // show what it saves. GFLOP/s counts the direct convolution's 2·K·Cout·P, so Winograd can exceed 100 %.
    let threeByThree = resnet50Convs.filter { $0.k == 3 && $0.stride == 1 } + denseNet161Convs
    print("(winograd and im2col rows: the same dense 3×3 stride-1 shapes both ways; GFLOP/s counts the direct 2·K·Cout·P)")
    let wino = runConvs(threeByThree, section: "winograd", backward: false)
    line("winograd", "3x3 s1 total (weighted)", count: threeByThree.reduce(0) { $0 + $1.count }, flop: wino.flop,
         seconds: wino.seconds, ref: sgemmRate)
    ConvTuning.winograd = false
    let direct = runConvs(threeByThree, section: "im2col", backward: false)
    ConvTuning.winograd = true
    line("im2col", "3x3 s1 total (weighted)", count: threeByThree.reduce(0) { $0 + $1.count }, flop: direct.flop,
         seconds: direct.seconds, ref: sgemmRate)
    let bwd = runConvs(resnet50Convs, section: "conv-bwd", backward: true)
    line("conv-bwd", "ResNet-50 total (dx+dw)", count: 53, flop: bwd.flop, seconds: bwd.seconds, ref: sgemmRate)
    let dw = runConvs(efficientNetDepthwise, section: "depthwise", backward: false)
    line("depthwise", "EfficientNet-B0 total", count: 16, flop: dw.flop, seconds: dw.seconds, ref: sgemmRate)
    let dwb = runConvs(efficientNetDepthwise, section: "dw-bwd", backward: true)
    line("dw-bwd", "EfficientNet-B0 total", count: 16, flop: dwb.flop, seconds: dwb.seconds, ref: sgemmRate)

    // ViT-B/16 attention: 197 tokens, 12 heads, C = 768.
    let t = 197, ch = 768, heads = 12
    let qkv = benchTensor([batch, t, 3 * ch], seed: 7)
    let attFlop = 4 * Double(batch * t * t * ch)
    do {
        let sec = try bestTime(reps: reps) { _ = try attention(qkv, heads: heads) }
        line("attention", "ViT-B/16 T=197 h=12", count: 12, flop: attFlop, seconds: sec, ref: sgemmRate)
        let (out, probs) = try attention(qkv, heads: heads)
        let dOut = benchTensor(out.shape, seed: 8)
        let secB = try bestTime(reps: reps) { _ = try attentionBackward(dOut, qkv, probs: probs, heads: heads) }
        line("attn-bwd", "ViT-B/16 T=197 h=12", count: 12, flop: 2 * attFlop, seconds: secB, ref: sgemmRate)
    } catch {
        print("attention: \(error)")
    }
    return rows
}
