import TensorCore

/// A node of the reverse-mode graph: a value, and (when it requires a gradient) the parents it was
/// computed from with a closure mapping the output gradient to the parents' gradients.
///
/// Recording is decided per op: an op records a node only when one of its inputs requires a
/// gradient. In inference no leaf requires one, so nothing is recorded and every intermediate is
/// freed as soon as the next op has consumed it.
public final class Variable {
    public let value: Tensor
    /// The accumulated gradient after `backward` (set on leaves and on nodes marked `retainsGrad`).
    public var grad: Tensor?
    public let requiresGrad: Bool
    /// Keep this node's gradient after backward even though it is not a leaf.
    public var retainsGrad = false
    /// An optional label (a module path) used in error messages.
    public var name: String?

    let parents: [Variable]
    let backwardFn: ((Tensor) throws -> [Tensor?])?

    /// A leaf: an input, a parameter or a cut point of a truncated backward pass.
    public init(_ value: Tensor, requiresGrad: Bool = false, name: String? = nil) {
        self.value = value
        self.requiresGrad = requiresGrad
        self.parents = []
        self.backwardFn = nil
        self.name = name
    }

    /// An interior node. `backward` returns one gradient per parent (nil where not needed).
    init(_ value: Tensor, parents: [Variable], backward: @escaping (Tensor) throws -> [Tensor?]) {
        self.value = value
        self.requiresGrad = true
        self.parents = parents
        self.backwardFn = backward
    }

    public var shape: [Int] { value.shape }
    public var isLeaf: Bool { backwardFn == nil }

    /// A new leaf with the same value that requires a gradient: backward stops here.
    public func detachedLeaf(name: String? = nil) -> Variable {
        Variable(value, requiresGrad: true, name: name ?? self.name)
    }
}

/// Builds a node when any input requires a gradient; otherwise a constant.
@inline(__always)
func record(_ value: Tensor, _ inputs: [Variable], _ backward: @escaping (Tensor) throws -> [Tensor?]) -> Variable {
    for v in inputs where v.requiresGrad {
        return Variable(value, parents: inputs, backward: backward)
    }
    return Variable(value)
}

// MARK: - Backward

/// Runs reverse-mode differentiation from `root`.
///
/// - Parameters:
///   - root: the output to differentiate.
///   - seed: ∂L/∂root; defaults to ones (L = Σ root).
/// Gradients are accumulated into `.grad` of leaves that require one and of nodes marked
/// `retainsGrad`; interior gradients are dropped as soon as they have been propagated.
public func backward(_ root: Variable, seed: Tensor? = nil) throws {
    guard root.requiresGrad else {
        throw TensorError.invalidArgument(op: "backward", detail: "the output does not depend on anything that requires a gradient")
    }
    let g0 = seed ?? Tensor(repeating: 1, shape: root.value.shape)
    guard g0.shape == root.value.shape else {
        throw TensorError.shapeMismatch(op: "backward", detail: "seed \(g0.shape) vs output \(root.value.shape)")
    }
    // Topological order by iterative DFS (graphs are hundreds of nodes deep).
    var order: [Variable] = []
    var visited = Set<ObjectIdentifier>()
    var stack: [(Variable, Int)] = [(root, 0)]
    visited.insert(ObjectIdentifier(root))
    while let (node, next) = stack.popLast() {
        if next < node.parents.count {
            stack.append((node, next + 1))
            let p = node.parents[next]
            if p.requiresGrad && !visited.contains(ObjectIdentifier(p)) {
                visited.insert(ObjectIdentifier(p))
                stack.append((p, 0))
            }
        } else {
            order.append(node)
        }
    }
    // A gradient is never copied: backward functions may hand on their incoming gradient (an add
    // gives it to both inputs, a reshape passes it through) or a tensor they keep, so a pending
    // gradient may share storage with others. Accumulation therefore writes in place only into a
    // sum it allocated itself (`owned`); the first sum into a shared gradient is a new tensor.
    var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(root): g0]
    var owned = Set<ObjectIdentifier>()
    for node in order.reversed() {
        let id = ObjectIdentifier(node)
        guard let g = grads.removeValue(forKey: id) else { continue }
        owned.remove(id)
        if node.isLeaf || node.retainsGrad {
            if let existing = node.grad { node.grad = try add(existing, g) } else { node.grad = g }
        }
        guard let fn = node.backwardFn else { continue }
        let pg = try fn(g)
        for (p, gp) in zip(node.parents, pg) {
            guard p.requiresGrad, let gp else { continue }
            let pid = ObjectIdentifier(p)
            if let acc = grads[pid] {
                if owned.contains(pid) { try addInPlace(acc, gp) } else { grads[pid] = try add(acc, gp); owned.insert(pid) }
            } else {
                grads[pid] = gp
            }
        }
    }
}
