import XCTest
@testable import Sweep

final class ContentDigestTests: XCTestCase {
    /// FIPS 180-4 examples, and a message that straddles the padding boundary.
    func testKnownDigests() throws {
        XCTAssertEqual(ContentDigest.hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(ContentDigest.hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(ContentDigest.hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(ContentDigest.hex([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// Streaming in pieces of any size gives the one-shot digest; files hash as their bytes.
    func testStreamingAndFiles() throws {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 * 31 + 7) }
        var s = ContentDigest()
        var i = 0
        for n in [1, 63, 64, 65, 7, 300] { s.update(bytes[i..<min(bytes.count, i + n)]); i += n }
        s.update(bytes[i...])
        XCTAssertEqual(s.finalizeHex(), ContentDigest.hex(bytes))
        let path = NSTemporaryDirectory() + "/camaudit-sha-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: path) }
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        XCTAssertEqual(try ContentDigest.hex(file: path), ContentDigest.hex(bytes))
        XCTAssertThrowsError(try ContentDigest.hex(file: path + ".absent"))
    }
}
