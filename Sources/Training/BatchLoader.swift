import Foundation
import TensorCore
import Imaging
import Datasets

/// A batch of images [N,3,S,S] with their labels.
public struct Batch: @unchecked Sendable {
    public let images: Tensor
    public let labels: [Int]
}

/// Decodes, resizes and augments the batches of one pass over a list of manifest rows on a worker
/// thread, `ahead` batches ahead of the consumer, in order.
///
/// Batches are consecutive runs of `order` (the last one partial), like PyTorch's DataLoader with
/// `drop_last=False`. Augmentation draws from a stream per (seed, epoch, row), so the result does
/// not depend on timing or on how far ahead the worker runs.
public final class BatchLoader: @unchecked Sendable {
    public let count: Int
    private let lock = NSLock()
    private var results: [Int: Result<Batch, Error>] = [:]
    private let ready = DispatchSemaphore(value: 0)
    private let slots: DispatchSemaphore
    private var cancelled = false
    private var consumed = 0

    public init(items: [ManifestItem], order: [Int], batchSize: Int, manifest: Manifest, preprocessing: Preprocessing,
                augmentation: Augmentation = .none, seed: UInt64 = 0, epoch: Int = 0, ahead: Int = 2) {
        count = (order.count + batchSize - 1) / max(batchSize, 1)
        // Created at 0 and raised to `ahead`: libdispatch traps when a semaphore is freed with a
        // value below the one it was created with, which is where a consumer that leaves early
        // (`--max-steps`, a non-finite loss) leaves this one.
        slots = DispatchSemaphore(value: 0)
        for _ in 0..<max(1, ahead) { slots.signal() }
        let total = count
        // The run's settings (threads of the resize loops) go with the batches to the worker thread.
        let settings = RunSettings.current
        let thread = Thread { [self] in settings.run {
            for b in 0..<total {
                slots.wait()
                if lock.withLock({ cancelled }) { return }
                let rows = Array(order[(b * batchSize)..<min(order.count, (b + 1) * batchSize)])
                let r = Result<Batch, Error> {
                    let s = preprocessing.height, per = 3 * s * preprocessing.width
                    let images = Tensor(uninitialized: [rows.count, 3, s, preprocessing.width])
                    for (j, row) in rows.enumerated() {
                        var t = try preprocessing.load(manifest.resolve(items[row].file))
                        if augmentation != .none {
                            var rng = SeededRNG(seed: seed ^ 0xA5A5_0000_0000_0000, stream: UInt64(epoch) << 32 | UInt64(row))
                            t = augmentation.apply(t, rng: &rng)
                        }
                        (images.data + j * per).update(from: t.data, count: per)
                    }
                    return Batch(images: images, labels: rows.map { items[$0].classIndex })
                }
                lock.withLock { results[b] = r }
                ready.signal()
            }
        } }
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// The next batch in order, or nil after the last.
    public func next() throws -> Batch? {
        guard consumed < count else { return nil }
        ready.wait()
        let r = lock.withLock { results.removeValue(forKey: consumed) }
        consumed += 1
        slots.signal()
        return try r?.get()
    }

    /// Stops the worker (when the consumer leaves early).
    public func cancel() {
        lock.withLock { cancelled = true }
        slots.signal()
    }

    deinit { cancel() }
}
