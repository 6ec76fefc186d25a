import ArgumentParser
import Foundation
import TensorCore
import Paper
import Sweep

/// `camaudit paper`: the study end to end — data, training, explanations and metrics, statistics,
/// the shortcut experiment, figures and report — each stage cached by the digest of its inputs.
struct PaperCommand: ParsableCommand, ConfiguresRun {
    static let configuration = CommandConfiguration(
        commandName: "paper",
        abstract: "Reproduce the study end to end: train the five architectures, explain, measure, report (docs/PAPER.md).",
        discussion: """
        Profiles: tiny (CI, minutes), quick (about 2.5 h on 2 cores, fewer with --model), full (the study's recipe), study (full from torchvision's \
        ImageNet weights: needs --pretrained). Stages are cached under OUT/cache by \
        the SHA-256 of their inputs and configuration: a rerun reuses what did not change. Writes OUT/report.html, report.md, \
        figures/, tables/*.csv, run.json and stages.json.
        """)

    @Option(help: "tiny, quick, full or study.") var profile = "quick"
    @Option(help: "Output folder (default reports/PROFILE).") var out: String?
    @Option(help: "A dataset folder (IQ-OTH/NCCD as distributed, or one folder per class) instead of the phantoms.") var data: String?
    @Option(help: "Lesion masks of --data (PNG, non-zero = lesion, same size as the image).") var masks: String?
    @Option(help: "A folder of torchvision's ImageNet checkpoints, named as torchvision names them (resnet50-11ad3fa6.pth, e.g. ~/.cache/torch/hub/checkpoints): every model starts from its architecture's file.")
    var pretrained: String?
    @Option(help: "Architectures: one, a comma-separated list, or all (default).") var model: String?
    /// The option's former name, kept for a release.
    @Option(name: .customLong("architectures"), help: .hidden) var architecturesAlias: String?
    @Option(help: "Training seeds, comma-separated (R models per architecture).") var seeds: String?
    @Option(help: "Training epochs (overrides the profile; \(OptionRange.epochs)).", transform: intOption(OptionRange.epochs)) var epochs: Int?
    @Option(help: "Phantom count (overrides the profile; \(PaperCommand.countRange)).", transform: intOption(PaperCommand.countRange)) var count: Int?
    @Option(help: "Deletion/insertion steps (overrides the profile; \(OptionRange.steps)).", transform: intOption(OptionRange.steps)) var steps: Int?
    @Option(name: .customLong("curve-images"), help: "Test images per architecture in the deletion/insertion curves (\(OptionRange.images)).",
            transform: intOption(OptionRange.images)) var curveImages: Int?
    @Option(name: .customLong("accuracy-floor"), help: "Models below this mean test accuracy have their explanation metrics flagged (0...1).",
            transform: doubleOption(0...1)) var accuracyFloor: Double?
    @Option(help: "Threads (\(OptionRange.threads); default: all cores).", transform: intOption(OptionRange.threads)) var threads: Int?
    @Option(help: "Run the independent work (trainings, sweep units) as this many processes at once on this machine, sharing the threads (\(OptionRange.workers); default 1).",
            transform: intOption(OptionRange.workers)) var workers: Int?
    @Flag(help: "Submit the training runs and the sweeps as Slurm jobs and wait for them.") var slurm = false
    @Flag(name: .customLong("dry-run"), help: "Print every stage, its work and its estimated time here and on 16, 32 and 64 cores (runs the data stage and a short calibration; trains nothing).")
    var dryRun = false
    @OptionGroup var slurmResources: SlurmResourceArguments

    static let countRange = 9...Synth.countRange.upperBound

    var runSettings: RunSettings { RunSettings(threads: threads) }

    func run() throws {
        guard let p = PaperProfile(rawValue: profile) else {
            throw ValidationError("--profile '\(profile)': choose \(PaperProfile.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var c = p.config
        if let data {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: data, isDirectory: &isDir), isDir.boolValue else { throw CLIError("--data \(data): no such folder") }
            c.data.folder = absolute(data)
        }
        if let pretrained {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: pretrained, isDirectory: &isDir), isDir.boolValue else { throw CLIError("--pretrained \(pretrained): no such folder") }
            c.pretrained = absolute(pretrained)
        }
        if let masks {
            guard c.data.folder != nil else { throw ValidationError("--masks needs --data (phantoms carry their own masks)") }
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: masks, isDirectory: &isDir), isDir.boolValue else { throw CLIError("--masks \(masks): no such folder") }
            c.data.masks = absolute(masks)
        }
        if let list = model ?? architecturesAlias {
            c.architectures = try architectureList(list, option: model != nil ? "--model" : "--architectures").map(\.rawValue)
        }
        if let seeds {
            c.seeds = try seeds.split(separator: ",").map {
                guard let s = UInt64($0.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("--seeds '\(seeds)': comma-separated integers") }
                return s
            }
        }
        if let epochs {
            // Every architecture's: a per-architecture epoch count of the profile gives way too.
            c.training.epochs = epochs
            for k in c.training.perArchitecture?.keys.map({ $0 }) ?? [] { c.training.perArchitecture?[k]?.epochs = nil }
        }
        if let count { c.data.phantom?.count = count }
        if c.data.folder == nil, let p = c.data.phantom {
            try checkPhantomResources(count: p.count, size: p.size, under: absolute(out ?? "reports/\(profile)"), what: "paper --count \(p.count)")
        }
        if let steps { c.analysis.deletionSteps = steps }
        if let curveImages { c.analysis.curveImages = curveImages }
        if let accuracyFloor { c.analysis.accuracyFloor = accuracyFloor }
        if slurm {
            var s = SlurmSpec()
            s.resources = slurmResources.resources
            c.slurm = s
        } else if slurmResources.resources != SlurmResources() {
            throw ValidationError("--partition, --account, --time and --mem go with --slurm")
        }
        c.workers = workers
        do { try c.validate() } catch let e as PaperError { throw ValidationError(e.description) }
        var pipeline = Pipeline(config: c, out: absolute(out ?? "reports/\(p.rawValue)"), version: CamAudit.version)
        pipeline.log = { writeStderr($0) }
        if dryRun {
            print(try pipeline.estimate().text(), terminator: "")
            return
        }
        _ = try pipeline.run()
    }

    func absolute(_ path: String) -> String {
        let s = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        return (s as NSString).standardizingPath
    }
}
