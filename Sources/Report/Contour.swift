/// Outlines of a binary mask by marching squares.
///
/// The contour runs between pixel centres (pixel (x, y) has its centre at (x + 0.5, y + 0.5)),
/// through the midpoints of the edges joining an inside and an outside centre: for a disc of
/// radius r it lies within ~0.7 px of the true circle. The mask is padded with outside pixels, so
/// every loop closes, also for lesions touching the border.
enum Contour {
    /// Closed loops of (x, y) points in pixel coordinates of a `width`×`height` mask (non-zero =
    /// inside), one per connected boundary.
    static func trace(mask: [UInt8], width: Int, height: Int) -> [[(Double, Double)]] {
        func inside(_ x: Int, _ y: Int) -> Bool { x >= 0 && y >= 0 && x < width && y < height && mask[y * width + x] != 0 }
        // Points are keyed in half-pixel units relative to the centre of pixel (-1, -1), so that
        // segments meet exactly at shared edge midpoints.
        struct P: Hashable { var x: Int, y: Int }
        var next: [P: [P]] = [:]
        func segment(_ a: P, _ b: P) { next[a, default: []].append(b); next[b, default: []].append(a) }
        for j in -1..<height {
            for i in -1..<width {
                // Corners of the cell between centres (i, j) … (i+1, j+1), clockwise from top-left.
                let tl = inside(i, j), tr = inside(i + 1, j), br = inside(i + 1, j + 1), bl = inside(i, j + 1)
                let code = (tl ? 8 : 0) | (tr ? 4 : 0) | (br ? 2 : 0) | (bl ? 1 : 0)
                let bx = 2 * (i + 1), by = 2 * (j + 1)
                let top = P(x: bx + 1, y: by), right = P(x: bx + 2, y: by + 1)
                let bottom = P(x: bx + 1, y: by + 2), left = P(x: bx, y: by + 1)
                switch code {
                case 0, 15: break
                case 1, 14: segment(left, bottom)
                case 2, 13: segment(bottom, right)
                case 3, 12: segment(left, right)
                case 4, 11: segment(top, right)
                case 6, 9: segment(top, bottom)
                case 7, 8: segment(left, top)
                // Saddles: diagonal corners inside are treated as connected (8-connectivity of the mask).
                case 5: segment(left, top); segment(bottom, right)
                case 10: segment(top, right); segment(left, bottom)
                default: break
                }
            }
        }
        var loops: [[(Double, Double)]] = []
        var visited = Set<P>()
        for start in next.keys.sorted(by: { ($0.y, $0.x) < ($1.y, $1.x) }) where !visited.contains(start) {
            var loop: [P] = [start]
            visited.insert(start)
            var prev = start, cur = next[start]![0]
            while cur != start && !visited.contains(cur) {
                visited.insert(cur)
                loop.append(cur)
                let options = next[cur]!.filter { $0 != prev }
                prev = cur
                guard let n = options.first(where: { !visited.contains($0) }) ?? options.first else { break }
                cur = n
            }
            // Back to pixel coordinates: half-pixel units from centre (-1, -1) → (x + 0.5) convention.
            loops.append(loop.map { (Double($0.x) / 2 - 0.5, Double($0.y) / 2 - 0.5) })
        }
        return loops
    }
}
