import Foundation

/// A decoded input file: a PNG or JPEG image, or one frame of a DICOM file.
public enum DecodedFile: Sendable {
    case image(Image)
    case dicom(DicomSlice)

    public var width: Int {
        switch self { case .image(let i): return i.width; case .dicom(let d): return d.width }
    }
    public var height: Int {
        switch self { case .image(let i): return i.height; case .dicom(let d): return d.height }
    }
}

/// Reading images from files by content (the extension is not trusted: a text file named .png
/// gets a clear "not a PNG or JPEG" error).
///
/// A frame of a multi-frame DICOM file is addressed as `file#frame=K`, K from 1 (as DICOM numbers
/// frames); a path that exists as written is never split, so a file whose name holds `#frame=`
/// still reads as itself.
public enum ImageFile {
    /// Default decompression-bomb cap: 64 megapixels (a 8192×8192 slice).
    public static let defaultMaxPixels = 64 * 1024 * 1024

    /// File extensions treated as images when folders are scanned.
    public static let imageExtensions: Set<String> = ["png", "jpg", "jpeg", "jpe", "jfif", "dcm", "dicom"]

    /// The file and 1-based frame a path addresses: `a.dcm#frame=3` → (`a.dcm`, 3); any other path,
    /// or one that exists as written, → (path, nil).
    public static func frameAddress(_ path: String) -> (file: String, frame: Int?) {
        guard let r = path.range(of: "#frame=", options: .backwards) else { return (path, nil) }
        let digits = path[r.upperBound...]
        guard !digits.isEmpty, digits.count <= 9, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let k = Int(digits),
              !FileManager.default.fileExists(atPath: path) else { return (path, nil) }
        return (String(path[..<r.lowerBound]), k)
    }

    /// `file#frame=K`.
    public static func frameAddress(file: String, frame: Int) -> String { "\(file)#frame=\(frame)" }

    /// Reads and decodes a PNG, JPEG or DICOM file (a DICOM frame as `file#frame=K`).
    public static func readAny(_ path: String, maxPixels: Int? = defaultMaxPixels) throws -> DecodedFile {
        let (file, frame) = frameAddress(path)
        return try decodeAny(try readBytes(file), frame: frame, maxPixels: maxPixels, name: path)
    }

    /// Decodes PNG, JPEG or DICOM bytes, chosen by their signature. `frame` (1-based) picks a frame
    /// of a DICOM file and is refused for other formats; a multi-frame DICOM file needs one.
    public static func decodeAny(_ bytes: [UInt8], frame: Int? = nil, maxPixels: Int? = defaultMaxPixels, name: String = "<bytes>") throws -> DecodedFile {
        guard DICOM.isDICOM(bytes) else {
            if frame != nil { throw ImagingError(.invalidArgument, path: name, "#frame= addresses a frame of a DICOM file; this is not one") }
            return .image(try decode(bytes, maxPixels: maxPixels, name: name))
        }
        if frame == nil {
            let info = try DICOM.info(bytes, maxPixels: maxPixels, name: name)
            if info.frames > 1 {
                throw ImagingError(.invalidArgument, path: name, "multi-frame DICOM (\(info.frames) frames): address one as \(frameAddress(file: name, frame: 1)) … #frame=\(info.frames)")
            }
        }
        return .dicom(try DICOM.decode(bytes, frame: frame ?? 1, maxPixels: maxPixels, name: name))
    }

    /// The inputs one file holds: itself, or `file#frame=K` for each frame of a multi-frame DICOM
    /// file. A file whose header cannot be read stays as it is, so decoding it later names the problem.
    public static func slices(of file: String) -> [String] {
        guard frameAddress(file).frame == nil, DICOM.isDICOM(path: file), let bytes = try? readBytes(file),
              let info = try? DICOM.info(bytes, maxPixels: nil, name: file), info.frames > 1 else { return [file] }
        return (1...info.frames).map { frameAddress(file: file, frame: $0) }
    }

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
        if DICOM.isDICOM(bytes) {
            throw ImagingError(.unsupported, path: name, "a DICOM file, where a PNG or JPEG is expected")
        }
        let head = bytes.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")
        throw ImagingError(.unknownFormat, path: name, "not a PNG or JPEG file, nor DICOM (starts with \(head))")
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
            for f in isDir.boolValue ? listSlices(in: input) : slices(of: input) where seen.insert(f).inserted { out.append(f) }
        }
        return out
    }

    /// `listImages` with each multi-frame DICOM file expanded into its frames (`slices(of:)`).
    public static func listSlices(in folder: String) -> [String] { listImages(in: folder).flatMap(slices(of:)) }

    /// Image files under a folder (recursive, hidden files skipped), sorted by path: files with an
    /// image extension, and DICOM files by their preamble whatever their name (archives often
    /// write slices with no extension).
    public static func listImages(in folder: String) -> [String] {
        let base = URL(fileURLWithPath: folder)
        guard let e = FileManager.default.enumerator(at: base, includingPropertiesForKeys: [.isRegularFileKey],
                                                     options: [.skipsHiddenFiles]) else { return [] }
        var files: [String] = []
        for case let url as URL in e {
            if !imageExtensions.contains(url.pathExtension.lowercased()) {
                guard (try? url.resourceValues(forKeys: [.isRegularFileKey]))?.isRegularFile == true, DICOM.isDICOM(path: url.path) else { continue }
            }
            let rel = String(url.path.dropFirst(base.path.count)).drop(while: { $0 == "/" })
            files.append(folder.hasSuffix("/") ? folder + rel : folder + "/" + rel)
        }
        return files.sorted()
    }
}
