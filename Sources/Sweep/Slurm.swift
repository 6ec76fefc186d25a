import Foundation
import TensorCore

/// How a sweep is laid out on a Slurm cluster: one array task per shard, then one merge job.
public struct SlurmOptions: Sendable, Equatable, Codable {
    /// Array tasks (= shards of the plan).
    public var shards: Int
    public var partition: String? = nil
    /// `--time` of each task (Slurm's formats: `MM`, `HH:MM:SS`, `D-HH`…).
    public var time: String? = nil
    /// `--mem` of each task (`4G`, `8000M`…).
    public var mem: String? = nil
    public var cpusPerTask: Int = 1
    /// At most this many tasks at once (`%MAX` of `--array`); nil: as many as Slurm grants.
    public var maxParallel: Int? = nil
    public var jobName: String = "camaudit-sweep"

    public init(shards: Int) { self.shards = shards }

    /// Refuses values Slurm would reject later, or that would make no job at all.
    public func validate() throws {
        guard shards >= 1 else { throw SweepRunError.invalid("--shards must be ≥ 1, got \(shards)") }
        guard cpusPerTask >= 1 else { throw SweepRunError.invalid("--cpus-per-task must be ≥ 1, got \(cpusPerTask)") }
        if let m = maxParallel, m < 1 { throw SweepRunError.invalid("--max-parallel must be ≥ 1, got \(m)") }
        for (name, v) in [("--partition", partition), ("--time", time), ("--mem", mem), ("--job-name", jobName)] {
            guard let v else { continue }
            guard !v.isEmpty, v.allSatisfy({ $0.isLetter || $0.isNumber || "-_:.,+".contains($0) }) else {
                throw SweepRunError.invalid("\(name) '\(v)': use letters, digits and - _ : . , + only")
            }
        }
    }
}

/// Errors of running sweeps (shards, workers, Slurm, merge); each names what to fix.
public enum SweepRunError: Error, CustomStringConvertible, LocalizedError, Equatable {
    case invalid(String)
    case slurm(String)
    case incomplete(String)

    public var description: String {
        switch self {
        case let .invalid(s): return s
        case let .slurm(s): return "slurm: \(s)"
        case let .incomplete(s): return s
        }
    }
    public var errorDescription: String? { description }
}

/// The two batch scripts of a submission, as saved beside the results.
public struct SlurmScripts: Sendable, Equatable {
    /// The job array: task i runs shard i of N.
    public var array: String
    /// Runs `camaudit merge` once every task has ended (`afterany`, so a failed task leaves a
    /// merge that names what is missing rather than a merge that never runs).
    public var merge: String
}

/// Job ids of a submission, recorded in `OUT/slurm/submission.json`.
public struct SlurmSubmission: Sendable, Equatable, Codable {
    public var arrayJob: String
    public var mergeJob: String
    public var shards: Int
    public var submitted: String
}

/// Writing, submitting and watching sweep jobs with the Slurm client commands (sbatch, squeue).
public enum Slurm {
    /// Where a sweep's Slurm files live in its output folder.
    public static func directory(_ out: String) -> String { out + "/slurm" }
    public static func arrayScriptPath(_ out: String) -> String { directory(out) + "/shards.sbatch" }
    public static func mergeScriptPath(_ out: String) -> String { directory(out) + "/merge.sbatch" }
    public static func submissionPath(_ out: String) -> String { directory(out) + "/submission.json" }
    public static func logDirectory(_ out: String) -> String { directory(out) + "/logs" }

