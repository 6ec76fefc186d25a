import ArgumentParser

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "evaluate", abstract: "(not yet implemented)")
    func run() throws { throw ValidationError("'evaluate' is not implemented yet") }
}
