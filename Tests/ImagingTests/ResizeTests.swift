import Foundation
import XCTest
import TensorCore
import TestSupport
@testable import Imaging

/// Resize against torchvision `Resize((224, 224))` on PIL images (scripts/gen_image_fixtures.py).
final class ResizeTests: XCTestCase {
    let dir = fixturesDirectory + "/images/"

    func testBilinearMatchesTorchvisionExactly() throws {
        for (file, npy) in [("resize_down_grey.png", "resize_down_grey_224.npy"), ("resize_up_rgb.png", "resize_up_rgb_224.npy")] {
            let img = try ImageFile.read(dir + file)
            let out = try Resize.image(img, width: 224, height: 224)
            let ref = try NPY.read(path: dir + npy).values
            let got = out.samples.map { Float($0) }
            let err = maxAbsDiff(got, ref)
            print("resize \(file) \(img.width)x\(img.height) → 224x224: max |Δ| vs torchvision/PIL = \(err) levels")
            XCTAssertEqual(got.count, ref.count)
            XCTAssertEqual(err, 0, "\(file): PIL bilinear should be reproduced bit-exactly")
        }
    }

    func testNearestMaskMatchesPIL() throws {
        let img = try ImageFile.read(dir + "mask_512x623.png")
        let out = try Resize.image(img, width: 224, height: 224, nearest: true)
        let ref = try NPY.read(path: dir + "mask_512x623_nearest_224.npy").values
        XCTAssertEqual(maxAbsDiff(out.samples.map { Float($0) }, ref), 0)
        let m = Preprocessing().mask(img)
        XCTAssertEqual(m.shape, [224, 224])
        XCTAssertEqual(m.values, ref.map { $0 > 0 ? 1 : 0 })
    }

    func testTapsByHand() {
        // Downscale by 2: centre of output 0 is 1.0, support 2 → taps 0,1,2 with tri((i−0.5)/2):
        // 0.75, 0.75, 0.25 → normalised 3/7, 3/7, 1/7.
        let t = Resize.Taps(inSize: 8, outSize: 4)
        XCTAssertEqual(t.bounds[0], 0)
        XCTAssertEqual(t.bounds[1], 3)
        XCTAssertEqual(t.weights[0], 3.0 / 7, accuracy: 1e-12)
        XCTAssertEqual(t.weights[2], 1.0 / 7, accuracy: 1e-12)
        // Identity size: a pure copy.
        let img: [Float] = [1, 2, 3, 4, 5, 6]
        XCTAssertEqual(Resize.bilinear(img, width: 3, height: 2, outWidth: 3, outHeight: 2), img)
    }

    func testPreprocessingMatchesToTensor() throws {
        let path = dir + "resize_down_grey.png"
        let t = try Preprocessing().load(path)
        XCTAssertEqual(t.shape, [3, 224, 224])
        let ref = try NPY.read(path: dir + "resize_down_grey_224.npy").values.map { $0 / 255 }
        let n = 224 * 224
        for c in 0..<3 {
            XCTAssertNil(closeness(Array(t.values[c * n..<(c + 1) * n]), ref, rtol: 0, atol: 1e-7))
        }
        // ImageNet normalisation: (x − mean) / std per channel.
        let tn = try Preprocessing(imagenetNormalize: true).load(path)
        XCTAssertEqual(tn[flat: n + 5], (ref[5] - 0.456) / 0.224, accuracy: 1e-6)
    }

    func testHounsfieldWindow() throws {
        // stored = HU + 1024; lung window −600/1500 spans −1350 … 150 HU.
        let stored: [UInt16] = [0, 424, 1024, 1174, 3000, 1024 - 975]
        let want: [Float] = [326.0 / 1500, 0.5, 0.9, 1, 1, 0.25]  // stored 0 = −1024 HU, above −1350
        let img = try Image(width: 6, height: 1, channels: 1, bitDepth: 16, samples: stored)
        var p = Preprocessing()
        p.width = 6; p.height = 1
        let t = p.tensor(img)
        XCTAssertEqual(t.shape, [3, 1, 6])
        XCTAssertNil(closeness(Array(t.values[0..<6]), want, rtol: 0, atol: 1e-6))
        XCTAssertNil(closeness(Array(t.values[12..<18]), want, rtol: 0, atol: 1e-6))
        // A rescale slope/intercept and another window.
        p.rescaleSlope = 2; p.rescaleIntercept = -2000; p.window = try HUWindow(parsing: "40,400")
        // stored 1020 → HU 40 → 0.5
        let t2 = p.tensor(try Image(width: 6, height: 1, channels: 1, bitDepth: 16, samples: [1020, 1020, 1020, 1020, 1020, 0]))
        XCTAssertEqual(t2[flat: 0], 0.5, accuracy: 1e-6)
        XCTAssertEqual(t2[flat: 5], 0)
        XCTAssertThrowsError(try HUWindow(parsing: "40"))
        XCTAssertThrowsError(try HUWindow(parsing: "40,-1"))
    }

    func testBatchFromFilesAndFolders() throws {
        let tmp = NSTemporaryDirectory() + "imageio-batch-\(getpid())"
        try FileManager.default.createDirectory(atPath: tmp + "/sub dir", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        try FileManager.default.copyItem(atPath: dir + "grey8.png", toPath: tmp + "/b (1).png")
        try FileManager.default.copyItem(atPath: dir + "rgb.jpg", toPath: tmp + "/sub dir/a.jpg")
        try "not an image".write(toFile: tmp + "/notes.txt", atomically: true, encoding: .utf8)
        let (batch, files) = try Preprocessing().batch(inputs: [tmp, dir + "rgba.png"])
        XCTAssertEqual(files, [tmp + "/b (1).png", tmp + "/sub dir/a.jpg", dir + "rgba.png"])
        XCTAssertEqual(batch.shape, [3, 3, 224, 224])
        let single = try Preprocessing().load(dir + "rgb.jpg")
        XCTAssertEqual(Array(batch.values[3 * 224 * 224 * 1..<3 * 224 * 224 * 2]), single.values)
        XCTAssertThrowsError(try Preprocessing().batch(inputs: [tmp + "/missing.png"])) { e in
            XCTAssertTrue("\(e)".contains("missing.png"))
        }
    }
}
