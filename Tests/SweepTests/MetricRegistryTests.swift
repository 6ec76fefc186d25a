import XCTest
import Foundation
import TensorCore
import Models
import Evaluation
@testable import Sweep

/// Every metric is one declaration: rows with labels, a convention, a scope and a function the
/// executor can run. These tests enumerate the registry, so a metric added with a missing fact fails.
final class MetricRegistryTests: XCTestCase {
    /// Two 16×16 one-channel images; a toy model (class scores from the image mean) and a toy CAM
    /// (the image itself, or its negative for other classes) stand in for a network.
    func batch(masks: [Tensor?]) throws -> MapBatch {
        let (h, w) = (16, 16)
        var pixels: [Float] = []
        for n in 0..<2 { for i in 0..<(h * w) { pixels.append(Float((i * (n + 3)) % 17) / 16) } }
        let images = try Tensor(shape: [2, 1, h, w], values: pixels)
        let model: LogitsFunction = { x in
            let n = x.shape[0], per = x.count / n
            var out: [Float] = []
            for i in 0..<n {
                var m: Float = 0
                for p in 0..<per { m += x.data[i * per + p] }
                m /= Float(per)
                out += [m, 1 - m, 0.5 * m]
            }
            return try Tensor(shape: [n, 3], values: out)
        }
        let explain: MapFunction = { x, classes in
            let n = x.shape[0], (hh, ww) = (x.shape[2], x.shape[3])
            var out: [Float] = []
            for i in 0..<n { for p in 0..<(hh * ww) { let v = x.data[i * hh * ww + p]; out.append(classes[i] == 0 ? v : 1 - v) } }
            return try Tensor(shape: [n, hh, ww], values: out)
        }
        let logits = try model(images)
        return MapBatch(images: images, maps: try explain(images, [0, 0]), masks: masks, predicted: [0, 0], logits: logits,
                        probs: try softmaxLastDim(logits), model: model, explain: explain, batchSize: 2)
    }

    func values(_ stage: Int = 0) -> ParameterValues {
        ParameterValues(threshold: 0.5, steps: 4, stage: stage, imageSize: 16, camSeed: 3)
    }

    /// The registry is complete, and each declaration has every fact a report and the executor read.
    func testEveryMetricDeclaresRowsLabelsScopeAndFunction() throws {
        XCTAssertEqual(MetricSpecs.table.count, MetricName.allCases.count)
        var names: [String: MetricName] = [:]
        for m in MetricName.allCases {
            let spec = m.spec
            XCTAssertEqual(spec.name, m)
            XCTAssertFalse(spec.convention.isEmpty, "\(m) has no convention")
            XCTAssertFalse(spec.rows.isEmpty, "\(m) writes no row")
            for r in spec.rows {
                XCTAssertFalse(r.name.isEmpty, "\(m) has a row without a name")
                XCTAssertFalse(r.label.isEmpty, "\(m): row \(r.name) has no label")
                XCTAssertFalse([FactMetric.truth, FactMetric.predicted, FactMetric.correct].contains(r.name), "\(m) writes a fact's row \(r.name)")
                if let other = names.updateValue(m, forKey: r.name) { XCTFail("\(m) and \(other) both write rows named \(r.name)") }
            }
            XCTAssertEqual(spec.primaryRow, spec.rows[0].name)
            XCTAssertEqual(spec.label, spec.rows[0].label)
            // The scope comes with the function: a per-map function exactly for per-map metrics, a
            // comparison for every other scope.
            XCTAssertEqual(spec.function.perMap != nil, spec.scope == .perMap, "\(m)")
            XCTAssertEqual(spec.function.comparison != nil, spec.scope != .perMap, "\(m)")
        }
        // Every scope is used, and each runs in the unit kind the plan creates for it.
        XCTAssertEqual(Set(MetricName.allCases.map(\.spec.scope)), Set(MetricScope.allCases))
        XCTAssertEqual(MetricScope.cascade.unitKind, .cascade)
        XCTAssertEqual(MetricScope.acrossWeights.unitKind, .consist)
        XCTAssertEqual(MetricScope.acrossArchitectures.unitKind, .crossArchitecture)
    }

    /// Each metric's function runs on maps of the shape its scope gives and returns one outcome per
    /// row (per image for per-map metrics).
    func testEveryFunctionReturnsOneOutcomePerRow() throws {
        var mask = [Float](repeating: 0, count: 256)
        for i in 40..<90 { mask[i] = 1 }
        let b = try batch(masks: [try Tensor(shape: [16, 16], values: mask), nil])
        let a = try b.map(0).copy(), c = try b.map(1).copy()
        for m in MetricName.allCases {
            let spec = m.spec
            if let f = spec.function.perMap {
                let outcomes = try f.compute(b, values())
                XCTAssertEqual(outcomes.count, b.count, "\(m)")
                for o in outcomes { XCTAssertEqual(o.count, spec.rows.count, "\(m)") }
                XCTAssertGreaterThan(f.cost(values()), 0, "\(m)")
                if spec.rows.count == 1, spec.unitInterval {
                    for v in outcomes.compactMap({ $0[0].value }) { XCTAssertTrue((0...1).contains(v), "\(m): \(v) outside [0, 1]") }
                }
            } else if let compare = spec.function.comparison {
                let maps = spec.scope == .acrossWeights ? [a, c, a] : [a, c]
                let outcomes = try compare(maps, values())
                XCTAssertEqual(outcomes.count, spec.rows.count, "\(m)")
                XCTAssertTrue(outcomes.contains { $0.value != nil }, "\(m): every outcome undefined on two different maps")
            }
        }
        // Localisation without a mask is undefined and says why.
        XCTAssertEqual(try MetricName.locacc.spec.function.perMap!.compute(b, values())[1], [.undefined(Undefined.noMask)])
    }

    /// Each parameter a metric declares can be read back from its first row's parameters string,
    /// as the report reads the cascade stage.
    func testDeclaredParametersReadBackFromTheirRows() throws {
        for m in MetricName.allCases {
            let spec = m.spec
            for arch in Architecture.allCases {
                let stages = spec.parameters.contains(.stage) ? Array(arch.cascadeBlocks.indices) : [0]
                for stage in stages {
                    var pv = values(stage)
                    pv.threshold = 0.25
                    pv.steps = 7
                    let params = spec.rows(pv, arch)[0].params
                    for p in spec.parameters {
                        let want = p == .threshold ? "0.25" : p == .steps ? "7" : String(stage)
                        XCTAssertEqual(p.value(in: params), want, "\(m) \(arch) \(p): \(params)")
                        XCTAssertTrue(params.contains(pv.field(p)), "\(m): \(params)")
                    }
                }
            }
        }
        XCTAssertNil(MetricParameter.stage.value(in: "tau=0.5;size=224"))
        XCTAssertEqual(MetricParameter.threshold.value(in: "hflip,shift16,rot10;tau=0.3"), "0.3")
    }
}
