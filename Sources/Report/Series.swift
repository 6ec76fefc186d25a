/// One line of a line chart: points (x[i], y[i]) and, optionally, a confidence band lo[i]…hi[i].
/// Points with a non-finite coordinate are gaps; the band is drawn where lo and hi are finite.
public struct Series: Sendable {
    public var name: String
    public var x: [Double]
    public var y: [Double]
    public var lo: [Double]?
    public var hi: [Double]?

    public init(name: String, x: [Double], y: [Double], lo: [Double]? = nil, hi: [Double]? = nil) {
        self.name = name; self.x = x; self.y = y; self.lo = lo; self.hi = hi
    }
}

/// Namespace of the chart builders; each returns a complete standalone SVG document with its text
/// as `<text>` (drawn by the viewer's font renderer, so it stays sharp and searchable).
public enum Plot {}
