import Foundation
import TensorCore

/// Loads a checkpoint, choosing the reader by content (zip magic, pickle opcode, safetensors
/// header) and, for `.safetensors` files, by extension. A DataParallel `module.` prefix on every
/// key is removed.
/// - Parameter path: a `.safetensors` file, a `torch.save` zip (`.pth`, `.pt`, `.bin`, `.ckpt`, …)
///   or a legacy (pre-1.6) `torch.save` file.
/// - Returns: the state dict, entries in file order.
/// - Throws: `CheckpointError` naming the file and the problem; a hostile pickle is refused
///   without executing anything.
public func loadCheckpoint(path: String) throws -> StateDict {
    try loadCheckpoint(path: path, selection: CheckpointSelection()).stateDict
}

/// Loads a checkpoint as `loadCheckpoint(path:)` does, finding the state dict inside a training
/// checkpoint (`{"state_dict": …}`, `{"model_state_dict": …, "optimizer_state_dict": …}`, Lightning
/// files, …) or where `selection` says, and reports what it did in `notes`.
/// - Parameters:
///   - path: the checkpoint.
///   - selection: `--checkpoint-key` / `--strip-prefix`; empty to find the state dict automatically.
/// - Throws: `CheckpointError`; when several state dicts could be meant, the message lists them.
public func loadCheckpoint(path: String, selection: CheckpointSelection) throws -> LoadedCheckpoint {
    let url = URL(fileURLWithPath: path)
    let data: Data
    do {
        data = try Data(contentsOf: url, options: .mappedIfSafe)
    } catch {
        throw CheckpointError(file: path, reason: "cannot read file (\(error.localizedDescription))")
    }
    return try data.withUnsafeBytes { raw in
        let magic = Array(raw.prefix(4))
        if url.pathExtension.lowercased() == "safetensors" || (Safetensors.looksLike(raw) && magic.first != 0x80) {
            var sd = try Safetensors.decode(raw, file: path)
            var notes: [String] = []
            if selection.key != nil {
                throw CheckpointError(file: path, reason: "--checkpoint-key does not apply to a .safetensors file (it holds one flat state dict)")
            }
            sd = try StateDictLocator.applyPrefixes(sd, file: path, selection: selection, notes: &notes)
            return LoadedCheckpoint(stateDict: sd, notes: notes)
        }
        if magic.count == 4, magic[0] == 0x50, magic[1] == 0x4B, magic[2] == 0x03 || magic[2] == 0x05 {
            return try TorchCheckpoint.read(path: path, selection: selection)
        }
        if magic.first == 0x80 {
            return try TorchCheckpoint.readBarePickle(data, file: path, selection: selection)
        }
        if LegacyCheckpoint.looksLikeTar(raw) {
            throw CheckpointError(file: path, reason: "tar-format torch.save file (PyTorch ≤ 0.1) is not supported; re-save it with torch.save(torch.load(path), path) in a recent PyTorch")
        }
        if raw.count < 4 {
            throw CheckpointError(file: path, reason: "truncated: \(raw.count) bytes is not a checkpoint")
        }
        throw CheckpointError(file: path, reason: "unrecognised checkpoint format (expected .safetensors, a torch.save zip archive or a legacy torch.save file)")
    }
}

/// Writes `sd` as `.safetensors` (F32, with I64 for `num_batches_tracked`) through `atomicWrite`:
/// the old file or the new one, and no temporary left behind by a failed write.
/// - Parameter metadata: extra `__metadata__` strings (a resume state's progress).
public func saveSafetensors(_ sd: StateDict, path: String, metadata: [String: String] = [:]) throws {
    let bytes = try Safetensors.encode(sd, file: path, metadata: metadata)
    do { try atomicWrite(bytes, to: path) } catch let e as FileWriteError {
        throw CheckpointError(file: path, reason: e.reason)
    }
}
