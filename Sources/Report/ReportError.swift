import Foundation

/// What can go wrong while drawing figures or writing a report; each message names the file,
/// tool or argument at fault and what to do about it.
public enum ReportError: Error, CustomStringConvertible, LocalizedError, Equatable {
    /// An external program the report needs is not on PATH.
    case toolMissing(tool: String, package: String, purpose: String)
    /// An external program ran and failed.
    case toolFailed(tool: String, status: Int32, output: String)
    /// A caller passed something the figure or document cannot use.
    case invalidArgument(op: String, detail: String)
    /// A file or folder could not be written.
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case let .toolMissing(tool, package, purpose):
            return "\(tool) not found on PATH (needed to \(purpose)); install it: apt-get install \(package) (or run `make deps` as root)"
        case let .toolFailed(tool, status, output):
            let tail = output.split(separator: "\n").suffix(8).joined(separator: "\n")
            return "\(tool) failed with exit status \(status)" + (tail.isEmpty ? "" : ":\n\(tail)")
        case let .invalidArgument(op, detail):
            return "\(op): \(detail)"
        case let .writeFailed(path, reason):
            return "\(path): cannot write: \(reason)"
        }
    }
    public var errorDescription: String? { description }
}
