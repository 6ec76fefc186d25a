import Foundation
import TensorCore

/// Where the state dict sits in a checkpoint that wraps it, when the user says so
/// (`--checkpoint-key`, `--strip-prefix`). Left empty, it is found automatically.
public struct CheckpointSelection: Sendable, Equatable {
    /// The entry holding the state dict: a top-level key (`state_dict`, `model_ema`, …) or a path
    /// of keys separated by `/` (`model/state_dict`).
    public var key: String?
    /// Keep only the keys starting with this prefix, without it (a Lightning module's `model.`);
    /// keys without it are dropped.
    public var stripPrefix: String?

    public init(key: String? = nil, stripPrefix: String? = nil) {
        self.key = key
        self.stripPrefix = stripPrefix
    }
}

/// A state dict and what was done to find it (the wrapper entry used, prefixes stripped, …):
/// one sentence per note, naming the file, for the caller to show.
public struct LoadedCheckpoint: Sendable {
    public var stateDict: StateDict
    public var notes: [String]

    public init(stateDict: StateDict, notes: [String] = []) {
        self.stateDict = stateDict
        self.notes = notes
    }
}

/// Finding the state dict among the unpickled values of a `torch.save` file.
enum StateDictLocator {
    /// Wrapper dicts are searched this deep (`{"model": {"state_dict": …}}` is depth 2).
    static let maxDepth = 2

    /// A dict of string keys to tensors, with at least one entry: what `state_dict()` returns.
    static func isTensorDict(_ d: PickleDict) -> Bool {
        !d.pairs.isEmpty && d.pairs.allSatisfy { pair in
            if case .string = pair.0, case .tensor = pair.1 { return true }
            return false
        }
    }

    /// "'epoch' (int), 'optimizer' (dict), …" for messages.
    static func describe(_ d: PickleDict, limit: Int = 12) -> String {
        let items = d.pairs.map { pair -> String in
            let name: String
            if case let .string(s) = pair.0 { name = "'\(s)'" } else { name = "<\(pair.0.kind) key>" }
            return "\(name) (\(pair.1.kind))"
        }
        return items.prefix(limit).joined(separator: ", ") + (items.count > limit ? ", … \(items.count - limit) more" : "")
    }

    /// Every tensor dict below `d` (not `d` itself), as `a/b` paths, at most `maxDepth` deep.
    static func candidates(in d: PickleDict, path: String = "", depth: Int = 1) -> [(path: String, dict: PickleDict)] {
        var out: [(path: String, dict: PickleDict)] = []
        for (k, v) in d.pairs {
            guard case let .string(key) = k, case let .dict(inner) = v else { continue }
            let p = path.isEmpty ? key : path + "/" + key
            if isTensorDict(inner) {
                out.append((p, inner))
            } else if depth < maxDepth {
                out += candidates(in: inner, path: p, depth: depth + 1)
            }
        }
        return out
    }

    /// The state dict: the root if it is one, the entry `selection.key` names, or the only tensor
    /// dict inside the wrapper. Several candidates without a key is an error listing them.
    static func locate(_ root: PickleValue, file: String, selection: CheckpointSelection, notes: inout [String]) throws -> PickleDict {
        func fail(_ r: String) -> CheckpointError { CheckpointError(file: file, reason: r) }
        guard case let .dict(top) = root else {
            throw fail("checkpoint holds a \(root.kind), not a dict of tensors")
        }
        let found = candidates(in: top)
        let listing = found.map { "'\($0.path)' (\($0.dict.pairs.count) tensors)" }.joined(separator: ", ")
        if let key = selection.key {
            var current = top
            var walked: [String] = []
            for part in key.split(separator: "/", omittingEmptySubsequences: false).map(String.init) {
                walked.append(part)
                guard let v = current.value(forKey: part) else {
                    throw fail("--checkpoint-key '\(key)': no entry '\(walked.joined(separator: "/"))' (entries there: \(describe(current)))"
                               + (found.isEmpty ? "" : "; state dicts in this file: \(listing)"))
                }
                guard case let .dict(d) = v else {
                    throw fail("--checkpoint-key '\(key)': entry '\(walked.joined(separator: "/"))' is a \(v.kind), not a dict of tensors")
                }
                current = d
            }
            guard isTensorDict(current) else {
                throw fail("--checkpoint-key '\(key)' is not a state dict (entries: \(describe(current)))"
                           + (found.isEmpty ? "" : "; state dicts in this file: \(listing)"))
            }
            notes.append("\(file): using the state dict under '\(key)' (--checkpoint-key)")
            return current
        }
        if isTensorDict(top) { return top }
        switch found.count {
        case 1:
            let c = found[0]
            let top0 = String(c.path.split(separator: "/").first ?? "")
            let others = top.pairs.compactMap { pair -> String? in
                if case let .string(s) = pair.0, s != top0 { return "'\(s)'" } else { return nil }
            }
            notes.append("\(file): using the state dict under '\(c.path)' (\(c.dict.pairs.count) tensors)"
                         + (others.isEmpty ? "" : "; ignored: \(others.prefix(8).joined(separator: ", "))\(others.count > 8 ? ", …" : "")"))
            return c.dict
        case 0:
            let hasTensors = top.pairs.contains { if case .tensor = $0.1 { return true } else { return false } }
            throw fail("no state dict found: \(hasTensors ? "the top level mixes tensors with other values" : "no dict of tensors at the top level or under any key")"
                       + " (top-level entries: \(describe(top))); a state dict is a dict of tensors, as model.state_dict() returns")
        default:
            throw fail("\(found.count) state dicts in this file: \(listing); choose one with --checkpoint-key")
        }
    }

    /// Applies `--strip-prefix` (keeping only keys that carry it), then removes DataParallel's
    /// `module.` when every key carries it.
    static func applyPrefixes(_ sd: StateDict, file: String, selection: CheckpointSelection, notes: inout [String]) throws -> StateDict {
        var sd = sd
        if let p = selection.stripPrefix, !p.isEmpty {
            let kept = sd.keys.filter { $0.hasPrefix(p) }
            guard !kept.isEmpty else {
                throw CheckpointError(file: file, reason: "--strip-prefix '\(p)': no key starts with it (keys start with \(prefixSummary(sd.keys)))")
            }
            let dropped = sd.count - kept.count
            sd = sd.filtered { $0.hasPrefix(p) }.strippingPrefix(p)
            notes.append("\(file): removed the prefix '\(p)' from \(kept.count) keys"
                         + (dropped > 0 ? "; dropped \(dropped) keys without it" : ""))
        }
        if !sd.isEmpty, sd.keys.allSatisfy({ $0.hasPrefix("module.") }) {
            sd = sd.strippingPrefix("module.")
            notes.append("\(file): removed the DataParallel prefix 'module.' carried by every key")
        }
        return sd
    }

    /// "'model.' (210 keys), 'loss.' (1 key)": how keys group by their first component.
    static func prefixSummary(_ keys: [String], limit: Int = 6) -> String {
        var order: [String] = []
        var counts: [String: Int] = [:]
        for k in keys {
            let head = k.split(separator: ".", maxSplits: 1).count > 1 ? String(k.prefix(upTo: k.firstIndex(of: ".")!)) + "." : k
            if counts[head] == nil { order.append(head) }
            counts[head, default: 0] += 1
        }
        let items = order.prefix(limit).map { "'\($0)' (\(counts[$0]!) key\(counts[$0]! == 1 ? "" : "s"))" }
        return items.joined(separator: ", ") + (order.count > limit ? ", …" : "")
    }
}
