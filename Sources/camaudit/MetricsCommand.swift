import ArgumentParser

struct Metrics: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "metrics", abstract: "(not yet implemented)")
    func run() throws { throw ValidationError("'metrics' is not implemented yet") }
}
