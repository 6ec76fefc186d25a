import Foundation
import TensorCore

/// How a sweep is laid out on a Slurm cluster: one array task per shard, then one merge job.
public struct SlurmOptions: Sendable, Equatable, Codable {
    /// Array tasks (= shards of the plan).
    public var shards: Int
    /// Partition, account, time and memory of each task.
    public var resources = SlurmResources()
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
        try resources.validate()
        try SlurmValue.check(jobName, option: "--job-name")
    }
}

/// Where a job runs and what it may use: the Slurm fields every submitting command (`sweep`,
/// `evaluate`, `paper`) takes from the user, checked by one function.
public struct SlurmResources: Sendable, Equatable, Codable {
    public var partition: String? = nil
    public var account: String? = nil
    /// Slurm's formats: `MM`, `HH:MM:SS`, `D-HH`…
    public var time: String? = nil
    /// `4G`, `8000M`…
    public var mem: String? = nil
    public init(partition: String? = nil, account: String? = nil, time: String? = nil, mem: String? = nil) {
        self.partition = partition; self.account = account; self.time = time; self.mem = mem
    }

    /// Each value against `SlurmValue.check`, named by its option.
    public func validate() throws {
        for (option, v) in fields { if let v { try SlurmValue.check(v, option: option) } }
    }

    var fields: [(option: String, value: String?)] { [("--partition", partition), ("--account", account), ("--time", time), ("--mem", mem)] }

    /// Their `#SBATCH` lines.
    public func write(into script: inout SbatchScript) throws {
        for (option, v) in fields { if let v { try script.directive(String(option.dropFirst(2)), v, option: option) } }
    }
}

/// The one check of a value that reaches a batch script. Slurm reads `#SBATCH` lines itself, but a
/// line break in a value starts a new line that the shell runs, and a blank or quote changes what
/// sbatch parses; so a Slurm field (partition, account, time, memory, job name) is held to
/// characters that no Slurm value needs more than, and a path or command word to text without
/// control characters or a double quote.
public enum SlurmValue {
    /// A partition, account, time, memory or job name: letters, digits and `- _ : . , +`.
    public static func check(_ v: String, option: String) throws {
        guard !v.isEmpty, v.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_:.,+".contains($0)) }) else {
            throw SweepRunError.invalid("\(option) \(printable(v)): use letters, digits and - _ : . , + only (it goes into a Slurm batch script)")
        }
    }

    /// A path or a command-line word: any text but control characters (line breaks among them) and `"`.
    public static func checkPath(_ v: String, option: String) throws {
        if v.contains("\"") || v.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            throw SweepRunError.invalid("\(option) \(printable(v)) holds a line break, a control character or a double quote, which a Slurm batch script cannot carry; use another name")
        }
    }

    /// The value quoted, with control characters escaped, for a message on one line.
    static func printable(_ v: String) -> String {
        "'" + v.unicodeScalars.map { $0.properties.generalCategory == .control ? $0.escaped(asASCII: true) : String($0) }.joined() + "'"
    }
}

/// A batch script built so that no value can leave the line it is written on: `#SBATCH` values pass
/// `SlurmValue`, paths are double-quoted when they hold blanks, and every command word is quoted for
/// the shell. Every script camaudit submits is one of these.
public struct SbatchScript: Sendable, Equatable {
    public private(set) var lines: [String]

    public init(shell: String = "/bin/bash") { lines = ["#!" + shell] }

    public var text: String { lines.joined(separator: "\n") + "\n" }

    /// `#SBATCH --NAME=VALUE` for a Slurm field (`option` names it in an error).
    public mutating func directive(_ name: String, _ value: String, option: String) throws {
        try SlurmValue.check(value, option: option)
        lines.append("#SBATCH --\(name)=\(value)")
    }

    /// `#SBATCH --NAME=N`.
    public mutating func directive(_ name: String, _ value: Int) { lines.append("#SBATCH --\(name)=\(value)") }

