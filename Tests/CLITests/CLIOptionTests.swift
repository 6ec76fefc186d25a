import Foundation
import TestSupport
import XCTest
import TensorCore

/// Every number a user can type: a clear refusal with the valid range, never a trap or a 100 GB allocation.
final class CLIOptionTests: CLITestCase {
    func testCrashesOfTodayAreClearErrors() throws {
        let missing = path("none.png")
        let cases: [([String], [String])] = [
            (["predict", "--model", "resnet50", "--image-size=0", missing], ["--image-size", "16...4096"]),
            (["predict", "--model", "resnet50", "--image-size=-5", missing], ["--image-size", "16...4096"]),
            (["cam", "--model", "resnet50", "--image-size=0", missing], ["--image-size", "16...4096"]),
            (["cam", "--model", "resnet50", "--image-size=-5", missing], ["--image-size", "16...4096"]),
            (["predict", "--model", "resnet50", "--image-size", "100000", missing], ["--image-size", "16...4096"]),
            (["cam", "--model", "resnet50", "--image-size", "100000", missing], ["--image-size", "16...4096"]),
            (["predict", "--model", "resnet50", "--num-classes", "100000000", missing], ["--num-classes", "1...100000"]),
            (["synth", "--out", path("s"), "--count", "1000000000"], ["--count", "1...10000000"]),
            (["metrics", "--maps", path("m.npy"), "--masks", path("k.npy"), "--threshold", "nan"], ["--threshold", "[0, 1]"]),
            (["metrics", "--maps", path("m.npy"), "--masks", path("k.npy"), "--threshold", "1.5"], ["--threshold", "[0, 1]"]),
        ]
        for (args, mentions) in cases {
            assertClearError(try CLI.run(args), args, mentions: mentions)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("s")), "synth must refuse before creating anything")
    }

    func testMemoryIsEstimatedBeforeAllocating() throws {
        // In range for the parser, far beyond any machine for the model: refused by the estimate.
        let args = ["cam", "--model", "vit_b_16", "--image-size", "4096", "--batch-size", "4096", path("none.png")]
        assertClearError(try CLI.run(args), args, mentions: ["memory", "--image-size"])
        let synth = ["synth", "--out", path("s"), "--count", "10000000", "--size", "4096"]
        assertClearError(try CLI.run(synth), synth, mentions: ["synth", "--count"])
    }

    /// Random out-of-range numbers for every numeric option of predict, cam, synth, metrics and
    /// evaluate: no signal (exit ≥ 128), one line naming the problem. Deterministic seed, bounded count.
    func testFuzzNumericOptions() throws {
        let missing = path("missing.png")
        let commands: [(prefix: [String], options: [String], suffix: [String])] = [
            (["predict", "--model", "resnet50"], ["--image-size", "--num-classes", "--batch-size", "--threads", "--seed", "--hu-offset"], [missing]),
            (["cam", "--model", "resnet50"], ["--image-size", "--num-classes", "--batch-size", "--threads", "--seed", "--cam-seed", "--hu-offset"], [missing]),
            (["synth", "--out", path("never")], ["--count", "--size", "--seed", "--shortcut", "--threads"], []),
            (["metrics", "--maps", path("m.npy"), "--masks", path("k.npy")], ["--threshold"], []),
            (["evaluate", "--data", path("no-data"), "--model", "resnet50", "--out", path("never-eval")],
             ["--image-size", "--batch-size", "--steps", "--threshold", "--limit", "--threads", "--num-classes", "--hu-offset"], []),
        ]
        // Values no option accepts: negative, zero where a count is needed, huge, non-finite, malformed.
        let fixedBad = ["nan", "inf", "-inf", "1e309", "18446744073709551616", "-9223372036854775809", "0x10", "", " ", "1,5", "--"]
        var rng = SeededRNG(seed: 20_251_129)
        var runs = 0
        for _ in 0..<60 {
            let c = commands[rng.below(commands.count)]
            let opt = c.options[rng.below(c.options.count)]
            let value: String
            switch rng.below(4) {
            case 0: value = fixedBad[rng.below(fixedBad.count)]
            case 1: value = String(-1 - Int(rng.next() >> UInt64(1 + rng.below(62))))     // negative
            case 2: value = String(Int(1e9) + Int(rng.next() >> 2))                       // huge
            default: value = String(format: "%.3f", -rng.uniform(0, 1e6))
            }
            // Counts must also refuse 0 (seeds and offsets accept it, thresholds too).
            let args = c.prefix + ["\(opt)=\(value)"] + c.suffix
            let r = try CLI.run(args)
            runs += 1
            XCTAssertEqual(r.signal, 0, "camaudit \(args.joined(separator: " ")) died on signal \(r.signal)")
            XCTAssertLessThan(r.status, 128, "camaudit \(args.joined(separator: " "))")
            XCTAssertNotEqual(r.status, 0, "camaudit \(args.joined(separator: " ")) accepted \(value)")
            let errors = r.stderrLines.filter { $0.hasPrefix("Error: ") }
            XCTAssertEqual(errors.count, 1, "camaudit \(args.joined(separator: " ")): \(r.stderr)")
            XCTAssertTrue(r.stderrLines.last?.hasPrefix("Error: ") ?? false, "camaudit \(args.joined(separator: " ")): \(r.stderr)")
        }
        XCTAssertEqual(runs, 60)
        // Zero is refused where a count or size is needed, with the range in the message.
        for (prefix, opt, suffix) in [(["predict", "--model", "resnet50"], "--batch-size", [missing]),
                                      (["synth", "--out", path("never")], "--count", [String]()),
                                      (["cam", "--model", "resnet50"], "--threads", [missing])] {
            let args = prefix + ["\(opt)=0"] + suffix
            assertClearError(try CLI.run(args), args, mentions: [opt, "..."])
        }
    }

    func testVersionAndHelpForEveryOption() throws {
        let v = try CLI.run(["--version"])
        XCTAssertEqual(v.status, 0)
        XCTAssertTrue(v.stdout.trimmingCharacters(in: .whitespacesAndNewlines).range(of: #"^\d+\.\d+\.\d+$"#, options: .regularExpression) != nil, v.stdout)
        for sub in ["predict", "cam", "synth", "metrics", "evaluate"] {
            let h = try CLI.run([sub, "--help"])
            XCTAssertEqual(h.status, 0, sub)
            let lines = h.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            guard let start = lines.firstIndex(of: "OPTIONS:") else { XCTFail("\(sub): no OPTIONS section"); continue }
            var options = 0
            for (i, line) in lines.enumerated() where i > start && line.hasPrefix("  -") {
                options += 1
                // The help: the rest of the option's line and its indented continuation lines,
                // without ArgumentParser's own "(default: …)".
                var text = line.replacingOccurrences(of: #"^  (-\w, )?--[\w-]+( <[\w-]+>)?( \.\.\.)?"#, with: "", options: .regularExpression)
                var j = i + 1
                while j < lines.count, lines[j].hasPrefix("        "), !lines[j].trimmingCharacters(in: .whitespaces).hasPrefix("-") {
                    text += " " + lines[j]
                    j += 1
                }
                text = text.replacingOccurrences(of: #"\(default: [^)]*\)"#, with: "", options: .regularExpression)
                XCTAssertFalse(text.trimmingCharacters(in: .whitespaces).isEmpty, "\(sub): option without help: \(line.trimmingCharacters(in: .whitespaces))")
            }
            XCTAssertGreaterThan(options, 3, sub)
        }
    }
}
