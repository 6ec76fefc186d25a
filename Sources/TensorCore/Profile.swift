import Foundation

/// Where a forward's time goes, by kind of kernel work (`camaudit bench`'s breakdown). Off by
/// default: every instrumented kernel reads the run's `RunSettings.profile` and runs unchanged when
/// it is nil. `record` runs its body with a fresh `Recording` there, so a recording holds the time
/// of that body's kernels only, whatever else the process runs meanwhile.
///
/// Accounting is in thread time: a region counts the time of the thread it runs on, minus the
/// regions nested in it (so GEMM inside a Winograd convolution counts as GEMM, the rest as
/// transforms). Kernels mark their `Parallel` loops with a kind (`forEachChunk(…, kind:)`): each
/// chunk is a region on the thread that runs it, so work is counted where it is done, once, and a
/// thread waiting for the others counts for nothing. Threads × wall time minus the sum of all
/// kinds is time the workers spent waiting (serial stretches, load imbalance, other processes on
/// the cores) or in code that is not instrumented; `Breakdown` reports it as such.
public enum KernelProfile {
    /// The kinds of work a forward or backward is made of.
    public enum Kind: Int, CaseIterable, Sendable {
        case gemm, winogradTransform, im2col, depthwise, attention, norm, elementwise, pool, copy, other

        public var label: String {
            switch self {
            case .gemm: return "GEMM (OpenBLAS)"
            case .winogradTransform: return "Winograd transforms"
            case .im2col: return "im2col / col2im"
            case .depthwise: return "depthwise conv"
            case .attention: return "attention softmax"
            case .norm: return "norms (BN, LayerNorm)"
            case .elementwise: return "elementwise, activations, bias"
            case .pool: return "pooling"
            case .copy: return "copies, layout changes"
            case .other: return "other kernels"
            }
        }
    }

    /// Whether the current run records regions (inside `record`).
    @inlinable public static var isOn: Bool { RunSettings.current.profile != nil }

    /// Runs `body` under `kind` (nested regions are subtracted). Costs one task-local read when off.
    @inlinable @inline(__always)
    public static func measure<T>(_ kind: Kind, _ body: () throws -> T) rethrows -> T {
        guard let recording = RunSettings.current.profile else { return try body() }
        return try recording.measure(kind, body)
    }

    /// Runs `body` as one operation named `label` (a convolution class, attention, …): its wall time
    /// is added to the operation table when it is called at top level on the thread (an operation
    /// inside another operation or inside a worker's chunk counts only for the outer one). It opens
    /// no region: its kernels say what kind of work they are.
    @inlinable @inline(__always)
    public static func operation<T>(_ label: @autoclosure () -> String, _ body: () throws -> T) rethrows -> T {
        guard let recording = RunSettings.current.profile else { return try body() }
        return try recording.operation(label(), body)
    }

    /// The kind of the innermost region open on this thread (`Parallel` hands it to its workers).
    @usableFromInline static var currentKind: Kind? { ThreadRegions.current.frames.last?.kind }

    /// One recording: thread time per kind and wall time per operation, over `runs` calls of `body`.
    public struct Breakdown: Sendable {
        /// Wall seconds of all runs together.
        public let wallSeconds: Double
        public let threads: Int
        /// Thread seconds per kind (all runs).
        public let threadSeconds: [Kind: Double]
        /// Wall seconds per top-level operation label, in first-seen order.
        public let operations: [(label: String, seconds: Double)]

        /// Threads × wall minus everything attributed: waiting workers and code outside any region.
        public var unattributedSeconds: Double {
            max(0, Double(threads) * wallSeconds - threadSeconds.values.reduce(0, +))
        }

        /// Wall seconds per kind: the share of all thread time, times the wall time.
        public func wallShare(_ kind: Kind?) -> Double {
            let total = Double(threads) * wallSeconds
            guard total > 0 else { return 0 }
            let t = kind.map { threadSeconds[$0] ?? 0 } ?? unattributedSeconds
            return t / total * wallSeconds
        }
    }

    /// Records `body` run `runs` times: the current settings with a new `Recording`. A `record`
    /// inside another one counts its body for itself only.
    public static func record(runs: Int = 1, _ body: () throws -> Void) rethrows -> Breakdown {
        var settings = RunSettings.current
        let recording = Recording()
        settings.profile = recording
        let t0 = DispatchTime.now().uptimeNanoseconds
        try settings.run { for _ in 0..<max(1, runs) { try body() } }
        let wall = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        return recording.breakdown(wallSeconds: wall, threads: settings.threads)
    }

    /// The time of one `record`: every thread that runs its kernels adds to it.
    public final class Recording: @unchecked Sendable {
        private let lock = NSLock()
        private var threadNs = [UInt64](repeating: 0, count: Kind.allCases.count)
        private var opNs: [String: UInt64] = [:]
        private var opOrder: [String] = []

        init() {}

        @usableFromInline
        func measure<T>(_ kind: Kind, _ body: () throws -> T) rethrows -> T {
            let s = ThreadRegions.current
            s.frames.append(.init(kind: kind, start: DispatchTime.now().uptimeNanoseconds, children: 0))
            defer {
                let f = s.frames.removeLast()
                let elapsed = DispatchTime.now().uptimeNanoseconds - f.start
                lock.withLock { threadNs[kind.rawValue] += elapsed - min(elapsed, f.children) }
                if !s.frames.isEmpty { s.frames[s.frames.count - 1].children += elapsed }
            }
            return try body()
        }

        @usableFromInline
        func operation<T>(_ label: String, _ body: () throws -> T) rethrows -> T {
            let s = ThreadRegions.current
            if s.operationDepth > 0 || !s.frames.isEmpty { return try body() }
            s.operationDepth += 1
            let t0 = DispatchTime.now().uptimeNanoseconds
            defer {
                s.operationDepth -= 1
                let elapsed = DispatchTime.now().uptimeNanoseconds - t0
                lock.withLock {
                    if opNs[label] == nil { opOrder.append(label) }
                    opNs[label, default: 0] += elapsed
                }
            }
            return try body()
        }

        func breakdown(wallSeconds: Double, threads: Int) -> Breakdown {
            lock.withLock {
                var bySeconds: [Kind: Double] = [:]
                for k in Kind.allCases { bySeconds[k] = Double(threadNs[k.rawValue]) * 1e-9 }
                return Breakdown(wallSeconds: wallSeconds, threads: threads, threadSeconds: bySeconds,
                                 operations: opOrder.map { ($0, Double(opNs[$0] ?? 0) * 1e-9) })
            }
        }
    }
}

/// The open regions of one thread.
@usableFromInline
final class ThreadRegions {
    struct Frame { let kind: KernelProfile.Kind; let start: UInt64; var children: UInt64 }
    var frames: [Frame] = []
    var operationDepth = 0

    private static let key: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k) { p in
            if let p { Unmanaged<ThreadRegions>.fromOpaque(p).release() }
        }
        return k
    }()

    @usableFromInline static var current: ThreadRegions {
        if let p = pthread_getspecific(key) { return Unmanaged<ThreadRegions>.fromOpaque(p).takeUnretainedValue() }
        let s = ThreadRegions()
        pthread_setspecific(key, Unmanaged.passRetained(s).toOpaque())
        return s
    }
}
