import Foundation

/// Reading images from files by content (the extension is not trusted: a text file named .png
/// gets a clear "not a PNG or JPEG" error).
public enum ImageFile {
    /// Default decompression-bomb cap: 64 megapixels (a 8192×8192 slice).
    public static let defaultMaxPixels = 64 * 1024 * 1024

    /// File extensions treated as images when folders are scanned.
    public static let imageExtensions: Set<String> = ["png", "jpg", "jpeg", "jpe", "jfif"]

    /// Reads and decodes a PNG or JPEG file.
    /// - Parameter maxPixels: cap on width × height; nil = no cap.
    public static func read(_ path: String, maxPixels: Int? = defaultMaxPixels) throws -> Image {
        try decode(try readBytes(path), maxPixels: maxPixels, name: path)
    }

    /// Decodes PNG or JPEG bytes, chosen by their signature.
    public static func decode(_ bytes: [UInt8], maxPixels: Int? = defaultMaxPixels, name: String = "<bytes>") throws -> Image {
        if bytes.isEmpty { throw ImagingError(.corrupt, path: name, "empty file") }
        if bytes.count >= 8, Array(bytes[0..<8]) == PNG.signature {
            return try PNG.decode(bytes, maxPixels: maxPixels, name: name)
        }
        if bytes.count >= 3, bytes[0] == 0xFF, bytes[1] == 0xD8, bytes[2] == 0xFF {
            return try JPEG.decode(bytes, maxPixels: maxPixels, name: name)
        }
        let head = bytes.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")
        throw ImagingError(.unknownFormat, path: name, "not a PNG or JPEG file (starts with \(head))")
    }

    /// The whole file as bytes, or an error naming it.
    public static func readBytes(_ path: String) throws -> [UInt8] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw ImagingError(.unreadable, path: path, "no such file")
        }
        guard !isDir.boolValue else { throw ImagingError(.unreadable, path: path, "is a directory, not an image file") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ImagingError(.unreadable, path: path, "cannot read file (permissions?)")
        }
        return [UInt8](data)
    }

    /// Writes bytes to a file atomically (temporary file + rename), or throws naming the file.
    public static func writeBytes(_ bytes: [UInt8], to path: String) throws {
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw ImagingError(.writeFailed, path: path, "cannot write file: \(error.localizedDescription)")
        }
    }

    /// Expands CLI inputs — image files or folders (searched recursively for image extensions) —
    /// into a sorted, de-duplicated list of files. A missing input is an error naming it.
    public static func expandInputs(_ inputs: [String]) throws -> [String] {
        var out: [String] = []
        var seen = Set<String>()
        for input in inputs {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: input, isDirectory: &isDir) else {
                throw ImagingError(.unreadable, path: input, "no such file or folder")
            }
            if isDir.boolValue {
                for f in listImages(in: input) where seen.insert(f).inserted { out.append(f) }
            } else if seen.insert(input).inserted {
                out.append(input)
            }
        }
        return out
    }

    /// Image files under a folder (recursive, hidden files skipped), sorted by path.
    public static func listImages(in folder: String) -> [String] {
        let base = URL(fileURLWithPath: folder)
        guard let e = FileManager.default.enumerator(at: base, includingPropertiesForKeys: [.isRegularFileKey],
                                                     options: [.skipsHiddenFiles]) else { return [] }
        var files: [String] = []
        for case let url as URL in e where imageExtensions.contains(url.pathExtension.lowercased()) {
            let rel = String(url.path.dropFirst(base.path.count)).drop(while: { $0 == "/" })
            files.append(folder.hasSuffix("/") ? folder + rel : folder + "/" + rel)
        }
        return files.sorted()
    }
}
