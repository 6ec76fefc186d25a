import Foundation
import TensorCore

/// Loads a checkpoint, choosing the reader by content (zip magic, pickle opcode, safetensors
/// header) and, for `.safetensors` files, by extension. A DataParallel `module.` prefix on every
/// key is removed.
/// - Parameter path: a `.safetensors` file, or a `torch.save` zip (`.pth`, `.pt`, `.bin`, …).
/// - Returns: the state dict, entries in file order.
/// - Throws: `CheckpointError` naming the file and the problem; a hostile pickle is refused
///   without executing anything.
public func loadCheckpoint(path: String) throws -> StateDict {
    let url = URL(fileURLWithPath: path)
    let data: Data
    do {
        data = try Data(contentsOf: url, options: .mappedIfSafe)
    } catch {
        throw CheckpointError(file: path, reason: "cannot read file (\(error.localizedDescription))")
    }
    let sd: StateDict = try data.withUnsafeBytes { raw in
        let magic = Array(raw.prefix(4))
        if url.pathExtension.lowercased() == "safetensors" || (Safetensors.looksLike(raw) && magic.first != 0x80) {
            return try Safetensors.decode(raw, file: path)
        }
        if magic.count == 4, magic[0] == 0x50, magic[1] == 0x4B, magic[2] == 0x03 || magic[2] == 0x05 {
            return try TorchCheckpoint.read(path: path)
        }
        if magic.first == 0x80 {
            return try TorchCheckpoint.readBarePickle(Array(raw), file: path)
        }
        if raw.count < 4 {
            throw CheckpointError(file: path, reason: "truncated: \(raw.count) bytes is not a checkpoint")
        }
        throw CheckpointError(file: path, reason: "unrecognised checkpoint format (expected .safetensors or a torch.save zip archive)")
    }
    if !sd.isEmpty, sd.keys.allSatisfy({ $0.hasPrefix("module.") }) {
        return sd.strippingPrefix("module.")
    }
    return sd
}

/// Writes `sd` as `.safetensors` (F32, with I64 for `num_batches_tracked`), atomically: the bytes
/// go to a temporary file in the same folder, which is then renamed over `path`.
public func saveSafetensors(_ sd: StateDict, path: String) throws {
    let bytes = try Safetensors.encode(sd, file: path)
    let url = URL(fileURLWithPath: path)
    let dir = url.deletingLastPathComponent()
    let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
    do {
        try bytes.write(to: tmp)
    } catch {
        throw CheckpointError(file: path, reason: "cannot write temporary file \(tmp.path) (\(error.localizedDescription))")
    }
    guard rename(tmp.path, path) == 0 else {
        let why = String(cString: strerror(errno))
        try? FileManager.default.removeItem(at: tmp)
        throw CheckpointError(file: path, reason: "cannot move the written file into place (\(why))")
    }
}
