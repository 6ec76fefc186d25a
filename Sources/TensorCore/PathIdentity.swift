import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A run's file named for the check that no command writes over a file it reads: the option (or
/// description) a user would recognise, and the path.
public struct NamedPath: Sendable {
    public var name: String
    public var path: String
    public init(_ name: String, _ path: String) { self.name = name; self.path = path }
}

/// An output that is also an input (or another output) of the same run, or lies inside a folder
/// the run reads.
public struct PathClashError: Error, CustomStringConvertible, Equatable {
    public enum Kind: Sendable, Equatable { case input, insideInput, output }
    public let output: String, outputName: String, other: String, otherName: String, kind: Kind
    public var description: String {
        switch kind {
        case .input: "\(outputName) \(output) is the same file as \(otherName) \(other): a run never writes over a file it reads; choose another path"
        case .insideInput: "\(outputName) \(output) would write into \(otherName) \(other), a folder this run reads: choose another path"
        case .output: "\(outputName) \(output) is the same file as \(otherName) \(other): two outputs of one run cannot share a file; choose another path"
        }
    }
}

/// The same file: the same device and inode when both exist (hard links, symlinks, `a/../b`),
/// otherwise the same absolute path once the existing part of each is resolved.
public func isSameFile(_ a: String, _ b: String) -> Bool {
    var sa = stat(), sb = stat()
    if stat(a, &sa) == 0, stat(b, &sb) == 0 { return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino }
    return resolvedPath(a) == resolvedPath(b)
}

/// The absolute path with symlinks of its deepest existing folder resolved (the file need not exist).
public func resolvedPath(_ path: String) -> String {
    let absolute = (path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path) as NSString
    func real(_ p: String) -> String? {
        guard let r = realpath(p, nil) else { return nil }
        defer { free(r) }
        return String(cString: r)
    }
    var head = absolute.standardizingPath, tail: [String] = []
    while true {
        if let base = real(head) { return tail.reduce(base) { ($0 as NSString).appendingPathComponent($1) } }
        if head.isEmpty || head == "/" { return absolute.standardizingPath }
        tail.insert((head as NSString).lastPathComponent, at: 0)
        head = parentFolder(head)
    }
}

/// Refuses a run whose outputs include one of its inputs, or two outputs that are one file; the
/// error names both. Every command that reads and writes files calls this before writing anything.
/// - Parameter insideInputFolders: also refuse an output inside an input folder (a results folder
///   written into the data it scans).
public func refuseWritingOverInputs(outputs: [NamedPath], inputs: [NamedPath], insideInputFolders: Bool = false) throws {
    for (i, o) in outputs.enumerated() {
        for input in inputs where !input.path.isEmpty {
            var isDir: ObjCBool = false
            if insideInputFolders, FileManager.default.fileExists(atPath: input.path, isDirectory: &isDir), isDir.boolValue {
                let folder = resolvedPath(input.path), target = resolvedPath(o.path)
                if target == folder || target.hasPrefix(folder == "/" ? folder : folder + "/") {
                    throw PathClashError(output: o.path, outputName: o.name, other: input.path, otherName: input.name, kind: .insideInput)
                }
            }
            if isSameFile(o.path, input.path) {
                throw PathClashError(output: o.path, outputName: o.name, other: input.path, otherName: input.name, kind: .input)
            }
        }
        for other in outputs[(i + 1)...] where isSameFile(o.path, other.path) {
            throw PathClashError(output: other.path, outputName: other.name, other: o.path, otherName: o.name, kind: .output)
        }
    }
}
