/// A dense float32 tensor: a shape and a contiguous, row-major buffer.
///
/// `Tensor` is a small value (shape + reference to storage). Reshaping shares storage; kernels
/// write into freshly allocated outputs unless a function says it works in place. Layouts follow
/// PyTorch: images NCHW, tokens [B, T, C], Conv2d weights [out, in/groups, kh, kw], Linear [out, in].
public struct Tensor: @unchecked Sendable {
    public let shape: [Int]
    public let storage: TensorStorage

    /// Number of elements.
    @inlinable public var count: Int { storage.count }
    /// The first element's address. Writing through it mutates every tensor sharing the storage.
    @inlinable public var data: UnsafeMutablePointer<Float> { storage.pointer }
    @inlinable public var rank: Int { shape.count }

    /// A zero-filled tensor.
    public init(zeros shape: [Int]) {
        self.shape = shape
        self.storage = TensorStorage(count: Tensor.elementCount(shape), zeroed: true)
    }

    /// An uninitialised tensor, for kernels that overwrite every element.
    public init(uninitialized shape: [Int]) {
        self.shape = shape
        self.storage = TensorStorage(count: Tensor.elementCount(shape), zeroed: false)
    }

    /// A tensor filled with `value`.
    public init(repeating value: Float, shape: [Int]) {
        self.init(uninitialized: shape)
        data.update(repeating: value, count: count)
    }

    /// A tensor holding `values` (row-major). Throws if the count does not match the shape.
    public init(shape: [Int], values: [Float]) throws {
        let n = Tensor.elementCount(shape)
        guard values.count == n else {
            throw TensorError.shapeMismatch(op: "Tensor(shape:values:)", detail: "shape \(shape) needs \(n) values, got \(values.count)")
        }
        self.init(uninitialized: shape)
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: n) }
    }

    /// A scalar-shaped helper: `[]` shape holds one element.
    public init(scalar: Float) {
        self.init(uninitialized: [])
        data[0] = scalar
    }

    init(shape: [Int], storage: TensorStorage) {
        self.shape = shape
        self.storage = storage
    }

    public static func elementCount(_ shape: [Int]) -> Int { shape.reduce(1, *) }

    /// The elements as a Swift array (a copy).
    public var values: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

    /// Element access by flat index (no bounds check beyond the debug assertion of the pointer).
    @inlinable public subscript(flat i: Int) -> Float {
        get { data[i] }
        nonmutating set { data[i] = newValue }
    }

    /// Same storage, new shape. `-1` in one place is inferred.
    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        var s = newShape
        if let k = s.firstIndex(of: -1) {
            let rest = s.enumerated().filter { $0.offset != k }.map(\.element).reduce(1, *)
            guard rest > 0, count % rest == 0 else {
                throw TensorError.shapeMismatch(op: "reshape", detail: "cannot reshape \(shape) to \(newShape)")
            }
            s[k] = count / rest
        }
        guard Tensor.elementCount(s) == count, s.allSatisfy({ $0 >= 0 }) else {
            throw TensorError.shapeMismatch(op: "reshape", detail: "cannot reshape \(shape) (\(count) elements) to \(newShape)")
        }
        return Tensor(shape: s, storage: storage)
    }

    /// A deep copy with its own storage.
    public func copy() -> Tensor {
        let t = Tensor(uninitialized: shape)
        t.data.update(from: data, count: count)
        return t
    }

    /// Copies of the slices `range` along dimension 0.
    public func slice0(_ range: Range<Int>) throws -> Tensor {
        guard rank >= 1, range.lowerBound >= 0, range.upperBound <= shape[0] else {
            throw TensorError.invalidArgument(op: "slice0", detail: "range \(range) out of bounds for shape \(shape)")
        }
        var s = shape; s[0] = range.count
        let inner = shape.count > 1 ? Tensor.elementCount(Array(shape[1...])) : 1
        let t = Tensor(uninitialized: s)
        t.data.update(from: data + range.lowerBound * inner, count: range.count * inner)
        return t
    }

    /// Stacks equally shaped tensors along a new leading dimension or concatenates along dim 0.
    public static func concat0(_ parts: [Tensor]) throws -> Tensor {
        guard let first = parts.first else { throw TensorError.invalidArgument(op: "concat0", detail: "no tensors") }
        let inner = Array(first.shape.dropFirst())
        var n0 = 0
        for p in parts {
            guard Array(p.shape.dropFirst()) == inner else {
                throw TensorError.shapeMismatch(op: "concat0", detail: "\(p.shape) vs \(first.shape)")
            }
            n0 += p.shape.first ?? 1
        }
        let out = Tensor(uninitialized: [n0] + inner)
        var off = 0
        for p in parts { (out.data + off).update(from: p.data, count: p.count); off += p.count }
        return out
    }

    /// Largest absolute element.
    public var maxAbs: Float {
        var m: Float = 0
        for i in 0..<count { m = max(m, abs(data[i])) }
        return m
    }
}

