import Foundation

/// Runs `a` and `b` on two threads at once, released together, and returns both results (the
/// first error thrown, if any).
public func concurrently<A: Sendable, B: Sendable>(_ a: @escaping @Sendable () throws -> A,
                                                   _ b: @escaping @Sendable () throws -> B) throws -> (A, B) {
    let ra = ResultSlot<A>(), rb = ResultSlot<B>()
    let ready = DispatchGroup(), done = DispatchGroup()
    let go = DispatchSemaphore(value: 0)
    let bodies: [@Sendable () -> Void] = [{ ra.value = Result { try a() } }, { rb.value = Result { try b() } }]
    for body in bodies {
        ready.enter(); done.enter()
        let t = Thread { ready.leave(); go.wait(); body(); done.leave() }
        t.stackSize = 8 << 20
        t.start()
    }
    ready.wait()
    go.signal(); go.signal()
    done.wait()
    return (try ra.value!.get(), try rb.value!.get())
}

/// Written by one thread before `done.leave()`, read after `done.wait()`.
private final class ResultSlot<T>: @unchecked Sendable { var value: Result<T, Error>? }
