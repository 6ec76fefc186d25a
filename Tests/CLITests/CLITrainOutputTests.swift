import Foundation
import TestSupport
import XCTest
import TensorCore
import Training

/// What `train` and `synth` own, replace atomically and refuse: a run's outputs are locked for it,
/// another run's result is not replaced without --overwrite, a checkpoint is never beside a record
/// of another run, no temporary survives a failed write, and no output is one of the run's inputs.
final class CLITrainOutputTests: CLITestCase {
    /// A tiny set and the arguments of a one-epoch EfficientNet-B0 run at 32 px.
    func setUpData() throws -> String {
        let synth = try CLI.run(["synth", "--out", path("d"), "--count", "15", "--size", "64", "--seed", "1"])
        XCTAssertEqual(synth.status, 0, synth.stderr)
        return path("d/manifest.csv")
    }

    func train(_ data: String, out: String, seed: Int = 1, _ extra: [String] = []) -> [String] {
        ["train", "--data", data, "--out", out, "--model", "efficientnet_b0", "--image-size", "32", "--epochs", "1",
         "--batch-size", "4", "--seed", String(seed), "--quiet", "--threads", "1"] + extra
    }

    func bytes(_ p: String) -> Data? { FileManager.default.contents(atPath: p) }

    func temporaries(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.contains(".tmp-") }
    }

    // MARK: - Defect 3: two trainings into one output

    func testARunHoldingTheOutputLocksOutASecondRun() throws {
        let data = try setUpData()
        try FileManager.default.createDirectory(atPath: path("w"), withIntermediateDirectories: true)
        let holder = try FileLock(path: path("w/.m.safetensors.lock"), command: "camaudit train (the first run)")
        let args = train(data, out: path("w/m.safetensors"))
        let r = try CLI.run(args)
        assertClearError(r, args, mentions: ["m.safetensors", "another run", "pid \(getpid())", "the first run"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("w/m.safetensors")), "the refused run wrote a checkpoint")
        holder.release()
        let again = try CLI.run(args)
        XCTAssertEqual(again.status, 0, "the lock is free once its holder lets go: \(again.stderr)")
    }

    func testTwoRunsStartedTogetherDoNotBothWrite() throws {
        let data = try setUpData()
        let out = path("w/m.safetensors")
        let args = train(data, out: out, ["--epochs", "3"])
        // Both start at once; one must be refused (busy, or finding the other's finished result).
        let results = try [0, 1].map { _ in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: CLI.binary)
            p.arguments = args
            var env = ProcessInfo.processInfo.environment
            env["OPENBLAS_NUM_THREADS"] = "1"
            p.environment = env
            p.standardError = FileHandle.nullDevice
            try p.run()
            return p
        }.map { p -> Int32 in p.waitUntilExit(); return p.terminationStatus }
        XCTAssertEqual(results.sorted(), [0, 1], "exactly one of two runs on one --out may succeed")
    }

    func testAFinishedCheckpointIsReplacedOnlyWithOverwrite() throws {
        let data = try setUpData()
        let out = path("w/m.safetensors")
        let first = try CLI.run(train(data, out: out))
        XCTAssertEqual(first.status, 0, first.stderr)
        let checkpoint = bytes(out)
        let second = train(data, out: out, seed: 2)
        assertClearError(try CLI.run(second), second, mentions: [out, "m.json", "seed 1", "--overwrite"])
        XCTAssertEqual(bytes(out), checkpoint, "a refused run must not touch the checkpoint")
        // --resume of the finished run is done already (a requeued Slurm job, `paper`'s partial folder).
        let resumed = try CLI.run(train(data, out: out, ["--resume"]))
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("nothing to do"), resumed.stderr)
        XCTAssertEqual(bytes(out), checkpoint)
        let replaced = try CLI.run(second + ["--overwrite"])
        XCTAssertEqual(replaced.status, 0, replaced.stderr)
        let record = try JSONDecoder().decode(TrainingRecord.self, from: XCTUnwrap(bytes(path("w/m.json"))))
        XCTAssertEqual(record.seed, 2)
    }

    // MARK: - Defects 5 and 8: a failed run on a full disk

    /// Mounts a tmpfs of `megabytes` at `dir` (we run as root), or skips.
    func mountTmpfs(_ dir: String, megabytes: Int) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/mount")
        p.arguments = ["-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", dir]
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        if p.terminationStatus != 0 { throw XCTSkip("cannot mount a tmpfs at \(dir) (needs root)") }
        addTeardownBlock {
            let u = Process()
            u.executableURL = URL(fileURLWithPath: "/bin/umount")
            u.arguments = ["-l", dir]
            try? u.run()
            u.waitUntilExit()
        }
    }

    /// Fills the file system of `dir` until `leave` bytes are free.
    func fill(_ dir: String, leaving leave: Int) throws {
        let attrs = try FileManager.default.attributesOfFileSystem(forPath: dir)
        let free = (attrs[.systemFreeSize] as! NSNumber).intValue
        XCTAssertGreaterThan(free, leave)
        XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/filler", contents: Data(count: free - leave)))
    }

    func testAFailedRunLeavesNoMislabeledCheckpointAndNoTemporary() throws {
        let data = try setUpData()
        let fs = path("fs")
        try mountTmpfs(fs, megabytes: 160)
        let out = fs + "/t.safetensors"
        let first = try CLI.run(train(data, out: out))
        XCTAssertEqual(first.status, 0, first.stderr)
        let checkpoint = bytes(out)
        XCTAssertTrue(temporaries(fs).isEmpty)
        // Room for a checkpoint but not for a resume state: the second run fails in its first epoch.
        let stateSize = try XCTUnwrap(bytes(fs + "/t.resume.safetensors")).count
        try fill(fs, leaving: stateSize / 2)
        let second = train(data, out: out, seed: 2, ["--overwrite"])
        let r = try CLI.run(second)
        assertClearError(r, second, mentions: ["No space left on device"])
        XCTAssertEqual(temporaries(fs), [], "a failed write must remove its temporary")
        // Whatever checkpoint is left, no record or test score of another run sits beside it.
        if let record = bytes(fs + "/t.json") {
            XCTAssertEqual(bytes(out), checkpoint, "t.json describes the first run but t.safetensors changed")
            XCTAssertEqual(try JSONDecoder().decode(TrainingRecord.self, from: record).seed, 1)
        } else {
            XCTAssertFalse(FileManager.default.fileExists(atPath: fs + "/t.test.json"), "test scores without their record")
        }
    }

    func testStaleTemporariesOfKilledRunsAreSweptAndLiveOnesKept() throws {
        let data = try setUpData()
        try FileManager.default.createDirectory(atPath: path("w"), withIntermediateDirectories: true)
        let gone = Process()
        gone.executableURL = URL(fileURLWithPath: "/bin/true")
        try gone.run()
        gone.waitUntilExit()
        let dead = path("w/.m.resume.safetensors.tmp-\(gone.processIdentifier)-1f2e")
        let live = path("w/.m.safetensors.tmp-\(getpid())-beef")
        for p in [dead, live] { XCTAssertTrue(FileManager.default.createFile(atPath: p, contents: Data(count: 1000))) }
        let r = try CLI.run(train(data, out: path("w/m.safetensors")))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dead), "the temporary of a killed run was kept")
        XCTAssertTrue(FileManager.default.fileExists(atPath: live), "a temporary a live process writes was removed")
    }

    // MARK: - Defect 6: inputs are never outputs

    func testTrainRefusesToWriteOverItsInputs() throws {
        let data = try setUpData()
        let manifest = try XCTUnwrap(bytes(data))
        let logOverData = train(data, out: path("w/m.safetensors"), ["--log-steps", data])
        assertClearError(try CLI.run(logOverData), logOverData, mentions: ["--log-steps", "--data", data])
        XCTAssertEqual(bytes(data), manifest, "the manifest was overwritten")
        // The same file under another name.
        try FileManager.default.createSymbolicLink(atPath: path("alias.csv"), withDestinationPath: data)
        let viaLink = train(data, out: path("w/m.safetensors"), ["--log-steps", path("alias.csv")])
        assertClearError(try CLI.run(viaLink), viaLink, mentions: ["--log-steps", "--data"])
        let first = try CLI.run(train(data, out: path("w/m.safetensors")))
        XCTAssertEqual(first.status, 0, first.stderr)
        let initOverOut = train(data, out: path("w/m.safetensors"), ["--init", path("w/m.safetensors"), "--overwrite"])
        assertClearError(try CLI.run(initOverOut), initOverOut, mentions: ["--out", "--init"])
        let logOverRecord = train(data, out: path("w/n.safetensors"), ["--log-steps", path("w/n.json")])
        assertClearError(try CLI.run(logOverRecord), logOverRecord, mentions: ["--log-steps", "record"])
        XCTAssertEqual(bytes(data), manifest)
    }

    func testSynthReplacesOnlyItsOwnSetAndNeverMixesTwo() throws {
        // A folder of the user's: refused, untouched.
        try put("mine/notes.txt", Array("keep".utf8))
        let intoMine = ["synth", "--out", path("mine"), "--count", "3", "--size", "64"]
        assertClearError(try CLI.run(intoMine), intoMine, mentions: [path("mine"), "notes.txt"])
        XCTAssertEqual(try String(contentsOfFile: path("mine/notes.txt"), encoding: .utf8), "keep")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: path("mine")), ["notes.txt"])
        // A set synth wrote is replaced whole: a smaller second set leaves none of the first's slices.
        let big = try CLI.run(["synth", "--out", path("s"), "--count", "9", "--size", "64", "--seed", "1"])
        XCTAssertEqual(big.status, 0, big.stderr)
        let small = try CLI.run(["synth", "--out", path("s"), "--count", "3", "--size", "64", "--seed", "2"])
        XCTAssertEqual(small.status, 0, small.stderr)
        XCTAssertTrue(small.stdout.contains(path("s") + "/manifest.csv"), small.stdout)
        var slices = 0
        let e = FileManager.default.enumerator(atPath: path("s/images"))
        while let f = e?.nextObject() as? String { if f.hasSuffix(".png") { slices += 1 } }
        XCTAssertEqual(slices, 3, "slices of the first set survived beside the second set's manifest")
        let rows = try String(contentsOfFile: path("s/manifest.csv"), encoding: .utf8).split(separator: "\n").count - 1
        XCTAssertEqual(rows, 3)
        XCTAssertEqual(temporaries(tmp), [], "the staging folder was left behind")
    }

    /// A second set that fills the disk half-way through: the first set stays whole and valid, and
    /// nothing of the second is left.
    func testAFailedSynthLeavesTheOldSetWhole() throws {
        let fs = path("fs")
        try mountTmpfs(fs, megabytes: 1)
        let first = try CLI.run(["synth", "--out", fs + "/s", "--count", "3", "--size", "64", "--seed", "1"])
        XCTAssertEqual(first.status, 0, first.stderr)
        let manifest = bytes(fs + "/s/manifest.csv")
        func listing() -> [String] { (FileManager.default.enumerator(atPath: fs)?.allObjects as? [String] ?? []).sorted() }
        let before = listing()
        // Under the disk estimate synth checks first, over what the slices really take.
        let second = ["synth", "--out", fs + "/s", "--count", "60", "--size", "128", "--seed", "2"]
        let r = try CLI.run(second)
        XCTAssertEqual(r.status, 1, "the second set should not fit: \(r.stderr)")
        XCTAssertEqual(listing(), before, "a failed synth changed the folder")
        XCTAssertEqual(bytes(fs + "/s/manifest.csv"), manifest)
    }

    // MARK: - Defect 11: messages

    func testInitWithNonFiniteWeightsNamesTheCheckpoint() throws {
        let data = try setUpData()
        let first = try CLI.run(train(data, out: path("w/m.safetensors")))
        XCTAssertEqual(first.status, 0, first.stderr)
        // The first weight of the file becomes NaN.
        var raw = try XCTUnwrap(bytes(path("w/m.safetensors")))
        let n = raw.prefix(8).withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        raw.replaceSubrange((8 + n)..<(12 + n), with: [0x00, 0x00, 0xC0, 0x7F])
        try raw.write(to: URL(fileURLWithPath: path("nan.safetensors")))
        let args = train(data, out: path("w/n.safetensors"), ["--init", path("nan.safetensors")])
        let r = try CLI.run(args)
        assertClearError(r, args, mentions: ["--init", path("nan.safetensors"), "non-finite", "nan"])
        XCTAssertFalse(r.stderr.contains("--lr"), r.stderr)
    }

    func testHeaderOnlyManifestSaysItHasNoRows() throws {
        let data = try setUpData()
        let header = try String(contentsOfFile: data, encoding: .utf8).split(separator: "\n")[0]
        try put("empty.csv", Array((header + "\n").utf8))
        let args = train(path("empty.csv"), out: path("w/m.safetensors"))
        let r = try CLI.run(args)
        assertClearError(r, args, mentions: [path("empty.csv"), "no rows"])
        XCTAssertFalse(r.stderr.contains("one class"), r.stderr)
    }
}
