import Foundation
import TestSupport
import XCTest

/// `camaudit audit` refuses bad options before reading or writing anything: one line naming the
/// option, exit 64.
final class CLIAuditOptionTests: CLITestCase {
    func testBadAuditOptionsAreRefusedNamingTheOption() throws {
        try FileManager.default.createDirectory(atPath: path("data"), withIntermediateDirectories: true)
        let base = ["audit", "--model", "resnet50", "--data", path("data"), "--out", path("out")]
        let cases: [([String], [String])] = [
            (["--threshold", "outside_body"], ["--threshold", "ID=VALUE"]),
            (["--threshold", "nonsense=0.2"], ["--threshold", "unknown check 'nonsense'"]),
            (["--threshold", "outside_body=1.5"], ["--threshold", "outside_body"]),
            (["--fail-on", "sometimes"], ["--fail-on"]),
            (["--methods", "random"], ["--methods", "chance level"]),
            (["--methods", "gradcam,gradcam"], ["--methods", "twice"]),
            (["--methods", "nosuchcam"], ["nosuchcam"]),
        ]
        for (extra, mentions) in cases {
            let args = base + extra
            let r = try CLI.run(args)
            assertClearError(r, args, mentions: mentions)
            XCTAssertEqual(r.status, 64, "camaudit \(args.joined(separator: " ")): \(r.stderr)")
        }
        let unknownModel = ["audit", "--model", "resnet18", "--data", path("data"), "--out", path("out")]
        assertClearError(try CLI.run(unknownModel), unknownModel, mentions: ["--model", "resnet18"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("out")), "a refused audit creates no output folder")
    }
}
