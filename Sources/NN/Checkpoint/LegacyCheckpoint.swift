import Foundation
import TensorCore

/// Reading the legacy `torch.save` container (PyTorch < 1.6, or `_use_new_zipfile_serialization=False`;
/// torchvision's original ImageNet files), as `torch.serialization._legacy_load` lays it out:
///
/// 1. pickle: the magic number 0x1950a86a20f9469cfc6c
/// 2. pickle: the protocol version, 1001
/// 3. pickle: system info (`little_endian`, `type_sizes`; the storage bytes are little-endian on
///    every platform, so it is only checked to be a dict)
/// 4. pickle: the object, whose storages are persistent ids
///    `('storage', torch.XStorage, key, location, numel, view_metadata)`
/// 5. pickle: the list of storage keys, in the order their bytes follow
/// 6. per key: the element count (int64, little-endian), then count × element size bytes.
///
/// Every pickle goes through `RestrictedUnpickler`, so nothing in the file can execute; every
/// count and length is checked against the file's size before it is used.
enum LegacyCheckpoint {
    /// The magic number as the LONG1 operand pickle writes: little-endian two's complement.
    static let magic: [UInt8] = [0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]
    static let protocolVersion = 1001

    static func isMagic(_ v: PickleValue) -> Bool {
        if case let .bigInt(b) = v { return b == magic }
        return false
    }

    /// A file starting like a tar archive (`ustar` at byte 257): the container of PyTorch ≤ 0.1.
    static func looksLikeTar(_ raw: UnsafeRawBufferPointer) -> Bool {
        raw.count >= 262 && Array(raw[257..<262]) == Array("ustar".utf8)
    }

    /// Reads the rest of a legacy file whose magic-number pickle ended at `after`.
    /// - Parameters:
    ///   - data: the file (memory-mapped); storage bytes are sliced from it without copying.
    ///   - bytes: the same bytes as an array, for the unpickler.
    static func read(_ data: Data, bytes: [UInt8], after: Int, file: String, selection: CheckpointSelection) throws -> LoadedCheckpoint {
        func fail(_ r: String) -> CheckpointError { CheckpointError(file: file, reason: "legacy torch.save file: " + r) }
        var pos = after
        func next(_ what: String, _ persistentLoad: @escaping (PickleValue) throws -> PickleValue = { _ in
            throw PickleFailure(message: "unexpected storage reference")
        }) throws -> PickleValue {
            guard pos < bytes.count else { throw fail("truncated: the file ends before the \(what) pickle") }
            var u = RestrictedUnpickler(bytes, start: pos, persistentLoad: persistentLoad)
            do {
                let v = try u.load()
                pos = u.endOffset
                return v
            } catch let e as PickleFailure {
                throw fail("\(what) pickle: \(e.message)")
            }
        }

        guard case let .int(version) = try next("protocol version"), version == protocolVersion else {
            throw fail("unsupported protocol version (expected \(protocolVersion)); corrupt file?")
        }
        guard case .dict = try next("system info") else { throw fail("the system info pickle is not a dict; corrupt file?") }

        // Storages by key, from the persistent ids; views (PyTorch < 0.4) point into a root storage.
        var storages: [String: StorageRef] = [:]
        var views: [String: (root: String, offset: Int)] = [:]
        let root = try next("object") { pid in
            let (ref, viewMetadata) = try TorchCheckpoint.storageRef(pid, recordingIn: &storages)
            guard let view = viewMetadata else { return .storage(ref) }
            let (key, numel, dtype, typeName) = (ref.key, ref.numel, ref.dtype, ref.typeName)
            guard view.count == 3, case let .string(viewKey) = view[0], case let .int(offset) = view[1], case let .int(size) = view[2],
                  offset >= 0, size >= 0, offset <= numel, size <= numel - offset else {
                throw PickleFailure(message: "storage \(key) has a view outside it: \(view.map(\.kind))")
            }
            if let prior = views[viewKey], prior.root != key || prior.offset != offset {
                throw PickleFailure(message: "storage view \(viewKey) is described twice differently")
            }
            views[viewKey] = (key, offset)
            return .storage(StorageRef(dtype: dtype, typeName: typeName, key: viewKey, numel: size))
        }

        guard case let .list(keyList) = try next("storage keys") else { throw fail("the storage keys pickle is not a list; corrupt file?") }
        var ranges: [String: Range<Int>] = [:]
        for item in keyList.items {
            guard case let .string(key) = item else { throw fail("a storage key is a \(item.kind), not a string") }
            guard let s = storages[key] else { throw fail("storage \(key) has bytes but no tensor refers to it; corrupt file?") }
            guard ranges[key] == nil else { throw fail("storage \(key) is listed twice") }
            guard bytes.count - pos >= 8 else { throw fail("truncated: no element count for storage \(key) at byte \(pos)") }
            var count: UInt64 = 0
            for k in 0..<8 { count |= UInt64(bytes[pos + k]) << (8 * UInt64(k)) }
            pos += 8
            guard count == UInt64(s.numel) else {
                throw fail("storage \(key) holds \(count) elements but its persistent id says \(s.numel); corrupt file?")
            }
            let itemSize = AllowedGlobal.storageItemSizes[s.typeName] ?? 1
            let (n, overflow) = s.numel.multipliedReportingOverflow(by: itemSize)
            guard !overflow, n <= bytes.count - pos else {
                throw fail("truncated: storage \(key) needs \(overflow ? "more than the file's" : String(n)) bytes at byte \(pos), the file has \(bytes.count - pos) left")
            }
            ranges[key] = pos..<(pos + n)
            pos += n
        }

        return try TorchCheckpoint.stateDict(from: root, file: file, selection: selection) { name, ref in
            try TorchCheckpoint.materialize(ref, key: name, bigEndian: false, file: file) { s in
                var key = s.key, offset = 0
                if let v = views[s.key] { key = v.root; offset = v.offset }
                guard let r = ranges[key], let itemSize = AllowedGlobal.storageItemSizes[s.typeName] else {
                    throw fail("tensor '\(name)' uses storage \(key), whose bytes are not in the file (missing from the storage keys)")
                }
                let start = r.lowerBound + offset * itemSize
                let end = start + s.numel * itemSize
                guard end <= r.upperBound else { throw fail("storage view \(s.key) runs past storage \(key)") }
                return data[(data.startIndex + start)..<(data.startIndex + end)]
            }
        }
    }
}
