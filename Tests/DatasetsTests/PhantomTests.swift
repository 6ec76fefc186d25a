import Foundation
import XCTest
import TensorCore
import TestSupport
import Imaging
@testable import Datasets

final class PhantomTests: XCTestCase {
    func testSameSeedSameSliceAnyOrder() {
        let g = PhantomGenerator(size: 256, seed: 11, shortcutFraction: 0.5)
        let a = g.slice(4)
        _ = g.slice(9)
        let b = g.slice(4)
        XCTAssertEqual(a.pixels, b.pixels)
        XCTAssertEqual(a.lesionMask, b.lesionMask)
        XCTAssertEqual(a.parameters, b.parameters)
        let c = PhantomGenerator(size: 256, seed: 12, shortcutFraction: 0.5).slice(4)
        XCTAssertNotEqual(a.pixels, c.pixels)
    }

    func testClassesAndMasksMarkTheLesion() {
        let g = PhantomGenerator(size: 512, seed: 3)
        // Lesion areas in pixels at 0.7 mm/pixel: benign ≤ a 28 mm disc (+10% for the aspect and
        // outline wobble), malignant ≥ 40% of a 30 mm disc (a mass against the pleura is clipped).
        let benignMax = Int(Double.pi * (14 / 0.7) * (14 / 0.7) * 1.1), malignantMin = Int(Double.pi * (15 / 0.7) * (15 / 0.7) * 0.4)
        for i in 0..<9 {
            let s = g.slice(i)
            XCTAssertEqual(s.className, ["benign", "malignant", "normal"][i % 3])
            let maskCount = s.lesionMask.filter { $0 != 0 }.count
            XCTAssertEqual(maskCount, s.lesionArea)
            if s.className == "normal" {
                XCTAssertEqual(maskCount, 0, "normal slice \(i) must have an empty mask")
                XCTAssertNil(s.lesionBox)
                XCTAssertEqual(s.parameters["lesion_kind"], "none")
                continue
            }
            XCTAssertGreaterThan(maskCount, 0, "slice \(i) (\(s.className)) must have a lesion")
            if s.className == "benign" {
                XCTAssertLessThanOrEqual(maskCount, benignMax)
            } else {
                XCTAssertGreaterThan(maskCount, malignantMin)
            }
            // The box is the mask's extent, computed independently.
            var x0 = Int.max, y0 = Int.max, x1 = -1, y1 = -1
            for y in 0..<512 { for x in 0..<512 where s.lesionMask[y * 512 + x] != 0 { x0 = min(x0, x); y0 = min(y0, y); x1 = max(x1, x + 1); y1 = max(y1, y + 1) } }
            XCTAssertEqual(s.lesionBox, LesionBox(x0: x0, y0: y0, x1: x1, y1: y1))
            // Soft-tissue lesion in the lung window is bright (≥ 20 HU → ≥ 233 before noise) against dark lung around it.
            var inside = 0.0, ring = 0.0, ringN = 0.0
            for y in max(0, y0 - 6)..<min(512, y1 + 6) {
                for x in max(0, x0 - 6)..<min(512, x1 + 6) {
                    let v = Double(s.pixels[y * 512 + x])
                    if s.lesionMask[y * 512 + x] != 0 { inside += v } else { ring += v; ringN += 1 }
                }
            }
            let meanInside = inside / Double(maskCount)
            XCTAssertGreaterThan(meanInside, 190, "slice \(i) lesion mean \(meanInside)")
            XCTAssertGreaterThan(meanInside - ring / max(ringN, 1), 40, "slice \(i): lesion should stand out from its surroundings")
        }
    }

