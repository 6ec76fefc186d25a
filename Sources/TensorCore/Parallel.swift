import Foundation
import Dispatch

/// The one thread pool: loops and GEMM splits (`BLAS.sgemm`) run on its workers.
///
/// How many workers a loop uses is the current run's `RunSettings.threads`; each worker runs its
/// chunk inside the caller's settings, so a loop or GEMM nested in a chunk splits as it would on
/// the calling thread.
public enum Parallel {
    /// The number of workers loops split across (the current run's).
    public static var threads: Int { RunSettings.current.threads }

    /// Runs `body` with the current settings but `threads` workers (unchanged when nil).
    public static func with<T>(threads: Int?, _ body: () throws -> T) rethrows -> T {
        try RunSettings.current.with(threads: threads).run(body)
    }

    /// Runs `body` over `0..<n` split into contiguous chunks, one per worker.
    ///
    /// Each index is visited exactly once; the split only depends on `n` and the thread count.
    /// Work below `minPerThread` items stays on the calling thread.
    @inlinable
    public static func forEachChunk(_ n: Int, minPerThread: Int = 1, _ body: (Range<Int>) -> Void) {
        let settings = RunSettings.current
        let workers = min(settings.threads, max(1, n / max(minPerThread, 1)))
        if workers <= 1 || n <= 1 {
            if n > 0 { body(0..<n) }
            return
        }
        let chunk = (n + workers - 1) / workers
        // Profiling: a loop started inside a region (a GEMM split inside a Winograd chunk) runs its
        // workers' chunks under that region's kind.
        let kind = settings.profile != nil ? KernelProfile.currentKind : nil
        withoutActuallyEscaping(body) { body in
            let box = UncheckedBox(body)
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                let lo = w * chunk
                let hi = min(n, lo + chunk)
                if lo < hi {
                    // Dispatch's threads are outside the caller's task: the run's settings go with the chunk.
                    settings.run {
                        if let kind { KernelProfile.measure(kind) { box.value(lo..<hi) } } else { box.value(lo..<hi) }
                    }
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
