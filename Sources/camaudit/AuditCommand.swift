import ArgumentParser
import Foundation
import TensorCore
import Models
import Explain
import Sweep
import Audit

struct AuditCommand: ParsableCommand, ConfiguresRun {
    /// Exit code when a check has the --fail-on status or worse.
    static let failedExitCode: Int32 = 4

    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "A one-page verdict on whether a model's Grad-CAM can be trusted: checks with pass/warn/fail, CIs and a report.",
        discussion: """
        Runs the checks below on the sweep engine (OUT/results.csv: content-keyed rows, resumable, --workers), \
        then writes OUT/audit.json ({"checks": [{id, status, value, ci, threshold, reason, …}], "model", "data"} with \
        content digests of the weights and the data), OUT/audit.md and OUT/report.html (self-contained). \
        Rerunning into the same OUT reuses every row whose inputs are unchanged.

        Checks: accuracy (beside chance; below the floor every other check says it describes a model that has \
        not learned), outside_body, randomization, random_logit, localization (needs masks or boxes; undefined \
        without), faithfulness, stability. Each is also reported per class. Thresholds: \
        \(AuditThresholds.defaults.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")) \
        (docs/AUDIT.md gives their sources); override with --threshold ID=VALUE.

        Exit codes: 0 done; 1 error; 64 bad option; 4 a check has the --fail-on status or worse.
        """)

    @Option(help: "Architecture (\(Architecture.allCases.map(\.rawValue).joined(separator: ", "))).")
    var model: String

    @Option(help: "Checkpoint (.safetensors / .pth). Default: random weights (the audit then shows what an untrained model's maps look like).")
    var weights: String?

    @OptionGroup var checkpoint: CheckpointOptions

    @Option(help: "A manifest.csv or a dataset folder (IQ-OTH/NCCD or class-per-folder).")
    var data: String

    @Option(help: "Only this split (train, val, test, or 'all').")
    var split: String = "test"

    @Option(help: "CAM methods, comma-separated; the first is judged, the others join the stability check (\(CAMMethod.allCases.filter { $0 != .random }.map(\.rawValue).joined(separator: ", "))). RandomCAM is always run as the chance level.")
    var methods: String = "gradcam"

    @Option(name: .customLong("fail-on"), help: "Exit 4 when a check has this status or worse: fail or warn.")
    var failOn: FailOn?

    @Option(name: .customLong("threshold"), help: ArgumentHelp("Override a check's threshold (repeatable), e.g. outside_body=0.3.", valueName: "ID=VALUE"))
    var thresholds: [String] = []

    @Option(help: "Output folder (created; resumable).")
    var out: String

    @Option(name: .customLong("num-classes"), help: "Class count of a random model (\(OptionRange.numClasses); default: the manifest's, at least 2).",
            transform: intOption(OptionRange.numClasses))
    var numClasses: Int?

    @Option(name: .customLong("cam-seed"), help: "Seed of RandomCAM, random logits and the cascade's re-initialisation (0...2^64-1).", transform: seedOption)
    var camSeed: UInt64 = 0

    @OptionGroup var input: DatasetOptions

    @OptionGroup var sweep: SweepRunArguments

    @OptionGroup(title: "Shards, workers and Slurm") var scale: ScaleArguments

    enum FailOn: String, ExpressibleByArgument, CaseIterable {
        case fail, warn
        var status: AuditStatus { self == .fail ? .fail : .warn }
    }

    var runSettings: RunSettings { RunSettings(threads: sweep.threads) }
    var checkpointDefaults: CheckpointDefaults { checkpoint.defaults(numClasses: numClasses) }

    /// The methods run: the user's, then RandomCAM (the chance level), each once.
    func methodList() throws -> [String] {
        let given = methods.split(separator: ",", omittingEmptySubsequences: false).map { String($0).trimmingCharacters(in: .whitespaces) }
        guard let first = given.first, !first.isEmpty else { throw ValidationError("--methods is empty; choose from \(CAMMethod.allCases.map(\.rawValue).joined(separator: ", "))") }
        if first == AuditPlan.chanceMethod { throw ValidationError("--methods: '\(first)' is the chance level every check compares with; put the method to judge first") }
        guard Set(given).count == given.count else { throw ValidationError("--methods '\(methods)': a method is listed twice") }
        return given.contains(AuditPlan.chanceMethod) ? given : given + [AuditPlan.chanceMethod]
    }

    func sweepConfig() throws -> SweepConfig {
        guard Architecture(rawValue: model) != nil else {
            throw ValidationError("--model: unknown architecture '\(model)'; choose from \(Architecture.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        _ = try input.scanOptions(strict: sweep.strict)  // --masks and --boxes must exist
        var config = SweepConfig(data: .init(path: data, split: split == "all" ? nil : split, limit: sweep.limit, splitSeed: sweep.splitSeed, strict: sweep.strict,
                                             masks: input.masks, boxes: input.boxes),
                                 models: [.init(architecture: model, weights: weights.map { [$0] } ?? [],
                                                checkpointKey: checkpoint.checkpointKey, stripPrefix: checkpoint.stripPrefix)])
        config.methods = try methodList()
        config.metrics = AuditPlan.metrics.map(\.rawValue)
        config.seeds = [camSeed]
        config.numClasses = numClasses
        config.grid = .init(steps: [AuditPlan.steps], threshold: [0.5])
        config.camSeed = camSeed
        sweep.apply(to: &config, input: input)
        _ = try configValue { try config.resolve() }
        return config
    }

    func run() throws {
        if scale.isSet { _ = try scale.options(threads: sweep.threads, dryRun: false) }
        let limits: AuditThresholds
        do { limits = try AuditThresholds(overrides: thresholds) } catch { throw ValidationError("\(error)") }
        let config = try sweepConfig()
        var runner = SweepRunner(config: config, out: out, scale: scale, threads: sweep.threads, wait: sweep.wait, dryRun: false)
        runner.inputs = [(data, "--data"), (input.masks ?? "", "--masks"), (input.boxes ?? "", "--boxes")]
        runner.extraWrites = AuditReport.files
        runner.finishAfterWorkers = true
        var worst: AuditStatus? = nil
        try runner.run { r in
            guard !r.plan.weights.isEmpty else { throw CLIError("no model to audit") }
            let method = config.methods[0]
            // This plan's rows only: OUT may hold rows of earlier runs with other weights or data.
            let wanted = Set(r.plan.units.flatMap { r.plan.expectedRows($0).map(\.id) })
            let evaluation = AuditEvaluation(rows: r.rows.filter { wanted.contains($0.id) }, method: method, thresholds: limits)
            let subject = AuditSubject(plan: r.plan, method: method)
            let doc = AuditDocument(checks: evaluation.checks(), model: subject.model, data: subject.data)
            try AuditReport.write(doc, evaluation: evaluation, executor: r.executor, plan: r.plan, to: out)
            for c in doc.checks {
                print("\(c.id.padding(toLength: 14, withPad: " ", startingAt: 0)) \(c.status.rawValue.uppercased().padding(toLength: 9, withPad: " ", startingAt: 0)) \(c.reason)")
            }
            print("wrote \(out)/report.html, audit.md, audit.json")
            worst = doc.worst
        }
        guard let worst else {
            print("when every shard is merged, run this command again: it reuses every row and writes the verdict")
            return
        }
        if let failOn, worst.severity >= failOn.status.severity {
            writeStderr("audit: a check has status \(worst.rawValue) (--fail-on \(failOn.rawValue))")
            throw ExitCode(Self.failedExitCode)
        }
    }
}
