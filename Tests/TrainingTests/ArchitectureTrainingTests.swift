import Foundation
import XCTest
import TensorCore
import NN
import Models
import Training
import TestSupport

/// Five AdamW steps and five SGD-momentum steps through each architecture against PyTorch
/// (`Tests/Fixtures/training/<arch>.json`, written by scripts/gen_training_fixtures.py): the loss
/// at every step, and after the last step every state-dict entry's sum, sum of |x| and a fixed
/// sample of its elements (parameters and BatchNorm running statistics). The loss at every step is
/// also held to 1e-3 of PyTorch's float64 run of the same steps (`float64_losses.json`), the
/// trajectory float32 rounding only approximates.
final class ArchitectureTrainingTests: XCTestCase {
    struct Summary: Decodable {
        let shape: [Int]
        let sum: Double
        let abs_sum: Double
        let values: [Float]
    }
    struct Run: Decodable { let hyper: [String: Double]; let losses: [Float]; let first_grads: [String: Summary]; let state: [String: Summary] }
    struct File: Decodable {
        let fixture_version: Int
        let arch: String
        let image_size: Int, batch: Int, steps: Int, num_classes: Int
        let labels: [Int]
        let sample: Int
        let adamw: Run, sgd: Run
    }

    /// Per architecture and optimizer, PyTorch's float64 loss at every step.
    struct Float64File: Decodable { let fixture_version: Int; let losses: [String: [String: [Double]]] }
    static let float64: Result<Float64File, Error> = Result {
        try JSONDecoder().decode(Float64File.self, from: Data(contentsOf: URL(fileURLWithPath: fixturesDirectory + "/training/float64_losses.json")))
    }

    /// Tolerances reached, per architecture: relative loss error at every step; first-step gradient
    /// discrepancy as a fraction of the tensor's mean |g|; final-state discrepancy as a fraction of
    /// the mean change the 5 steps made (see `compare`).
    /// `exactLoss`: relative loss error against PyTorch's float64 run, at every step.
    struct Tolerance { var loss: Float = 1e-3; var exactLoss: Double = 1e-3; var gradient: Float; var adamwState: Float; var sgdState: Float }

