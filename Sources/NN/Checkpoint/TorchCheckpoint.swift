import Foundation
import TensorCore
internal import ZIPFoundation

/// Reading `torch.save(model.state_dict(), path)` files: the zip format of PyTorch ≥ 1.6
/// (`<archive>/data.pkl`, `<archive>/data/<key>`, `<archive>/byteorder`, `<archive>/version`),
/// unpickled by `RestrictedUnpickler`, which executes nothing. The legacy container is read by
/// `LegacyCheckpoint`.
public enum TorchCheckpoint {
    /// Storages larger than this are refused before being read (no real checkpoint comes close).
    static let maxStorageBytes: UInt64 = 1 << 36

    /// Reads a torch zip checkpoint at `path`.
    public static func read(path: String, selection: CheckpointSelection = CheckpointSelection()) throws -> LoadedCheckpoint {
        func fail(_ r: String) -> CheckpointError { CheckpointError(file: path, reason: r) }
        let fileSize = UInt64((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)??.uint64Value ?? 0)
        let archive: Archive
        do {
            archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read)
        } catch {
            throw fail("not a readable torch.save zip archive (truncated or corrupt: \(error))")
        }
        var entries: [String: Entry] = [:]
        for e in archive { entries[e.path] = e }
        guard let pkl = entries.keys.filter({ $0 == "data.pkl" || $0.hasSuffix("/data.pkl") }).min(by: { $0.count < $1.count }) else {
            throw fail("zip archive has no <archive>/data.pkl entry: not a torch.save checkpoint (or truncated)")
        }
        let prefix = String(pkl.dropLast("data.pkl".count))

        func contents(_ name: String) throws -> Data {
            guard let e = entries[name] else { throw fail("missing \(name) entry in the zip archive") }
            let size = e.uncompressedSize
            // A stored entry cannot be larger than the file; a compressed one gets a generous cap.
            guard size <= (e.isCompressed ? maxStorageBytes : fileSize) else {
                throw fail("entry \(name) declares \(size) bytes, more than the file can hold (truncated or corrupt)")
            }
            var out = Data()
            out.reserveCapacity(Int(size))
            let crc: CRC32
            do {
                crc = try archive.extract(e, bufferSize: 1 << 20, skipCRC32: false) { chunk in
                    guard UInt64(out.count + chunk.count) <= size else { throw CheckpointError(file: path, reason: "entry \(name) is longer than declared") }
                    out.append(chunk)
                }
            } catch let err as CheckpointError {
                throw err
            } catch {
                throw fail("cannot read entry \(name) (truncated or corrupt: \(error))")
            }
            guard UInt64(out.count) == size else {
                throw fail("truncated: entry \(name) has \(out.count) of its \(size) bytes")
            }
            guard crc == e.checksum else { throw fail("corrupt: entry \(name) fails its CRC-32 check") }
            return out
        }

        var bigEndian = false
        if entries[prefix + "byteorder"] != nil {
            let order = String(decoding: try contents(prefix + "byteorder"), as: UTF8.self)
            switch order {
            case "little": bigEndian = false
            case "big": bigEndian = true
            default: throw fail("byteorder entry says '\(order.prefix(20))', expected 'little' or 'big'")
            }
        }

        var storages: [String: StorageRef] = [:]
        let pickle = [UInt8](try contents(pkl))
        let root = try unpickle(pickle, file: path) { pid in
            .storage(try storageRef(pid, recordingIn: &storages).storage)
        }

