/// Why training cannot start or had to stop. Each message names what to change.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    case nonFiniteLoss(Float)
    case emptySplit(String)
    case singleClass(String)
    case invalidOption(String)
    case unwritable(path: String, reason: String)
    case resume(path: String, reason: String)
    /// Another run holds the outputs' lock now.
    case busy(path: String, holder: String)
    /// The outputs hold another run's files.
    case taken(path: String, reason: String)

    public var description: String {
        switch self {
        case .nonFiniteLoss(let v):
            return "the loss became \(v): training stopped before this step changed the weights (try a lower --lr)"
        case .emptySplit(let s): return "the \(s) split is empty: the manifest needs \(s) rows"
        case .singleClass(let s): return "only one class in the data (\(s)): a classifier needs at least two"
        case .invalidOption(let s): return s
        case .unwritable(let p, let r): return "cannot write '\(p)': \(r)"
        case .resume(let p, let r): return "cannot resume from '\(p)': \(r)"
        case .busy(let p, let h): return "'\(p)' is being written by another run (\(h)); wait for it, or choose another --out"
        case .taken(let p, let r): return "'\(p)' \(r)"
        }
    }
}
