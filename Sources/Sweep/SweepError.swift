import Foundation

/// Errors of the run driver; every message names the option, file or unit involved.
public enum SweepError: Error, CustomStringConvertible, LocalizedError, Equatable {
    /// A configuration value out of range or unknown; `field` is the SWEEP.json field / CLI option.
    case invalidConfig(field: String, detail: String)
    case io(path: String, detail: String)
    /// Another process holds the output folder's lock.
    case locked(path: String, holder: String)

    public var description: String {
        switch self {
        case let .invalidConfig(field, detail): return "\(field): \(detail)"
        case let .io(path, detail): return "\(path): \(detail)"
        case let .locked(path, holder):
            return "\(path) is in use by another run (\(holder)); wait for it to finish, pass --wait, or choose another --out"
        }
    }
    public var errorDescription: String? { description }
}
