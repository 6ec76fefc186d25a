import Foundation
import CBLAS

/// Which kernel family OpenBLAS runs, and the one this CPU deserves.
///
/// OpenBLAS (DYNAMIC_ARCH) picks its kernels from the CPU model when the library loads. A model it
/// does not know — Debian's 0.3.21 on recent Xeons, for one — gets `Prescott`, its SSE3 fallback:
/// measured here, sgemm at n = 1024 ran at 19 GFLOP/s on 2 threads with Prescott and at 90 with
/// the SkylakeX (AVX-512) kernels on the same machine in the same minute. The choice is made before
/// `main`, so it can only be corrected for a new process: `OPENBLAS_CORETYPE` in its environment.
public enum BLASCore {
    /// The family OpenBLAS chose (`openblas_get_corename`), e.g. "SkylakeX", "Haswell", "Prescott".
    public static var current: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }

    /// The family to run instead, when OpenBLAS fell back to Prescott on a CPU (and kernel: the flags
    /// of /proc/cpuinfo are the features the OS enabled) with AVX-512 or AVX2 + FMA; nil when its
    /// choice stands or `OPENBLAS_CORETYPE` is set already (the user's choice is never overridden).
    public static func better(flags: Set<String>? = cpuFlags(), current: String = current,
                              environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        guard environment["OPENBLAS_CORETYPE"] == nil, current.lowercased() == "prescott", let flags else { return nil }
        if flags.isSuperset(of: ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]) { return "SkylakeX" }
        if flags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
        return nil
    }

    /// The first processor's flags in /proc/cpuinfo; nil where there is no such file.
    public static func cpuFlags(cpuinfo: String = "/proc/cpuinfo") -> Set<String>? {
        guard let text = try? String(contentsOfFile: cpuinfo, encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return nil }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }

    /// Restarts this process with `OPENBLAS_CORETYPE` set when `better()` names a family (same
    /// arguments, same environment otherwise); returns when nothing is to be done or exec fails,
    /// and the run goes on with the kernels it has.
    public static func restartWithBetterKernelsIfNeeded() {
        guard let core = better() else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
    }
}
