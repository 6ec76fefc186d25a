import Foundation

// A pickle reader for `torch.save` state dicts that executes nothing: it knows the opcodes torch
// emits (protocols 2–5) and resolves only the handful of globals a state dict needs, each mapped to
// a fixed Swift behaviour. Any other global (os.system, builtins.eval, subprocess.Popen, …) is
// refused by name the moment the GLOBAL opcode names it, before anything could call it.

/// A list under construction (pickle mutates lists after memoising them, so it needs identity).
final class PickleList { var items: [PickleValue] = [] }

/// A dict or OrderedDict under construction, in insertion order.
final class PickleDict {
    var pairs: [(PickleValue, PickleValue)] = []
    /// The value for a string key, if present.
    func value(forKey key: String) -> PickleValue? {
        pairs.last(where: { if case let .string(k) = $0.0 { return k == key } else { return false } })?.1
    }
}

/// A storage named by a persistent id: `('storage', torch.XStorage, key, location, numel)`.
struct StorageRef {
    /// nil for storage types that are recognised but not readable (complex, quantized, …).
    let dtype: CheckpointDType?
    let typeName: String
    let key: String
    let numel: Int
}

/// A tensor as `_rebuild_tensor_v2` describes it: a view into a storage (all in elements).
struct TensorRef {
    let storage: StorageRef
    let offset: Int
    let shape: [Int]
    let strides: [Int]
}

/// The only globals the unpickler resolves.
enum AllowedGlobal: Equatable {
    case orderedDict
    /// `set`/`frozenset`, which protocol-2 pickles build by calling the class on a list (kept as a list).
    case set
    case rebuildTensorV2, rebuildTensor, rebuildParameter, rebuildParameterWithState
    case torchSize
    case storageType(String)

    /// Storage classes and the element types they hold (nil: known but unreadable here).
    static let storageTypes: [String: CheckpointDType?] = [
        "FloatStorage": .float32, "HalfStorage": .float16, "BFloat16Storage": .bfloat16, "DoubleStorage": .float64,
        "LongStorage": .int64, "IntStorage": .int32, "ShortStorage": .int16, "CharStorage": .int8,
        "ByteStorage": .uint8, "BoolStorage": .bool, "UntypedStorage": .uint8,
        "ComplexFloatStorage": nil, "ComplexDoubleStorage": nil, "QInt8Storage": nil, "QUInt8Storage": nil,
        "QInt32Storage": nil, "QUInt4x2Storage": nil, "QUInt2x4Storage": nil,
    ]

    /// Bytes per element of every storage type above (the legacy container stores unreadable ones
    /// too, and the reader must step over their bytes).
    static let storageItemSizes: [String: Int] = [
        "FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2, "DoubleStorage": 8,
        "LongStorage": 8, "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1,
        "ByteStorage": 1, "BoolStorage": 1, "UntypedStorage": 1,
        "ComplexFloatStorage": 8, "ComplexDoubleStorage": 16, "QInt8Storage": 1, "QUInt8Storage": 1,
        "QInt32Storage": 4, "QUInt4x2Storage": 1, "QUInt2x4Storage": 1,
    ]

    init?(module: String, name: String) {
        switch (module, name) {
        case ("collections", "OrderedDict"): self = .orderedDict
        case ("builtins", "set"), ("builtins", "frozenset"), ("__builtin__", "set"), ("__builtin__", "frozenset"): self = .set
        case ("torch._utils", "_rebuild_tensor_v2"): self = .rebuildTensorV2
        case ("torch._utils", "_rebuild_tensor"): self = .rebuildTensor
        case ("torch._utils", "_rebuild_parameter"): self = .rebuildParameter
        case ("torch._utils", "_rebuild_parameter_with_state"): self = .rebuildParameterWithState
        case ("torch", "Size"): self = .torchSize
        case ("torch", _) where AllowedGlobal.storageTypes[name] != nil: self = .storageType(name)
        case ("torch.storage", "UntypedStorage"): self = .storageType("UntypedStorage")
        default: return nil
        }
    }
}

/// A value on the unpickler's stack.
indirect enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    /// An integer wider than 64 bits, little-endian two's complement bytes (torch's legacy magic).
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue])
    case list(PickleList)
    case dict(PickleDict)
    case global(AllowedGlobal)
    case storage(StorageRef)
    case tensor(TensorRef)

    var kind: String {
        switch self {
        case .none: return "None"
        case .bool: return "bool"
        case .int, .bigInt: return "int"
        case .float: return "float"
        case .string: return "str"
        case .bytes: return "bytes"
        case .tuple: return "tuple"
        case .list: return "list"
        case .dict: return "dict"
        case .global: return "global"
        case .storage: return "storage"
        case .tensor: return "tensor"
        }
    }
}

