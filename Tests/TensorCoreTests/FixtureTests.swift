import XCTest
import TensorCore
import TestSupport

/// Kernels against PyTorch values written by scripts/gen_op_fixtures.py (regenerate with
/// `/tmp/tv/bin/python scripts/gen_op_fixtures.py` if a file is missing or stale).
final class FixtureTests: XCTestCase {
    func load(_ c: String, _ name: String) throws -> Tensor {
        let path = fixturesDirectory + "/ops/\(c)_\(name).npy"
        guard FileManager.default.fileExists(atPath: path) else {
            throw TensorError.invalidArgument(op: "fixture", detail: "missing \(path): run scripts/gen_op_fixtures.py")
        }
        return try NPY.read(path: path)
    }

    func assertClose(_ got: Tensor, _ want: Tensor, _ what: String, rtol: Float = 1e-4, atol: Float = 1e-5,
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.shape, want.shape, what, file: file, line: line)
        if let m = closeness(got.values, want.values, rtol: rtol, atol: atol) { XCTFail("\(what): \(m)", file: file, line: line) }
    }

    func testConvolutions() throws {
        for (c, cfg) in [("conv_grouped_dilated", Conv2dConfig(stride: 2, padding: 2, dilation: 2, groups: 2)),
                         ("conv_depthwise", Conv2dConfig(stride: 2, padding: 2, groups: 3))] {
            let x = try load(c, "in0"), w = try load(c, "in1"), b = try load(c, "in2")
            let y = try conv2d(x, weight: w, bias: b, cfg)
            assertClose(y, try load(c, "y"), "\(c) y")
            let g = try conv2dBackward(try load(c, "dy"), x, w, cfg)
            assertClose(g.dx!, try load(c, "grad0"), "\(c) dx")
            assertClose(g.dw!, try load(c, "grad1"), "\(c) dw")
            assertClose(g.db!, try load(c, "grad2"), "\(c) db")
        }
    }

    func testResize() throws {
        for c in ["resize_up", "resize_down"] {
            let x = try load(c, "in0"), want = try load(c, "y")
            let y = try resizeBilinear(x, outH: want.shape[2], outW: want.shape[3])
            assertClose(y, want, "\(c) y")
            assertClose(try resizeBilinearBackward(try load(c, "dy"), inputShape: x.shape), try load(c, "grad0"), "\(c) dx")
        }
        let want = try load("nearest", "y")
        assertClose(try resizeNearest(try load("nearest", "in0"), outH: want.shape[2], outW: want.shape[3]), want, "nearest")
    }

    func testGeluAndLayerNorm() throws {
        let x = try load("gelu", "in0")
        assertClose(try gelu(x), try load("gelu", "y"), "gelu y")
        assertClose(try geluBackward(try load("gelu", "dy"), x), try load("gelu", "grad0"), "gelu dx")
        let lx = try load("layernorm", "in0"), w = try load("layernorm", "in1"), b = try load("layernorm", "in2")
        let r = try layerNorm(lx, weight: w, bias: b, eps: 1e-6)
        assertClose(r.y, try load("layernorm", "y"), "layerNorm y")
        let g = try layerNormBackward(try load("layernorm", "dy"), lx, weight: w, mean: r.mean, rstd: r.rstd)
        assertClose(g.dx, try load("layernorm", "grad0"), "layerNorm dx")
        assertClose(g.dw, try load("layernorm", "grad1"), "layerNorm dw")
        assertClose(g.db, try load("layernorm", "grad2"), "layerNorm db")
    }

    /// in_proj linear → attention → out_proj linear equals nn.MultiheadAttention (values, per-head weights, dx).
    func testMultiheadAttention() throws {
        let x = try load("mha", "in0")
        let wi = try load("mha", "in_proj_weight"), bi = try load("mha", "in_proj_bias")
        let wo = try load("mha", "out_proj_weight"), bo = try load("mha", "out_proj_bias")
        let heads = 2
        let qkv = try linear(x, weight: wi, bias: bi)
        let att = try attention(qkv, heads: heads)
        let y = try linear(att.out, weight: wo, bias: bo)
        assertClose(y, try load("mha", "y"), "mha y")
        assertClose(att.probs, try load("mha", "probs"), "mha probs")
        let dAtt = try linearBackward(try load("mha", "dy"), att.out, wo, needWeight: false, needBias: false).dx!
        let dqkv = try attentionBackward(dAtt, qkv, probs: att.probs, heads: heads)
        let dx = try linearBackward(dqkv, x, wi, needWeight: false, needBias: false).dx!
        assertClose(dx, try load("mha", "grad0"), "mha dx")
    }

    func testPools() throws {
        let x = try load("adaptive_avg", "in0")
        assertClose(try adaptiveAvgPool2d(x, outH: 4, outW: 3), try load("adaptive_avg", "y"), "adaptive y")
        assertClose(try adaptiveAvgPool2dBackward(try load("adaptive_avg", "dy"), inputShape: x.shape), try load("adaptive_avg", "grad0"), "adaptive dx")
        let cfg = Pool2dConfig(kernel: 3, stride: 2, padding: 1, ceilMode: true)
        let mx = try load("maxpool_ceil", "in0")
        let mp = try maxPool2d(mx, cfg)
        assertClose(mp.y, try load("maxpool_ceil", "y"), "maxpool y")
        assertClose(try maxPool2dBackward(try load("maxpool_ceil", "dy"), argmax: mp.argmax, inputShape: mx.shape), try load("maxpool_ceil", "grad0"), "maxpool dx")
        for (c, cip) in [("avgpool_ceil_pad", true), ("avgpool_ceil_nopad", false)] {
            let ax = try load(c, "in0")
            assertClose(try avgPool2d(ax, cfg, countIncludePad: cip), try load(c, "y"), "\(c) y")
            assertClose(try avgPool2dBackward(try load(c, "dy"), inputShape: ax.shape, cfg, countIncludePad: cip), try load(c, "grad0"), "\(c) dx")
        }
    }

    func testCrossEntropy() throws {
        let logits = try load("cross_entropy", "in0")
        let targets = try load("cross_entropy", "targets").values.map { Int($0) }
        let r = try crossEntropy(logits, targets: targets, labelSmoothing: 0.1)
        XCTAssertEqual(r.loss, try load("cross_entropy", "y").values[0], accuracy: 1e-5)
        assertClose(r.dlogits, try load("cross_entropy", "grad0"), "crossEntropy dlogits")
    }
}