    /// Below 384 px the slice is drawn on a 384-px grid and averaged down; drawn at 384 px directly
    /// the same slice uses the same grid and streams, so its mask is the fine mask: the small mask
    /// must be exactly its ≥ half-covered 4×4 blocks.
    func testSupersampledMaskIsTheHalfCoveredFineMask() {
        XCTAssertEqual(PhantomGenerator.supersampling(size: 96), 4)
        XCTAssertEqual(PhantomGenerator.supersampling(size: 384), 1)
        let small = PhantomGenerator(size: 96, seed: 21), fine = PhantomGenerator(size: 384, seed: 21)
        for i in 0..<6 {
            let a = small.slice(i), b = fine.slice(i)
            XCTAssertEqual(a.parameters["lesion_diameter_mm"], b.parameters["lesion_diameter_mm"])
            var expected = [UInt8](repeating: 0, count: 96 * 96)
            var cover = [Int](repeating: 0, count: 96 * 96)
            for y in 0..<384 { for x in 0..<384 where b.lesionMask[y * 384 + x] != 0 { cover[(y / 4) * 96 + x / 4] += 1 } }
            for p in 0..<cover.count where cover[p] >= 8 { expected[p] = 255 }
            if a.className == "normal" { XCTAssertEqual(cover.max(), 0) }
            if !expected.contains(255), let top = cover.max(), top > 0 { expected[cover.firstIndex(of: top)!] = 255 }
            XCTAssertEqual(a.lesionMask, expected, "slice \(i) (\(a.className))")
            XCTAssertEqual(a.lesionArea, expected.filter { $0 != 0 }.count)
        }
    }

    /// What separates the classes, measured on the quick profile's resolution: benign nodules are
    /// always smaller than malignant masses (in mm and in mask pixels), normal slices have none.
    func testClassSeparationStatisticsAt96Pixels() {
        let g = PhantomGenerator(size: 96, seed: 4)
        var areas: [[Int]] = [[], [], []], diameters: [[Double]] = [[], [], []]
        var spiculated = 0, calcified = 0
        for i in 0..<150 {
            let s = g.slice(i)
            areas[s.classIndex].append(s.lesionArea)
            if let d = s.parameters["lesion_diameter_mm"].flatMap(Double.init) { diameters[s.classIndex].append(d) }
            if s.parameters["spiculated"] == "1" { spiculated += 1 }
            if s.parameters["calcified"] == "1" { calcified += 1 }
        }
        XCTAssertEqual(areas[2], [Int](repeating: 0, count: 50), "normal slices carry no lesion")
        XCTAssertTrue(diameters[2].isEmpty)
        XCTAssertTrue(diameters[0].allSatisfy { PhantomGenerator.benignDiameterMM.contains($0) })
        XCTAssertTrue(diameters[1].allSatisfy { PhantomGenerator.malignantDiameterMM.contains($0) })
        XCTAssertEqual(diameters[0].count, 50); XCTAssertEqual(diameters[1].count, 50)
        let benignMax = areas[0].max()!, malignantMin = areas[1].min()!
        XCTAssertGreaterThan(areas[0].min()!, 0, "every benign nodule is visible in its mask at 96 px")
        XCTAssertLessThan(benignMax, malignantMin, "benign areas \(areas[0]) vs malignant \(areas[1])")
        let mean = { (v: [Int]) in Double(v.reduce(0, +)) / Double(v.count) }
        // Mean diameters 24 and 45 mm: about (45/24)² ≈ 3.5 in area, less where a mass meets the pleura.
        XCTAssertGreaterThan(mean(areas[1]) / mean(areas[0]), 2.5)
        // Shape: masses mostly spiculated (80%), nodules never; about 40% of nodules calcified.
        XCTAssertGreaterThan(spiculated, 30); XCTAssertLessThan(spiculated, 50)
        XCTAssertGreaterThan(calcified, 10); XCTAssertLessThan(calcified, 32)
    }

