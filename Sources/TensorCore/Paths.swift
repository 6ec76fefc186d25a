/// The folder part of a path, as `NSString.deletingLastPathComponent` defines it ("a/b" → "a",
/// "/a" → "/", "a" → ""). swift-corelibs-foundation's own traps (SIGILL) on any one-character
/// relative path ("0", "x"), a name a user can type for any output; every caller goes through here.
public func parentFolder(_ path: String) -> String {
    var p = Substring(path)
    while p.count > 1, p.hasSuffix("/") { p = p.dropLast() }
    guard let slash = p.lastIndex(of: "/") else { return "" }
    var head = p[..<slash]
    while head.hasSuffix("/") { head = head.dropLast() }
    return head.isEmpty ? "/" : String(head)
}