    /// `#SBATCH --NAME=PATH[PATTERN]`: the path's `%` doubled (Slurm expands `%j`, `%A`… in file
    /// names), then `pattern` (ours, e.g. `/%A_%a.out`), double-quoted when blanks are in it.
    public mutating func directive(_ name: String, path: String, pattern: String = "", option: String) throws {
        try SlurmValue.checkPath(path, option: option)
        let v = (pattern.isEmpty ? path : path.replacingOccurrences(of: "%", with: "%%")) + pattern
        lines.append("#SBATCH --\(name)=" + (v.contains(where: \.isWhitespace) ? "\"\(v)\"" : v))
    }

    /// A comment; `words` are quoted as a command would quote them.
    public mutating func comment(_ text: String, words: [String] = []) throws {
        for w in words { try SlurmValue.checkPath(w, option: "a path in the script") }
        lines.append("# " + ([text] + words.map(Slurm.shellQuote)).joined(separator: " "))
    }

    /// A line of shell written by camaudit itself (no user value in it).
    public mutating func code(_ line: String) { lines.append(line) }

    /// `exec WORD…`: each word quoted for the shell; `.expanding` words are double-quoted text of
    /// ours in which the shell expands Slurm's variables.
    public mutating func exec(_ words: [ShellWord]) throws {
        var out: [String] = []
        for w in words {
            switch w {
            case .literal(let s):
                try SlurmValue.checkPath(s, option: "a command word")
                out.append(Slurm.shellQuote(s))
            case .expanding(let s): out.append("\"" + s + "\"")
            }
        }
        lines.append("exec " + out.joined(separator: " "))
    }
}

/// A word of a command line in a batch script.
public enum ShellWord: Sendable, Equatable, ExpressibleByStringLiteral {
    /// Taken as it is, whatever it holds (quoted).
    case literal(String)
    /// Double-quoted text written by camaudit in which the shell expands `${SLURM_…}` variables.
    case expanding(String)
    public init(stringLiteral s: String) { self = .literal(s) }
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

    /// Paths that cannot be written into a batch script.
    public static func checkPath(_ path: String, _ what: String) throws { try SlurmValue.checkPath(path, option: what) }

    /// The scripts for a sweep whose recorded configuration is `config` and output folder `out`
    /// (both absolute), run by `executable` (on a path every node sees) in `workingDirectory` (where
    /// the configuration's relative data and weights paths resolve).
    public static func scripts(executable: String, config: String, out: String, workingDirectory: String,
                               options o: SlurmOptions) throws -> SlurmScripts {
        try o.validate()
        let logs = logDirectory(out)
        func common(_ script: inout SbatchScript) throws {
            try script.directive("chdir", path: workingDirectory, option: "the working directory")
            try o.resources.write(into: &script)
        }
        var array = SbatchScript()
        try array.directive("job-name", o.jobName, option: "--job-name")
        array.code("#SBATCH --array=0-\(o.shards - 1)" + (o.maxParallel.map { "%\($0)" } ?? ""))
        try array.directive("output", path: logs, pattern: "/%A_%a.out", option: "--out")
        array.directive("cpus-per-task", o.cpusPerTask)
        try common(&array)
        var merge = SbatchScript()
        try merge.directive("job-name", o.jobName + "-merge", option: "--job-name")
        try merge.directive("output", path: logs, pattern: "/merge_%j.out", option: "--out")
        merge.directive("cpus-per-task", 1)
        try common(&merge)
        try array.comment("Task i runs shard i of \(o.shards). A task that was killed or failed resumes where it stopped")
        try array.comment("when run again alone: sbatch --array=i", words: [arrayScriptPath(out)])
        array.code("set -euo pipefail")
        try array.exec([.literal(executable), "sweep", "--config", .literal(config), "--out", .literal(out),
                        "--shard", .expanding("${SLURM_ARRAY_TASK_ID}/\(o.shards)"),
                        "--threads", .expanding("${SLURM_CPUS_PER_TASK:-\(o.cpusPerTask)}")])
        try merge.comment("Checks that every unit of every shard is in the results, then writes results.csv and the")
        try merge.comment("summaries; lists what is missing (and exits non-zero) otherwise.")
        merge.code("set -euo pipefail")
        try merge.exec([.literal(executable), "merge", .literal(out)])
        return SlurmScripts(array: array.text, merge: merge.text)
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
