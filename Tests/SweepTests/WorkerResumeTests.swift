import XCTest
import Foundation
@testable import Sweep

/// Shards and worker processes into one output folder, killed and resumed, give the single
/// process's files byte for byte.
final class WorkerResumeTests: XCTestCase {
    /// Pids of running processes whose command line contains every one of `words`.
    func processes(matching words: [String]) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            guard let raw = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            let args = raw.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return words.allSatisfy(args.contains)
        }
    }

    func rowCount(_ csv: String) -> Int {
        ((try? String(contentsOfFile: csv, encoding: .utf8)) ?? "").split(separator: "\n").count - 1
    }

    func testShardsMergeToTheSingleProcessFiles() throws {
        let fx = try SweepFixture.shared()
        let out = fx.folder("shards")
        for k in 0..<3 {
            let r = try runCamaudit(["sweep", "--config", fx.config, "--out", out, "--shard", "\(k)/3", "--threads", "1"])
            XCTAssertEqual(r.status, 0, r.stderr)
            // Before the last shard, merge refuses and names what is missing.
            if k == 1 {
                let m = try runCamaudit(["merge", out])
                XCTAssertEqual(m.status, 2, m.stderr)
                XCTAssertTrue(m.stderr.contains("shard 2/3"), m.stderr)
                XCTAssertTrue(m.stderr.contains("never started"), m.stderr)
                XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/results.csv"), "an incomplete merge writes nothing")
            }
        }
        let m = try runCamaudit(["merge", out])
        XCTAssertEqual(m.status, 0, m.stderr)
        try fx.assertMatchesReference(out)
        // Running a finished shard again computes nothing.
        let again = try runCamaudit(["sweep", "--config", fx.config, "--out", out, "--shard", "1/3", "--threads", "1"])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stdout.contains("0 units computed"), again.stdout)
        let status = try runCamaudit(["sweep", "--status", out])
        XCTAssertEqual(status.status, 0, status.stderr)
        XCTAssertTrue(status.stdout.contains("3 done, 0 running, 0 pending, 0 failed"), status.stdout)
    }

    /// Two workers on one folder; one is SIGKILLed after its first unit's rows are written. The run
    /// reports the dead worker; the same command again finishes only what is missing, and the
    /// merged files equal the single process's.
    func testKilledWorkerResumes() throws {
        let fx = try SweepFixture.shared()
        let out = fx.folder("workers")
        let run = try startCamaudit(["sweep", "--config", fx.config, "--out", out, "--workers", "2", "--threads", "1"])
        let victimPart = Parts.path(out, shard: 0, of: 1, worker: 1)
        var victim: Int32 = 0
        try waitUntil("worker 1 to write its first unit", timeout: 120) {
            if victim == 0 { victim = processes(matching: ["--worker", "1/2", out]).first ?? 0 }
            return victim != 0 && rowCount(victimPart + "/results.csv") > 0
        }
        let rowsBeforeKill = rowCount(victimPart + "/results.csv")
        XCTAssertEqual(kill(victim, SIGKILL), 0)
        run.process.waitUntilExit()
        let first = run.result()
        XCTAssertNotEqual(first.status, 0, "a run with a killed worker must not report success")
        XCTAssertTrue(first.stderr.contains("worker 1"), first.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/results.csv"), "no results file from an incomplete run")
        // The killed worker's part keeps its finished rows; the record says it never finished.
        XCTAssertEqual(ShardRecord.read(victimPart)?.state, .running)
        XCTAssertFalse(Parts.isLocked(victimPart), "the kernel released the dead worker's lock")

        let plan = try Plan.expand(try SweepConfig.read(path: fx.config))
        let doneBefore = try Completion(plan: plan, outs: [out])
        let unitsDone = plan.units.filter(doneBefore.isComplete).count
        XCTAssertGreaterThan(unitsDone, 0)
        XCTAssertLessThan(unitsDone, plan.units.count, "the kill came before the end")

        let second = try runCamaudit(["sweep", "--config", fx.config, "--out", out, "--workers", "2", "--threads", "1"])
        XCTAssertEqual(second.status, 0, second.stderr)
        XCTAssertTrue(second.stderr.contains("\(plan.units.count - unitsDone) of \(plan.units.count) units to compute"), second.stderr)
        // The resumed workers were assigned only the missing units, disjointly.
        let lists = try JSONDecoder().decode([[Int]].self, from: Data(contentsOf: URL(fileURLWithPath: WorkerPool.assignmentPath(out, shard: 0, of: 1))))
        let assigned = lists.flatMap { $0 }
        XCTAssertEqual(assigned.count, Set(assigned).count, "a unit assigned twice")
        XCTAssertEqual(Set(assigned), Set(plan.units.filter { !doneBefore.isComplete($0) }.map(\.index)))
        XCTAssertEqual(rowCount(victimPart + "/results.csv") >= rowsBeforeKill, true, "finished rows are never dropped")
        try fx.assertMatchesReference(out)
    }
}
