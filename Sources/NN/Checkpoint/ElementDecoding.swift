import Foundation
import TensorCore

/// Converts raw little- (or big-) endian elements of any checkpoint dtype to float32.
enum ElementDecoding {
    /// Reads element `index` of `raw` as `dtype`; the caller has checked `index` is in range.
    @inline(__always)
    static func element(_ raw: UnsafeRawBufferPointer, _ index: Int, _ dtype: CheckpointDType, bigEndian: Bool) -> Float {
        let p = raw.baseAddress!
        let o = index * dtype.itemSize
        switch dtype {
        case .float32:
            let b = p.loadUnaligned(fromByteOffset: o, as: UInt32.self)
            return Float(bitPattern: bigEndian ? UInt32(bigEndian: b) : UInt32(littleEndian: b))
        case .float64:
            let b = p.loadUnaligned(fromByteOffset: o, as: UInt64.self)
            return Float(Double(bitPattern: bigEndian ? UInt64(bigEndian: b) : UInt64(littleEndian: b)))
        case .float16:
            let b = p.loadUnaligned(fromByteOffset: o, as: UInt16.self)
            return Float(Float16(bitPattern: bigEndian ? UInt16(bigEndian: b) : UInt16(littleEndian: b)))
        case .bfloat16:
            // bf16 is the top half of a float32.
            let b = p.loadUnaligned(fromByteOffset: o, as: UInt16.self)
            return Float(bitPattern: UInt32(bigEndian ? UInt16(bigEndian: b) : UInt16(littleEndian: b)) << 16)
        case .int64:
            let b = p.loadUnaligned(fromByteOffset: o, as: Int64.self)
            return Float(bigEndian ? Int64(bigEndian: b) : Int64(littleEndian: b))
        case .int32:
            let b = p.loadUnaligned(fromByteOffset: o, as: Int32.self)
            return Float(bigEndian ? Int32(bigEndian: b) : Int32(littleEndian: b))
        case .int16:
            let b = p.loadUnaligned(fromByteOffset: o, as: Int16.self)
            return Float(bigEndian ? Int16(bigEndian: b) : Int16(littleEndian: b))
        case .int8:
            return Float(p.load(fromByteOffset: o, as: Int8.self))
        case .uint8, .bool:
            return Float(p.load(fromByteOffset: o, as: UInt8.self))
        }
    }

    /// A contiguous tensor of `shape` from `raw`, which must hold exactly its elements.
    static func contiguous(_ raw: UnsafeRawBufferPointer, dtype: CheckpointDType, shape: [Int], bigEndian: Bool = false) -> Tensor {
        let t = Tensor(uninitialized: shape)
        let n = t.count
        if dtype == .float32, !bigEndian, n > 0 {
            // Same layout as the tensor's buffer: one copy.
            memcpy(t.data, raw.baseAddress!, n * 4)
        } else {
            for i in 0..<n { t.data[i] = element(raw, i, dtype, bigEndian: bigEndian) }
        }
        return t
    }

    /// A contiguous tensor holding the strided view (`offset`, `shape`, `strides`, in elements) of
    /// the storage `raw`; the caller has checked every index the view touches is in range.
    static func strided(_ raw: UnsafeRawBufferPointer, dtype: CheckpointDType, offset: Int, shape: [Int], strides: [Int], bigEndian: Bool) -> Tensor {
        let t = Tensor(uninitialized: shape)
        let n = t.count
        guard n > 0 else { return t }
        var index = [Int](repeating: 0, count: shape.count)
        var src = offset
        for flat in 0..<n {
            t.data[flat] = element(raw, src, dtype, bigEndian: bigEndian)
            // Odometer increment over the view's indices, keeping the source position in step.
            var d = shape.count - 1
            while d >= 0 {
                index[d] += 1
                src += strides[d]
                if index[d] < shape[d] { break }
                src -= strides[d] * shape[d]
                index[d] = 0
                d -= 1
            }
        }
        return t
    }
}
