/// The folder part of a path, as `NSString.deletingLastPathComponent` defines it ("a/b" → "a",
/// "/a" → "/", "a" → "", repeated slashes collapsed). swift-corelibs-foundation's own traps
/// (SIGILL) on any one-character relative path ("0", "x/"), a name a user can type for any output;
/// every caller goes through here.
public func parentFolder(_ path: String) -> String {
    var collapsed = ""
    for c in path where !(c == "/" && collapsed.hasSuffix("/")) { collapsed.append(c) }
    var p = Substring(collapsed)
    if p.count > 1, p.hasSuffix("/") { p = p.dropLast() }
    guard let slash = p.lastIndex(of: "/") else { return "" }
    return slash == p.startIndex ? "/" : String(p[..<slash])
}
