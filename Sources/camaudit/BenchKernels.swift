import Foundation
import TensorCore
import Models

// Kernel micro-benchmarks: square SGEMM as the yardstick, then ResNet-50's convolutions (forward and
// backward), EfficientNet-B0's depthwise convolutions and ViT-B/16 attention, each as GFLOP/s and as a
// fraction of the SGEMM rate measured in the same run.

/// One convolution shape of a benchmark table; `count` is how often it occurs in the network.
private struct BenchConv {
    let name: String
    let cin: Int, cout: Int, k: Int, stride: Int, h: Int, groups: Int, pad: Int, count: Int
}

/// The convolutions an architecture's model file asks the bench to time (`ArchitectureSpec.
/// benchConvolutions`), read from one forward of the model at 224×224 with their multiplicities.
private func benchConvs(_ arch: Architecture) -> [BenchConv] {
    do {
        let shapes = try makeModel(arch, numClasses: 1000).convolutionShapes(imageSize: 224)
        return shapes.filter { arch.spec.benchConvolutions($0.shape) }.map { s, count in
            BenchConv(name: s.name, cin: s.cin, cout: s.cout, k: s.kernel, stride: s.stride, h: s.inputSize, groups: s.groups,
                      pad: s.padding, count: count)
        }
    } catch {
        print("\(arch.rawValue) convolution shapes: \(error)")
        return []
    }
}

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
///   - threads: the run's worker count (`RunSettings.threads`), for the table's title.
///   - quick: batch 2, sgemm n = 1024 and one repetition (a smoke run), instead of batch 8, n = 2048, three repetitions.
func runKernelBench(threads: Int, quick: Bool) -> [[String: Any]] {
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
    func runConvs(_ table: [BenchConv], section: String, backward: Bool,
                  tuning: ConvTuning = .default) -> (flop: Double, seconds: Double) {
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
                    sec = try bestTime(reps: reps) { _ = try conv2d(x, weight: w, bias: bias, cfg, tuning: tuning) }
                }
                line(section, s.name, count: s.count, flop: flop, seconds: sec, ref: sgemmRate)
                totalFlop += flop * Double(s.count); totalSec += sec * Double(s.count)
            } catch {
                print("\(section) \(s.name): \(error)")
            }
        }
        return (totalFlop, totalSec)
    }

    let resnet50Convs = benchConvs(.resnet50), denseNet161Convs = benchConvs(.densenet161)
    let efficientNetDepthwise = benchConvs(.efficientnet_b0)
    func total(_ t: [BenchConv]) -> Int { t.reduce(0) { $0 + $1.count } }
    let fwd = runConvs(resnet50Convs, section: "conv", backward: false)
    line("conv", "ResNet-50 total (weighted)", count: total(resnet50Convs), flop: fwd.flop, seconds: fwd.seconds, ref: sgemmRate)
    // Dense 3×3 stride-1 convolutions run Winograd (F(4,3) on maps of 28 and more, F(2,3) below);
    // the same shapes through F(2,3) only and through im2col + GEMM show what each saves. GFLOP/s counts the direct convolution's 2·K·Cout·P, so Winograd can exceed 100 %.
    let threeByThree = resnet50Convs.filter { $0.k == 3 && $0.stride == 1 } + denseNet161Convs
    print("(winograd, wino-f23 and im2col rows: the same dense 3×3 stride-1 shapes three ways; GFLOP/s counts the direct 2·K·Cout·P)")
    let wino = runConvs(threeByThree, section: "winograd", backward: false)
    line("winograd", "3x3 s1 total (weighted)", count: threeByThree.reduce(0) { $0 + $1.count }, flop: wino.flop,
         seconds: wino.seconds, ref: sgemmRate)
    // The same shapes with F(2,3) only: what F(4,3) saves on the maps where the plan takes it.
    var f23Only = ConvTuning.default
    f23Only.winogradF43 = false
    let wino23 = runConvs(threeByThree, section: "wino-f23", backward: false, tuning: f23Only)
    line("wino-f23", "3x3 s1 total (weighted)", count: threeByThree.reduce(0) { $0 + $1.count }, flop: wino23.flop,
         seconds: wino23.seconds, ref: sgemmRate)
    var noWinograd = ConvTuning.default
    noWinograd.winograd = false
    let direct = runConvs(threeByThree, section: "im2col", backward: false, tuning: noWinograd)
    line("im2col", "3x3 s1 total (weighted)", count: threeByThree.reduce(0) { $0 + $1.count }, flop: direct.flop,
         seconds: direct.seconds, ref: sgemmRate)
    let bwd = runConvs(resnet50Convs, section: "conv-bwd", backward: true)
    line("conv-bwd", "ResNet-50 total (dx+dw)", count: total(resnet50Convs), flop: bwd.flop, seconds: bwd.seconds, ref: sgemmRate)
    let dw = runConvs(efficientNetDepthwise, section: "depthwise", backward: false)
    line("depthwise", "EfficientNet-B0 total", count: total(efficientNetDepthwise), flop: dw.flop, seconds: dw.seconds, ref: sgemmRate)
    let dwb = runConvs(efficientNetDepthwise, section: "dw-bwd", backward: true)
    line("dw-bwd", "EfficientNet-B0 total", count: total(efficientNetDepthwise), flop: dwb.flop, seconds: dwb.seconds, ref: sgemmRate)

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
