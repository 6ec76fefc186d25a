import Foundation
import TensorCore
import TestSupport
import XCTest

/// Checks that the Swift deterministic parameter generator reproduces NumPy's values
/// (Tests/Fixtures/models/deterministic_params.json, written by scripts/gen_fixtures.py) and that
/// the committed model and CAM fixture indexes load.
final class DeterministicParamsTests: XCTestCase {
    func testHashAndUniformMatchNumPy() throws {
        let index = try Fixtures.deterministicParams()
        XCTAssertEqual(index.gain, DeterministicParams.gain)
        XCTAssertFalse(index.uniform.isEmpty)
        for entry in index.uniform {
            XCTAssertEqual(String(format: "%016llx", DeterministicParams.fnv1a64(entry.key)), entry.fnv1a64, "FNV-1a of \(entry.key)")
            for (i, u) in entry.u.enumerated() {
                XCTAssertEqual(DeterministicParams.uniform(key: entry.key, index: i), u, "u(\(entry.key), \(i))")
            }
        }
    }

    func testFNV1aKnownVectors() {
        // Published FNV-1a 64-bit test vectors.
        XCTAssertEqual(DeterministicParams.fnv1a64(""), 0xCBF2_9CE4_8422_2325)
        XCTAssertEqual(DeterministicParams.fnv1a64("a"), 0xAF63_DC4C_8601_EC8C)
        XCTAssertEqual(DeterministicParams.fnv1a64("foobar"), 0x8594_4171_F739_67E8)
    }

    func testValuesMatchNumPyBitForBit() throws {
        let index = try Fixtures.deterministicParams()
        XCTAssertGreaterThan(index.values.count, 40)
        for s in index.values {
            let v = DeterministicParams.value(key: s.key, index: s.index, shape: s.shape)
            XCTAssertEqual(v, Float(s.value), "\(s.key)\(s.shape)[\(s.index)]")
            let t = DeterministicParams.tensor(key: s.key, shape: s.shape)
            XCTAssertEqual(t.shape, s.shape)
            XCTAssertEqual(t[flat: s.index], Float(s.value), "tensor \(s.key)[\(s.index)]")
        }
    }

    func testTensorSumsMatchNumPy() throws {
        let index = try Fixtures.deterministicParams()
        for s in index.tensorSums {
            let t = DeterministicParams.tensor(key: s.key, shape: s.shape)
            var sum = 0.0, sumAbs = 0.0
            for i in 0..<t.count { sum += Double(t[flat: i]); sumAbs += abs(Double(t[flat: i])) }
            XCTAssertEqual(sum, s.sum, accuracy: 1e-9 * max(1, s.sumAbs), s.key)
            XCTAssertEqual(sumAbs, s.sumAbs, accuracy: 1e-9 * max(1, s.sumAbs), s.key)
        }
    }

    func testRolesStayInTheirRanges() {
        let bn = DeterministicParams.tensor(key: "bn1.weight", shape: [256]).values
        XCTAssertTrue(bn.allSatisfy { $0 >= 0.5 && $0 < 1.5 })
        let varT = DeterministicParams.tensor(key: "bn1.running_var", shape: [256]).values
        XCTAssertTrue(varT.allSatisfy { $0 >= 0.5 && $0 < 1.5 })
        let mean = DeterministicParams.tensor(key: "bn1.running_mean", shape: [256]).values
        XCTAssertTrue(mean.allSatisfy { $0 >= -0.2 && $0 < 0.2 })
        XCTAssertEqual(DeterministicParams.tensor(key: "bn1.num_batches_tracked", shape: []).values, [0])
        let w = DeterministicParams.tensor(key: "layer1.0.conv2.weight", shape: [64, 64, 3, 3]).values
        let bound = Float((6.0 / 576.0).squareRoot())
        XCTAssertTrue(w.allSatisfy { abs($0) <= bound })
        // A uniform on [-b, b] has variance b²/3 = gain/fan_in.
        let variance = w.reduce(0) { $0 + Double($1) * Double($1) } / Double(w.count)
        XCTAssertEqual(variance, 2.0 / 576.0, accuracy: 0.1 * 2.0 / 576.0)
    }

    func testInputsAndSampleIndicesLoad() throws {
        let x = try Fixtures.input(size: 224)
        XCTAssertEqual(x.shape, [2, 3, 224, 224])
        XCTAssertTrue(x.values.allSatisfy { $0 >= 0 && $0 <= 1 })
        XCTAssertEqual(try Fixtures.input(size: 160).shape, [2, 3, 160, 160])
        XCTAssertEqual(try Fixtures.input(size: 112).shape, [1, 3, 112, 112])
        // The stored sample indices follow the documented rule.
        let model = try Fixtures.model("resnet50")
        let entry = try model.activation("layer1")
        let numel = entry.shape.reduce(1, *)
        let stored = try Fixtures.indices(Fixtures.resolve(model.folder, try XCTUnwrap(entry.sampleIndices)))
        XCTAssertEqual(stored, DeterministicParams.sampleIndices(count: 512, numel: numel))
        let pixels = try Fixtures.indices(Fixtures.camsDirectory + "/pixels_224.npy")
        XCTAssertEqual(pixels, DeterministicParams.sampleIndices(count: 2048, numel: 224 * 224, key: "cam-pixels"))
    }

    func testEveryFixtureIndexLoads() throws {
        for arch in Fixtures.archs {
            let m = try Fixtures.model(arch)
            XCTAssertEqual(m.arch, arch)
            let logits = try m.logitsTensor()
            XCTAssertEqual(logits.shape, [2, 3])
            XCTAssertEqual(Double(logits[flat: 0]), m.logitsValues[0][0], accuracy: 1e-6)
            XCTAssertNotNil(m.activations.first { $0.name == m.gradcamLayer }, "\(arch) lacks its Grad-CAM layer")
            for a in m.activations {
                if let f = a.full { XCTAssertEqual(try Fixtures.npy(Fixtures.resolve(m.folder, f)).shape, a.shape) }
                if let f = a.sampleValues { XCTAssertEqual(try Fixtures.npy(Fixtures.resolve(m.folder, f)).count, 512) }
            }
            let c = try Fixtures.cams(arch)
            XCTAssertEqual(c.arch, arch)
            let gradcam = try c.case("GradCAM_targets")
            XCTAssertNil(gradcam.error)
            let ref = try c.reference(for: gradcam)
            XCTAssertEqual(ref.values.count, 2)
            // Maps are min-max normalised per image: values in [0, 1].
            XCTAssertTrue(ref.values.joined().allSatisfy { $0 >= 0 && $0 <= 1 + 1e-6 })
        }
        let vit = try Fixtures.model("vit_b_16")
        XCTAssertEqual(vit.imageSize160?.posEmbeddingShape, [1, 101, 768])
    }

    func testActivationComparatorCatchesAMismatch() throws {
        // The comparator must reject a wrong tensor; a zero tensor of the right shape will do.
        let m = try Fixtures.model("resnet50")
        let entry = try m.activation("layer4")
        let zeros = Tensor(zeros: entry.shape)
        XCTAssertNotNil(try m.compare(zeros, with: entry))
        let avg = try m.activation("avgpool")
        let full = try Fixtures.npy(Fixtures.resolve(m.folder, try XCTUnwrap(avg.full)))
        XCTAssertNil(try m.compare(full, with: avg))
    }
}