    /// A word for a POSIX shell, single-quoted when it holds anything but safe characters.
    public static func shellQuote(_ s: String) -> String {
        if !s.isEmpty, s.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "/._-+:=,@%".contains($0)) }) { return s }
        return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// A path in an `#SBATCH` line: sbatch splits those lines at blanks unless double-quoted.
    static func sbatchValue(_ s: String) -> String { s.contains(where: \.isWhitespace) ? "\"\(s)\"" : s }

    /// Paths that cannot be written into a batch script's `#SBATCH` lines.
    public static func checkPath(_ path: String, _ what: String) throws {
        if path.contains("\"") || path.contains(where: \.isNewline) {
            throw SweepRunError.invalid("\(what) '\(path)' holds a double quote or a line break, which an sbatch script cannot carry; use another folder")
        }
    }

    /// The scripts for a sweep whose recorded configuration is `config` and output folder `out`
    /// (both absolute), run by `executable` (on a path every node sees) in `workingDirectory` (where
    /// the configuration's relative data and weights paths resolve).
    public static func scripts(executable: String, config: String, out: String, workingDirectory: String,
                               options o: SlurmOptions) -> SlurmScripts {
        let logs = logDirectory(out)
        var head = ["#!/bin/bash", "#SBATCH --job-name=\(o.jobName)"]
        var array = "0-\(o.shards - 1)"
        if let m = o.maxParallel { array += "%\(m)" }
        var common = ["#SBATCH --chdir=\(sbatchValue(workingDirectory))"]
        if let p = o.partition { common.append("#SBATCH --partition=\(p)") }
        if let t = o.time { common.append("#SBATCH --time=\(t)") }
        if let m = o.mem { common.append("#SBATCH --mem=\(m)") }
        head.append("#SBATCH --array=\(array)")
        head.append("#SBATCH --output=\(sbatchValue(logs + "/%A_%a.out"))")
        head.append("#SBATCH --cpus-per-task=\(o.cpusPerTask)")
        let q = shellQuote
        let arrayBody = """
        # Task i runs shard i of \(o.shards). A task that was killed or failed resumes where it stopped
        # when run again alone: sbatch --array=i \(q(arrayScriptPath(out)))
        set -euo pipefail
        exec \(q(executable)) sweep --config \(q(config)) --out \(q(out)) \\
          --shard "${SLURM_ARRAY_TASK_ID}/\(o.shards)" --threads "${SLURM_CPUS_PER_TASK:-\(o.cpusPerTask)}"
        """
        let mergeHead = ["#!/bin/bash", "#SBATCH --job-name=\(o.jobName)-merge", "#SBATCH --output=\(sbatchValue(logs + "/merge_%j.out"))",
                         "#SBATCH --cpus-per-task=1"] + common
        let mergeBody = """
        # Checks that every unit of every shard is in the results, then writes results.csv and the
        # summaries; lists what is missing (and exits non-zero) otherwise.
        set -euo pipefail
        exec \(q(executable)) merge \(q(out))
        """
        return SlurmScripts(array: (head + common).joined(separator: "\n") + "\n" + arrayBody + "\n",
                            merge: mergeHead.joined(separator: "\n") + "\n" + mergeBody + "\n")
    }

    /// Saves the scripts in `OUT/slurm/`, submits the array and the merge job after it, and records
    /// the job ids in `OUT/slurm/submission.json`.
    public static func submit(_ scripts: SlurmScripts, out: String, shards: Int) throws -> SlurmSubmission {
        try save(scripts, out: out)
        let arrayJob = try sbatch(["--parsable", arrayScriptPath(out)])
        let mergeJob = try sbatch(["--parsable", "--dependency=afterany:\(arrayJob)", mergeScriptPath(out)])
        let sub = SlurmSubmission(arrayJob: arrayJob, mergeJob: mergeJob, shards: shards,
                                  submitted: ISO8601DateFormatter().string(from: Date()))
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try atomicWrite(try enc.encode(sub), to: submissionPath(out))
        return sub
    }

    /// Writes the scripts (executable) into `OUT/slurm/` and creates the log folder.
    public static func save(_ scripts: SlurmScripts, out: String) throws {
        try FileManager.default.createDirectory(atPath: logDirectory(out), withIntermediateDirectories: true)
        for (text, path) in [(scripts.array, arrayScriptPath(out)), (scripts.merge, mergeScriptPath(out))] {
            try atomicWrite(Data(text.utf8), to: path)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        }
    }

    /// The recorded submission of a sweep folder, if it was submitted.
    public static func submission(_ out: String) -> SlurmSubmission? {
        guard let d = FileManager.default.contents(atPath: submissionPath(out)) else { return nil }
        return try? JSONDecoder().decode(SlurmSubmission.self, from: d)
    }

    /// Submits one batch script; returns the job id (`sbatch --parsable` prints `id[;cluster]`).
    public static func sbatch(_ args: [String]) throws -> String {
        let r = try run("sbatch", args)
        guard r.status == 0 else { throw SweepRunError.slurm("sbatch \(args.joined(separator: " ")) failed: \(r.stderr.trimmed)") }
        guard let id = r.stdout.trimmed.split(separator: ";").first.map(String.init), !id.isEmpty, id.allSatisfy(\.isNumber) else {
            throw SweepRunError.slurm("sbatch printed no job id: '\(r.stdout.trimmed)'")
        }
        return id
    }

    /// States of the array's tasks that Slurm still knows (pending, running, completing…), by task
    /// index; finished tasks leave the queue, so absence means "ended", not "failed".
    public static func queuedTasks(arrayJob: String) throws -> [Int: String] {
        let r = try run("squeue", ["-h", "-r", "-j", arrayJob, "-o", "%K %T"])
        // squeue exits non-zero for a job id it has already forgotten: then nothing is queued.
        guard r.status == 0 else { return [:] }
        var out: [Int: String] = [:]
        for line in r.stdout.split(separator: "\n") {
            let f = line.split(separator: " ")
            if f.count == 2, let k = Int(f[0]), !ended.contains(String(f[1])) { out[k] = String(f[1]) }
        }
        return out
    }

    /// True while a job (or any task of an array) is queued or running.
    public static func isActive(job: String) throws -> Bool {
        let r = try run("squeue", ["-h", "-r", "-j", job, "-o", "%T"])
        guard r.status == 0 else { return false }
        return r.stdout.split(separator: "\n").contains { !ended.contains(String($0).trimmed) }
    }

    /// Job states after which a task no longer runs (squeue lists them for a while, MinJobAge).
    static let ended: Set<String> = ["COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "OUT_OF_MEMORY",
                                     "BOOT_FAIL", "DEADLINE", "SPECIAL_EXIT", "REVOKED"]

    /// True when the Slurm client is installed and a controller answers.
    public static func available() -> Bool {
        (try? run("sinfo", ["-h", "-o", "%P"]))?.status == 0
    }

    /// Runs a command found on PATH and collects its output.
    static func run(_ tool: String, _ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        guard let path = which(tool) else {
            throw SweepRunError.slurm("'\(tool)' not found on PATH: install the Slurm client (Debian: slurm-client) or run the shards with --shard K/N")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    static func which(_ tool: String) -> String? {
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        return dirs.map { "\($0)/\(tool)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

extension String {
    var trimmed: String { trimmingCharacters(in: .whitespacesAndNewlines) }
}