    /// The marked slice and its clean twin differ only inside the marker's box, where the marker's
    /// mask is painted white; outside it they are the same bytes.
    func testMarkedAndCleanSlicesDifferOnlyInsideTheMarker() {
        let g = PhantomGenerator(size: 96, seed: 8, shortcutFraction: 1)
        for i in 0..<6 {
            let s = g.slice(i)
            guard let box = s.shortcutBox, let m = s.shortcutMask else { return XCTFail("slice \(i) should carry the marker") }
            var differ = 0
            for y in 0..<96 { for x in 0..<96 {
                let p = y * 96 + x
                let inBox = x >= box.x0 && x < box.x1 && y >= box.y0 && y < box.y1
                if !inBox { XCTAssertEqual(s.pixels[p], s.unmarkedPixels[p], "slice \(i) (\(x), \(y))"); continue }
                if m[p] != 0 { XCTAssertEqual(s.pixels[p], 255) } else { XCTAssertEqual(s.pixels[p], s.unmarkedPixels[p]) }
                if s.pixels[p] != s.unmarkedPixels[p] { differ += 1 }
            } }
            XCTAssertGreaterThan(differ, 10, "the marker changes the image")
        }
        let plain = PhantomGenerator(size: 96, seed: 8).slice(0)
        XCTAssertEqual(plain.pixels, plain.unmarkedPixels)
        XCTAssertEqual(plain.unmarkedPixels, g.slice(0).unmarkedPixels, "the marker draw does not shift the slice")
    }

    func testAlsoCleanWritesTheSameRowsWithoutMarkers() throws {
        let base = NSTemporaryDirectory() + "synthclean-\(getpid())-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: base) }
        let s = try SynthDataset.generate(out: base, count: 12, size: 64, seed: 2, shortcutFraction: 0.75, alsoClean: true)
        let marked = try Manifest.read(path: s.manifestPath)
        let clean = try Manifest.read(path: try XCTUnwrap(s.cleanManifestPath))
        XCTAssertEqual(marked.items.count, 12); XCTAssertEqual(clean.items.count, 12)
        var withMarker = 0
        for (a, b) in zip(marked.items, clean.items) {
            XCTAssertEqual([a.className, a.split.rawValue, a.mask ?? "", a.extra["shortcut_box"] ?? ""],
                           [b.className, b.split.rawValue, b.mask ?? "", b.extra["shortcut_box"] ?? ""])
            XCTAssertEqual(b.extra["marker_drawn"], "0")
            XCTAssertTrue(b.file.hasPrefix("images_clean/"))
            let ia = try ImageFile.read(marked.resolve(a.file)), ib = try ImageFile.read(clean.resolve(b.file))
            guard a.extra["shortcut"] == "1" else {
                XCTAssertEqual(ia.samples, ib.samples, a.file); XCTAssertEqual(a.hash, b.hash); continue
            }
            withMarker += 1
            XCTAssertEqual(a.extra["marker_drawn"], "1")
            let box = try XCTUnwrap(a.extra["shortcut_box"]).split(separator: " ").compactMap { Int($0) }
            XCTAssertEqual(box.count, 4)
            XCTAssertTrue(FileManager.default.fileExists(atPath: marked.resolve(a.extra["shortcut_mask"] ?? "")))
            for y in 0..<64 { for x in 0..<64 where !(x >= box[0] && x < box[2] && y >= box[1] && y < box[3]) {
                XCTAssertEqual(ia.samples[y * 64 + x], ib.samples[y * 64 + x])
            } }
            XCTAssertNotEqual(ia.samples, ib.samples)
        }
        XCTAssertEqual(withMarker, s.shortcutCount)
        XCTAssertGreaterThan(withMarker, 0)
        XCTAssertThrowsError(try SynthDataset.generate(out: base + "/x", count: 3, size: 64, alsoClean: true))
    }

