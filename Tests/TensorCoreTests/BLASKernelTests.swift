import Foundation
import XCTest
@testable import TensorCore

/// OpenBLAS's Prescott fallback (a CPU model its dispatch does not know) is replaced by the kernel
/// family the instruction set allows.
final class BLASKernelTests: XCTestCase {
    func testKernelFamilyFollowsTheInstructionSet() {
        let avx512: Set = ["avx", "avx2", "fma", "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]
        XCTAssertEqual(BLAS.kernelFamily(cpuFlags: avx512), "SkylakeX")
        // AVX-512 foundation alone (Knights Landing) lacks what the SkylakeX kernels use.
        XCTAssertEqual(BLAS.kernelFamily(cpuFlags: ["avx", "avx2", "fma", "avx512f", "avx512cd"]), "Haswell")
        XCTAssertEqual(BLAS.kernelFamily(cpuFlags: ["avx", "avx2", "fma"]), "Haswell")
        XCTAssertEqual(BLAS.kernelFamily(cpuFlags: ["avx", "avx2"]), "Sandybridge")
        XCTAssertNil(BLAS.kernelFamily(cpuFlags: ["sse4_2", "ssse3"]))
        XCTAssertNil(BLAS.kernelFamily(cpuFlags: []))
    }

    func testNoPrescottKernelsOnAnAVXMachine() throws {
        guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil,
              let family = BLAS.kernelFamily(cpuFlags: BLAS.cpuFlags()) else {
            throw XCTSkip("OPENBLAS_CORETYPE is set or the CPU has no AVX: OpenBLAS's own choice stands")
        }
        XCTAssertNotEqual(BLAS.coreName.lowercased(), "prescott", "this CPU allows \(family)")
        // The kernels still compute: a 40×40 product against its definition.
        let m = 40
        let a = (0..<m * m).map { Float(($0 * 7) % 11) - 5 }, b = (0..<m * m).map { Float(($0 * 5) % 13) - 6 }
        var c = [Float](repeating: 0, count: m * m)
        BLAS.sgemm(m: m, n: m, k: m, a: a, lda: m, b: b, ldb: m, c: &c, ldc: m)
        for i in 0..<m { for j in 0..<m {
            let want = (0..<m).reduce(Float(0)) { $0 + a[i * m + $1] * b[$1 * m + j] }
            XCTAssertEqual(c[i * m + j], want, "C[\(i),\(j)]")
        } }
    }
}
