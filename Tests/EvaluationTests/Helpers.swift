import Foundation
import XCTest
import TensorCore
import TestSupport
@testable import Evaluation

/// A 2-class linear model: logits = [Σ x, 0] (so P(class 0) = sigmoid(Σ x)), recording batch sizes.
final class SumModel: @unchecked Sendable {
    var batches: [Int] = []
    func callAsFunction(_ x: Tensor) throws -> Tensor {
        batches.append(x.shape[0])
        let n = x.shape[0], per = x.count / max(n, 1)
        let out = Tensor(zeros: [n, 2])
        for i in 0..<n { var s = 0.0; for j in 0..<per { s += Double(x.data[i * per + j]) }; out.data[i * 2] = Float(s) }
        return out
    }
}

func sigmoid(_ x: Double) -> Double { 1 / (1 + exp(-x)) }

func t(_ shape: [Int], _ v: [Float]) -> Tensor { try! Tensor(shape: shape, values: v) }

/// A committed fixture is missing or stale: the test fails (never skips) and says how to regenerate it.
struct FixtureMissing: Error, CustomStringConvertible { let message: String; var description: String { message } }

/// The committed metric fixture written by scripts/gen_metric_fixtures.py.
struct MetricFixture {
    let json: [String: Any]
    static func load() throws -> MetricFixture {
        let path = fixturesDirectory + "/metrics/metrics_v1.json"
        guard let data = FileManager.default.contents(atPath: path),
              let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw FixtureMissing(message: "missing \(path): run /tmp/tv/bin/python scripts/gen_metric_fixtures.py")
        }
        guard obj["version"] as? Int == 1 else {
            throw FixtureMissing(message: "metrics fixture version mismatch: regenerate with scripts/gen_metric_fixtures.py")
        }
        return MetricFixture(json: obj)
    }
    func doubles(_ k: String) -> [Double] { (json[k] as! [NSNumber]).map { $0.doubleValue } }
    func floats(_ k: String) -> [Float] { doubles(k).map { Float($0) } }
    func int(_ k: String) -> Int { (json[k] as! NSNumber).intValue }
    func dict(_ k: String) -> [String: Any] { json[k] as! [String: Any] }

    /// The fixture's linear model: logits = W x + b, W [K, C·H·W].
    func model() -> LogitsFunction {
        let w = doubles("weight"), b = doubles("bias"), k = int("K")
        return { x in
            let n = x.shape[0], d = x.count / n
            let out = Tensor(uninitialized: [n, k])
            for i in 0..<n { for c in 0..<k {
                var s = b[c]
                for j in 0..<d { s += w[c * d + j] * Double(x.data[i * d + j]) }
                out.data[i * k + c] = Float(s)
            } }
            return out
        }
    }
}

func numbers(_ a: Any?) -> [Double] { (a as! [NSNumber]).map { $0.doubleValue } }
