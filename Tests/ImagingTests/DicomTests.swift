import Foundation
import XCTest
import TensorCore
import TestSupport
@testable import Imaging

/// DICOM CT slices against pydicom (fixtures by scripts/gen_dicom_fixtures.py): stored values, HU,
/// the window, frames, and hostile files that must end in one error naming the file.
final class DicomTests: XCTestCase {
    let dir = fixturesDirectory + "/dicom/"
    var tmp = ""

    /// Single-frame fixtures with a pydicom HU array beside them.
    static let singles = ["unsigned_explicit", "signed_implicit", "slope_intercept", "signed12_garbage", "unsigned12_garbage",
                          "monochrome1", "padding", "rle", "jpegls"]

    override func setUpWithError() throws {
        tmp = NSTemporaryDirectory() + "dicom-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: tmp) }

    func bytes(_ name: String) throws -> [UInt8] { try ImageFile.readBytes(dir + name + ".dcm") }

    /// A little-endian float64 or int32 .npy as doubles (NPY.read would round float64 to float32,
    /// and the HU comparison is exact).
    func npy(_ name: String) throws -> (shape: [Int], values: [Double]) {
        let b = try ImageFile.readBytes(dir + name)
        let headerLength = Int(b[8]) | Int(b[9]) << 8
        let header = String(decoding: b[10..<(10 + headerLength)], as: UTF8.self)
        let shapeText = header.components(separatedBy: "'shape': (")[1].components(separatedBy: ")")[0]
        let shape = shapeText.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let data = Array(b[(10 + headerLength)...])
        if header.contains("'<f8'") {
            return (shape, data.withUnsafeBytes { Array($0.bindMemory(to: Double.self)) })
        }
        XCTAssertTrue(header.contains("'<i4'"), header)
        return (shape, data.withUnsafeBytes { $0.bindMemory(to: Int32.self).map(Double.init) })
    }

    func testStoredValuesAndHounsfieldEqualPydicom() throws {
        for name in DicomTests.singles {
            let s = try DICOM.decode(try bytes(name), name: name)
            let (shape, hu) = try npy(name + ".hu.npy")
            let (_, stored) = try npy(name + ".stored.npy")
            XCTAssertEqual(shape, [s.height, s.width], name)
            XCTAssertEqual(s.stored.map(Double.init), stored, "\(name): stored values (masked, sign-extended)")
            XCTAssertEqual(s.hounsfield, hu, "\(name): HU must equal pydicom's apply_modality_lut exactly")
        }
        let s = try DICOM.decode(try bytes("slope_intercept"))
        XCTAssertEqual(s.info.rescaleSlope, 0.7)
        XCTAssertEqual(s.info.rescaleIntercept, -1023.3)
        XCTAssertEqual(try DICOM.decode(try bytes("rle")).info.transferSyntaxUID, "1.2.840.10008.1.2.5")
        XCTAssertEqual(try DICOM.decode(try bytes("jpegls")).info.transferSyntaxUID, "1.2.840.10008.1.2.4.80")
        XCTAssertEqual(try DICOM.decode(try bytes("signed_implicit")).info.transferSyntaxUID, "1.2.840.10008.1.2")
        let g = try DICOM.decode(try bytes("signed12_garbage"))
        XCTAssertEqual([g.info.bitsAllocated, g.info.bitsStored, g.info.highBit, g.info.pixelRepresentation], [16, 12, 11, 1])
        XCTAssertTrue(g.stored.contains { $0 < 0 }, "12-bit signed values sign-extend")
        XCTAssertEqual(s.info.pixelSpacing, "0.703125\\0.703125")
        XCTAssertEqual(s.info.seriesInstanceUID, "1.2.826.0.1.3680043.10.1030.1")
        XCTAssertFalse(s.info.sopInstanceUID.isEmpty)
    }

    func testEveryFrameOfAMultiFrameFile() throws {
        let b = try bytes("multiframe")
        let (shape, hu) = try npy("multiframe.hu.npy")
        XCTAssertEqual(shape, [3, 16, 16])
        XCTAssertEqual(try DICOM.info(b).frames, 3)
        for k in 1...3 {
            let s = try DICOM.decode(b, frame: k, name: "mf")
            XCTAssertEqual(s.hounsfield, Array(hu[((k - 1) * 256)..<(k * 256)]), "frame \(k)")
        }
        // Addressed as file#frame=K; the file alone is refused (which frame?), as are frames it lacks.
        let path = dir + "multiframe.dcm"
        XCTAssertEqual(ImageFile.slices(of: path), (1...3).map { "\(path)#frame=\($0)" })
        guard case .dicom(let f2) = try ImageFile.readAny(path + "#frame=2") else { return XCTFail("not DICOM") }
        XCTAssertEqual(f2.frame, 2)
        XCTAssertEqual(f2.hounsfield, Array(hu[256..<512]))
        XCTAssertThrowsError(try ImageFile.readAny(path)) { e in
            XCTAssertTrue("\(e)".contains(path) && "\(e)".contains("3 frames") && "\(e)".contains("#frame=1"), "\(e)")
        }
        for bad in ["#frame=4", "#frame=0"] {
            XCTAssertThrowsError(try ImageFile.readAny(path + bad)) { e in XCTAssertTrue("\(e)".contains(path + bad), "\(e)") }
        }
        XCTAssertThrowsError(try ImageFile.readAny(fixturesDirectory + "/images/grey8.png#frame=1")) { e in
            XCTAssertTrue("\(e)".contains("not one"), "\(e)")
        }
        XCTAssertEqual(ImageFile.slices(of: dir + "rle.dcm"), [dir + "rle.dcm"])
    }

    /// The model input is the window applied to pydicom's HU (padding as air, MONOCHROME1 inverted).
    func testWindowedInputIsTheWindowOnPydicomHU() throws {
        for name in DicomTests.singles {
            let s = try DICOM.decode(try bytes(name), name: name)
            var hu = try npy(name + ".hu.npy").values
            if let pad = s.info.paddingValue {
                let stored = try npy(name + ".stored.npy").values
                var padded = 0
                for i in hu.indices where stored[i] == Double(pad) { hu[i] = -1000; padded += 1 }
                XCTAssertGreaterThan(padded, 0, "\(name): the fixture has padding")
            }
            for (fromFile, window) in [(false, HUWindow.lung), (false, HUWindow.mediastinum), (true, HUWindow(center: 40, width: 400))] {
                var p = Preprocessing(size: 32, window: fromFile ? .lung : window)
                p.windowFromFile = fromFile
                let expected = hu.map { s.info.photometric == "MONOCHROME1" ? 1 - window.apply($0) : window.apply($0) }
                let t = try p.load(dir + name + ".dcm")
                XCTAssertEqual(t.shape, [3, 32, 32])
                for c in 0..<3 {
                    XCTAssertEqual(Array(t.values[(c * 1024)..<((c + 1) * 1024)]), expected, "\(name) \(window.label) channel \(c)")
                }
            }
        }
        // MONOCHROME1 holds the same values as signed_implicit: its input is exactly the inverse.
        let p = Preprocessing(size: 32)
        let a = try p.load(dir + "monochrome1.dcm").values, b = try p.load(dir + "signed_implicit.dcm").values
        XCTAssertEqual(a, b.map { 1 - $0 })
        // No window: the HU themselves.
        var none = Preprocessing(size: 32, window: nil)
        none.windowFromFile = false
        XCTAssertEqual(Array(try none.load(dir + "rle.dcm").values[0..<1024]), try npy("rle.hu.npy").values.map(Float.init))
    }

    func testMappingIsDescribedAndEntersTheKey() throws {
        let lung = Preprocessing(size: 32)
        var file = lung
        file.windowFromFile = true
        var mediastinum = lung
        mediastinum.window = .mediastinum
        XCTAssertEqual(Set([lung.key, file.key, mediastinum.key]).count, 3, "each window is another key")
        XCTAssertNotEqual("\(lung)", "\(file)", "sweep keys hash the whole preprocessing value")
        // Without --window file the value prints as it did before the field existed (sweep keys of
        // existing results folders are made from this text).
        XCTAssertEqual("\(lung)", "Preprocessing(height: 32, width: 32, imagenetNormalize: false, window: Optional(Imaging.HUWindow(center: -600.0, width: 1500.0)), rescaleSlope: 1.0, rescaleIntercept: -1024.0, maxPixels: Optional(67108864))")
        XCTAssertTrue(lung.dicomMapping.contains("RescaleSlope") && lung.dicomMapping.contains("lung window")
                      && lung.dicomMapping.contains("-1000 HU") && lung.dicomMapping.contains("MONOCHROME1 inverted"), lung.dicomMapping)
        XCTAssertTrue(file.dicomMapping.contains("each file's WindowCenter/WindowWidth"), file.dicomMapping)
        XCTAssertEqual(try HUWindow.named("file"), .lung)
        XCTAssertTrue(HUWindow.isFromFile(" File "))
        XCTAssertFalse(HUWindow.isFromFile("lung"))
        // Loading counts DICOM slices apart from 16-bit images (each gets its own note).
        let r = lung.load(files: [dir + "rle.dcm", dir + "multiframe.dcm#frame=3", fixturesDirectory + "/images/grey16.png"])
        XCTAssertEqual(r.failures, [])
        XCTAssertEqual(r.dicom, 2)
        XCTAssertEqual(r.sixteenBit, 1)
    }

    /// DCMTK's codec and dictionary registries are process-wide: many slices decoded at once on the
    /// thread pool give what one at a time gives.
    func testParallelLoadsEqualSequentialOnes() throws {
        let p = Preprocessing(size: 16)
        let files = (DicomTests.singles.map { dir + $0 + ".dcm" } + (1...3).map { dir + "multiframe.dcm#frame=\($0)" })
        let many = Array((0..<8).map { _ in files }.joined())
        let r = p.load(files: many)
        XCTAssertEqual(r.failures, [])
        XCTAssertEqual(r.dicom, many.count)
        let t = try XCTUnwrap(r.tensor)
        let per = 3 * 16 * 16
        for (i, f) in many.enumerated() {
            XCTAssertEqual(Array(t.values[(i * per)..<((i + 1) * per)]), try p.load(f).values, f)
        }
    }

    func testRecognisedByPreambleNotExtension() throws {
        let src = try bytes("rle")
        try Data(src).write(to: URL(fileURLWithPath: tmp + "/IM0001"))
        try Data(src).write(to: URL(fileURLWithPath: tmp + "/looks.png"))
        try Data("not dicom".utf8).write(to: URL(fileURLWithPath: tmp + "/notes.txt"))
        try Data("not dicom at all".utf8).write(to: URL(fileURLWithPath: tmp + "/fake.dcm"))
        try FileManager.default.createDirectory(atPath: tmp + "/series", withIntermediateDirectories: true)
        try Data(try bytes("multiframe")).write(to: URL(fileURLWithPath: tmp + "/series/mf"))
        XCTAssertEqual(ImageFile.listImages(in: tmp), [tmp + "/IM0001", tmp + "/fake.dcm", tmp + "/looks.png", tmp + "/series/mf"])
        XCTAssertEqual(ImageFile.listSlices(in: tmp).count, 6)
        for f in ["/IM0001", "/looks.png"] {
            guard case .dicom = try ImageFile.readAny(tmp + f) else { return XCTFail("\(f) is DICOM by content") }
        }
        XCTAssertThrowsError(try ImageFile.readAny(tmp + "/fake.dcm")) { e in
            XCTAssertEqual((e as? ImagingError)?.kind, .unknownFormat)
            XCTAssertTrue("\(e)".contains("fake.dcm"), "\(e)")
        }
        // Where only a PNG or JPEG will do (masks), a DICOM file is named as such.
        XCTAssertThrowsError(try ImageFile.read(tmp + "/IM0001")) { e in XCTAssertTrue("\(e)".contains("a DICOM file"), "\(e)") }
    }

    func testRefusedAndHostileFilesNameTheFile() throws {
        func fails(_ name: String, _ kind: ImagingError.Kind, _ words: [String], line: UInt = #line) {
            XCTAssertThrowsError(try ImageFile.readAny(dir + name), line: line) { e in
                guard let err = e as? ImagingError else { return XCTFail("not an ImagingError: \(e)", line: line) }
                XCTAssertEqual(err.kind, kind, "\(err)", line: line)
                for w in [dir + name] + words { XCTAssertTrue(err.description.contains(w), "\(err) should mention \(w)", line: line) }
            }
        }
        fails("refused_jpeg2000.dcm", .unsupported, ["1.2.840.10008.1.2.4.90", "JPEG 2000"])
        fails("hostile_huge.dcm", .tooLarge, ["65535x65535"])
        fails("hostile_wrong_vr.dcm", .corrupt, ["Rows"])
        XCTAssertThrowsError(try DICOM.decode(try bytes("hostile_huge"), maxPixels: nil, name: "huge")) { e in
            XCTAssertEqual((e as? ImagingError)?.kind, .tooLarge, "with no pixel cap, the byte cap still holds: \(e)")
        }
        // Rows doubled (32 → 64): the header asks for twice the pixel data the file holds.
        var b = try bytes("unsigned_explicit")
        let rows: [UInt8] = [0x28, 0x00, 0x10, 0x00, 0x55, 0x53, 0x02, 0x00, 32, 0]
        let at = try XCTUnwrap((0...(b.count - 10)).first { Array(b[$0..<($0 + 10)]) == rows })
        b[at + 8] = 64
        XCTAssertThrowsError(try DICOM.decode(b, name: "tall.dcm")) { e in
            XCTAssertTrue("\(e)".contains("tall.dcm") && "\(e)".contains("Pixel Data holds 2048 bytes"), "\(e)")
        }
    }

    /// Every fixture truncated at many points, and its length fields corrupted: an error naming the
    /// file each time, never a crash or a silently short image.
    func testTruncatedAndCorruptLengths() throws {
        var cases = 0
        for name in DicomTests.singles + ["multiframe"] {
            let b = try bytes(name)
            for cut in Set([0, 1, 100, 131, 132, 140, 200, b.count / 3, b.count / 2, b.count - 600, b.count - 17, b.count - 1]) where cut < b.count {
                let file = "\(name)-cut\(cut).dcm"
                try Data(b.prefix(cut)).write(to: URL(fileURLWithPath: tmp + "/" + file))
                XCTAssertThrowsError(try ImageFile.readAny(tmp + "/" + file + (name == "multiframe" ? "#frame=1" : ""))) { e in
                    XCTAssertTrue(e is ImagingError && "\(e)".contains(file), "\(e)")
                }
                cases += 1
            }
            // Pixel Data's tag (7FE0,0010): explicit VR holds its 4-byte length 8 bytes on, implicit VR 4.
            let tag: [UInt8] = [0xE0, 0x7F, 0x10, 0x00]
            guard let at = (0...(b.count - 12)).last(where: { Array(b[$0..<($0 + 4)]) == tag }) else { return XCTFail("\(name): no Pixel Data") }
            let explicit = b[at + 4] == 0x4F  // "OW"/"OB"
            let lengthAt = explicit ? at + 8 : at + 4
            let length = b[lengthAt..<(lengthAt + 4)].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
            for bad in [0xFFFF_FFF0, length + 2, length + 1000, length - 2, length - 1] where bad != length {
                var m = b
                for k in 0..<4 { m[lengthAt + k] = UInt8((bad >> (8 * k)) & 0xFF) }
                let file = "\(name)-len\(bad).dcm"
                try Data(m).write(to: URL(fileURLWithPath: tmp + "/" + file))
                // A shorter length on encapsulated data may still decode; what matters is no crash
                // and, on failure, the file's name.
                do { _ = try ImageFile.readAny(tmp + "/" + file + (name == "multiframe" ? "#frame=1" : "")) } catch {
                    XCTAssertTrue(error is ImagingError && "\(error)".contains(file), "\(error)")
                }
                if bad > length, length != 0xFFFF_FFFF { XCTAssertThrowsError(try ImageFile.readAny(tmp + "/" + file + (name == "multiframe" ? "#frame=2" : "")), file) }
                cases += 1
            }
        }
        XCTAssertGreaterThan(cases, 100)
    }

    /// Mutated DICOM bytes: each decode either succeeds or throws an ImagingError.
    func testFuzzDicom() throws {
        var rng = TestRNG(seed: 30)
        let seeds = try (DicomTests.singles + ["multiframe", "refused_jpeg2000", "hostile_huge"]).map(bytes)
        var decoded = 0, thrown = 0
        for i in 0..<1500 {
            var b = seeds[i % seeds.count]
            switch rng.next() % 4 {
            case 0: for _ in 0..<(1 + Int(rng.next() % 6)) { b[Int(rng.next() % UInt64(b.count))] ^= UInt8(1 + rng.next() % 255) }
            case 1: b = Array(b.prefix(132 + Int(rng.next() % UInt64(b.count - 131))))
            case 2: // header fields: group 0002 and 0028 live in the first few hundred bytes
                for _ in 0..<3 { let k = 132 + Int(rng.next() % UInt64(min(600, b.count - 132))); b[k] = UInt8(rng.next() & 0xFF) }
            default:
                let at = 132 + Int(rng.next() % UInt64(b.count - 132))
                for k in at..<min(b.count, at + 1 + Int(rng.next() % 6)) { b[k] = rng.next() % 2 == 0 ? 0xFF : 0 }
            }
            do { _ = try ImageFile.decodeAny(b, frame: i % 3 == 0 ? 1 : nil, maxPixels: 1 << 20, name: "fuzz-\(i)"); decoded += 1 } catch let e as ImagingError {
                XCTAssertTrue(e.description.contains("fuzz-\(i)"), "\(e)")
                thrown += 1
            }
        }
        print("dicom fuzz: \(decoded) decoded, \(thrown) rejected")
        XCTAssertEqual(decoded + thrown, 1500)
        XCTAssertGreaterThan(thrown, 300)
    }
}
