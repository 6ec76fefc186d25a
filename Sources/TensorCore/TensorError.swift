/// Errors thrown by kernels and shape checks. Every message names the op and the shapes involved.
public enum TensorError: Error, CustomStringConvertible, Equatable {
    case shapeMismatch(op: String, detail: String)
    case invalidArgument(op: String, detail: String)
    case numerical(op: String, detail: String)

    public var description: String {
        switch self {
        case let .shapeMismatch(op, detail): return "\(op): shape mismatch: \(detail)"
        case let .invalidArgument(op, detail): return "\(op): invalid argument: \(detail)"
        case let .numerical(op, detail): return "\(op): numerical error: \(detail)"
        }
    }
}

extension TensorError: LocalizedError {
    public var errorDescription: String? { description }
}

import Foundation

/// Throws `shapeMismatch` unless `condition` holds.
@inline(__always)
public func require(_ condition: Bool, _ op: @autoclosure () -> String, _ detail: @autoclosure () -> String) throws {
    if !condition { throw TensorError.shapeMismatch(op: op(), detail: detail()) }
}
