import Foundation
import TensorCore

// Where a model's time goes: `KernelProfile` records a few extra runs after the timed ones, and
// the bench prints the split by kind of work (thread time scaled to the wall time) and by operation
// (wall time of each convolution class, attention, linear layers). Profiling is off for the timed
// runs themselves.

/// Records `runs` calls of `body`, prints both tables (ms per image) and returns them as JSON rows.
func benchBreakdown(_ title: String, images: Int, runs: Int, _ body: () throws -> Void) rethrows -> [String: Any] {
    let b = try KernelProfile.record(runs: runs, body)
    let per = 1e3 / Double(max(1, runs * images))
    let wallMs = b.wallSeconds * per
    print("  \(title): where the time goes (ms per image; thread time of \(b.threads) threads scaled to the wall time \(String(format: "%.1f", wallMs)) ms)")
    var kinds: [[String: Any]] = []
    let rows: [(String, Double)] = KernelProfile.Kind.allCases.map { ($0.label, b.wallShare($0) * per) }
        + [("waiting or not instrumented", b.wallShare(nil) * per)]
    for (label, ms) in rows where ms > 0 {
        kinds.append(["kind": label, "ms_per_image": ms, "fraction": wallMs > 0 ? ms / wallMs : 0])
        print("    " + label.padding(toLength: 32, withPad: " ", startingAt: 0) + String(format: " %8.2f ms %5.1f%%", ms, wallMs > 0 ? ms / wallMs * 100 : 0))
    }
    var ops: [[String: Any]] = []
    let opsTotal = b.operations.reduce(0) { $0 + $1.seconds } * per
    print("    by operation (wall time; the rest, \(String(format: "%.1f", wallMs - opsTotal)) ms, is norms, pools, activations and joins outside them):")
    for (label, s) in b.operations.sorted(by: { $0.seconds > $1.seconds }) {
        let ms = s * per
        ops.append(["operation": label, "ms_per_image": ms, "fraction": wallMs > 0 ? ms / wallMs : 0])
        if ms >= 0.005 * wallMs {
            print("      " + label.padding(toLength: 40, withPad: " ", startingAt: 0) + String(format: " %8.2f ms %5.1f%%", ms, wallMs > 0 ? ms / wallMs * 100 : 0))
        }
    }
    return ["wall_ms_per_image": wallMs, "threads": b.threads, "kinds": kinds, "operations": ops]
}
