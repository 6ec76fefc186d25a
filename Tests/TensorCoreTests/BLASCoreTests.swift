import XCTest
@testable import TensorCore

/// OpenBLAS's Prescott fallback is replaced only on a CPU that has better kernels' instructions,
/// and never against the user's own OPENBLAS_CORETYPE.
final class BLASCoreTests: XCTestCase {
    func testOnlyTheFallbackOnACapableCPUIsReplaced() throws {
        let avx512: Set<String> = ["sse3", "avx", "avx2", "fma", "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]
        XCTAssertEqual(BLASCore.better(flags: avx512, current: "Prescott", environment: [:]), "SkylakeX")
        XCTAssertEqual(BLASCore.better(flags: ["avx", "avx2", "fma"], current: "Prescott", environment: [:]), "Haswell")
        XCTAssertNil(BLASCore.better(flags: ["sse3", "avx"], current: "Prescott", environment: [:]))
        XCTAssertNil(BLASCore.better(flags: avx512, current: "SkylakeX", environment: [:]))
        XCTAssertNil(BLASCore.better(flags: avx512, current: "Prescott", environment: ["OPENBLAS_CORETYPE": "Prescott"]))
        XCTAssertNil(BLASCore.better(flags: nil, current: "Prescott", environment: [:]))
        XCTAssertFalse(BLASCore.current.isEmpty)
    }

    func testFlagsAreReadFromCpuinfo() throws {
        let path = NSTemporaryDirectory() + "cpuinfo-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "processor\t: 0\nflags\t\t: fpu sse3 avx2 fma\n\nprocessor\t: 1\nflags\t\t: fpu\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertEqual(BLASCore.cpuFlags(cpuinfo: path), ["fpu", "sse3", "avx2", "fma"])
        XCTAssertNil(BLASCore.cpuFlags(cpuinfo: path + ".missing"))
    }
}
