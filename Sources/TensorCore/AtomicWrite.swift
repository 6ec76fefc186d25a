import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file could not be written; names the file and the reason.
public struct FileWriteError: Error, CustomStringConvertible, LocalizedError, Equatable {
    public let path: String
    public let reason: String
    public init(path: String, reason: String) { self.path = path; self.reason = reason }
    public var description: String { "\(path): \(reason)" }
    public var errorDescription: String? { description }
}

/// Writes `data` to `path` atomically: a temporary file in the same folder, fsync, rename. A reader
/// sees the old file or the new one, never half of it; a killed writer leaves at most a stray
/// `*.tmp-PID` file. Every output file of camaudit (summaries, manifests, reports) goes through here.
public func atomicWrite(_ data: Data, to path: String) throws {
    let tmp = path + ".tmp-\(getpid())"
    guard FileManager.default.createFile(atPath: tmp, contents: data), let h = FileHandle(forWritingAtPath: tmp) else {
        throw FileWriteError(path: path, reason: "cannot write temporary file \(tmp) (\(String(cString: strerror(errno))))")
    }
    try? h.synchronize()
    try? h.close()
    guard rename(tmp, path) == 0 else {
        let e = String(cString: strerror(errno))
        try? FileManager.default.removeItem(atPath: tmp)
        throw FileWriteError(path: path, reason: "cannot rename \(tmp) into place: \(e)")
    }
}

/// `atomicWrite` for text (UTF-8).
public func atomicWrite(_ text: String, to path: String) throws { try atomicWrite(Data(text.utf8), to: path) }