/// Why unpickling stopped; turned into a `CheckpointError` naming the file by the caller.
struct PickleFailure: Error { let message: String }

/// The restricted unpickler. `persistentLoad` resolves BINPERSID ids (torch's storages).
struct RestrictedUnpickler {
    private let bytes: [UInt8]
    private var pos = 0
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]
    private let persistentLoad: (PickleValue) throws -> PickleValue

    /// Position after STOP, so callers can read the pickles that follow (legacy format).
    private(set) var endOffset = 0

    /// - Parameter start: where the pickle begins in `bytes` (the legacy container holds several in a row).
    init(_ bytes: [UInt8], start: Int = 0, persistentLoad: @escaping (PickleValue) throws -> PickleValue) {
        self.bytes = bytes
        self.pos = min(max(start, 0), bytes.count)
        self.persistentLoad = persistentLoad
    }

    private func fail(_ what: String) -> PickleFailure { PickleFailure(message: "\(what) (pickle byte \(pos))") }

    // MARK: - Reading operands

    private mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, n <= bytes.count - pos else { throw fail("truncated pickle: operand needs \(n) bytes") }
        defer { pos += n }
        return bytes[pos..<pos + n]
    }

    private mutating func uint(_ n: Int) throws -> UInt64 {
        var v: UInt64 = 0
        for (k, b) in try take(n).enumerated() { v |= UInt64(b) << (8 * UInt64(k)) }
        return v
    }

    private mutating func length(_ n: Int) throws -> Int {
        let v = try uint(n)
        guard v <= UInt64(bytes.count - pos) else { throw fail("truncated pickle: length \(v) runs past the end") }
        return Int(v)
    }

    private mutating func line() throws -> String {
        guard let nl = bytes[pos...].firstIndex(of: 0x0A) else { throw fail("truncated pickle: unterminated GLOBAL") }
        let s = String(decoding: bytes[pos..<nl], as: UTF8.self)
        pos = nl + 1
        return s
    }

    private mutating func utf8(_ n: Int) throws -> String {
        let raw = try take(n)
        guard let s = String(bytes: raw, encoding: .utf8) else { throw fail("string is not UTF-8") }
        return s
    }

    // MARK: - Stack

    private mutating func pop() throws -> PickleValue {
        guard let v = stack.popLast() else { throw fail("corrupt pickle: stack underflow") }
        if let m = marks.last, stack.count < m { throw fail("corrupt pickle: pop across a MARK") }
        return v
    }

    private mutating func popMark() throws -> [PickleValue] {
        guard let m = marks.popLast(), m <= stack.count else { throw fail("corrupt pickle: no MARK") }
        let items = Array(stack[m...])
        stack.removeSubrange(m...)
        return items
    }

    private mutating func top() throws -> PickleValue {
        guard let v = stack.last else { throw fail("corrupt pickle: empty stack") }
        return v
    }

    private func resolve(_ module: String, _ name: String) throws -> PickleValue {
        guard let g = AllowedGlobal(module: module, name: name) else {
            throw PickleFailure(message: "refused to load global '\(module).\(name)': a checkpoint may only reference the globals a state dict needs (collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch.*Storage, …); nothing was executed")
        }
        return .global(g)
    }

    // MARK: - Run

    /// Runs to STOP and returns the unpickled value.
    mutating func load() throws -> PickleValue {
        while true {
            guard pos < bytes.count else { throw fail("truncated pickle: no STOP opcode") }
            let op = bytes[pos]
            let opAt = pos
            pos += 1
            switch op {
            case 0x80: _ = try take(1)                                   // PROTO
            case 0x95: _ = try take(8)                                   // FRAME (framing is advisory)
            case 0x2E:                                                   // STOP
                endOffset = pos
                guard marks.isEmpty else { throw fail("corrupt pickle: unclosed MARK at STOP") }
                return try pop()
            case 0x28: marks.append(stack.count)                         // MARK
            case 0x7D: stack.append(.dict(PickleDict()))                 // EMPTY_DICT
            case 0x5D: stack.append(.list(PickleList()))                 // EMPTY_LIST
            case 0x29: stack.append(.tuple([]))                          // EMPTY_TUPLE
            case 0x8F: stack.append(.list(PickleList()))                 // EMPTY_SET (held as a list)
            case 0x4E: stack.append(.none)                               // NONE
            case 0x88: stack.append(.bool(true))                         // NEWTRUE
            case 0x89: stack.append(.bool(false))                        // NEWFALSE
            case 0x4B: stack.append(.int(Int(try uint(1))))              // BININT1
            case 0x4D: stack.append(.int(Int(try uint(2))))              // BININT2
            case 0x4A: stack.append(.int(Int(Int32(truncatingIfNeeded: try uint(4)))))  // BININT
            case 0x8A: stack.append(long(Array(try take(try length(1)))))   // LONG1
            case 0x8B: stack.append(long(Array(try take(try length(4)))))   // LONG4
            case 0x47:                                                   // BINFLOAT (big-endian)
                var v: UInt64 = 0
                for b in try take(8) { v = v << 8 | UInt64(b) }
                stack.append(.float(Double(bitPattern: v)))
            case 0x58: stack.append(.string(try utf8(try length(4))))    // BINUNICODE
            case 0x8C: stack.append(.string(try utf8(try length(1))))    // SHORT_BINUNICODE
            case 0x8D: stack.append(.string(try utf8(try length(8))))    // BINUNICODE8
            case 0x54: stack.append(.string(String(decoding: try take(try length(4)), as: UTF8.self)))  // BINSTRING
            case 0x55: stack.append(.string(String(decoding: try take(try length(1)), as: UTF8.self)))  // SHORT_BINSTRING
            case 0x42: stack.append(.bytes(Array(try take(try length(4)))))   // BINBYTES
            case 0x43: stack.append(.bytes(Array(try take(try length(1)))))   // SHORT_BINBYTES
            case 0x8E: stack.append(.bytes(Array(try take(try length(8)))))   // BINBYTES8
            case 0x71: memo[Int(try uint(1))] = try top()                // BINPUT
            case 0x72: memo[Int(try uint(4))] = try top()                // LONG_BINPUT
            case 0x94: memo[memo.count] = try top()                      // MEMOIZE
            case 0x68, 0x6A:                                             // BINGET, LONG_BINGET
                let k = Int(try uint(op == 0x68 ? 1 : 4))
                guard let v = memo[k] else { throw fail("corrupt pickle: memo \(k) was never stored") }
                stack.append(v)
            case 0x32: stack.append(try top())                           // DUP
            case 0x30: _ = try pop()                                     // POP
            case 0x31: _ = try popMark()                                 // POP_MARK
            case 0x74: stack.append(.tuple(try popMark()))               // TUPLE
            case 0x85: stack.append(.tuple([try pop()]))                 // TUPLE1
            case 0x86:                                                   // TUPLE2
                let b = try pop(), a = try pop()
                stack.append(.tuple([a, b]))
            case 0x87:                                                   // TUPLE3
                let c = try pop(), b = try pop(), a = try pop()
                stack.append(.tuple([a, b, c]))
            case 0x6C:                                                   // LIST
                let l = PickleList(); l.items = try popMark(); stack.append(.list(l))
            case 0x64:                                                   // DICT
                let d = PickleDict(); try setItems(d, try popMark()); stack.append(.dict(d))
            case 0x91:                                                   // FROZENSET
                let l = PickleList(); l.items = try popMark(); stack.append(.list(l))
            case 0x61:                                                   // APPEND
                let v = try pop()
                guard case let .list(l) = try top() else { throw fail("corrupt pickle: APPEND to a non-list") }
                l.items.append(v)
            case 0x65, 0x90:                                             // APPENDS, ADDITEMS
                let vs = try popMark()
                guard case let .list(l) = try top() else { throw fail("corrupt pickle: APPENDS to a non-list") }
                l.items.append(contentsOf: vs)
            case 0x73:                                                   // SETITEM
                let v = try pop(), k = try pop()
                guard case let .dict(d) = try top() else { throw fail("corrupt pickle: SETITEM on a non-dict") }
                d.pairs.append((k, v))
            case 0x75:                                                   // SETITEMS
                let kv = try popMark()
                guard case let .dict(d) = try top() else { throw fail("corrupt pickle: SETITEMS on a non-dict") }
                try setItems(d, kv)
            case 0x63:                                                   // GLOBAL
                let module = try line(), name = try line()
                stack.append(try resolve(module, name))
            case 0x93:                                                   // STACK_GLOBAL
                let n = try pop(), m = try pop()
                guard case let .string(module) = m, case let .string(name) = n else { throw fail("corrupt pickle: STACK_GLOBAL needs two strings") }
                stack.append(try resolve(module, name))
            case 0x52:                                                   // REDUCE
                let args = try pop(), callable = try pop()
                guard case let .tuple(a) = args else { throw fail("corrupt pickle: REDUCE arguments are a \(args.kind), not a tuple") }
                stack.append(try call(callable, a))
            case 0x81:                                                   // NEWOBJ
                let args = try pop(), cls = try pop()
                guard case .global(.orderedDict) = cls, case .tuple = args else {
                    throw fail("unsupported pickle: NEWOBJ of a \(cls.kind)")
                }
                stack.append(.dict(PickleDict()))
            case 0x62:                                                   // BUILD
                _ = try pop()  // state: OrderedDict._metadata or a Parameter's attributes, not needed
                switch try top() {
                case .dict, .tensor: break
                case let other: throw fail("unsupported pickle: BUILD on a \(other.kind)")
                }
            case 0x51:                                                   // BINPERSID
                stack.append(try persistentLoad(try pop()))
            default:
                pos = opAt
                throw fail(String(format: "unsupported pickle opcode 0x%02x", op))
            }
        }
    }

    private func setItems(_ d: PickleDict, _ kv: [PickleValue]) throws {
        guard kv.count % 2 == 0 else { throw fail("corrupt pickle: odd number of items for a dict") }
        for i in stride(from: 0, to: kv.count, by: 2) { d.pairs.append((kv[i], kv[i + 1])) }
    }

    /// A little-endian two's complement integer of `raw.count` bytes.
    private func long(_ raw: [UInt8]) -> PickleValue {
        let n = raw.count
        if n == 0 { return .int(0) }
        if n <= 8 {
            var v: UInt64 = 0
            for (k, b) in raw.enumerated() { v |= UInt64(b) << (8 * UInt64(k)) }
            // Sign-extend from n bytes.
            let shift = UInt64(64 - 8 * n)
            return .int(Int(Int64(bitPattern: v << shift) >> shift))
        }
        return .bigInt(raw)
    }

    // MARK: - The allowed callables

    private func call(_ callable: PickleValue, _ a: [PickleValue]) throws -> PickleValue {
        guard case let .global(g) = callable else { throw fail("unsupported pickle: REDUCE on a \(callable.kind)") }
        switch g {
        case .orderedDict:
            let d = PickleDict()
            if let first = a.first {
                guard case let .list(l) = first else { throw fail("unsupported pickle: OrderedDict(\(first.kind))") }
                for item in l.items {
                    guard case let .tuple(kv) = item, kv.count == 2 else { throw fail("unsupported pickle: OrderedDict item is not a pair") }
                    d.pairs.append((kv[0], kv[1]))
                }
            }
            return .dict(d)
        case .set:
            let l = PickleList()
            if let first = a.first {
                guard case let .list(items) = first else { throw fail("unsupported pickle: set(\(first.kind))") }
                l.items = items.items
            }
            return .list(l)
        case .rebuildTensorV2, .rebuildTensor:
            guard a.count >= 4, case let .storage(s) = a[0], case let .int(offset) = a[1],
                  case let .tuple(sizeV) = a[2], case let .tuple(strideV) = a[3] else {
                throw fail("unsupported pickle: _rebuild_tensor arguments are not (storage, offset, size, stride)")
            }
            let shape = try ints(sizeV, "size"), strides = try ints(strideV, "stride")
            guard shape.count == strides.count, offset >= 0, shape.allSatisfy({ $0 >= 0 }), strides.allSatisfy({ $0 >= 0 }) else {
                throw fail("unsupported tensor view: size \(shape), stride \(strides), offset \(offset)")
            }
            return .tensor(TensorRef(storage: s, offset: offset, shape: shape, strides: strides))
        case .rebuildParameter, .rebuildParameterWithState:
            guard let data = a.first, case .tensor = data else { throw fail("unsupported pickle: _rebuild_parameter without a tensor") }
            return data
        case .torchSize:
            guard let first = a.first, case .tuple = first else { return .tuple([]) }
            return first
        case let .storageType(name):
            throw fail("unsupported pickle: torch.\(name) called directly")
        }
    }

    private func ints(_ vs: [PickleValue], _ what: String) throws -> [Int] {
        try vs.map {
            guard case let .int(v) = $0 else { throw fail("unsupported tensor: \(what) element is a \($0.kind)") }
            return v
        }
    }
}
