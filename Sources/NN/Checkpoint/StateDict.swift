import Foundation
import TensorCore

/// The element type an entry had in the file it was read from. Every entry is held as float32;
/// the source type is kept so that writing can reproduce int64 counters and so callers can report it.
public enum CheckpointDType: String, Sendable, CaseIterable {
    case float32 = "F32", float16 = "F16", bfloat16 = "BF16", float64 = "F64"
    case int64 = "I64", int32 = "I32", int16 = "I16", int8 = "I8", uint8 = "U8", bool = "BOOL"

    /// Bytes per element in the file.
    public var itemSize: Int {
        switch self {
        case .float64, .int64: return 8
        case .float32, .int32: return 4
        case .float16, .bfloat16, .int16: return 2
        case .int8, .uint8, .bool: return 1
        }
    }

    /// Integer (and bool) types, which a state dict may only use for BatchNorm's step counter.
    public var isInteger: Bool {
        switch self {
        case .float32, .float16, .bfloat16, .float64: return false
        default: return true
        }
    }
}

/// An ordered map from PyTorch `state_dict()` keys to float32 tensors.
///
/// fp16, bf16 and fp64 entries are converted to float32 when read. Integer tensors are accepted only
/// for keys ending in `num_batches_tracked` (BatchNorm's counter): they are kept as a float32 value
/// and marked `.int64`, so `saveSafetensors` writes them back as int64 and PyTorch's strict
/// `load_state_dict` accepts the file.
public struct StateDict: Sendable {
    /// One named tensor and the element type it had in its file.
    public struct Entry: Sendable {
        public let key: String
        public let tensor: Tensor
        public let sourceDType: CheckpointDType
    }

    public private(set) var entries: [Entry] = []
    private var position: [String: Int] = [:]

    public init() {}

    /// Keys in insertion (file) order.
    public var keys: [String] { entries.map(\.key) }
    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }

    /// The tensor stored under `key`, if any.
    public subscript(key: String) -> Tensor? {
        position[key].map { entries[$0].tensor }
    }

    /// The element type `key` had in its file, if present.
    public func sourceDType(of key: String) -> CheckpointDType? {
        position[key].map { entries[$0].sourceDType }
    }

    /// Whether an integer tensor may be stored under `key`.
    public static func allowsInteger(key: String) -> Bool {
        key.hasSuffix("num_batches_tracked")
    }

    /// Inserts or replaces `key`. Integer source types are refused unless the key ends in
    /// `num_batches_tracked`, where every integer type is recorded as `.int64`.
    /// - Parameters:
    ///   - key: the PyTorch state-dict key.
    ///   - tensor: the value, already converted to float32.
    ///   - sourceDType: the element type in the file.
    ///   - file: named in the error message.
    public mutating func set(_ key: String, _ tensor: Tensor, sourceDType: CheckpointDType = .float32, file: String = "<state dict>") throws {
        var dtype = sourceDType
        if dtype.isInteger {
            guard StateDict.allowsInteger(key: key) else {
                throw CheckpointError(file: file, reason: "tensor '\(key)' has integer dtype \(dtype.rawValue); only *num_batches_tracked may be integer in a state dict")
            }
            dtype = .int64
        }
        let entry = Entry(key: key, tensor: tensor, sourceDType: dtype)
        if let i = position[key] {
            entries[i] = entry
        } else {
            position[key] = entries.count
            entries.append(entry)
        }
    }

    /// A copy holding only the entries whose key satisfies `include`, in order.
    public func filtered(_ include: (String) -> Bool) -> StateDict {
        var out = StateDict()
        for e in entries where include(e.key) {
            out.position[e.key] = out.entries.count
            out.entries.append(e)
        }
        return out
    }

    /// A copy with every key passed through `rename`, in order; a key renamed onto an existing one
    /// replaces it, as assigning into a Python dict does.
    public func renamingKeys(_ rename: (String) -> String) -> StateDict {
        var out = StateDict()
        for e in entries {
            let k = rename(e.key)
            let entry = Entry(key: k, tensor: e.tensor, sourceDType: e.sourceDType)
            if let i = out.position[k] { out.entries[i] = entry } else {
                out.position[k] = out.entries.count
                out.entries.append(entry)
            }
        }
        return out
    }

    /// A copy with `prefix` removed from every key that has it (e.g. DataParallel's `module.`).
    public func strippingPrefix(_ prefix: String) -> StateDict {
        var out = StateDict()
        for e in entries {
            let k = e.key.hasPrefix(prefix) ? String(e.key.dropFirst(prefix.count)) : e.key
            out.position[k] = out.entries.count
            out.entries.append(Entry(key: k, tensor: e.tensor, sourceDType: e.sourceDType))
        }
        return out
    }
}

// MARK: - Strict matching

/// Checks a state dict against a model's parameter list and throws ONE error naming every unknown
/// key, missing key and shape mismatch (each list sorted, long lists capped with a count).
/// - Parameters:
///   - sd: the loaded checkpoint.
///   - expected: the model's `(key, shape)` pairs, PyTorch names.
///   - file: the checkpoint path, named in the message.
public func validate(_ sd: StateDict, expected: [(String, [Int])], file: String) throws {
    var want: [String: [Int]] = [:]
    for (k, s) in expected { want[k] = s }
    let have = Set(sd.keys)
    let missing = want.keys.filter { !have.contains($0) }.sorted()
    let unknown = sd.keys.filter { want[$0] == nil }.sorted()
    var mismatched: [String] = []
    for e in sd.entries {
        if let s = want[e.key], s != e.tensor.shape {
            mismatched.append("\(e.key): checkpoint \(e.tensor.shape) vs model \(s)")
        }
    }
    mismatched.sort()
    guard !(missing.isEmpty && unknown.isEmpty && mismatched.isEmpty) else { return }

    func section(_ title: String, _ items: [String]) -> String? {
        guard !items.isEmpty else { return nil }
        let cap = 20
        var lines = items.prefix(cap).map { "  " + $0 }
        if items.count > cap { lines.append("  … and \(items.count - cap) more") }
        return "\(items.count) \(title):\n" + lines.joined(separator: "\n")
    }
    let parts = [section("missing key(s)", missing), section("unknown key(s)", unknown),
                 section("shape mismatch(es)", mismatched)].compactMap { $0 }
    throw CheckpointError(file: file, reason: "checkpoint does not match the model (\(sd.count) entries, model expects \(expected.count)):\n" + parts.joined(separator: "\n"))
}