        var cache: [String: Data] = [:]
        return try stateDict(from: root, file: path, selection: selection) { name, ref in
            try materialize(ref, key: name, bigEndian: bigEndian, file: path) { s in
                if let d = cache[s.key] { return d }
                let d = try contents(prefix + "data/" + s.key)
                cache[s.key] = d
                return d
            }
        }
    }

    /// Parses a storage's persistent id, `('storage', torch.XStorage, key, location, numel)` plus,
    /// in the legacy format, `view_metadata` (returned as is, nil when None or absent), and records
    /// the storage in `storages`, refusing one described twice differently.
    static func storageRef(_ pid: PickleValue, recordingIn storages: inout [String: StorageRef]) throws -> (storage: StorageRef, view: [PickleValue]?) {
        guard case let .tuple(t) = pid, t.count >= 5, case .string("storage") = t[0],
              case let .global(.storageType(typeName)) = t[1] else {
            throw PickleFailure(message: "unsupported persistent id (expected ('storage', torch.XStorage, key, location, numel))")
        }
        let key: String
        switch t[2] {
        case let .string(s): key = s
        case let .int(i): key = String(i)
        default: throw PickleFailure(message: "persistent id has a \(t[2].kind) storage key")
        }
        guard case let .int(numel) = t[4], numel >= 0 else { throw PickleFailure(message: "persistent id has a bad element count") }
        let ref = StorageRef(dtype: AllowedGlobal.storageTypes[typeName] ?? nil, typeName: typeName, key: key, numel: numel)
        if let prior = storages[key], prior.typeName != typeName || prior.numel != numel {
            throw PickleFailure(message: "storage \(key) is described twice with different types or sizes")
        }
        storages[key] = ref
        if t.count >= 6, case let .tuple(view) = t[5] { return (ref, view) }
        return (ref, nil)
    }

    /// Runs the restricted unpickler, turning its failures into `CheckpointError`s naming `file`.
    static func unpickle(_ bytes: [UInt8], file: String, persistentLoad: @escaping (PickleValue) throws -> PickleValue) throws -> PickleValue {
        var u = RestrictedUnpickler(bytes, persistentLoad: persistentLoad)
        do {
            return try u.load()
        } catch let e as PickleFailure {
            throw CheckpointError(file: file, reason: e.message)
        }
    }

    /// Reads a file that is a bare pickle (not a zip). A legacy `torch.save` file is recognised by
    /// its leading magic number and read by `LegacyCheckpoint`; any other pickle is unpickled with
    /// the same restrictions (so hostile pickles are refused by global name) and must hold no tensors.
    static func readBarePickle(_ data: Data, file: String, selection: CheckpointSelection = CheckpointSelection()) throws -> LoadedCheckpoint {
        let bytes = [UInt8](data)
        var u = RestrictedUnpickler(bytes) { _ in
            throw PickleFailure(message: "pickle references tensor storage but is neither a torch.save zip archive nor a legacy torch.save file")
        }
        let root: PickleValue
        do { root = try u.load() } catch let e as PickleFailure { throw CheckpointError(file: file, reason: e.message) }
        if LegacyCheckpoint.isMagic(root) {
            return try LegacyCheckpoint.read(data, bytes: bytes, after: u.endOffset, file: file, selection: selection)
        }
        return try stateDict(from: root, file: file, selection: selection) { key, _ in
            throw CheckpointError(file: file, reason: "tensor '\(key)' has no storage outside a torch.save zip archive")
        }
    }

    // MARK: - From unpickled values to a state dict

    /// Finds the state dict in the unpickled root (`StateDictLocator`), materialises only its
    /// tensors (optimizer state and other entries are parsed but never read), applies the prefixes.
    static func stateDict(from root: PickleValue, file: String, selection: CheckpointSelection = CheckpointSelection(),
                          tensor: (String, TensorRef) throws -> (Tensor, CheckpointDType)) throws -> LoadedCheckpoint {
        var notes: [String] = []
        let chosen = try StateDictLocator.locate(root, file: file, selection: selection, notes: &notes)
        var sd = StateDict()
        for (k, v) in chosen.pairs {
            guard case let .string(key) = k, case let .tensor(ref) = v else { continue }  // locate checked
            let (t, dtype) = try tensor(key, ref)
            try sd.set(key, t, sourceDType: dtype, file: file)
        }
        sd = try StateDictLocator.applyPrefixes(sd, file: file, selection: selection, notes: &notes)
        return LoadedCheckpoint(stateDict: sd, notes: notes)
    }

    /// Reads one tensor view out of its storage bytes, checking the view lies inside the storage.
    static func materialize(_ ref: TensorRef, key: String, bigEndian: Bool, file: String, storageBytes: (StorageRef) throws -> Data) throws -> (Tensor, CheckpointDType) {
        func fail(_ r: String) -> CheckpointError { CheckpointError(file: file, reason: r) }
        let s = ref.storage
        guard let dtype = s.dtype else { throw fail("tensor '\(key)' uses unsupported storage type torch.\(s.typeName)") }
        if dtype.isInteger, !StateDict.allowsInteger(key: key) {
            throw fail("tensor '\(key)' has integer dtype \(dtype.rawValue) (torch.\(s.typeName)); only *num_batches_tracked may be integer in a state dict")
        }
        var numel = 1
        var last = ref.offset  // largest storage index the view touches
        for (n, st) in zip(ref.shape, ref.strides) {
            let (m, o1) = numel.multipliedReportingOverflow(by: n)
            let (span, o2) = max(n - 1, 0).multipliedReportingOverflow(by: st)
            let (l, o3) = last.addingReportingOverflow(span)
            guard !o1, !o2, !o3 else { throw fail("tensor '\(key)' has an overflowing view: size \(ref.shape), stride \(ref.strides)") }
            numel = m
            last = l
        }
        if numel > 0, last >= s.numel {
            throw fail("size mismatch between storage and view: tensor '\(key)' (size \(ref.shape), stride \(ref.strides), offset \(ref.offset)) reaches element \(last) but storage \(s.key) has \(s.numel) elements")
        }
        guard numel > 0 else { return (Tensor(zeros: ref.shape), dtype) }
        let data = try storageBytes(s)
        let (need, o) = s.numel.multipliedReportingOverflow(by: dtype.itemSize)
        guard !o, data.count == need else {
            throw fail("size mismatch: storage data/\(s.key) holds \(data.count) bytes but \(s.numel) \(dtype.rawValue) elements need \(o ? "more" : String(need))")
        }
        var contiguous = true
        var expect = 1
        for d in stride(from: ref.shape.count - 1, through: 0, by: -1) where ref.shape[d] != 1 {
            if ref.strides[d] != expect { contiguous = false }
            expect *= ref.shape[d]
        }
        let t = data.withUnsafeBytes { raw -> Tensor in
            if contiguous {
                let slice = UnsafeRawBufferPointer(rebasing: raw[(ref.offset * dtype.itemSize)..<((ref.offset + numel) * dtype.itemSize)])
                return ElementDecoding.contiguous(slice, dtype: dtype, shape: ref.shape, bigEndian: bigEndian)
            }
            return ElementDecoding.strided(raw, dtype: dtype, offset: ref.offset, shape: ref.shape, strides: ref.strides, bigEndian: bigEndian)
        }
        return (t, dtype)
    }
}
