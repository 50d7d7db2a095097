import ArgumentParser
import MMCore

let compactServiceVersion = "0.1.0"

struct CompactServiceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compact-service",
        abstract: "Simulated NUMA machines with Linux-style memory compaction, over HTTP/JSON.",
        version: compactServiceVersion)

    @Flag(name: .long, help: "Print the version and exit.")
    var printVersion = false

    func run() throws {
        print("compact-service \(compactServiceVersion)")
    }
}
