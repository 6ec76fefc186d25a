import XCTest
import TensorCore
import TestSupport
@testable import Report

/// Overlays against pytorch-grad-cam's show_cam_on_image (fixture: scripts/gen_overlay_fixture.py).
final class OverlayTests: XCTestCase {
    func testOverlayMatchesShowCamOnImage() throws {
        for name in ["full", "dim"] {
            let dir = fixturesDirectory + "/overlay"
            let image = try Fixtures.npy("\(dir)/\(name)_image.npy")
            let map = try Fixtures.npy("\(dir)/\(name)_map.npy")
            let expected = try Fixtures.npy("\(dir)/\(name)_expected.npy").values   // [H,W,3]
            let ours = try Overlay.render(image: image, map: map).bytes.map(Float.init)
            XCTAssertEqual(ours.count, expected.count)
            // OpenCV's JET table and the piecewise-linear jet differ by < 1/255; with truncation
            // to 8 bits that can move a sample by one level.
            let worst = zip(ours, expected).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertLessThanOrEqual(worst, 1, "\(name): worst sample differs by \(worst) levels")
            let exact = zip(ours, expected).filter { $0 == $1 }.count
            XCTAssertGreaterThan(Double(exact) / Double(expected.count), 0.75, "\(name): most samples identical")
        }
    }
}
