import Foundation

/// How one run computes: how many workers `Parallel`'s loops and GEMM splits use, the convolution
/// kernels' tuning, and where kernel time is recorded (`KernelProfile.record`).
///
/// A command makes one from its options and does its work inside `run`; kernels read
/// `RunSettings.current`. The value is a task-local: it belongs to the task (or thread) that
/// called `run`, and `Parallel` hands it to the workers of each loop, so two runs in one process
/// with different settings see only their own, and nothing needs restoring afterwards. Code that
/// starts a thread of its own (`BatchLoader`) captures `current` and runs inside it there.
///
/// OpenBLAS's thread count is process-wide by nature (`openblas_set_num_threads`); it is set to one
/// once, before the first BLAS call (`BLAS.configured`), and never changed: every GEMM runs on the
/// thread that calls it, and `threads` only decides how `BLAS.sgemm` splits a product across our
/// workers.
public struct RunSettings: Sendable {
    /// Workers of `Parallel`'s loops and GEMM splits (at least 1). The same seed and thread count
    /// give the same bits.
    public var threads: Int {
        didSet { threads = max(1, threads) }
    }
    /// The convolution kernels' tuning for graph convolutions and planned forwards.
    public var convTuning: ConvTuning
    /// Where kernels add their time while `KernelProfile.record` runs; nil otherwise.
    public var profile: KernelProfile.Recording?

    /// - Parameter threads: nil takes `CAMAUDIT_NUM_THREADS`, else `OPENBLAS_NUM_THREADS`, else
    ///   `OMP_NUM_THREADS`, else the number of active cores.
    public init(threads: Int? = nil, convTuning: ConvTuning = .default) {
        self.threads = max(1, threads ?? Self.environmentThreads)
        self.convTuning = convTuning
        self.profile = nil
    }

    /// The thread count a run gets when its command does not say.
    public static let environmentThreads: Int = {
        let env = ProcessInfo.processInfo.environment
        for key in ["CAMAUDIT_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"] {
            if let s = env[key], let n = Int(s), n > 0 { return n }
        }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// The settings of the run this code is part of (the defaults outside any `run`).
    @TaskLocal public static var current = RunSettings()

    /// Runs `body` with these settings as `current` (for it and every `Parallel` worker it uses).
    public func run<T>(_ body: () throws -> T) rethrows -> T {
        try Self.$current.withValue(self, operation: body)
    }

    /// These settings with `threads` workers (unchanged when nil).
    public func with(threads: Int?) -> RunSettings {
        var s = self
        if let threads { s.threads = threads }
        return s
    }
}