    func check(_ arch: Architecture, _ tol: Tolerance) throws {
        let path = fixturesDirectory + "/training/\(arch.rawValue).json"
        let f = try JSONDecoder().decode(File.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        XCTAssertEqual(f.fixture_version, TrainingFixture.version, "\(path): regenerate with \(TrainingFixture.regenerate)")
        let images = try Fixtures.npy(fixturesDirectory + "/training/input_\(f.image_size).npy")
        for i in 0..<images.count { images.data[i] /= 255 }   // ToTensor
        XCTAssertEqual(images.shape, [2 * f.batch, 3, f.image_size, f.image_size])
        let exact = try Self.float64.get()
        XCTAssertEqual(exact.fixture_version, TrainingFixture.version, "float64_losses.json: regenerate with \(TrainingFixture.regenerate)")
        for (name, run) in [("adamw", f.adamw), ("sgd", f.sgd)] {
            let h = run.hyper
            let f64 = try XCTUnwrap(exact.losses[arch.rawValue]?[name], "float64_losses.json: no \(arch.rawValue) \(name)")
            XCTAssertEqual(f64.count, f.steps)
            var worstExact: Double = 0
            let model = try makeModel(arch, numClasses: f.num_classes, imageSize: f.image_size)
            for (key, p) in model.namedParameters() { p.value = DeterministicParams.tensor(key: key, shape: p.value.shape) }
            let opt: Optimizer = name == "adamw" ? AdamW(weightDecay: h["weight_decay"]!)
                : SGD(momentum: Float(h["momentum"]!), weightDecay: Float(h["weight_decay"]!))
            var worstLoss: Float = 0
            var zeroGradient = Set<String>()
            for step in 0..<f.steps {
                let b = step % 2
                let x = try images.slice0(b * f.batch..<(b + 1) * f.batch)
                let y = Array(f.labels[b * f.batch..<(b + 1) * f.batch])
                let (r, grads) = try computeGradients(model, images: x, labels: y, stochasticLayers: false)
                if step == 0 {
                    // The full backward, before any update: every parameter's gradient.
                    let byKey = Dictionary(uniqueKeysWithValues: grads.map { ($0.key, $0.grad) })
                    XCTAssertEqual(Set(byKey.keys), Set(run.first_grads.keys), "\(arch): parameters with a gradient")
                    zeroGradient = Set(run.first_grads.filter { $0.value.abs_sum / Double(max(1, $0.value.shape.reduce(1, *))) < Self.gradientFloor }.keys)
                    let g = compare(byKey, run.first_grads, sample: f.sample, changes: false, tolerance: tol.gradient, "\(arch) \(name) gradient")
                    print("\(arch.rawValue) first-step gradients: worst discrepancy \(g.worst) of the mean |g| at \(g.key)")
                }
                try opt.step(grads, lr: Float(h["lr"]!))
                let rel = abs(r.loss - run.losses[step]) / max(abs(run.losses[step]), 1e-6)
                worstLoss = max(worstLoss, rel)
                XCTAssertLessThanOrEqual(rel, tol.loss, "\(arch) \(name) step \(step + 1): loss \(r.loss) vs torch \(run.losses[step])")
                if step < f64.count {
                    let e = abs(Double(r.loss) - f64[step]) / abs(f64[step])
                    worstExact = max(worstExact, e)
                    XCTAssertLessThanOrEqual(e, tol.exactLoss, "\(arch) \(name) step \(step + 1): loss \(r.loss) vs torch float64 \(f64[step])")
                }
            }
            print("\(arch.rawValue) \(name): worst relative loss error against PyTorch float64 \(worstExact)")
            let state = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.0, $0.1.value) })
            XCTAssertEqual(Set(state.keys), Set(run.state.keys), "\(arch): state-dict keys")
            let stateTolerance = name == "adamw" ? tol.adamwState : tol.sgdState
            let (worstAbs, worstKey, checked) = compare(state, run.state, sample: f.sample, changes: true, tolerance: stateTolerance,
                                                        skip: name == "adamw" ? zeroGradient : [], "\(arch) \(name)")
            print("\(arch.rawValue) \(name): worst relative loss error \(worstLoss), worst state discrepancy \(worstAbs) of the mean change at \(worstKey) over \(checked) tensors (\(zeroGradient.count) with a zero gradient)")
        }
    }

    /// The worst sampled discrepancy of each tensor, relative to a scale: for gradients the mean |g|
    /// of the tensor (Σ|g|/n); for the state after training the mean |change| of the sampled elements
    /// from their initial values (so the check measures how well the *updates* agree, not the
    /// weights, which 5 small steps barely move). Sums of the whole tensor are checked the same way.
    ///
    /// Gradients below `gradientFloor` in mean |g| are zero up to rounding (a bias feeding straight
    /// into a BatchNorm): their scale is the floor, and `skip` leaves them out of the state check,
    /// since AdamW moves such a parameter by ±lr on the sign of rounding noise, in PyTorch too.
    func compare(_ mine: [String: Tensor], _ ref: [String: Summary], sample: Int, changes: Bool, tolerance: Float, skip: Set<String> = [],
                 _ what: String) -> (worst: Float, key: String, checked: Int) {
        var worst: Float = 0, worstKey = "", checked = 0
        for (key, s) in ref.sorted(by: { $0.key < $1.key }) where !skip.contains(key) {
            guard let t = mine[key] else { continue }
            XCTAssertEqual(t.shape, s.shape, key)
            guard t.shape == s.shape else { continue }
            if !changes && s.abs_sum / Double(max(t.count, 1)) < Self.gradientFloor {
                // Zero up to rounding in PyTorch (a bias feeding a training-mode BatchNorm): its
                // elements are rounding noise, which no two summation orders share. Check that ours
                // is noise of the same order (every element below the floor), not that the noise agrees.
                var largest: Float = 0
                for i in 0..<t.count { largest = max(largest, abs(t.data[i])) }
                if Double(largest) > Self.gradientFloor {
                    XCTFail("\(what) \(key): PyTorch's gradient is zero up to rounding (mean |g| < \(Self.gradientFloor)) but ours reaches \(largest)")
                }
                checked += 1
                continue
            }
            let idx = DeterministicParams.sampleIndices(count: min(sample, t.count), numel: t.count, key: "train/" + key)
            let initial = changes ? DeterministicParams.tensor(key: key, shape: t.shape) : Tensor(zeros: t.shape)
            var scale: Double = 0
            if changes {
                for (j, i) in idx.enumerated() { scale += Double(abs(s.values[j] - initial.data[i])) }
                scale /= Double(idx.count)
            } else {
                scale = s.abs_sum / Double(max(t.count, 1))
            }
            // Floor: float32 resolution of the values themselves (a tensor that did not change).
            var magnitude: Double = 0
            for v in s.values { magnitude = max(magnitude, Double(abs(v))) }
            scale = max(scale, magnitude * 1e-6, changes ? 1e-12 : Self.gradientFloor)
            var e: Double = 0
            for (j, i) in idx.enumerated() { e = max(e, Double(abs(t.data[i] - s.values[j])) / scale) }
            var sum: Double = 0, initialSum: Double = 0
            for i in 0..<t.count { sum += Double(t.data[i]); initialSum += Double(initial.data[i]) }
            let sumError = abs((sum - initialSum) - (s.sum - initialSum)) / (scale * Double(t.count))
            e = max(e, sumError)
            if Float(e) > worst { worst = Float(e); worstKey = key }
            if Float(e) > tolerance { XCTFail("\(what) \(key): discrepancy \(e) of the scale \(scale) (tolerance \(tolerance))") }
            checked += 1
        }
        return (worst, worstKey, checked)
    }

    static let gradientFloor: Double = 1e-5

    // Measured (5 steps, 64 px, batch 8; see the commit adding these): worst loss error / gradient
    // discrepancy / AdamW state / SGD state —
    // ResNet-50 2.1e-5 / 0.025 / 0.17 / 0.093; ResNet-101 1.1e-3 / 0.021 / 0.86 / 0.36;
    // DenseNet-161 1.25e-3 / 0.062 / 0.96 / 0.32; EfficientNet-B0 3.3e-6 / 0.06 / 0.004 / 0.011;
    // ViT-B/16 2.1e-6 / 9.5e-5 / 1.7 / 0.018 (OpenBLAS's SSE3 Prescott kernels). With the AVX-512
    // kernels (BLAS.replaceFallbackKernels): ResNet-50 5.5e-5 / 0.0079 / 0.18 / 0.14; ResNet-101
    // 1.4e-3 / 0.079 / 1.14 / 0.44; DenseNet-161 2.2e-3 / 0.105 / 0.72 / 0.44; EfficientNet-B0 3.9e-6 / 1.9e-4 /
    // 0.0044 / 0.011; ViT-B/16 9.7e-7 / 7.6e-5 / 1.8 / 0.002. With BatchNorm's 8-lane sums in
    // training and Winograd only on graph maps of 8×8 and up, ResNet-101's SGD loss at step 5 is
    // 2.5e-3 off (0.40758 vs 0.40655). The ReLU networks are
    // ill-conditioned in float32: on the same metric PyTorch's own float32 first-step gradients
    // differ from its float64 ones by 0.012 (ResNet-50), 0.024 (ResNet-101) and 0.047 (DenseNet-161).
    // Against a float64 run of PyTorch, ResNet-101's first-step gradients differ by 0.013 with the
    // Prescott kernels and 0.073 with the AVX-512 ones (0.071 Haswell): each GEMM's own error is
    // ~1e-6 of its mean either way (1.5–2× the SSE3 kernels'), and these networks amplify it. AdamW moves an element with a near-zero gradient by ±lr on the sign of
    // rounding noise (ViT: the key bias has an exactly zero gradient), hence the state tolerances.
    func testResNet50() throws { try check(.resnet50, Tolerance(gradient: 0.05, adamwState: 0.35, sgdState: 0.2)) }
    //
    // Against PyTorch's float64 run (float64_losses.json), worst relative loss error over the 5
    // steps, AdamW / SGD: ResNet-50 8.1e-5 / 5.3e-5; ResNet-101 6.4e-5 / 8.4e-4; DenseNet-161
    // 1.4e-3 / 1.6e-3; EfficientNet-B0 2.2e-6 / 3.0e-6; ViT-B/16 4.9e-5 / 5.9e-7. PyTorch's own float32
    // run (the fixtures above) is off its float64 run by 2.7e-5 / 2.8e-5; 4.0e-4 / 1.7e-3;
    // 1.1e-3 / 2.9e-4; 1.8e-6 / 2.7e-6; 4.9e-5 / 3.9e-7: on ResNet-101 and DenseNet-161 the
    // 5-step trajectory amplifies float32 rounding past 1e-3 in PyTorch too, and the error moves
    // with any change of summation order (without Winograd: ResNet-101 2.3e-4 / 5.1e-4,
    // DenseNet-161 6.1e-4 / 1.5e-3), so those two are held at 2e-3 of the exact run.
    // With the backward's dx and dW of 3×3 convolutions computed by Winograd and 1×1 convolutions'
    // backward image by image (Conv.swift, Winograd.swift), and graph convolutions choosing Winograd
    // by work (Ops.swift), the first-step gradients came closer to PyTorch's (worst discrepancy
    // ResNet-101 0.079 → 0.024, DenseNet-161 0.105 → 0.046); float64 loss errors, AdamW / SGD:
    // ResNet-101 6.4e-5 / 6.4e-4, DenseNet-161 1.6e-3 / 1.7e-3; SGD state after 5 steps ResNet-101
    // 0.34, DenseNet-161 0.44.
    func testResNet101() throws { try check(.resnet101, Tolerance(loss: 3e-3, exactLoss: 2e-3, gradient: 0.1, adamwState: 1.5, sgdState: 0.6)) }
    func testDenseNet161() throws { try check(.densenet161, Tolerance(loss: 3e-3, exactLoss: 2e-3, gradient: 0.15, adamwState: 1.5, sgdState: 0.6)) }
    func testEfficientNetB0() throws { try check(.efficientnet_b0, Tolerance(gradient: 0.1, adamwState: 0.05, sgdState: 0.05)) }
    func testViTB16() throws { try check(.vit_b_16, Tolerance(gradient: 1e-3, adamwState: 2.5, sgdState: 0.05)) }
}
