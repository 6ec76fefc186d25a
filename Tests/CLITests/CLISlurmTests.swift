import Foundation
import TestSupport
import XCTest

/// Every command that submits Slurm jobs (sweep, evaluate, paper) holds the values it writes into a
/// batch script to one check, before anything is written or submitted: a line break, `;` or `$( )`
/// in a partition, account, time or memory is refused naming the option, and nothing runs.
final class CLISlurmTests: CLITestCase {
    func testHostileSlurmValuesAreRefusedByEverySubmittingCommand() throws {
        let out = path("out")
        let submitting: [[String]] = [
            ["sweep", "--config", path("SWEEP.json"), "--out", out, "--slurm", "--shards", "2"],
            ["evaluate", "--data", path("data"), "--model", "resnet50", "--out", out, "--slurm", "--shards", "2"],
            ["paper", "--profile", "tiny", "--out", out, "--slurm"],
        ]
        let hostile = ["debug\ntouch \(path("PWNED"))", "debug;touch \(path("PWNED"))", "$(touch \(path("PWNED")))", "a b", "x\"y", ""]
        for base in submitting {
            for option in ["--partition", "--account", "--time", "--mem"] {
                for v in hostile {
                    let args = base + [option, v]
                    let r = try CLI.run(args)
                    XCTAssertEqual(r.status, 64, "\(args): \(r.stderr)")
                    assertClearError(r, args, mentions: [option])
                }
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("PWNED")))
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "refused before anything is written")
    }

    /// Folder names a batch script cannot carry are refused before any stage runs; the other
    /// options keep their meaning.
    func testPathsAScriptCannotCarryAreRefusedBeforeWork() throws {
        let out = path("o\"ut")
        let args = ["paper", "--profile", "tiny", "--out", out, "--slurm"]
        let r = try CLI.run(args)
        assertClearError(r, args, mentions: ["--out", "double quote"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        // Slurm fields without --slurm are a mistake, not silently ignored.
        let stray = ["paper", "--profile", "tiny", "--out", path("p"), "--partition", "gpu"]
        assertClearError(try CLI.run(stray), stray, mentions: ["--slurm"])
    }
}
