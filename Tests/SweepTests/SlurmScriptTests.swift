import XCTest
import Foundation
@testable import Sweep

/// Every value that reaches a batch script passes one check (`SlurmValue`) and one quoting
/// (`SbatchScript`): hostile text stays data when the shell runs the script.
final class SlurmScriptTests: TemporaryFolderTestCase {
    /// Words a user can put in a folder name or an option, each a shell command if left unquoted.
    var hostileWords: [String] {
        ["$(touch \(dir)/PWNED1)", "`touch \(dir)/PWNED2`", "a'b; touch \(dir)/PWNED3; '", "x;touch \(dir)/PWNED4", "$HOME ${PATH} %j %A", "-n", "*", ""]
    }

    func bash(_ script: String, env: [String: String] = [:]) throws -> (status: Int32, stdout: String) {
        let path = dir + "/script.sh"
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [path]
        p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    func assertNothingRan(file: StaticString = #filePath, line: UInt = #line) throws {
        let left = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("PWNED") }
        XCTAssertEqual(left, [], "a value was run as a command", file: file, line: line)
    }

    func testCommandWordsReachTheProgramAsTheyAre() throws {
        var s = SbatchScript()
        try s.directive("output", path: dir + "/logs $(touch \(dir)/PWNED5)", pattern: "/%j.out", option: "--out")
        try s.comment("resume with:", words: hostileWords)
        s.code("set -euo pipefail")
        try s.exec([.literal("/usr/bin/printf"), "%s\\n"] + hostileWords.map { .literal($0) } + [.expanding("${SLURM_ARRAY_TASK_ID}/4")])
        let r = try bash(s.text, env: ["SLURM_ARRAY_TASK_ID": "3"])
        XCTAssertEqual(r.status, 0, s.text)
        XCTAssertEqual(r.stdout, (hostileWords + ["3/4"]).map { $0 + "\n" }.joined(), s.text)
        try assertNothingRan()
        // The log path's own % signs are doubled; the pattern's stay Slurm's.
        XCTAssertTrue(s.text.contains("#SBATCH --output=\"\(dir)/logs $(touch \(dir)/PWNED5)/%j.out\""), s.text)
    }

    func testLineBreaksAndQuotesAreRefusedNamingTheOption() throws {
        var s = SbatchScript()
        for v in ["debug\ntouch x", "a b", "a\"b", "p;q", "$(x)", "", "gpu\r"] {
            XCTAssertThrowsError(try s.directive("partition", v, option: "--partition")) { e in
                XCTAssertTrue("\(e)".contains("--partition"), "\(e)")
                XCTAssertFalse("\(e)".contains("\n"), "one line: \(e)")
            }
        }
        for v in ["/a\nb", "/a\"b", "/a\u{7}b"] {
            XCTAssertThrowsError(try s.directive("chdir", path: v, option: "--out")) { XCTAssertTrue("\($0)".contains("--out")) }
            XCTAssertThrowsError(try s.exec([.literal(v)]))
            XCTAssertThrowsError(try s.comment("c", words: [v]))
        }
        XCTAssertEqual(s.lines, ["#!/bin/bash"], "nothing refused reaches the script")
        for v in ["gpu", "long,short", "2-00:00:00", "8G", "proj_42+x"] { XCTAssertNoThrow(try s.directive("partition", v, option: "--partition")) }
    }

    /// The sweep's two scripts: every value of SlurmOptions is checked, and the folder names the
    /// user chose are quoted wherever they appear.
    func testSweepScriptsCheckEveryField() throws {
        for field in ["partition", "account", "time", "mem", "jobName"] {
            var o = SlurmOptions(shards: 2)
            let bad = "x\ntouch \(dir)/PWNED"
            switch field {
            case "partition": o.resources.partition = bad
            case "account": o.resources.account = bad
            case "time": o.resources.time = bad
            case "mem": o.resources.mem = bad
            default: o.jobName = bad
            }
            XCTAssertThrowsError(try Slurm.scripts(executable: "/bin/camaudit", config: "/c.json", out: "/o", workingDirectory: "/", options: o), field)
        }
        let out = dir + "/out $(touch \(dir)/PWNED6) 'q'"
        // A stand-in for camaudit that prints its arguments one per line.
        let args = dir + "/args"
        try "#!/bin/sh\nprintf '%s\\n' \"$@\"\n".write(toFile: args, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: args)
        let s = try Slurm.scripts(executable: args, config: out + "/config.json", out: out, workingDirectory: dir,
                                  options: SlurmOptions(shards: 3))
        for text in [s.array, s.merge] {
            for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                XCTAssertTrue(line == "set -euo pipefail" || line.hasPrefix("exec "), "unexpected code line: \(line)")
            }
        }
        // Run as Slurm would: the words arrive intact.
        let r = try bash(s.merge)
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.stdout, "merge\n\(out)\n")
        let a = try bash(s.array, env: ["SLURM_ARRAY_TASK_ID": "1", "SLURM_CPUS_PER_TASK": "4"])
        XCTAssertEqual(a.stdout, ["sweep", "--config", out + "/config.json", "--out", out, "--shard", "1/3", "--threads", "4"].map { $0 + "\n" }.joined())
        try assertNothingRan()
    }
}
