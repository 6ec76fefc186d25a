import ArgumentParser
import Foundation
import Sweep

struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Combine the shards of a sweep into one results.csv and its summaries; list what is missing.",
        discussion: """
        Reads the parts (OUT/parts/*) of every DIR, checks that every unit of the configuration has its rows, \
        and writes results.csv, summary.json, summary.md, classification.json and config.json into --out (default: \
        the first DIR) — the same files one process running the whole configuration writes. When units are \
        missing it writes nothing, lists every missing unit and the shard that owns it (and the parts that ran \
        another configuration), and exits with status 2. Two parts holding different numbers for one content key \
        are named in a warning; the first is kept.

        Exit codes: 0 merged; 1 error; 2 units missing; 64 bad option.
        """)

    @Argument(help: "Sweep output folders (shards may have run into several, e.g. one per cluster).")
    var dirs: [String]

    @Option(help: "The sweep configuration (default: config.json in the first DIR).")
    var config: String?

    @Option(help: "Where to write the merged results (default: the first DIR).")
    var out: String?

    func run() throws {
        guard let first = dirs.first else { throw ValidationError("give at least one sweep folder") }
        for d in dirs {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: d, isDirectory: &isDir), isDir.boolValue else { throw CLIError("\(d): no such folder") }
        }
        let cfgPath = config ?? first + "/" + RunRecord.fileName
        guard FileManager.default.fileExists(atPath: cfgPath) else {
            throw CLIError("\(cfgPath): no sweep configuration (a shard writes it when it starts); pass --config SWEEP.json")
        }
        let p = try Plan.expand(try SweepConfig.read(path: cfgPath), log: { writeStderr($0) })
        let target = out ?? first
        let report = try Merge.run(plan: p, sources: dirs, out: target)
        for c in report.conflicts { writeStderr("warning: rows differ: " + c) }
        guard report.complete else {
            writeStderr(report.describeMissing(plan: p, out: first))
            throw ExitCode(2)
        }
        print("merged \(report.unitCount) units: \(report.rowsWritten) rows in \(target)/results.csv; summaries in \(target)/summary.md, summary.json, classification.json")
    }
}
