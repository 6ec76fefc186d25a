import Foundation
import XCTest
import TensorCore
import TestSupport
@testable import Imaging

/// 16-bit CT and float HU slices: windows, offsets, and the one path both take.
final class WindowTests: XCTestCase {
    func testNamedWindows() throws {
        XCTAssertEqual(try HUWindow.named("lung"), .lung)
        XCTAssertEqual(try HUWindow.named("Mediastinum"), HUWindow(center: 40, width: 400))
        XCTAssertEqual(try HUWindow.named("bone"), HUWindow(center: 400, width: 1800))
        XCTAssertEqual(try HUWindow.named("-600,1500"), .lung)
        XCTAssertNil(try HUWindow.named("none"))
        for bad in ["", "40", "40,0", "40,-5", "nan,400", "40,inf", "lungs", "1,2,3", "1e300,5"] {
            XCTAssertThrowsError(try HUWindow.named(bad), bad)
        }
        XCTAssertEqual(HUWindow.mediastinum.label, "mediastinum window 40/400 (-160 … 240 HU)")
    }

    func testHUSliceTakesTheSixteenBitPath() throws {
        // The same HU values as a float slice and as a 16-bit image stored with offset 32768:
        // identical tensors after windowing and a downscale.
        let (w, h) = (9, 7)
        var rng = SeededRNG(seed: 3)
        let hu = (0..<(w * h)).map { _ in Float(Int(rng.uniform() * 2400) - 1200) }
        var p = Preprocessing(size: 4, window: .mediastinum, rescaleIntercept: -32768)
        let img = try Image(width: w, height: h, channels: 1, bitDepth: 16, samples: hu.map { UInt16(Int($0) + 32768) })
        let a = p.tensor(img), b = p.tensor(hu: hu, width: w, height: h)
        XCTAssertEqual(a.shape, [3, 4, 4])
        XCTAssertNil(closeness(a.values, b.values, rtol: 0, atol: 1e-6))
        // Identity size: each value is just the window.
        p.height = h; p.width = w
        let c = p.tensor(hu: hu, width: w, height: h)
        for i in 0..<(w * h) { XCTAssertEqual(c.values[i], HUWindow.mediastinum.apply(Double(hu[i])), accuracy: 1e-6) }
        // No window: values pass through unchanged; 16-bit samples scale by 65535.
        p.window = nil
        XCTAssertEqual(Array(p.tensor(hu: hu, width: w, height: h).values[0..<(w * h)]), hu)
        let raw = p.tensor(img)
        XCTAssertEqual(raw.values[0], Float(img.samples[0]) / 65535, accuracy: 1e-6)
    }

    func testMappingIsDescribedAndKeyed() {
        let a = Preprocessing(size: 224)
        var b = a
        b.rescaleIntercept = -32768
        XCTAssertEqual(a.intensityMapping, "HU = stored − 1024, lung window -600/1500 (-1350 … 150 HU) → [0, 1]")
        XCTAssertTrue(b.intensityMapping.contains("32768"))
        XCTAssertNotEqual(a.key, b.key)
        b = a
        b.window = nil
        XCTAssertNotEqual(a.key, b.key)
        XCTAssertTrue(b.key.contains("window=none"))
    }

    func testZeroTargetSizeIsAnErrorNotATrap() throws {
        let dir = NSTemporaryDirectory() + "win-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try PNG.write(try Image(width: 4, height: 4, channels: 1, bytes: [UInt8](repeating: 9, count: 16)), to: dir + "/a.png")
        for size in [0, -5] {
            XCTAssertThrowsError(try Preprocessing(size: size).load(dir + "/a.png")) { e in XCTAssertTrue("\(e)".contains("target size"), "\(e)") }
            XCTAssertEqual(Preprocessing(size: size).load(files: [dir + "/a.png"]).failures.count, 1)
        }
        XCTAssertEqual(Resize.bilinear8([1, 2, 3, 4], width: 2, height: 2, channels: 1, outWidth: 0, outHeight: 3), [])
        XCTAssertEqual(Resize.bilinear([1, 2, 3, 4], width: 2, height: 2, outWidth: 3, outHeight: 0), [])
    }

    func testLoadingFilesSkipsAndNamesTheUnreadable() throws {
        let dir = NSTemporaryDirectory() + "win-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try PNG.write(try Image(width: 4, height: 4, channels: 1, bytes: [UInt8](repeating: 200, count: 16)), to: dir + "/a.png")
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: dir + "/b.png"))
        try PNG.write(try Image(width: 4, height: 4, channels: 1, bitDepth: 16, samples: [UInt16](repeating: 1024, count: 16)), to: dir + "/c.png")
        let r = Preprocessing(size: 2).load(files: [dir + "/a.png", dir + "/b.png", dir + "/missing.png", dir + "/c.png"])
        XCTAssertEqual(r.files, [dir + "/a.png", dir + "/c.png"])
        XCTAssertEqual(r.failures.map(\.path), [dir + "/b.png", dir + "/missing.png"])
        XCTAssertEqual(r.sixteenBit, 1)
        let t = try XCTUnwrap(r.tensor)
        XCTAssertEqual(t.shape, [2, 3, 2, 2])
        XCTAssertEqual(t.values[0], 200.0 / 255, accuracy: 1e-6)
        XCTAssertEqual(t.values[12], HUWindow.lung.apply(0), accuracy: 1e-6)   // stored 1024 = 0 HU
        XCTAssertThrowsError(try Preprocessing(size: 2).batch([dir + "/a.png", dir + "/b.png"])) { e in
            XCTAssertEqual((e as? ImagingError)?.path, dir + "/b.png")
        }
    }
}
