import Foundation
import XCTest
import TensorCore
import TestSupport
@testable import Imaging

/// Golden pixels from scripts/gen_image_fixtures.py (PIL's decode of PIL-written files).
final class ImageCodecTests: XCTestCase {
    let dir = fixturesDirectory + "/images/"

    func expected(_ name: String) throws -> [Int] {
        try NPY.read(path: dir + name).values.map { Int($0) }
    }

    func assertGolden(_ file: String, _ npy: String, channels: Int, bitDepth: Int, tolerance: Int = 0,
                      file path: StaticString = #filePath, line: UInt = #line) throws {
        let img = try ImageFile.read(dir + file)
        let ref = try NPY.read(path: dir + npy)
        let refShape = ref.shape
        XCTAssertEqual(img.height, refShape[0], "\(file) height", file: path, line: line)
        XCTAssertEqual(img.width, refShape[1], "\(file) width", file: path, line: line)
        XCTAssertEqual(img.channels, channels, "\(file) channels", file: path, line: line)
        XCTAssertEqual(img.bitDepth, bitDepth, "\(file) bit depth", file: path, line: line)
        let want = ref.values.map { Int($0) }
        let samples = img.samples
        XCTAssertEqual(samples.count, want.count, file: path, line: line)
        var worst = 0
        for i in 0..<min(want.count, samples.count) { worst = max(worst, abs(Int(samples[i]) - want[i])) }
        print("golden \(file): max |Δ| = \(worst)")
        XCTAssertLessThanOrEqual(worst, tolerance, "\(file) vs PIL", file: path, line: line)
    }

    func testPNGGoldenPixels() throws {
        try assertGolden("grey8.png", "grey8.npy", channels: 1, bitDepth: 8)
        try assertGolden("grey16.png", "grey16.npy", channels: 1, bitDepth: 16)
        // The same data with a gAMA chunk: libpng alone would gamma-convert it; values must not move.
        try assertGolden("grey16_gama.png", "grey16.npy", channels: 1, bitDepth: 16)
        try assertGolden("grey_alpha.png", "grey_alpha.npy", channels: 2, bitDepth: 8)
        try assertGolden("rgb.png", "rgb.npy", channels: 3, bitDepth: 8)
        try assertGolden("rgba.png", "rgba.npy", channels: 4, bitDepth: 8)
        try assertGolden("palette.png", "palette.npy", channels: 3, bitDepth: 8)
    }

    func testSixteenBitKeepsHounsfieldPrecision() throws {
        let img = try ImageFile.read(dir + "grey16.png")
        // Set by the fixture script: 0, 65535, 424 (= −600 HU stored as HU + 1024).
        XCTAssertEqual(Array(img.samples[0..<3]), [0, 65535, 424])
    }

    func testEightBitSamplesStayEightBit() throws {
        // Decoders hand 8-bit files over as bytes (no widened copy); 16-bit files as words.
        for f in ["grey8.png", "rgb.png", "rgba.png", "palette.png", "grey.jpg", "rgb.jpg"] {
            let img = try ImageFile.read(dir + f)
            XCTAssertEqual(img.bitDepth, 8, f)
            XCTAssertEqual(img.bytes.count, img.pixelCount * img.channels, f)
            XCTAssertTrue(img.words.isEmpty, f)
            XCTAssertTrue(img.grey().words.isEmpty && img.rgb().words.isEmpty, f)
            XCTAssertTrue(try Resize.image(img, width: 7, height: 5).words.isEmpty, f)
            XCTAssertEqual(img.bytes8(), img.bytes, f)
        }
        let sixteen = try ImageFile.read(dir + "grey16.png")
        XCTAssertTrue(sixteen.bytes.isEmpty)
        XCTAssertEqual(sixteen.words.count, sixteen.pixelCount)
        XCTAssertThrowsError(try Image(width: 1, height: 1, channels: 1, bitDepth: 8, samples: [256]))
    }

    func testJPEGGoldenPixels() throws {
        // PIL bundles its own libjpeg-turbo; the ISLOW IDCT is exact across versions, so allow 1 level.
        try assertGolden("grey.jpg", "grey_jpg.npy", channels: 1, bitDepth: 8, tolerance: 1)
        try assertGolden("grey_progressive.jpg", "grey_progressive_jpg.npy", channels: 1, bitDepth: 8, tolerance: 1)
        try assertGolden("rgb.jpg", "rgb_jpg.npy", channels: 3, bitDepth: 8, tolerance: 1)
        try assertGolden("rgb_progressive.jpg", "rgb_progressive_jpg.npy", channels: 3, bitDepth: 8, tolerance: 1)
    }

    func testPNGWriteRoundTrip() throws {
        var rng = TestRNG(seed: 7)
        for (channels, depth) in [(1, 8), (2, 8), (3, 8), (4, 8), (1, 16)] {
            let w = 17, h = 5
            let maxV = depth == 16 ? 65535 : 255
            let samples = (0..<(w * h * channels)).map { _ in UInt16(Int(rng.next() % UInt64(maxV + 1))) }
            let img = try Image(width: w, height: h, channels: channels, bitDepth: depth, samples: samples)
            for fast in [false, true] {
                let bytes = try PNG.encode(img, fast: fast)
                let back = try PNG.decode(bytes)
                XCTAssertEqual(back, img, "round trip \(channels) channels \(depth)-bit fast=\(fast)")
            }
        }
    }

    func testJPEGEncodeDecode() throws {
        // Smooth content survives JPEG at quality 95 to within a few levels.
        let w = 32, h = 24
        let bytes = (0..<(w * h)).map { i in UInt8((i % w) * 6 + (i / w) * 2) }
        let img = try Image(width: w, height: h, channels: 1, bytes: bytes)
        for progressive in [false, true] {
            let enc = try JPEG.encode(img, quality: 95, progressive: progressive)
            let dec = try JPEG.decode(enc)
            XCTAssertEqual(dec.channels, 1)
            let worst = zip(dec.samples, img.samples).map { abs(Int($0) - Int($1)) }.max() ?? 99
            XCTAssertLessThanOrEqual(worst, 6)
        }
    }

    func testGreyAndRGBConversionsMatchPIL() throws {
        // PIL convert("L") of (255, 0, 0) is 76, (0, 255, 0) is 150, (0, 0, 255) is 29 (ITU-R 601-2, rounded).
        let img = try Image(width: 3, height: 1, channels: 3, bytes: [255, 0, 0, 0, 255, 0, 0, 0, 255])
        XCTAssertEqual(img.grey().samples, [76, 150, 29])
        let la = try Image(width: 1, height: 1, channels: 2, bytes: [9, 200])
        XCTAssertEqual(la.rgb().samples, [9, 9, 9])
        let t = img.tensor()
        XCTAssertEqual(t.shape, [3, 1, 3])
        XCTAssertEqual(t.values, [1, 0, 0, 0, 1, 0, 0, 0, 1])
    }
}
