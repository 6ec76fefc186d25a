import CBLAS
import Foundation

/// The one file that talks to OpenBLAS (CBLAS + LAPACKE). Every other kernel composes these.
public enum BLAS {
    /// OpenBLAS always runs single-threaded in the calling thread: `sgemm` splits large products
    /// across `Parallel`'s workers itself, so one thread pool serves GEMM and every other loop
    /// (two pools on the same cores would spin against each other between calls). OpenBLAS's
    /// thread count is process-wide, so it is set once, for every run, and no run's settings change
    /// it. Every entry point of this file touches it before its first BLAS call (so the kernels are
    /// chosen first).
    static let configured: Void = {
        replaceFallbackKernels()
        openblas_set_num_threads(1)
    }()

    /// The OpenBLAS kernel family in use (`openblas_get_corename`: "SkylakeX", "Haswell", …).
    public static var coreName: String {
        _ = configured
        return String(cString: openblas_get_corename())
    }

    /// Products below this many multiply-adds run on the calling thread.
    @usableFromInline static let splitThreshold = 1 << 18

    /// Row-major C = alpha · op(A) · op(B) + beta · C, op(X) = X or Xᵀ.
    ///
    /// op(A) is [m, k], op(B) is [k, n], C is [m, n]; `lda`, `ldb`, `ldc` are the row strides of the
    /// matrices as stored. Large products are split into row or column blocks of C, one per worker
    /// (inside a `Parallel` loop the split runs serially).
    public static func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                             alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                             b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        _ = configured
        let workers = Parallel.threads
        if workers <= 1 || m * n * k < splitThreshold || max(m, n) < 2 * 16 {
            sgemmSerial(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                        beta: beta, c: c, ldc: ldc)
            return
        }
        let box = UncheckedBox((a, b, c))
        if n >= m {
            // Column blocks of C (multiples of 16, the kernel's widest register tile).
            let chunk = ((n + workers - 1) / workers + 15) / 16 * 16
            Parallel.forEach((n + chunk - 1) / chunk) { w in
                let (a, b, c) = box.value
                let j0 = w * chunk, nn = min(n, j0 + chunk) - j0
                sgemmSerial(transA: transA, transB: transB, m: m, n: nn, k: k, alpha: alpha, a: a, lda: lda,
                            b: transB ? b + j0 * ldb : b + j0, ldb: ldb, beta: beta, c: c + j0, ldc: ldc)
            }
        } else {
            let chunk = ((m + workers - 1) / workers + 15) / 16 * 16
            Parallel.forEach((m + chunk - 1) / chunk) { w in
                let (a, b, c) = box.value
                let i0 = w * chunk, mm = min(m, i0 + chunk) - i0
                sgemmSerial(transA: transA, transB: transB, m: mm, n: n, k: k, alpha: alpha,
                            a: transA ? a + i0 : a + i0 * lda, lda: lda, b: b, ldb: ldb, beta: beta,
                            c: c + i0 * ldc, ldc: ldc)
            }
        }
    }

    /// One OpenBLAS call on the calling thread.
    @inline(__always)
    static func sgemmSerial(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                            a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                            beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            // C = beta·C; BLAS would do the same but some builds dislike k == 0.
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
            return
        }
        KernelProfile.measure(.gemm) {
            cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                        Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        }
    }

    /// `batch` independent GEMMs at fixed element strides (OpenBLAS 0.3.21 has no sgemm_batch).
    public static func sgemmStridedBatched(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                                           alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, strideA: Int,
                                           b: UnsafePointer<Float>, ldb: Int, strideB: Int,
                                           beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, strideC: Int,
                                           batch: Int) {
        _ = configured
        if batch >= Parallel.threads && batch > 1 && m * n * k * batch >= splitThreshold {
            let box = UncheckedBox((a, b, c))
            Parallel.forEach(batch) { i in
                let (a, b, c) = box.value
                sgemmSerial(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                            a: a + i * strideA, lda: lda, b: b + i * strideB, ldb: ldb,
                            beta: beta, c: c + i * strideC, ldc: ldc)
            }
            return
        }
        for i in 0..<batch {
            sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                  a: a + i * strideA, lda: lda, b: b + i * strideB, ldb: ldb,
                  beta: beta, c: c + i * strideC, ldc: ldc)
        }
    }

    /// y = alpha · A x + beta · y for row-major A [m, n].
    public static func sgemv(transA: Bool = false, m: Int, n: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                             x: UnsafePointer<Float>, beta: Float = 0, y: UnsafeMutablePointer<Float>) {
        if m == 0 || n == 0 { return }
        _ = configured
        KernelProfile.measure(.gemm) {
            cblas_sgemv(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), alpha, a, Int32(lda),
                        x, 1, beta, y, 1)
        }
    }

    /// Thin SVD of a row-major [m, n] matrix: returns U [m, r], S [r], Vᵀ [r, n] with r = min(m, n).
    /// The input is not modified. Uses LAPACKE_sgesdd.
    public static func svd(_ a: UnsafePointer<Float>, m: Int, n: Int) throws -> (u: [Float], s: [Float], vt: [Float]) {
        let r = min(m, n)
        _ = configured
        guard r > 0 else { throw TensorError.invalidArgument(op: "svd", detail: "empty matrix [\(m), \(n)]") }
        var work = Array(UnsafeBufferPointer(start: a, count: m * n))
        var u = [Float](repeating: 0, count: m * r)
        var s = [Float](repeating: 0, count: r)
        var vt = [Float](repeating: 0, count: r * n)
        let info = LAPACKE_sgesdd(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "S")), Int32(m), Int32(n), &work, Int32(n),
                                  &s, &u, Int32(r), &vt, Int32(n))
        guard info == 0 else {
            throw TensorError.numerical(op: "svd", detail: "LAPACKE_sgesdd failed with info \(info) on [\(m), \(n)]")
        }
        return (u, s, vt)
    }
}

