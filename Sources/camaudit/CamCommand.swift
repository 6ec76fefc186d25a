import ArgumentParser

struct Cam: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cam", abstract: "(not yet implemented)")
    func run() throws { throw ValidationError("'cam' is not implemented yet") }
}
