import XCTest
@testable import Paper

/// Table cells: a value that rounds to zero is 0 ("-0.000" reads as a sign error, as a model at
/// chance gives Faith ≈ −1e-7); real negatives keep their sign.
final class TableFormatTests: XCTestCase {
    func testNegativeZeroPrintsAsZero() {
        XCTAssertEqual(Tables.f(-1e-7), "0.000")
        XCTAssertEqual(Tables.f(-0.0004), "0.000")
        XCTAssertEqual(Tables.f(-0.0006), "-0.001")
        XCTAssertEqual(Tables.f(-0.04, 1), "0.0")
        XCTAssertEqual(Tables.f(-2.5, 1), "-2.5")
        XCTAssertEqual(Tables.f(0.5), "0.500")
        XCTAssertEqual(Tables.f(nil), "–")
    }
}