// MARK: - Kernel choice

extension BLAS {
    /// OpenBLAS up to 0.3.21 (Debian 12's) chooses its kernels by CPU model number, and a model it
    /// does not know — Sapphire and Emerald Rapids among them — gets the Prescott (SSE3) kernels:
    /// SGEMM at a quarter of the AVX-512 kernels' speed, every GEMM of the engine with it (ViT-B/16
    /// training spent 88% of its time in `sgemm_kernel_PRESCOTT`). Newer releases fall back by
    /// instruction set instead; this does the same here: when the library reports the Prescott
    /// fallback and the user did not choose a kernel (`OPENBLAS_CORETYPE`), it re-runs OpenBLAS's
    /// own dispatch (`gotoblas_dynamic_quit`/`init`, what `OPENBLAS_CORETYPE` does at load time)
    /// with the newest family the CPU's instruction set supports. Runs once, before any BLAS call.
    /// Builds without run-time dispatch (no `gotoblas_dynamic_init`) are left alone.
    static func replaceFallbackKernels() {
        let env = ProcessInfo.processInfo.environment
        guard env["OPENBLAS_CORETYPE"] == nil, String(cString: openblas_get_corename()).lowercased() == "prescott",
              let family = kernelFamily(cpuFlags: cpuFlags()),
              let handle = dlopen(nil, RTLD_NOW),
              let quit = dlsym(handle, "gotoblas_dynamic_quit"), let initialize = dlsym(handle, "gotoblas_dynamic_init") else { return }
        typealias VoidFn = @convention(c) () -> Void
        setenv("OPENBLAS_CORETYPE", family, 1)
        unsafeBitCast(quit, to: VoidFn.self)()
        unsafeBitCast(initialize, to: VoidFn.self)()
        unsetenv("OPENBLAS_CORETYPE")  // children choose for themselves
    }

    /// The newest OpenBLAS x86-64 kernel family (a name `OPENBLAS_CORETYPE` accepts) that the
    /// instruction set flags allow, or nil (not x86-64 with AVX).
    static func kernelFamily(cpuFlags flags: Set<String>) -> String? {
        if ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(flags.contains) { return "SkylakeX" }
        if flags.contains("avx2") && flags.contains("fma") { return "Haswell" }
        if flags.contains("avx") { return "Sandybridge" }
        return nil
    }

    /// The first processor's flags in /proc/cpuinfo (the kernel lists only what the OS enables);
    /// empty where there is no such file.
    static func cpuFlags() -> Set<String> {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }
}

/// Keeps freed tensor buffers in the heap instead of returning them to the kernel: glibc serves
/// blocks above 128 KiB with mmap and unmaps them on free, so every forward pass page-faulted and
/// zero-filled its activations anew. Raising the mmap and trim thresholds (to glibc's 32 MiB cap)
/// lets the next pass reuse the same pages. Runs once, on the first allocation.
let mallocTuned: Void = {
    _ = mallopt(M_MMAP_THRESHOLD, 32 << 20)
    _ = mallopt(M_TRIM_THRESHOLD, 256 << 20)
}()
