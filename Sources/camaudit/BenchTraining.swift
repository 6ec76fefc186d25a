import Foundation
import TensorCore
import Models
import Training

extension Bench {
    /// Training throughput: full AdamW steps (forward in training mode, cross-entropy, full backward,
    /// optimizer update) at batch 16 on 224 and 128 px (`--train-sizes`; `--quick`: batch 4 at 64 px),
    /// images/s from the best of `reps` steps after one warm-up, and the process's peak resident
    /// memory during the row (Linux: VmHWM, reset per row through /proc/self/clear_refs). Memory a
    /// previous row freed may still be held by the allocator, so `make bench` runs each
    /// architecture and size in a fresh process, as it runs scripts/bench_torch.py.
    func benchTraining(reps: Int) throws -> [[String: Any]] {
        var rows: [[String: Any]] = []
        let batch = quick ? 4 : 16
        let sizes = trainingSizes
        print("\ntraining steps (AdamW, batch \(batch), dropout off), threads \(threads)")
        for arch in archs {
            for size in sizes {
                resetPeakMemory()
                let model = try makeModel(arch, numClasses: 3, imageSize: size)
                model.initialize(seed: 1)
                var rng = SeededRNG(seed: 7)
                let x = Tensor(uninitialized: [batch, 3, size, size])
                for i in 0..<x.count { x.data[i] = rng.uniform() }
                let labels = (0..<batch).map { $0 % 3 }
                let opt = AdamW()
                let t = try time(reps) { _ = try trainStep(model, images: x, labels: labels, optimizer: opt, lr: 1e-4, stochasticLayers: false) }
                let row: [String: Any] = ["arch": arch.rawValue, "image_size": size, "batch": batch, "seconds_per_step": t,
                                          "images_per_s": Double(batch) / t, "peak_rss_mb": peakMemoryMB() ?? -1]
                print(String(format: "train %-16@ %3dpx batch %2d: %7.2f img/s  %.2f s/step  peak %.0f MB",
                             arch.rawValue as NSString, size, batch, Double(batch) / t, t, peakMemoryMB() ?? -1))
                rows.append(row)
            }
        }
        return rows
    }

    func resetPeakMemory() {
        if let h = FileHandle(forWritingAtPath: "/proc/self/clear_refs") { h.write(Data("5".utf8)); try? h.close() }
    }

    func peakMemoryMB() -> Double? {
        guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kb = Double(line.split(separator: " ").dropFirst().first ?? "") else { return nil }
        return kb / 1024
    }
}