    func testProfilesTrainAtTheSlicesOwnSize() {
        XCTAssertEqual(PhantomProfile.named("quick"), .quick)
        XCTAssertNil(PhantomProfile.named("huge"))
        XCTAssertEqual(PhantomProfile.full.size, 224); XCTAssertEqual(PhantomProfile.full.lr, 1e-4)
        XCTAssertEqual(PhantomProfile.full.batchSize, 16); XCTAssertEqual(PhantomProfile.full.epochs, 20)
        XCTAssertEqual(PhantomProfile.full.seeds.count, 3)
        for p in PhantomProfile.all {
            XCTAssertEqual(p.imageSize, p.size)
            XCTAssertEqual(p.count % 3, 0, "\(p.name): balanced classes")
            XCTAssertTrue(p.size % 16 == 0, "\(p.name): vit_b_16 needs a multiple of 16")
        }
    }

    func testShortcutTagSitsInTheClassCorner() {
        let g = PhantomGenerator(size: 256, seed: 5, shortcutFraction: 1)
        for i in 0..<3 {
            let s = g.slice(i)
            guard let m = s.shortcutMask, let b = s.shortcutBox else { return XCTFail("slice \(i) should carry the tag") }
            XCTAssertEqual(s.parameters["shortcut"], "1")
            let left = b.x0 < 128, top = b.y0 < 128
            XCTAssertEqual([left, top], [[true, true], [false, true], [true, false]][i], "corner of class \(i)")
            for p in 0..<m.count where m[p] != 0 { XCTAssertEqual(s.pixels[p], 255) }
            XCTAssertGreaterThan(m.filter { $0 != 0 }.count, 20)
            // The tag never overlaps the lesion.
            XCTAssertFalse(zip(m, s.lesionMask).contains { $0 != 0 && $1 != 0 })
        }
        XCTAssertNil(PhantomGenerator(size: 256, seed: 5, shortcutFraction: 0).slice(0).shortcutMask)
    }

    func testSynthDatasetIsByteReproducibleAcrossThreadCounts() throws {
        let base = NSTemporaryDirectory() + "synth-\(getpid())-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: base) }
        let s1 = try Parallel.with(threads: 1) { try SynthDataset.generate(out: base + "/a", count: 15, size: 128, seed: 9, shortcutFraction: 0.4) }
        _ = try Parallel.with(threads: 2) { try SynthDataset.generate(out: base + "/b", count: 15, size: 128, seed: 9, shortcutFraction: 0.4) }
        let files = (FileManager.default.enumerator(atPath: base + "/a")?.allObjects as? [String] ?? []).filter { $0.hasSuffix(".png") || $0.hasSuffix(".csv") }
        XCTAssertGreaterThanOrEqual(files.count, 31)
        for f in files {
            XCTAssertEqual(FileManager.default.contents(atPath: base + "/a/" + f), FileManager.default.contents(atPath: base + "/b/" + f), f)
        }
        let m = try Manifest.read(path: s1.manifestPath)
        XCTAssertEqual(m.items.count, 15)
        XCTAssertEqual(m.classes, ["benign", "malignant", "normal"])
        for c in 0..<3 {  // 5 per class → 3 train, 1 val, 1 test
            let cls = m.items.filter { $0.classIndex == c }
            XCTAssertEqual(cls.filter { $0.split == .train }.count, 3)
            XCTAssertEqual(cls.filter { $0.split == .val }.count, 1)
        }
        for it in m.items {
            let mask = try XCTUnwrap(m.lesionMask(it))
            XCTAssertEqual(MaskTools.extent(mask)?.area ?? 0, it.lesionArea ?? -1, it.file)
            XCTAssertEqual(try ImageFile.read(m.resolve(it.file)).width, 128)
            if it.extra["shortcut"] == "1" {
                XCTAssertTrue(FileManager.default.fileExists(atPath: m.resolve(it.extra["shortcut_mask"] ?? "")))
            }
            XCTAssertFalse(it.extra["lesion_kind", default: ""].isEmpty)
        }
        let t = try XCTUnwrap(m.lesionMaskTensor(m.items[1]))
        XCTAssertEqual(t.shape, [224, 224])
        XCTAssertGreaterThan(t.values.reduce(0, +), 0)
    }

    // MARK: - independence of slices

