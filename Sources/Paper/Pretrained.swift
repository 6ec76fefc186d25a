import Foundation
import TensorCore
import NN
import Models
import Training
import Sweep

/// The checkpoint one architecture's training starts from (`paper --pretrained DIR`).
public struct InitialCheckpoint: Codable, Equatable, Sendable {
    public var path: String
    /// SHA-256 of the file: what the training stage's cache key holds (not the path).
    public var sha256: String
    /// torchvision's weights enum when the file is one it publishes (`IMAGENET1K_V2`); nil for a file
    /// that is only named like one (the CI stand-ins).
    public var weights: String?

    public init(path: String, sha256: String, weights: String?) {
        self.path = path; self.sha256 = sha256; self.weights = weights
    }

    public var fileName: String { (path as NSString).lastPathComponent }

    /// "ImageNet IMAGENET1K_V2 (resnet50-11ad3fa6.pth)", for tables and captions; a file torchvision
    /// does not publish (a stand-in) says so.
    public var origin: String {
        weights.map { "ImageNet \($0) (\(fileName))" } ?? "\(fileName) (unpublished)"
    }
}

/// Finds torchvision's ImageNet checkpoints in a folder (`~/.cache/torch/hub/checkpoints/`) by the
/// names torchvision gives them, and checks each as `torch.hub` does before anything trains.
public enum Pretrained {
    /// For every architecture, the one file in `dir` named `STEM-HASH.pth` with a stem of that
    /// architecture (its own name or one of its published files': `efficientnet_b0_rwightman`).
    ///
    /// Each file is checked as `torch.hub.download_url_to_file` checks a download: the SHA-256 must
    /// start with the name's hex digits. Then it is read and loaded, strictly, into the architecture
    /// at `imageSize` (with the file's own head), so a corrupt file or one for another
    /// image size stops the run here, naming the file, rather than after other models have trained.
    /// - Throws: `PaperError.invalid` naming the folder or file: no file, two files, a hash
    ///   mismatch, a file that does not load.
    public static func find(in dir: String, architectures: [String], imageSize: Int) throws -> [String: InitialCheckpoint] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw PaperError.invalid("--pretrained \(dir): no such folder")
        }
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: dir).sorted() } catch {
            throw PaperError.invalid("--pretrained \(dir): cannot list the folder (\(error.localizedDescription))")
        }
        var out: [String: InitialCheckpoint] = [:]
        for a in architectures {
            guard let arch = Architecture(rawValue: a) else { throw PaperError.invalid("--model: unknown '\(a)'") }
            let file = try candidate(arch, names: names, dir: dir)
            out[a] = try check(arch, path: dir + "/" + file, imageSize: imageSize)
        }
        return out
    }

    /// The one file of `arch` among `names`.
    static func candidate(_ arch: Architecture, names: [String], dir: String) throws -> String {
        let published = arch.spec.imagenetWeights
        let stems = Set(published.map(\.stem) + [arch.rawValue])
        let found = names.filter { n in PublishedWeights.parse(n).map { stems.contains($0.stem) } ?? false }
        if found.count == 1 { return found[0] }
        let expected = published.map { "\($0.fileName) (\($0.enumName))" }.joined(separator: " or ")
        if found.isEmpty {
            let get = published.first.map { " torchvision saves it there with torchvision.models.\(arch.rawValue)(weights=\"\($0.enumName)\") (docs/PAPER.md)." } ?? ""
            throw PaperError.invalid("--pretrained \(dir): no \(arch.rawValue) checkpoint; expected a file named as torchvision names it, \(expected).\(get)")
        }
        throw PaperError.invalid("--pretrained \(dir): \(found.count) \(arch.rawValue) checkpoints (\(found.joined(separator: ", "))); "
                                 + "keep one in the folder (torchvision's default: \(published.first?.fileName ?? "?"))")
    }

    /// The file's digest against its name, then the file against the architecture.
    static func check(_ arch: Architecture, path: String, imageSize: Int) throws -> InitialCheckpoint {
        let name = (path as NSString).lastPathComponent
        guard let expected = PublishedWeights.parse(name)?.hash else { throw PaperError.invalid("\(path): not named STEM-HASH.pth") }
        let sha: String
        do { sha = try ContentDigest.hex(file: path) } catch { throw PaperError.invalid("\(path): \(error)") }
        guard sha.hasPrefix(expected) else {
            throw PaperError.invalid("\(path): invalid hash value (expected \"\(expected)\", got \"\(sha)\"): its SHA-256 does not start with the "
                                     + "digits of its name, so it is not the file the name promises (truncated or altered); download it again")
        }
        do {
            let ck = try loadModelCheckpoint(arch, path: path)
            if let trained = arch.spec.imageSizeOfWeights?(ck.stateDict), trained != imageSize {
                throw PaperError.invalid("\(path): these \(arch.rawValue) weights are for \(trained)-px inputs (their positional embedding), "
                                         + "and this run trains at \(imageSize) px; use a \(trained)-px profile, or leave \(arch.rawValue) out with --model")
            }
            // With its own head, strictly, as inference loads it; training later swaps the head.
            _ = try fineTuneStart(try makeModel(arch, numClasses: max(ck.numClasses, 1), imageSize: imageSize), from: ck)
        } catch let e as PaperError {
            throw e
        } catch {
            throw PaperError.invalid("--pretrained: \(path) cannot start \(arch.rawValue): \(error)")
        }
        let weights = arch.spec.imagenetWeights.first { $0.fileName == name }?.enumName
        return InitialCheckpoint(path: path, sha256: sha, weights: weights)
    }
}
