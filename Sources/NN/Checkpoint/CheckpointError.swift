import Foundation

/// The one error type of checkpoint I/O. Its message names the file and what is wrong with it
/// (truncated, corrupt header, bad dtype, refused pickle global, missing storage entry, …).
public struct CheckpointError: Error, CustomStringConvertible, LocalizedError, Equatable {
    /// The checkpoint path (or a caller-chosen name for in-memory bytes).
    public let file: String
    /// What is wrong, in words a user can act on.
    public let reason: String

    public init(file: String, reason: String) {
        self.file = file
        self.reason = reason
    }

    public var description: String { "\(file): \(reason)" }
    public var errorDescription: String? { description }
}
