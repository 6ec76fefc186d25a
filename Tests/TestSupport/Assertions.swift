import TensorCore

/// Compares two float sequences elementwise with |a-b| ≤ atol + rtol·|b|; returns nil when close,
/// or a message naming the worst element.
public func closeness(_ a: [Float], _ b: [Float], rtol: Float = 1e-5, atol: Float = 1e-6) -> String? {
    guard a.count == b.count else { return "count \(a.count) vs \(b.count)" }
    var worst = -1
    var worstExcess: Float = 0
    var maxDiff: Float = 0
    for i in 0..<a.count {
        let d = abs(a[i] - b[i])
        if d.isNaN || (a[i].isNaN != b[i].isNaN) { return "NaN at \(i): \(a[i]) vs \(b[i])" }
        maxDiff = max(maxDiff, d)
        let excess = d - (atol + rtol * abs(b[i]))
        if excess > worstExcess { worstExcess = excess; worst = i }
    }
    if worst >= 0 { return "worst at [\(worst)]: \(a[worst]) vs \(b[worst]) (max |Δ| \(maxDiff))" }
    return nil
}

/// Maximum absolute difference.
public func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    var m: Float = 0
    for i in 0..<min(a.count, b.count) { m = max(m, abs(a[i] - b[i])) }
    return m
}

/// Deterministic pseudo-random floats in [lo, hi) for tests (the library's SplitMix64).
public struct TestRNG {
    var rng: SeededRNG
    public init(seed: UInt64) { rng = SeededRNG(seed: seed) }
    public mutating func next() -> UInt64 { rng.next() }
    public mutating func uniform(_ lo: Float = -1, _ hi: Float = 1) -> Float {
        lo + (hi - lo) * Float(next() >> 40) / Float(1 << 24)
    }
    public mutating func tensor(_ shape: [Int], _ lo: Float = -1, _ hi: Float = 1) -> Tensor {
        let t = Tensor(uninitialized: shape)
        for i in 0..<t.count { t.data[i] = uniform(lo, hi) }
        return t
    }
}

/// The committed fixtures folder (Tests/Fixtures), found from this source file's path so tests
/// need no bundle resources.
public let fixturesDirectory: String = {
    let here = #filePath
    let testsDir = here.components(separatedBy: "/TestSupport/").first ?? "Tests"
    return testsDir + "/Fixtures"
}()
