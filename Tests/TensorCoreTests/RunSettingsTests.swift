import Foundation
import XCTest
import TensorCore
import TestSupport

/// Two runs in one process with different settings: each computes what it computes alone and sees
/// only its own thread count and its own profile.
final class RunSettingsTests: XCTestCase {
    /// A 3×3 convolution forward and backward (Winograd and GEMM splits on the workers) and the
    /// thread counts seen by every chunk of a loop nested in another loop's chunks.
    static func work(seed: UInt64) throws -> (values: [[Float]], seen: Set<Int>) {
        var rng = TestRNG(seed: seed)
        let cfg = Conv2dConfig(stride: 1, padding: 1)
        let x = rng.tensor([2, 32, 20, 20]), w = rng.tensor([48, 32, 3, 3]), dy = rng.tensor([2, 48, 20, 20])
        var values: [[Float]] = []
        for _ in 0..<3 {
            let y = try conv2d(x, weight: w, bias: nil, cfg)
            let g = try conv2dBackward(dy, x, w, cfg, needInput: true, needWeight: true, needBias: false)
            values += [y.values, g.dx!.values, g.dw!.values]
        }
        let lock = NSLock()
        var seen = Set<Int>()
        Parallel.forEach(64) { _ in
            Parallel.forEach(64) { _ in
                let t = Parallel.threads
                lock.withLock { _ = seen.insert(t) }
            }
        }
        return (values, seen)
    }

    func testTwoRunsWithDifferentThreadCountsDoNotDisturbEachOther() throws {
        let one = RunSettings(threads: 1), three = RunSettings(threads: 3)
        let aloneOne = try one.run { try Self.work(seed: 1) }
        let aloneThree = try three.run { try Self.work(seed: 2) }
        XCTAssertEqual(aloneOne.seen, [1])
        XCTAssertEqual(aloneThree.seen, [3])
        for round in 0..<3 {
            let (a, b) = try concurrently({ try one.run { try Self.work(seed: 1) } }, { try three.run { try Self.work(seed: 2) } })
            XCTAssertEqual(a.seen, [1], "round \(round): the 1-thread run saw another run's thread count")
            XCTAssertEqual(b.seen, [3], "round \(round): the 3-thread run saw another run's thread count")
            XCTAssertTrue(a.values == aloneOne.values, "round \(round): the 1-thread run's numbers changed beside another run")
            XCTAssertTrue(b.values == aloneThree.values, "round \(round): the 3-thread run's numbers changed beside another run")
        }
        // Outside any run: the defaults, untouched by the runs above.
        XCTAssertEqual(Parallel.threads, RunSettings.environmentThreads)
        XCTAssertNil(RunSettings.current.profile)
    }

    /// A recording holds its own run's kernels only, while another run records or computes beside it.
    func testProfilesOfTwoRunsAreSeparate() throws {
        var rng = TestRNG(seed: 3)
        let n = 256
        let a = rng.tensor([n, n]), b = rng.tensor([n, n])
        let big = rng.tensor([1 << 20])
        let (gemmRun, geluRun) = try concurrently({
            Parallel.with(threads: 2) {
                KernelProfile.record(runs: 20) {
                    let c = Tensor(zeros: [n, n])
                    BLAS.sgemm(m: n, n: n, k: n, a: a.data, lda: n, b: b.data, ldb: n, c: c.data, ldc: n)
                }
            }
        }, {
            try Parallel.with(threads: 1) {
                try KernelProfile.record(runs: 20) { _ = try gelu(big) }
            }
        })
        XCTAssertEqual(gemmRun.threads, 2)
        XCTAssertEqual(geluRun.threads, 1)
        XCTAssertGreaterThan(gemmRun.threadSeconds[.gemm] ?? 0, 0)
        XCTAssertEqual(geluRun.threadSeconds[.gemm], 0, "the GELU run's profile counted the other run's GEMMs")
        XCTAssertGreaterThan(geluRun.threadSeconds[.elementwise] ?? 0, 0)
        XCTAssertEqual(gemmRun.threadSeconds[.elementwise], 0, "the GEMM run's profile counted the other run's GELU")
        XCTAssertFalse(KernelProfile.isOn)
    }
}