/// Heap storage for a tensor; frees itself when the last tensor using it goes away.
public final class TensorStorage: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int

    public init(count: Int, zeroed: Bool) {
        _ = mallocTuned
        self.count = count
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        // 64-byte alignment keeps SIMD loads and BLAS panels aligned.
        let raw = LargeBufferCache.shared.take(bytes)
            ?? UnsafeMutableRawPointer.allocate(byteCount: LargeBufferCache.capacity(for: bytes), alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        if zeroed { pointer.initialize(repeating: 0, count: max(count, 1)) }
    }

    deinit {
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        if !LargeBufferCache.shared.give(UnsafeMutableRawPointer(pointer), bytes) {
            UnsafeMutableRawPointer(pointer).deallocate()
        }
    }
}

/// Reuses tensor buffers above glibc's largest mmap threshold (32 MiB). glibc maps such blocks
/// fresh on every malloc and unmaps them on free, so each batch-16 forward page-faulted and
/// zero-filled hundreds of MB of activations (6–7 % of a ResNet-50 forward in kernel time).
/// Freed buffers wait here, keyed by size rounded up to 2 MiB, up to `limit` bytes in all; the
/// rest go back to the system.
final class LargeBufferCache: @unchecked Sendable {
    static let shared = LargeBufferCache()
    static let threshold = 32 << 20
    static let granule = 2 << 20

    /// Idle bytes kept at most: an eighth of physical memory, capped at 4 GiB.
    let limit = min(Int(ProcessInfo.processInfo.physicalMemory / 8), 4 << 30)
    private var free: [Int: [UnsafeMutableRawPointer]] = [:]
    private var idle = 0
    private let lock = NSLock()

    /// Bytes actually allocated for a request of `bytes` (cached sizes are rounded up).
    static func capacity(for bytes: Int) -> Int {
        bytes < threshold ? bytes : (bytes + granule - 1) / granule * granule
    }

    func take(_ bytes: Int) -> UnsafeMutableRawPointer? {
        guard bytes >= Self.threshold else { return nil }
        let key = Self.capacity(for: bytes)
        lock.lock(); defer { lock.unlock() }
        guard let p = free[key]?.popLast() else { return nil }
        idle -= key
        return p
    }

    /// Keeps the buffer for reuse; false if the caller must deallocate it.
    func give(_ p: UnsafeMutableRawPointer, _ bytes: Int) -> Bool {
        guard bytes >= Self.threshold else { return false }
        let key = Self.capacity(for: bytes)
        lock.lock(); defer { lock.unlock() }
        guard idle + key <= limit else { return false }
        free[key, default: []].append(p)
        idle += key
        return true
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let head = values.prefix(8).map { String(format: "%.5g", Double($0)) }.joined(separator: ", ")
        return "Tensor\(shape)[\(head)\(count > 8 ? ", …" : "")]"
    }
}

import Foundation
