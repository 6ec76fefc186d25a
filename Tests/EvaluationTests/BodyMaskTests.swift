import XCTest
import TensorCore
import Evaluation

/// The body of a slice for the outside_body check: the largest foreground region, holes filled;
/// a corner marker and the table under the patient are outside it.
final class BodyMaskTests: XCTestCase {
    /// A 32×32 "slice": air 0.2, a body ellipse 0.9 with two dark lungs 0.3 inside, a bright corner
    /// marker and a table bar under the body, none of them touching the body.
    func slice() throws -> (Tensor, body: [Bool]) {
        let n = 32
        var v = [Float](repeating: 0.2, count: n * n)
        var body = [Bool](repeating: false, count: n * n)
        for y in 0..<n {
            for x in 0..<n {
                let dx = (Double(x) - 16) / 12, dy = (Double(y) - 15) / 8
                if dx * dx + dy * dy <= 1 { v[y * n + x] = 0.9; body[y * n + x] = true }
                for lx in [11.0, 21.0] {
                    let ex = (Double(x) - lx) / 3.5, ey = (Double(y) - 15) / 4
                    if ex * ex + ey * ey <= 1 { v[y * n + x] = 0.3 }
                }
            }
        }
        for y in 1..<4 { for x in 1..<6 { v[y * n + x] = 1 } }       // marker, top-left
        for y in 28..<30 { for x in 4..<28 { v[y * n + x] = 0.95 } }  // table
        var rgb = v; rgb += v; rgb += v
        return (try Tensor(shape: [3, n, n], values: rgb), body)
    }

    func testBodyIsTheLargestRegionWithHolesFilledAndExcludesMarkerAndTable() throws {
        let (image, truth) = try slice()
        let body = try BodyMask.find(image: image)
        XCTAssertEqual(body, truth, "the body is the ellipse, lungs included, marker and table excluded")
        XCTAssertFalse(body[2 * 32 + 3], "marker pixel counted as body")
        XCTAssertFalse(body[28 * 32 + 16], "table pixel counted as body")
        XCTAssertTrue(body[15 * 32 + 11], "lung (a hole in the foreground) not filled")
        XCTAssertEqual(BodyMask.outsideArea(body: body), Double(truth.filter { !$0 }.count) / 1024, accuracy: 1e-12)
    }

    func testOutsideEnergyAndBlanking() throws {
        let (image, body) = try slice()
        // A map only on the marker: all of its mass is outside; a map only on the body: none.
        var onMarker = [Float](repeating: 0, count: 1024)
        for y in 1..<4 { for x in 1..<6 { onMarker[y * 32 + x] = 1 } }
        XCTAssertEqual(try BodyMask.outsideEnergy(map: Tensor(shape: [32, 32], values: onMarker), body: body), 1)
        let onBody = body.map { $0 ? Float(1) : 0 }
        XCTAssertEqual(try BodyMask.outsideEnergy(map: Tensor(shape: [32, 32], values: onBody), body: body), 0)
        XCTAssertNil(try BodyMask.outsideEnergy(map: Tensor(shape: [32, 32], values: [Float](repeating: 0, count: 1024)), body: body))
        // Blanking sets the outside to air (the outside's median) and leaves the body untouched.
        let blank = try BodyMask.blankOutside(image: image, body: body)
        for c in 0..<3 {
            for i in 0..<1024 {
                XCTAssertEqual(blank.data[c * 1024 + i], body[i] ? image.data[c * 1024 + i] : 0.2, "channel \(c) pixel \(i)")
            }
        }
        XCTAssertThrowsError(try BodyMask.outsideEnergy(map: Tensor(shape: [16, 16], values: [Float](repeating: 1, count: 256)), body: body))
    }

    func testFlatImageHasNoBody() throws {
        let body = try BodyMask.find(image: Tensor(shape: [1, 3, 8, 8], values: [Float](repeating: 0.5, count: 192)))
        XCTAssertEqual(body, [Bool](repeating: false, count: 64))
        XCTAssertThrowsError(try BodyMask.find(image: Tensor(shape: [8, 8], values: [Float](repeating: 0.5, count: 64))))
    }
}
