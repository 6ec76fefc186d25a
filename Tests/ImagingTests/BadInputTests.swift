import Foundation
import XCTest
import TensorCore
import TestSupport
@testable import Imaging

/// Bad files end in one ImagingError naming the file; mutated bytes never crash the decoders.
final class BadInputTests: XCTestCase {
    let dir = fixturesDirectory + "/images/"
    var tmp = ""

    override func setUpWithError() throws {
        tmp = NSTemporaryDirectory() + "imageio-bad-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: tmp) }

    func bytes(_ name: String) throws -> [UInt8] { try ImageFile.readBytes(dir + name) }

    func assertFails(_ data: [UInt8], named name: String, kind: ImagingError.Kind, maxPixels: Int? = ImageFile.defaultMaxPixels,
                     line: UInt = #line) throws {
        let path = tmp + "/" + name
        try Data(data).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try ImageFile.read(path, maxPixels: maxPixels), line: line) { e in
            guard let err = e as? ImagingError else { return XCTFail("not an ImagingError: \(e)", line: line) }
            XCTAssertEqual(err.kind, kind, "\(err)", line: line)
            XCTAssertTrue(err.description.contains(name), "message should name the file: \(err)", line: line)
        }
    }

    static func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return ~c
    }

    func testTextFileNamedPNG() throws {
        try assertFails(Array("hello, I am text\n".utf8), named: "Bengin case (1).png", kind: .unknownFormat)
        try assertFails([], named: "empty.png", kind: .corrupt)
    }

    func testTruncatedAndCorrupt() throws {
        let png = try bytes("grey8.png")
        try assertFails(Array(png.prefix(png.count / 2)), named: "half.png", kind: .corrupt)
        try assertFails(Array(png.prefix(20)), named: "header-only.png", kind: .corrupt)
        var badCRC = png; badCRC[png.count - 20] ^= 0xFF
        try assertFails(badCRC, named: "crc.png", kind: .corrupt)
        for jpg in ["rgb.jpg", "grey_progressive.jpg"] {
            let j = try bytes(jpg)
            try assertFails(Array(j.prefix(j.count * 2 / 3)), named: "cut-\(jpg)", kind: .corrupt)
            try assertFails(Array(j.prefix(4)), named: "stub-\(jpg)", kind: .corrupt)
        }
    }

    func testZeroSize() throws {
        var png = try bytes("grey8.png")
        // IHDR data starts at 16: width (4 bytes BE); set it to 0 and fix the CRC so only the size is wrong.
        png[16] = 0; png[17] = 0; png[18] = 0; png[19] = 0
        let crc = Self.crc32(png[12..<29])
        png[29] = UInt8(crc >> 24); png[30] = UInt8((crc >> 16) & 0xFF); png[31] = UInt8((crc >> 8) & 0xFF); png[32] = UInt8(crc & 0xFF)
        let path = tmp + "/zero.png"
        try Data(png).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try ImageFile.read(path)) { e in
            XCTAssertTrue("\(e)".contains("zero.png"), "\(e)")
        }
        // JPEG with height 0 in its SOF0 segment.
        var jpg = try bytes("grey.jpg")
        if let sof = (0..<(jpg.count - 8)).first(where: { jpg[$0] == 0xFF && (jpg[$0 + 1] == 0xC0 || jpg[$0 + 1] == 0xC2) }) {
            jpg[sof + 5] = 0; jpg[sof + 6] = 0
            try assertFails(jpg, named: "zero.jpg", kind: .corrupt)
        } else {
            XCTFail("no SOF marker in fixture")
        }
    }

    func testDecompressionBombCap() throws {
        try assertFails(try bytes("grey8.png"), named: "bomb.png", kind: .tooLarge, maxPixels: 100)  // 13×9 = 117
        try assertFails(try bytes("grey.jpg"), named: "bomb.jpg", kind: .tooLarge, maxPixels: 959)  // 40×24 = 960
        XCTAssertNoThrow(try ImageFile.decode(try bytes("grey.jpg"), maxPixels: 960))
        // A PNG whose IHDR claims 100000×100000 pixels is refused before any allocation.
        var png = try bytes("grey8.png")
        for (o, v) in [(16, UInt32(100_000)), (20, UInt32(100_000))] {
            png[o] = UInt8(v >> 24); png[o + 1] = UInt8((v >> 16) & 0xFF); png[o + 2] = UInt8((v >> 8) & 0xFF); png[o + 3] = UInt8(v & 0xFF)
        }
        let crc = Self.crc32(png[12..<29])
        png[29] = UInt8(crc >> 24); png[30] = UInt8((crc >> 16) & 0xFF); png[31] = UInt8((crc >> 8) & 0xFF); png[32] = UInt8(crc & 0xFF)
        try assertFails(png, named: "huge.png", kind: .tooLarge)
    }

    func testMissingAndDirectory() throws {
        XCTAssertThrowsError(try ImageFile.read(tmp + "/nope.png")) { e in
            XCTAssertEqual((e as? ImagingError)?.kind, .unreadable)
            XCTAssertTrue("\(e)".contains("nope.png"))
        }
        XCTAssertThrowsError(try ImageFile.read(tmp)) { e in XCTAssertEqual((e as? ImagingError)?.kind, .unreadable) }
    }

    /// Thousands of mutated PNG, JPEG and .npy byte strings: each decode either succeeds or throws.
    func testFuzzDecoders() throws {
        var rng = TestRNG(seed: 2024)
        let seeds = try ["grey8.png", "grey16.png", "palette.png", "rgba.png", "grey.jpg", "rgb_progressive.jpg", "grey_progressive.jpg"].map(bytes)
        let npySeeds = [NPY.encode(rng.tensor([3, 4])), NPY.encode(rng.tensor([2, 2, 2]), dtype: .uint8)].map { [UInt8]($0) }
        var decoded = 0, thrown = 0
        func mutate(_ src: [UInt8]) -> [UInt8] {
            var b = src
            switch rng.next() % 5 {
            case 0: // flip a few bytes
                for _ in 0..<(1 + Int(rng.next() % 4)) where !b.isEmpty { b[Int(rng.next() % UInt64(b.count))] ^= UInt8(1 + rng.next() % 255) }
            case 1: // truncate
                b = Array(b.prefix(Int(rng.next() % UInt64(b.count + 1))))
            case 2: // insert random bytes
                let at = Int(rng.next() % UInt64(b.count + 1))
                b.insert(contentsOf: (0..<(1 + Int(rng.next() % 16))).map { _ in UInt8(rng.next() & 0xFF) }, at: at)
            case 3: // overwrite a run with 0xFF or 0x00 (markers, lengths)
                let at = Int(rng.next() % UInt64(b.count))
                let v: UInt8 = rng.next() % 2 == 0 ? 0xFF : 0
                for i in at..<min(b.count, at + 1 + Int(rng.next() % 8)) { b[i] = v }
            default: // header corruption: bytes 8..40 hold PNG IHDR / JPEG first segments / npy header
                for _ in 0..<2 { let i = 8 + Int(rng.next() % 32); if i < b.count { b[i] = UInt8(rng.next() & 0xFF) } }
            }
            return b
        }
        for i in 0..<3000 {
            let src = seeds[i % seeds.count]
            let m = mutate(src)
            do { _ = try ImageFile.decode(m, maxPixels: 1 << 20, name: "fuzz-\(i)"); decoded += 1 } catch is ImagingError { thrown += 1 }
        }
        for i in 0..<1000 {
            let m = mutate(npySeeds[i % npySeeds.count])
            do { _ = try NPY.decode(Data(m), name: "fuzz-\(i).npy"); decoded += 1 } catch { thrown += 1 }
        }
        print("fuzz: \(decoded) decoded, \(thrown) rejected")
        XCTAssertEqual(decoded + thrown, 4000)
        XCTAssertGreaterThan(thrown, 1000)
    }
}
