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

/// Writes `data` to `path` atomically: a temporary file in the same folder (`Temporaries.name`),
/// fsync, rename, fsync of the folder. A reader sees the old file or the new one, never half of it.
/// A failed write (a full disk, a read-only folder) removes its temporary before throwing; only a
/// killed writer leaves one, which `Temporaries.sweep` removes once its process is gone. Every
/// output file of camaudit (summaries, manifests, reports, checkpoints) goes through here.
public func atomicWrite(_ data: Data, to path: String) throws {
    let tmp = Temporaries.name(for: path)
    func fail(_ what: String, _ code: Int32) -> FileWriteError {
        _ = unlink(tmp)
        return FileWriteError(path: path, reason: "\(what) (\(String(cString: strerror(code))))")
    }
    let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard fd >= 0 else {
        let e = errno
        throw FileWriteError(path: path, reason: "cannot create the temporary file \(tmp) (\(String(cString: strerror(e))))")
    }
    var failure: (String, Int32)? = nil
    data.withUnsafeBytes { raw in
        var done = 0
        while done < raw.count {
            let n = write(fd, raw.baseAddress! + done, min(raw.count - done, 1 << 30))
            if n < 0 {
                if errno == EINTR { continue }
                failure = ("cannot write \(raw.count) bytes", errno); return
            }
            done += n
        }
    }
    if failure == nil, fsync(fd) != 0 { failure = ("cannot flush the file to disk", errno) }
    if close(fd) != 0, failure == nil { failure = ("cannot close the file", errno) }
    if let (what, code) = failure { throw fail(what, code) }
    guard rename(tmp, path) == 0 else { throw fail("cannot rename \(tmp) into place", errno) }
    syncFolder(of: path)
}

/// `atomicWrite` for text (UTF-8).
public func atomicWrite(_ text: String, to path: String) throws { try atomicWrite(Data(text.utf8), to: path) }

/// Makes a rename in the folder of `path` durable (best effort: some file systems refuse).
func syncFolder(of path: String) {
    let dir = parentFolder(path)
    let fd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return }
    _ = fsync(fd)
    _ = close(fd)
}

/// Puts the folder `staged` (finished) at `destination`, replacing a folder there. A missing or empty
/// destination is replaced by one rename(2); an existing one is first moved aside to a temporary
/// name and removed after, so a kill in between leaves the old folder under that name (swept as a
/// stale temporary), never a mix of old and new files.
public func replaceFolder(at destination: String, with staged: String) throws {
    let fm = FileManager.default
    let parent = parentFolder(destination)
    if !parent.isEmpty { try? fm.createDirectory(atPath: parent, withIntermediateDirectories: true) }
    if rename(staged, destination) == 0 { syncFolder(of: destination); return }
    guard errno == ENOTEMPTY || errno == EEXIST else {
        throw FileWriteError(path: destination, reason: "cannot move \(staged) into place (\(String(cString: strerror(errno))))")
    }
    let aside = Temporaries.name(for: destination)
    guard rename(destination, aside) == 0 else {
        throw FileWriteError(path: destination, reason: "cannot move the old folder aside (\(String(cString: strerror(errno))))")
    }
    guard rename(staged, destination) == 0 else {
        let e = errno
        _ = rename(aside, destination)
        throw FileWriteError(path: destination, reason: "cannot move \(staged) into place (\(String(cString: strerror(e))))")
    }
    syncFolder(of: destination)
    try? fm.removeItem(atPath: aside)
}

/// The temporary files of atomic writes: `.NAME.tmp-PID-RANDOM` beside `NAME`, the writer's process
/// id in the name so that a later run can tell a temporary still being written from one a killed
/// process left behind.
public enum Temporaries {
    /// A fresh temporary name beside `path`.
    public static func name(for path: String) -> String {
        let dir = parentFolder(path)
        let file = "." + (path as NSString).lastPathComponent + ".tmp-\(getpid())-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        return dir.isEmpty ? file : dir + "/" + file
    }

    /// The file a temporary stands for and its writer's pid, or nil when `fileName` is not a
    /// temporary. Also recognises the older `NAME.tmp-PID` form.
    public static func parse(_ fileName: String) -> (target: String, pid: Int32)? {
        guard let r = fileName.range(of: ".tmp-", options: .backwards) else { return nil }
        var target = String(fileName[..<r.lowerBound])
        let tail = fileName[r.upperBound...].split(separator: "-", omittingEmptySubsequences: false)
        guard let first = tail.first, let pid = Int32(first), pid > 0, tail.count <= 2 else { return nil }
        if tail.count == 2 {
            guard target.hasPrefix("."), !tail[1].isEmpty, tail[1].allSatisfy(\.isHexDigit) else { return nil }
            target.removeFirst()
        }
        return target.isEmpty ? nil : (target, pid)
    }

    /// True when the process that wrote a temporary is gone (`kill(pid, 0)` finds none).
    public static func writerIsGone(_ pid: Int32) -> Bool {
        pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH
    }

    /// Removes, in `folder`, the temporaries of `targets` (every temporary when nil) whose writer is
    /// gone; returns the paths removed. Files and folders (a staged set moved aside) alike.
    @discardableResult
    public static func sweep(folder: String, targets: Set<String>? = nil) -> [String] {
        let dir = folder.isEmpty ? "." : folder
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return [] }
        var removed: [String] = []
        for n in names {
            guard let t = parse(n), targets.map({ $0.contains(t.target) }) ?? true, writerIsGone(t.pid) else { continue }
            let p = dir + "/" + n
            if (try? FileManager.default.removeItem(atPath: p)) != nil { removed.append(p) }
        }
        return removed
    }

    /// Every temporary under `folder` (recursively): a finished folder must hold none.
    public static func all(under folder: String) -> [(path: String, pid: Int32)] {
        guard let e = FileManager.default.enumerator(atPath: folder) else { return [] }
        var found: [(String, Int32)] = []
        while let rel = e.nextObject() as? String {
            if let t = parse((rel as NSString).lastPathComponent) { found.append((folder + "/" + rel, t.pid)) }
        }
        return found
    }
}
