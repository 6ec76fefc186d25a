import TensorCore
import Autograd

/// A learnable tensor or a buffer of a module, under its PyTorch attribute name.
public final class Parameter {
    public enum Kind: Sendable { case parameter, buffer, counter }
    /// The current value (PyTorch layout). Replace it to load weights.
    public var value: Tensor
    public let kind: Kind
    /// The variable this parameter was bound to in the latest forward pass.
    public internal(set) var variable: Variable?

    public init(_ value: Tensor, kind: Kind = .parameter) {
        self.value = value
        self.kind = kind
    }

    /// ∂L/∂parameter after a training forward + backward.
    public var grad: Tensor? { variable?.grad }
}

/// The base of every layer. A module's parameters and children are its stored properties, named
/// once: as PyTorch registers a submodule by assigning it to an attribute, `Module.init` reads the
/// stored properties back (in declaration order, superclass first) and registers every `Module` and
/// `Parameter` among them under the property's name in snake case (`runningMean` → `running_mean`,
/// `ln_1` stays). So the state dict and the layer paths are a walk over names, never a mapping table.
/// Containers whose children are a list (`Sequential`, `DenseBlock`) override `children`.
open class Module {
    /// The module path in the model (`layer4.2`, `features.denseblock1.denselayer3.conv2`).
    public internal(set) var path: String = ""
    private var declared = DeclaredMembers()

    /// Subclasses set their stored properties before `super.init()`, so all of them are there to read.
    public init() { declared = DeclaredMembers(of: self) }

    /// Whether one instance may run forwards on several threads at once. Not a module with its own
    /// parameters: a forward binds each parameter's `variable` (for training gradients), so
    /// concurrent forwards race there; give each thread its own copy of the model instead.
    /// Parameter-free modules (activations, pools, dropout, containers) are safe.
    open var isThreadSafe: Bool { ownParameters.isEmpty }

    /// Whether this module and all its descendants may run forwards on several threads at once.
    public var isShareable: Bool { namedModules().allSatisfy { $0.1.isThreadSafe } }

    /// Direct children in PyTorch's registration order.
    open var children: [(String, Module)] { declared.children }
    /// This module's own parameters and buffers in PyTorch's order.
    open var ownParameters: [(String, Parameter)] { declared.parameters }

    /// The computation. Call modules through `callAsFunction`, which also records the layer tap.
    open func forward(_ x: Variable, _ ctx: ForwardContext) throws -> Variable { x }

    /// The modules whose forward hook records the very tensor this module returns (itself; a
    /// Sequential adds its last layer's aliases): an in-place op on this output changes all of them.
    open var outputAliases: [Module] { [self] }

    /// Runs `forward` and passes the output through the context's tap for this module's path.
    public final func callAsFunction(_ x: Variable, _ ctx: ForwardContext) throws -> Variable {
        ctx.inputObserver?(self, x.shape)
        let y = try forward(x, ctx)
        return ctx.tap(path, y)
    }

    /// Assigns `path` to this module and every descendant. Call once on the root after building.
    public func assignPaths(_ prefix: String = "") {
        path = prefix
        for (name, child) in children { child.assignPaths(prefix.isEmpty ? name : prefix + "." + name) }
    }

    /// Every parameter and buffer with its state-dict key, in PyTorch's `state_dict()` order.
    public func namedParameters() -> [(String, Parameter)] {
        var out: [(String, Parameter)] = []
        func walk(_ m: Module, _ prefix: String) {
            for (n, p) in m.ownParameters { out.append((prefix + n, p)) }
            for (n, c) in m.children { walk(c, prefix + n + ".") }
        }
        walk(self, "")
        return out
    }

    /// Every module with its path (the root has path "").
    public func namedModules() -> [(String, Module)] {
        var out: [(String, Module)] = []
        func walk(_ m: Module, _ prefix: String) {
            out.append((prefix, m))
            for (n, c) in m.children { walk(c, prefix.isEmpty ? n : prefix + "." + n) }
        }
        walk(self, "")
        return out
    }

    /// Binds a parameter for this forward: a gradient-requiring leaf when the context trains parameters.
    public func bind(_ p: Parameter, _ ctx: ForwardContext) -> Variable {
        let v = Variable(p.value, requiresGrad: ctx.parameterGrads && p.kind == .parameter)
        p.variable = v
        return v
    }
}

/// The modules and parameters a module holds in its stored properties, under PyTorch's names.
struct DeclaredMembers {
    var children: [(String, Module)] = []
    var parameters: [(String, Parameter)] = []

    init() {}

    init(of module: Module) {
        var mirrors: [Mirror] = []
        var next: Mirror? = Mirror(reflecting: module)
        while let m = next { mirrors.insert(m, at: 0); next = m.superclassMirror }
        for mirror in mirrors {
            for case let (label?, value) in mirror.children where !label.hasPrefix("$") {
                // `as?` looks through an Optional: an absent bias or downsample registers nothing.
                if let child = value as? Module { children.append((Self.pytorchName(label), child)) }
                else if let p = value as? Parameter { parameters.append((Self.pytorchName(label), p)) }
            }
        }
    }

    /// `runningMean` → `running_mean`.
    static func pytorchName(_ property: String) -> String {
        property.reduce(into: "") { out, c in
            if c.isUppercase { out += "_" + c.lowercased() } else { out.append(c) }
        }
    }
}

