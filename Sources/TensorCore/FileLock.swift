import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a lock could not be taken.
public enum FileLockError: Error, CustomStringConvertible, Equatable {
    /// Another process holds it; `holder` is what it wrote into the lock file (pid, host, start, command).
    case locked(path: String, holder: String)
    case io(path: String, detail: String)

    public var description: String {
        switch self {
        case .locked(let p, let h): return "\(p) is in use by another run (\(h))"
        case .io(let p, let d): return "\(p): \(d)"
        }
    }
}

/// An advisory lock (flock) on a lock file, held by one process from `init` until `release()` or
/// deinit. The holder writes who it is into the file, so a refused second run can name it; the kernel
/// drops the lock when the holder dies, so a killed run never blocks the next one. The lock file
/// itself stays (removing it would let two runs lock two different files of the same name).
public final class FileLock {
    public let path: String
    private var fd: Int32

    /// Takes the lock, or throws `FileLockError.locked` naming the holder (with `wait`, blocks until free).
    public init(path: String, wait: Bool = false, command: String = CommandLine.arguments.joined(separator: " ")) throws {
        self.path = path
        fd = try FileLock.acquire(path, wait: wait, command: command)
    }

    deinit { release() }

    public func release() {
        FileLock.release(fd)
        fd = -1
    }

    /// Who holds a lock: written into the lock file by the holder.
    public static func holderInfo(command: String) -> String {
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count)
        let started = ISO8601DateFormatter().string(from: Date())
        let name = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return "pid \(getpid()) on \(name), started \(started): \(command)"
    }

    /// Opens (creating) `lockPath` and takes an exclusive flock on it; returns the descriptor.
    public static func acquire(_ lockPath: String, wait: Bool, command: String) throws -> Int32 {
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileLockError.io(path: lockPath, detail: "cannot create the lock file: \(String(cString: strerror(errno)))") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let e = errno
            guard e == EWOULDBLOCK else {
                _ = close(fd)
                throw FileLockError.io(path: lockPath, detail: "cannot lock: \(String(cString: strerror(e)))")
            }
            let holder = (try? String(contentsOfFile: lockPath, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            guard wait else {
                _ = close(fd)
                throw FileLockError.locked(path: lockPath, holder: holder.isEmpty ? "holder unknown" : holder)
            }
            while flock(fd, LOCK_EX) != 0 {
                guard errno == EINTR else {
                    _ = close(fd)
                    throw FileLockError.io(path: lockPath, detail: "cannot lock: \(String(cString: strerror(errno)))")
                }
            }
        }
        let info = holderInfo(command: command) + "\n"
        _ = ftruncate(fd, 0)
        _ = info.withCString { pwrite(fd, $0, strlen($0), 0) }
        return fd
    }

    /// Drops a lock taken by `acquire` and closes its descriptor.
    public static func release(_ fd: Int32) {
        guard fd >= 0 else { return }
        _ = flock(fd, LOCK_UN)
        _ = close(fd)
    }
}
