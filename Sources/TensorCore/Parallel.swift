import Foundation
import Dispatch

/// The one thread pool: loops and GEMM splits (`BLAS.sgemm`) run on its workers.
///
/// Defaults to `OPENBLAS_NUM_THREADS`, else `OMP_NUM_THREADS`, else the number of active cores.
public enum Parallel {
    nonisolated(unsafe) private static var _threads: Int = {
        BLAS.useCallingThreadOnly()  // OpenBLAS runs inside our workers (see `BLAS.sgemm`)
        let env = ProcessInfo.processInfo.environment
        for key in ["CAMAUDIT_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"] {
            if let s = env[key], let n = Int(s), n > 0 { return n }
        }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// The number of workers loops split across.
    public static var threads: Int { _threads }

    /// Sets the thread count for our loops and GEMM splits.
    public static func setThreads(_ n: Int) {
        _threads = max(1, n)
    }

    /// Runs `body` over `0..<n` split into contiguous chunks, one per worker.
    ///
    /// Each index is visited exactly once; the split only depends on `n` and the thread count.
    /// Work below `minPerThread` items stays on the calling thread.
    @inlinable
    public static func forEachChunk(_ n: Int, minPerThread: Int = 1, _ body: (Range<Int>) -> Void) {
        let workers = min(threads, max(1, n / max(minPerThread, 1)))
        if workers <= 1 || n <= 1 {
            if n > 0 { body(0..<n) }
            return
        }
        let chunk = (n + workers - 1) / workers
        // Profiling: a loop started inside a region (a GEMM split inside a Winograd chunk) runs its
        // workers' chunks under that region's kind.
        let kind = KernelProfile.isOn ? KernelProfile.currentKind : nil
        withoutActuallyEscaping(body) { body in
            let box = UncheckedBox(body)
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                let lo = w * chunk
                let hi = min(n, lo + chunk)
                if lo < hi {
                    if let kind { KernelProfile.measure(kind) { box.value(lo..<hi) } } else { box.value(lo..<hi) }
                }
            }
        }
    }

    /// `forEachChunk` whose chunks count as `kind` of work while `KernelProfile` records (on
    /// whichever thread runs them; the caller's wait for the others is not counted).
    @inlinable
    public static func forEachChunk(_ n: Int, minPerThread: Int = 1, kind: KernelProfile.Kind, _ body: (Range<Int>) -> Void) {
        if !KernelProfile.isOn { forEachChunk(n, minPerThread: minPerThread, body); return }
        forEachChunk(n, minPerThread: minPerThread) { r in KernelProfile.measure(kind) { body(r) } }
    }

    /// `forEach` whose items count as `kind` of work while `KernelProfile` records.
    @inlinable
    public static func forEach(_ n: Int, minPerThread: Int = 1, kind: KernelProfile.Kind, _ body: (Int) -> Void) {
        forEachChunk(n, minPerThread: minPerThread, kind: kind) { r in for i in r { body(i) } }
    }

    /// `body(i)` for every `i` in `0..<n` across workers, results in index order. When bodies throw,
    /// every index still runs and the error of the lowest failing index is thrown.
    public static func map<T>(_ n: Int, minPerThread: Int = 1, _ body: (Int) throws -> T) throws -> [T] {
        var slots = [Result<T, Error>?](repeating: nil, count: n)
        slots.withUnsafeMutableBufferPointer { buf in
            let box = UncheckedBox(buf)   // each slot is written by exactly one worker
            forEach(n, minPerThread: minPerThread) { i in box.value[i] = Result { try body(i) } }
        }
        return try slots.map { try $0!.get() }
    }

    /// Runs `body(i)` for every `i` in `0..<n` across workers.
    @inlinable
    public static func forEach(_ n: Int, minPerThread: Int = 1, _ body: (Int) -> Void) {
        forEachChunk(n, minPerThread: minPerThread) { r in for i in r { body(i) } }
    }
}

/// Carries a non-Sendable value (pointers, closures) into `concurrentPerform`; callers guarantee
/// disjoint writes.
public struct UncheckedBox<T>: @unchecked Sendable {
    public let value: T
    @inlinable public init(_ value: T) { self.value = value }
}
