import Foundation
import TestSupport
import XCTest
import TensorCore

/// Every option of every command, read from the binary's own description of itself (so an option
/// added tomorrow is fuzzed too), given values a hostile or careless user types: no signal, no
/// success, one line saying what is wrong.
final class CLIFuzzAllOptionsTests: CLITestCase {
    struct Command { var name: String; var options: [String] }

    /// Subcommands and their options from `--experimental-dump-help` (ArgumentParser's tool info).
    func commands() throws -> [Command] {
        let r = try CLI.run(["--experimental-dump-help"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let root = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let command = try XCTUnwrap(root["command"] as? [String: Any])
        let subs = try XCTUnwrap(command["subcommands"] as? [[String: Any]])
        return subs.compactMap { sub in
            guard let name = sub["commandName"] as? String, name != "help" else { return nil }
            let args = sub["arguments"] as? [[String: Any]] ?? []
            let options = args.filter { ($0["kind"] as? String) == "option" && ($0["shouldDisplay"] as? Bool ?? true) }.compactMap { a -> String? in
                let names = a["names"] as? [[String: Any]] ?? []
                return names.first { ($0["kind"] as? String) == "long" }.flatMap { $0["name"] as? String }.map { "--" + $0 }
            }
            return Command(name: name, options: options)
        }
    }

    /// Arguments that make each command fail on its input after its options are parsed, so a value
    /// the parser accepts still ends in an error and never starts real work.
    func base(_ command: String) -> [String]? {
        let missing = path("missing")
        switch command {
        case "predict", "cam": return [command, "--model", "resnet50", missing + ".png"]
        case "synth": return [command, "--out", path("never")]                       // no --count: refused
        case "metrics": return [command, "--maps", missing + ".npy", "--masks", missing + ".npy"]
        case "evaluate": return [command, "--data", missing, "--model", "resnet50", "--out", path("never")]
        case "audit": return [command, "--data", missing, "--model", "resnet50", "--out", path("never")]
        case "train": return [command, "--model", "resnet50", "--data", missing, "--out", path("never.safetensors")]
        case "paper": return [command, "--data", missing, "--out", path("never")]
        case "sweep": return [command, "--config", missing + ".json", "--out", path("never")]
        case "merge": return [command, missing]
        case "bench": return [command, "--sections", "none-such", "--json", path("never.json")]
        default: return nil
        }
    }

    func testEveryOptionOfEveryCommandSurvivesHostileValues() throws {
        let all = try commands()
        XCTAssertGreaterThanOrEqual(all.count, 10, all.map(\.name).joined(separator: " "))
        let values = ["99999999999", "-1", "0", "9223372036854775807", "-9223372036854775809", "18446744073709551616", "nan", "inf",
                      "1e309", "-0.0", "", " ", "1,5", "0x10", "a\nb", "$(touch \(path("PWNED")))", "=1+2", String(repeating: "9", count: 400)]
        // Relative paths among the values land here: a refused command leaves nothing behind.
        let work = path("cwd")
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        var rng = SeededRNG(seed: 20_261_207)
        var runs = 0
        for c in all {
            guard let base = base(c.name) else { XCTFail("no failing invocation for the new command '\(c.name)': add one to base(_:)"); continue }
            for option in c.options {
                // The two values that crashed before for every option, and three more at random.
                var picked = Array(values.prefix(2))
                for _ in 0..<3 { picked.append(values[rng.below(values.count)]) }
                for v in picked {
                    let args = base + ["\(option)=\(v)"]
                    let r = try CLI.run(args, cwd: work)
                    runs += 1
                    let cmd = "camaudit " + args.joined(separator: " ")
                    XCTAssertEqual(r.signal, 0, "\(cmd) died on signal \(r.signal): \(r.stderr.suffix(300))")
                    XCTAssertNotEqual(r.status, 0, "\(cmd) succeeded")
                    XCTAssertLessThan(r.status, 128, cmd)
                    XCTAssertEqual(r.stderrLines.filter { $0.hasPrefix("Error: ") }.count, 1, "\(cmd): \(r.stderr.suffix(500))")
                }
            }
        }
        XCTAssertGreaterThan(runs, 300)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("PWNED")))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("never")), "a refused run creates no output folder")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: work), [], "a refused run writes nothing")
    }

    /// The crash of the issue and its kind: counts and sizes far past any machine are refused by
    /// the parser (exit 64) with the option's range, before anything is allocated.
    func testHugeNumbersAreRefusedWithTheirRange() throws {
        let cases: [([String], String)] = [
            (["paper", "--profile", "tiny", "--out", path("p")], "--count"),
            (["paper", "--profile", "tiny", "--out", path("p")], "--epochs"),
            (["paper", "--profile", "tiny", "--out", path("p")], "--steps"),
            (["paper", "--profile", "tiny", "--out", path("p")], "--curve-images"),
            (["paper", "--profile", "tiny", "--out", path("p")], "--threads"),
            (["train", "--model", "resnet50", "--data", path("d"), "--out", path("t.safetensors")], "--epochs"),
            (["train", "--model", "resnet50", "--data", path("d"), "--out", path("t.safetensors")], "--batch-size"),
            (["train", "--model", "resnet50", "--data", path("d"), "--out", path("t.safetensors")], "--image-size"),
            (["train", "--model", "resnet50", "--data", path("d"), "--out", path("t.safetensors")], "--warmup-epochs"),
            (["train", "--model", "resnet50", "--data", path("d"), "--out", path("t.safetensors")], "--max-steps"),
            (["train", "--model", "resnet50", "--data", path("d"), "--out", path("t.safetensors")], "--threads"),
            (["sweep", "--config", path("c.json"), "--out", path("o")], "--workers"),
            (["sweep", "--config", path("c.json"), "--out", path("o")], "--threads"),
            (["sweep", "--config", path("c.json"), "--out", path("o"), "--slurm"], "--shards"),
            (["sweep", "--config", path("c.json"), "--out", path("o"), "--slurm", "--shards", "2"], "--cpus-per-task"),
            (["sweep", "--config", path("c.json"), "--out", path("o"), "--slurm", "--shards", "2"], "--max-parallel"),
            (["evaluate", "--data", path("d"), "--model", "resnet50", "--out", path("o")], "--limit"),
            (["evaluate", "--data", path("d"), "--model", "resnet50", "--out", path("o")], "--overlays"),
            (["evaluate", "--data", path("d"), "--model", "resnet50", "--out", path("o")], "--num-classes"),
            (["bench", "--sections", "kernels", "--json", path("b.json")], "--reps"),
            (["bench", "--sections", "kernels", "--json", path("b.json")], "--batches"),
            (["bench", "--sections", "kernels", "--json", path("b.json")], "--train-sizes"),
        ]
        for (base, option) in cases {
            for v in ["99999999999", "9223372036854775807"] {
                let args = base + [option, v]
                let r = try CLI.run(args)
                XCTAssertEqual(r.status, 64, "\(args.joined(separator: " ")): \(r.stderr)")
                assertClearError(r, args, mentions: [option, "..."])
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("p")))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("b.json")))
    }

    /// One vocabulary: every command that takes an architecture calls the option `--model` (a list
    /// where several make sense); the former names are hidden aliases that still work.
    func testTheArchitectureOptionHasOneName() throws {
        let all = try commands()
        let named = all.filter { c in c.options.contains { $0.contains("model") || $0.contains("architecture") } }
        XCTAssertEqual(Set(named.map(\.name)), ["predict", "cam", "train", "evaluate", "bench", "paper", "audit"])
        for c in named {
            XCTAssertTrue(c.options.contains("--model"), c.name)
            XCTAssertEqual(c.options.filter { ($0.contains("model") || $0.contains("architecture")) && $0 != "--model" }, [], c.name)
        }
        let alias = ["bench", "--models", "nonesuch", "--sections", "kernels", "--json", path("b.json")]
        assertClearError(try CLI.run(alias), alias, mentions: ["--models", "nonesuch"])
        let paper = ["paper", "--architectures", "resnet50,nonesuch", "--out", path("p")]
        assertClearError(try CLI.run(paper), paper, mentions: ["--architectures", "nonesuch"])
        let list = ["paper", "--model", "resnet50,resnet50", "--out", path("p")]
        assertClearError(try CLI.run(list), list, mentions: ["--model", "twice"])
    }
}
