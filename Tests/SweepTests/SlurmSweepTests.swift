import XCTest
import Foundation
@testable import Sweep

/// A real Slurm (scripts/slurm/start.sh gives a single-node one; CI starts it before the tests):
/// the sweep goes in as a job array, one task is cancelled mid-run, resubmitted alone, and the
/// merged files equal the single process's.
final class SlurmSweepTests: XCTestCase {
    func requireSlurm() throws {
        if Slurm.available() { return }
        if ProcessInfo.processInfo.environment["CI"] == "true" {
            XCTFail("CI=true but no Slurm controller answers: .ci/run must start one with scripts/slurm/start.sh")
            throw FixtureError("no Slurm")
        }
        throw XCTSkip("no Slurm controller answers (start one with scripts/slurm/start.sh)")
    }

    func testScriptsForTheArrayAndTheMerge() throws {
        var o = SlurmOptions(shards: 8)
        o.resources = SlurmResources(partition: "gpu", time: "1:00:00", mem: "8G"); o.cpusPerTask = 4; o.maxParallel = 3
        let s = try Slurm.scripts(executable: "/opt/bin/camaudit", config: "/r/out dir/config.json", out: "/r/out dir", workingDirectory: "/r", options: o)
        for line in ["#SBATCH --array=0-7%3", "#SBATCH --output=\"/r/out dir/slurm/logs/%A_%a.out\"", "#SBATCH --cpus-per-task=4",
                     "#SBATCH --partition=gpu", "#SBATCH --time=1:00:00", "#SBATCH --mem=8G", "#SBATCH --chdir=/r",
                     "--shard \"${SLURM_ARRAY_TASK_ID}/8\"", "--config '/r/out dir/config.json'"] {
            XCTAssertTrue(s.array.contains(line), "array script lacks \(line):\n\(s.array)")
        }
        XCTAssertTrue(s.merge.contains("exec /opt/bin/camaudit merge '/r/out dir'"), s.merge)
        XCTAssertFalse(s.merge.contains("--array"), s.merge)
        XCTAssertTrue(s.merge.contains("#SBATCH --output=\"/r/out dir/slurm/logs/merge_%j.out\""), s.merge)
        var bad = SlurmOptions(shards: 2)
        bad.resources.partition = "a b"
        XCTAssertThrowsError(try bad.validate()) { XCTAssertTrue("\($0)".contains("--partition")) }
        XCTAssertThrowsError(try SlurmOptions(shards: 0).validate())
    }

    func testDryRunPrintsAndSubmitsNothing() throws {
        let fx = try SweepFixture.shared()
        let out = fx.folder("slurm-dry")
        let r = try runCamaudit(["sweep", "--config", fx.config, "--out", out, "--slurm", "--shards", "4", "--max-parallel", "2", "--dry-run"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("#SBATCH --array=0-3%2"), r.stdout)
        XCTAssertTrue(r.stdout.contains("merge"), r.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: Slurm.submissionPath(out)))
    }

    func testArrayWithACancelledTaskResumesAndMerges() throws {
        try requireSlurm()
        let fx = try SweepFixture.shared()
        let out = fx.folder("slurm")
        let shards = 3
        let sub = try runCamaudit(["sweep", "--config", fx.config, "--out", out, "--slurm", "--shards", "\(shards)", "--max-parallel", "2",
                                   "--cpus-per-task", "1"])
        XCTAssertEqual(sub.status, 0, sub.stderr)
        guard let submission = Slurm.submission(out) else { return XCTFail("no submission record: \(sub.stdout) \(sub.stderr)") }
        XCTAssertTrue(FileManager.default.fileExists(atPath: Slurm.arrayScriptPath(out)))
        XCTAssertTrue(FileManager.default.fileExists(atPath: Slurm.mergeScriptPath(out)))

        // The victim: the shard with the most units, cancelled once its first unit's rows are written.
        let plan = try Plan.expand(try SweepConfig.read(path: fx.config))
        let split = try ShardSplit(plan: plan, shards: shards)
        let victim = (0..<shards).max { split.units(ofShard: $0).count < split.units(ofShard: $1).count }!
        XCTAssertGreaterThan(split.units(ofShard: victim).count, 1)
        let part = Parts.path(out, shard: victim, of: shards) + "/results.csv"
        let rows = { ((try? String(contentsOfFile: part, encoding: .utf8)) ?? "").split(separator: "\n").count - 1 }
        try waitUntil("shard \(victim) to write its first unit", timeout: 150) { rows() > 0 }
        let cancel = try Slurm.run("scancel", ["\(submission.arrayJob)_\(victim)"])
        XCTAssertEqual(cancel.status, 0, cancel.stderr)
        // Every task and the merge job end; the merge (afterany) finds the cancelled shard missing.
        try waitUntil("the array and the merge job to end", timeout: 150, every: 0.5) {
            try !Slurm.isActive(job: submission.arrayJob) && !Slurm.isActive(job: submission.mergeJob)
        }
        let mergeLog = (try? String(contentsOfFile: Slurm.logDirectory(out) + "/merge_\(submission.mergeJob).out", encoding: .utf8)) ?? ""
        XCTAssertTrue(mergeLog.contains("shard \(victim)/\(shards)"), "merge log should name the missing shard:\n\(mergeLog)")
        XCTAssertTrue(mergeLog.contains("killed, cancelled or out of time"), mergeLog)
        XCTAssertTrue(mergeLog.contains("sbatch --array=\(victim) "), mergeLog)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/results.csv"), "an incomplete merge writes nothing")
        XCTAssertLessThan(try Completion(plan: plan, outs: [out]).plan.units.filter(try Completion(plan: plan, outs: [out]).isComplete).count,
                          plan.units.count, "the cancel came before the shard finished")

        let status = try runCamaudit(["sweep", "--status", out])
        XCTAssertEqual(status.status, 0, status.stderr)
        let victimLine = status.stdout.split(separator: "\n").first { $0.range(of: #"^\s*\#(victim)\s+failed"#, options: .regularExpression) != nil }
        XCTAssertNotNil(victimLine, status.stdout)
        XCTAssertTrue(status.stdout.contains("\(shards - 1) done"), status.stdout)
        XCTAssertTrue(status.stdout.contains("sbatch --array=\(victim) \(Slurm.arrayScriptPath(out))"), status.stdout)

        // Resubmit the cancelled shard alone, as --status says; it resumes from its rows.
        let again = try Slurm.sbatch(["--parsable", "--array=\(victim)", Slurm.arrayScriptPath(out)])
        try waitUntil("the resubmitted shard to end", timeout: 150, every: 0.5) { try !Slurm.isActive(job: again) }
        let record = ShardRecord.read(Parts.path(out, shard: victim, of: shards))
        XCTAssertEqual(record?.state, .done, "log: \((try? String(contentsOfFile: Slurm.logDirectory(out) + "/\(again)_\(victim).out", encoding: .utf8)) ?? "")")
        XCTAssertGreaterThan(record?.unitsReused ?? 0, 0, "the resumed shard reuses the units it finished before the cancel")
        XCTAssertEqual(record?.slurmJob, "\(again)_\(victim)")

        let merge = try runCamaudit(["merge", out])
        XCTAssertEqual(merge.status, 0, merge.stderr)
        try fx.assertMatchesReference(out)
        let done = try runCamaudit(["sweep", "--status", out])
        XCTAssertTrue(done.stdout.contains("\(shards) done"), done.stdout)
    }
}
