import ArgumentParser

struct Synth: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "synth", abstract: "(not yet implemented)")
    func run() throws { throw ValidationError("'synth' is not implemented yet") }
}