    /// One 500-slice set, generated once for the tests below (256 px: lesions of several pixels,
    /// so two masks can only coincide if the generator repeats itself).
    static let fiveHundred: (dir: String, manifest: Manifest) = {
        let dir = NSTemporaryDirectory() + "synth500-\(getpid())-\(UUID().uuidString)"
        let s = try! SynthDataset.generate(out: dir, count: 500, size: 256, seed: 0)
        return (dir, try! Manifest.read(path: s.manifestPath))
    }()

    override class func tearDown() {
        try? FileManager.default.removeItem(atPath: fiveHundred.dir)
        super.tearDown()
    }

    func testNoTwoLesionMasksOfFiveHundredSlicesAreIdentical() throws {
        let m = PhantomTests.fiveHundred.manifest
        XCTAssertEqual(m.items.count, 500)
        var seen: [[UInt16]: String] = [:]
        var lesions = 0
        for it in m.items where (it.lesionArea ?? 0) > 0 {
            let mask = try XCTUnwrap(m.lesionMask(it))
            lesions += 1
            if let other = seen[mask.samples] { XCTFail("\(it.file) has the same lesion mask as \(other)") }
            seen[mask.samples] = it.file
        }
        XCTAssertEqual(lesions, 334, "benign and malignant slices all carry a lesion")
        // Centres and sizes do not repeat either (version 1 repeated 9 centres in 60 slices).
        let centres = m.items.compactMap { it -> String? in
            guard let x = it.extra["lesion_cx"], !x.isEmpty else { return nil }
            return x + "," + (it.extra["lesion_cy"] ?? "")
        }
        XCTAssertEqual(centres.count, 334)
        XCTAssertEqual(Set(centres).count, centres.count)
        XCTAssertEqual(m.items.first?.extra["phantom_version"], PhantomGenerator.version)
    }

    func testNoLesionIsSharedAcrossSplits() throws {
        let m = PhantomTests.fiveHundred.manifest
        // A lesion's identity: its mask bytes, and separately its centre + radius + kind.
        var maskSplit: [[UInt16]: (Split, String)] = [:]
        var shapeSplit: [String: (Split, String)] = [:]
        for it in m.items where (it.lesionArea ?? 0) > 0 {
            let mask = try XCTUnwrap(m.lesionMask(it)).samples
            if let (s, f) = maskSplit[mask], s != it.split { XCTFail("lesion of \(it.file) (\(it.split)) also in \(f) (\(s))") }
            maskSplit[mask] = (it.split, it.file)
            let shape = ["lesion_kind", "lesion_cx", "lesion_cy", "lesion_radius_px"].map { it.extra[$0] ?? "" }.joined(separator: "|")
            if let (s, f) = shapeSplit[shape], s != it.split { XCTFail("lesion \(shape) of \(it.file) (\(it.split)) also in \(f) (\(s))") }
            shapeSplit[shape] = (it.split, it.file)
        }
        XCTAssertEqual(Set(m.items.map(\.split)), [.train, .val, .test])
    }

    func testSlicesDrawFromUnrelatedStreams() {
        // Neighbouring indices and seeds give unrelated first draws (the old scheme made stream
        // i + 1 equal to stream i advanced by one draw).
        var a = StreamSeed.rng(0, index: 1, purpose: .anatomy)
        var b = StreamSeed.rng(0, index: 0, purpose: .anatomy)
        _ = b.next()
        let firstA = (0..<8).map { _ in a.next() }, firstB = (0..<8).map { _ in b.next() }
        XCTAssertTrue(Set(firstA).isDisjoint(with: firstB))
        XCTAssertNotEqual(StreamSeed.seed(0, index: 1, purpose: .anatomy), StreamSeed.seed(1, index: 0, purpose: .anatomy))
        XCTAssertNotEqual(StreamSeed.seed(0, index: 1, purpose: .anatomy), StreamSeed.seed(0, index: 1, purpose: .lesion))
    }
}