/// Per-forward settings and the layer taps.
///
/// A tap listed in `gradientLayers` cuts the graph: its output becomes a fresh leaf that requires a
/// gradient, so a backward pass from the logits stops there and nothing upstream is recorded
/// (unless parameters are being trained, in which case the graph stays whole).
public final class ForwardContext {
    /// Training mode: batch statistics in BatchNorm, dropout and stochastic depth active.
    public var training: Bool
    /// Dropout and stochastic depth active in training mode (off: `--no-dropout`, BatchNorm still
    /// uses batch statistics).
    public var stochasticLayers = true
    /// Record the graph for parameter gradients (training).
    public var parameterGrads: Bool
    /// Randomness for dropout and stochastic depth.
    public var rng: SeededRNG
    /// Layers whose output gradient is wanted (cut points of the backward pass).
    public var gradientLayers: Set<String>
    /// Layers whose output is kept without a gradient.
    public var captureLayers: Set<String>
    /// Layer outputs replaced by given values (Ablation-CAM): the tap returns a constant instead.
    public var replacements: [String: Tensor] = [:]
    /// Record every path passed through, in order (to list valid layer names).
    public var recordPaths: Bool
    /// Run the inference plan (BatchNorm folded, activations and residual joins fused) wherever no
    /// tap looks inside the fused modules. False runs every module's plain forward (for tests).
    public var planned: Bool = true
    /// The convolution kernels' tuning for this forward's planned convolutions (the run's).
    public var convTuning = RunSettings.current.convTuning
    /// Called with each module and its input shape as modules are called (shape tables; off by default).
    public var inputObserver: ((Module, [Int]) -> Void)?
    public private(set) var visitedPaths: [String] = []
    /// Activations of the tapped layers in this forward.
    public private(set) var activations: [String: Variable] = [:]
    /// Where a model reports a different activation for a layer than the one the gradient is taken
    /// at (a module whose output torchvision modifies in place afterwards; see `modifiedInPlace`).
    public private(set) var activationOverrides: [String: Tensor] = [:]

    public init(training: Bool = false, parameterGrads: Bool = false, seed: UInt64 = 0,
                gradientLayers: Set<String> = [], captureLayers: Set<String> = [], recordPaths: Bool = false) {
        self.training = training
        self.parameterGrads = parameterGrads
        self.rng = SeededRNG(seed: seed)
        self.gradientLayers = gradientLayers
        self.captureLayers = captureLayers
        self.recordPaths = recordPaths
    }

    /// Whether anybody looks at the output of the module at `path` in this forward: a gradient,
    /// a capture, a replacement or the path listing. The inference plan never fuses such a module away.
    public func isObserved(_ path: String) -> Bool {
        recordPaths || gradientLayers.contains(path) || captureLayers.contains(path) || replacements[path] != nil
    }

    /// Whether the inference plan may run `modules` as one fused step on `inputs`: planned inference
    /// (no training, no parameter gradients), inputs outside any graph, and none of the modules observed.
    public func mayFuse(_ modules: [Module?], inputs: [Variable]) -> Bool {
        guard planned, !training, !parameterGrads else { return false }
        if inputs.contains(where: { $0.requiresGrad }) { return false }
        return !modules.contains { m in m.map { isObserved($0.path) } ?? false }
    }

    /// Whether a training forward may run `modules` as one node of the graph (BatchNorm with its
    /// ReLU or residual join): planned, training, no shape observer, none of the modules observed.
    public func mayFuseTraining(_ modules: [Module]) -> Bool {
        planned && training && inputObserver == nil && !modules.contains { isObserved($0.path) }
    }

    /// Records the output of the module at `path`, cutting the graph there when a gradient is wanted.
    ///
    /// A module called several times in one forward (ResNet's `relu`) reports its first call, as
    /// pytorch-grad-cam does (it reads the first activation and the first gradient in forward order).
    public func tap(_ path: String, _ v: Variable) -> Variable {
        if recordPaths { visitedPaths.append(path) }
        if let r = replacements[path] { return Variable(r) }
        let first = activations[path] == nil
        if gradientLayers.contains(path) {
            // The first gradient layer reached cuts the graph; later ones (downstream of it) keep the
            // graph connected and only retain their gradient, so several layers can be asked at once.
            if v.requiresGrad {
                v.retainsGrad = true
                if first { activations[path] = v }
                return v
            }
            let leaf = v.detachedLeaf(name: path)
            if first { activations[path] = leaf }
            return leaf
        }
        if captureLayers.contains(path), first { activations[path] = v }
        return v
    }

    /// Records that torchvision modifies the output of `modules` in place afterwards (an in-place
    /// ReLU/SiLU, a residual `+=`), leaving `value`. A forward hook on such a module keeps a tensor that
    /// shares that storage, so pytorch-grad-cam reads `value` as its activation, while the gradient it
    /// hooks is, by PyTorch's semantics, the one with respect to the module's own output. Tapped
    /// modules report `value` and carry a note saying so; `op` names what ran (for the note).
    public func modifiedInPlace(_ modules: [Module], becomes value: Variable, by op: String) {
        for m in modules where (gradientLayers.contains(m.path) || captureLayers.contains(m.path))
            && activationOverrides[m.path] == nil && activations[m.path] != nil {
            activationOverrides[m.path] = value.value
            notes[m.path] = "\(m.path): pytorch-grad-cam records this activation after \(op) that follows it, not the module's own output"
        }
    }

    /// One line per tapped layer whose reported activation is not the module's own output (see
    /// `modifiedInPlace`).
    public private(set) var notes: [String: String] = [:]

    /// The activation reported for a tapped layer.
    public func activation(_ path: String) -> Tensor? { activationOverrides[path] ?? activations[path]?.value }

    /// The gradient at a cut layer after `backward`.
    public func gradient(_ path: String) -> Tensor? { activations[path]?.grad }
}
