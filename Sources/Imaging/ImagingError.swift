import Foundation

/// One error for every way an image can fail to load or save; the message names the file.
public struct ImagingError: Error, CustomStringConvertible, LocalizedError, Equatable {
    public enum Kind: String, Sendable {
        case unreadable      // cannot open or read the file
        case unknownFormat   // neither PNG nor JPEG (e.g. a text file named .png)
        case corrupt         // the decoder rejected the data (truncated, bad CRC, bad Huffman table …)
        case zeroSize        // width or height is zero
        case tooLarge        // pixel count above the decompression-bomb cap
        case unsupported     // a valid file in a variant we do not read (CMYK JPEG, …)
        case invalidArgument // a caller-side problem (bad shape, bad option)
        case writeFailed
    }

    public let kind: Kind
    /// The file (or `<bytes>` / `<name>` for in-memory data).
    public let path: String
    public let reason: String

    public init(_ kind: Kind, path: String, _ reason: String) {
        self.kind = kind
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(path): \(reason)" }
    public var errorDescription: String? { description }
}
