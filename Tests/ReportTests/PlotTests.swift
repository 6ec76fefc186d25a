import XCTest
@testable import Report

final class PlotTests: XCTestCase {
    // MARK: panels

    /// Two plots with their own axes in one figure: side by side, top-aligned, each whole (its
    /// bars, titles and clip paths kept), the figure as wide as both and as tall as the taller.
    func testSideBySideKeepsEachPanelWhole() throws {
        let a = Plot.bars(title: "Faith", yLabel: "logits", categories: ["all", "c0"],
                          series: [(name: "gradcam", values: [2, 1], lo: [1.5, 0.5], hi: [2.5, 1.5]), (name: "random", values: [1, 0.5], lo: nil, hi: nil)])
        let b = Plot.bars(title: "AUC", yLabel: "probability", categories: ["deletion", "insertion"],
                          series: [(name: "gradcam", values: [0.2, 0.7], lo: nil, hi: nil)])
        let (wa, ha) = try XCTUnwrap(Plot.size(of: a)), (wb, hb) = try XCTUnwrap(Plot.size(of: b))
        let both = Plot.sideBySide([a, b], title: "Faithfulness")
        let doc = try XCTUnwrap(ParsedSVG(both), "well-formed SVG")
        let (w, h) = try XCTUnwrap(Plot.size(of: both))
        XCTAssertEqual(w, wa + wb, accuracy: 0.01)
        XCTAssertEqual(h, max(ha, hb), accuracy: 0.01)
        XCTAssertEqual(doc.count("rect", cls: "bar"), 4 + 2)
        XCTAssertEqual(doc.count("line", cls: "errorbar"), 3 * 2)
        for t in ["Faith", "AUC", "logits", "probability", "deletion"] { XCTAssertTrue(doc.texts.contains(t), t) }
        let nested = doc.all("svg").dropFirst()
        XCTAssertEqual(nested.map { $0.attributes["x"] }, ["0", svgNum(wa)])
        XCTAssertFalse(both.dropFirst(10).contains("<?xml"), "one XML declaration")
    }

    // MARK: lines

    func testLinesDrawOnePathPerSeriesAndOneBandPerCI() throws {
        let svg = Gallery.deletionCurves()
        let doc = try XCTUnwrap(ParsedSVG(svg))
        XCTAssertEqual(doc.count("path", cls: "series"), 5)
        XCTAssertEqual(doc.count("path", cls: "band"), 5)
        XCTAssertEqual(doc.count("line", cls: "reference"), 1)
        XCTAssertEqual(doc.count("text", cls: "legend"), 6, "five series and the reference")
        XCTAssertTrue(doc.texts.contains("Fraction of pixels deleted"))
        XCTAssertTrue(doc.texts.contains("RandomCAM (chance)"))
        // The fixed range 0…1 gives ticks 0, 0.2, …, 1 on the y axis.
        for t in ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"] { XCTAssertTrue(doc.texts.contains(t), "tick \(t)") }
    }

    func testLinesMapValuesToThePlotRectangle() throws {
        // y = 0 must sit on the x axis and y = 1 on the plot's top edge; x spans the axis.
        let svg = Plot.lines(title: "t", xLabel: "x", yLabel: "y", series: [Series(name: "a", x: [0, 1], y: [0, 1])], yRange: 0...1)
        let doc = try XCTUnwrap(ParsedSVG(svg))
        let axes = doc.all("line", cls: "axis")
        XCTAssertEqual(axes.count, 2)
        let xAxis = try XCTUnwrap(axes.first { $0.attributes["y1"] == $0.attributes["y2"] })
        let yAxis = try XCTUnwrap(axes.first { $0.attributes["x1"] == $0.attributes["x2"] })
        let points = pathPoints(try XCTUnwrap(doc.all("path", cls: "series").first?.attributes["d"]))
        XCTAssertEqual(points.count, 2)
        XCTAssertEqual(points[0].0, Double(yAxis.attributes["x1"]!)!, accuracy: 0.01)
        XCTAssertEqual(points[0].1, Double(xAxis.attributes["y1"]!)!, accuracy: 0.01)
        XCTAssertEqual(points[1].0, Double(xAxis.attributes["x2"]!)!, accuracy: 0.01)
        XCTAssertEqual(points[1].1, Double(yAxis.attributes["y1"]!)!, accuracy: 0.01)
    }

    func testLinesSurviveEmptyNaNAndConstantData() throws {
        let cases: [[Series]] = [
            [],
            [Series(name: "empty", x: [], y: [])],
            [Series(name: "not finite", x: [0, 1, 2], y: [.nan, .infinity, .nan], lo: [.nan, .nan, .nan], hi: [1, 2, 3])],
            [Series(name: "constant", x: [1, 1, 1], y: [0.5, 0.5, 0.5])],
            [Series(name: "gap", x: [0, 1, 2, 3, 4], y: [1, .nan, 2, 3, .nan])],
            [Series(name: "extreme", x: [0, 1, 2], y: [-Double.greatestFiniteMagnitude, .greatestFiniteMagnitude, 1e-300])],
        ]
        for series in cases {
            let doc = try XCTUnwrap(ParsedSVG(Plot.lines(title: "edge", xLabel: "x", yLabel: "y", series: series)))
            XCTAssertEqual(doc.count("path", cls: "series"), series.count)
        }
        // The gap series: one path with two runs, the isolated point drawn as a dot.
        let gap = try XCTUnwrap(ParsedSVG(Plot.lines(title: "gap", xLabel: "x", yLabel: "y", series: [cases[4][0]])))
        _ = try XCTUnwrap(ParsedSVG(Plot.bars(title: "extreme", yLabel: "v", categories: ["a", "b"],
                                              series: [(name: "s", values: [1e308, -1e308], lo: nil, hi: nil)])))
        let d = try XCTUnwrap(gap.all("path", cls: "series").first?.attributes["d"])
        XCTAssertEqual(d.filter { $0 == "M" }.count, 2)
        XCTAssertEqual(gap.count("circle", cls: "point"), 1)
    }

    // MARK: distributions

    func testDistributionsDrawABoxAndEveryFiniteValue() throws {
        let groups: [(name: String, values: [Double])] = [("a", [1, 2, 3, 4, 100]), ("b", [0.5, .nan, 0.7]), ("c", [])]
        let doc = try XCTUnwrap(ParsedSVG(Plot.distributions(title: "d", yLabel: "v", groups: groups)))
        XCTAssertEqual(doc.count("rect", cls: "box"), 2, "no box for the empty group")
        XCTAssertEqual(doc.count("line", cls: "median"), 2)
        XCTAssertEqual(doc.count("circle", cls: "point"), 7, "NaN left out")
        XCTAssertTrue(doc.texts.contains("no data"))
        XCTAssertTrue(doc.texts.contains("n = 5") && doc.texts.contains("n = 2") && doc.texts.contains("n = 0"))
    }

    func testBoundedDistributionKeepsItsAxisInsideTheBounds() throws {
        // A 0/1 metric that is 0 everywhere (the pointing game on 2×2 maps) spans 0…1, not −1…1.
        let zeros: [(name: String, values: [Double])] = [("a", Array(repeating: 0, count: 9))]
        let bounded = try XCTUnwrap(ParsedSVG(Plot.distributions(title: "p", yLabel: "v", groups: zeros, reference: ("chance", 0), bounds: 0...1)))
        XCTAssertTrue(bounded.texts.contains("0.0") || bounded.texts.contains("0"), "\(bounded.texts)")
        XCTAssertTrue(bounded.texts.contains("1.0") || bounded.texts.contains("1"), "\(bounded.texts)")
        XCTAssertFalse(bounded.texts.contains { $0.hasPrefix("\u{2212}") }, "no negative tick: \(bounded.texts)")
        let free = try XCTUnwrap(ParsedSVG(Plot.distributions(title: "p", yLabel: "v", groups: zeros, reference: ("chance", 0))))
        XCTAssertTrue(free.texts.contains { $0.hasPrefix("\u{2212}") }, "unbounded, a constant gets a range around it: \(free.texts)")
        // Small shares keep their own scale from 0 (not stretched to 1).
        let shares: [(name: String, values: [Double])] = [("a", [0.01, 0.02, 0.05])]
        let small = try XCTUnwrap(ParsedSVG(Plot.distributions(title: "e", yLabel: "v", groups: shares, bounds: 0...1)))
        XCTAssertFalse(small.texts.contains("1.0") || small.texts.contains("0.5"), "\(small.texts)")
        XCTAssertTrue(small.texts.contains("0.00") || small.texts.contains("0"), "\(small.texts)")
    }

    func testBoxSummaryFollowsNumpyQuantilesAndTukeyWhiskers() throws {
        // numpy.percentile([1, 2, 3, 4, 100], [25, 50, 75]) = 2, 3, 4; 100 lies beyond 4 + 1.5·2.
        let s = try XCTUnwrap(BoxSummary([100, 3, 1, 4, 2]))
        XCTAssertEqual([s.q1, s.median, s.q3], [2, 3, 4])
        XCTAssertEqual(s.lowWhisker, 1)
        XCTAssertEqual(s.highWhisker, 4)
        XCTAssertEqual(quantile([0, 10], 0.3), 3, accuracy: 1e-12)
    }

    func testConstantDistributionAndDeterministicJitter() throws {
        let groups: [(name: String, values: [Double])] = [("flat", Array(repeating: 0.42, count: 12))]
        let a = Plot.distributions(title: "flat", yLabel: "v", groups: groups)
        XCTAssertEqual(a, Plot.distributions(title: "flat", yLabel: "v", groups: groups), "same input, same bytes")
        let doc = try XCTUnwrap(ParsedSVG(a))
        XCTAssertEqual(doc.count("circle", cls: "point"), 12)
        let xs = Set(doc.all("circle", cls: "point").map { $0.attributes["cx"]! })
        XCTAssertGreaterThan(xs.count, 8, "points spread sideways")
        let jitters = (0..<1000).map { jitter(group: 3, index: $0) }
        XCTAssertTrue(jitters.allSatisfy { $0 >= -1 && $0 <= 1 })
        XCTAssertEqual(jitters.reduce(0, +) / 1000, 0, accuracy: 0.1)
    }

    // MARK: heatmap

    func testHeatmapHasOneCellPerValueAndHatchesMissingOnes() throws {
        let svg = Gallery.agreementHeatmap()
        let doc = try XCTUnwrap(ParsedSVG(svg))
        XCTAssertEqual(doc.count("rect", cls: "cell"), 25)
        XCTAssertEqual(doc.count("rect", cls: "na"), 2)
        XCTAssertEqual(doc.texts.filter { $0 == "n/a" }.count, 3, "two cells and the colorbar key")
        XCTAssertTrue(doc.texts.contains("1.00"))
        XCTAssertTrue(doc.texts.contains("Spearman ρ between CAMs"))
        // Ends of the scale take viridis' ends; the diagonal (1.0) is yellow with black text.
        let cells = doc.all("rect", cls: "cell").filter { !($0.attributes["class"] ?? "").contains("na") }
        XCTAssertTrue(cells.contains { $0.attributes["fill"] == "#FDE725" })
        XCTAssertEqual(doc.count("rect", cls: "colorbar"), 1)
    }

    func testAllMissingAndDegenerateHeatmaps() throws {
        let allNil = Plot.heatmap(title: "none", rows: ["a", "b"], columns: ["x", "y", "z"], values: [[nil, nil, nil], [nil]],
                                  range: 0...1, colorbarLabel: "v")
        let doc = try XCTUnwrap(ParsedSVG(allNil))
        XCTAssertEqual(doc.count("rect", cls: "cell"), 6, "short rows padded")
        XCTAssertEqual(doc.count("rect", cls: "na"), 6)
        _ = try XCTUnwrap(ParsedSVG(Plot.heatmap(title: "empty", rows: [], columns: [], values: [], range: 0...0, colorbarLabel: "v")))
        _ = try XCTUnwrap(ParsedSVG(Plot.heatmap(title: "not finite", rows: ["a"], columns: ["b"], values: [[.nan]], range: 0...1, colorbarLabel: "v")))
    }

    func testViridisMatchesMatplotlibAndTextContrast() {
        XCTAssertEqual(Palette.viridisHex(0), "#440154")
        XCTAssertEqual(Palette.viridisHex(0.5), "#21918C")
        XCTAssertEqual(Palette.viridisHex(1), "#FDE725")
        XCTAssertEqual(Palette.viridisHex(.nan), "#440154")
        XCTAssertEqual(Palette.textColor(on: Palette.viridis(0)), "#ffffff")
        XCTAssertEqual(Palette.textColor(on: Palette.viridis(1)), "#000000")
    }

    // MARK: bars

    func testBarsDrawEachPresentValueWithItsErrorBar() throws {
        let doc = try XCTUnwrap(ParsedSVG(Gallery.accuracyBars()))
        XCTAssertEqual(doc.count("rect", cls: "bar"), 8, "two series × five categories, one value missing in each")
        XCTAssertEqual(doc.count("line", cls: "errorbar"), 4 * 3, "stem and two caps per accuracy bar")
        XCTAssertEqual(doc.count("text", cls: "na"), 2)
        XCTAssertEqual(doc.count("line", cls: "reference"), 1)
        XCTAssertTrue(doc.texts.contains("0.0"), "the axis starts at zero")
    }

    func testBarsWithNegativeAndEmptyInput() throws {
        let neg = Plot.bars(title: "Δ", yLabel: "change", categories: ["a", "b"],
                            series: [(name: "s", values: [-0.2, 0.3], lo: nil, hi: nil)])
        let doc = try XCTUnwrap(ParsedSVG(neg))
        XCTAssertEqual(doc.count("line", cls: "zero"), 1)
        XCTAssertEqual(doc.count("rect", cls: "bar"), 2)
        _ = try XCTUnwrap(ParsedSVG(Plot.bars(title: "e", yLabel: "v", categories: [], series: [])))
        _ = try XCTUnwrap(ParsedSVG(Plot.bars(title: "e", yLabel: "v", categories: ["a"], series: [(name: "s", values: [nil], lo: [nil], hi: nil)])))
    }

    // MARK: shared

    func testTextIsEscaped() throws {
        let hostile = "<b>&\"quotes\"</b> 'x' \u{1}"
        let svgs = [
            Plot.lines(title: hostile, xLabel: hostile, yLabel: hostile, series: [Series(name: hostile, x: [0, 1], y: [1, 2])]),
            Plot.distributions(title: hostile, yLabel: hostile, groups: [(hostile, [1, 2])], reference: (hostile, 1)),
            Plot.heatmap(title: hostile, rows: [hostile], columns: [hostile], values: [[0.5]], range: 0...1, colorbarLabel: hostile),
            Plot.bars(title: hostile, yLabel: hostile, categories: [hostile], series: [(name: hostile, values: [1], lo: nil, hi: nil)]),
        ]
        for svg in svgs {
            let doc = try XCTUnwrap(ParsedSVG(svg))
            XCTAssertTrue(doc.texts.contains { $0.contains("<b>&\"quotes\"</b>") }, "text survives escaping")
            XCTAssertEqual(doc.count("b"), 0, "no markup injected")
            XCTAssertTrue(svg.contains("font-family=\"DejaVu Sans, sans-serif\""))
        }
    }

    func testNiceTicks() {
        let t = Ticks.covering([0.03, 0.97])
        XCTAssertEqual(t.values, [0, 0.2, 0.4, 0.6, 0.8, 1.0])
        XCTAssertEqual(t.values.map(t.label), ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"])
        let big = Ticks.covering([13, 987])
        XCTAssertEqual(big.values.first, 0); XCTAssertEqual(big.values.last, 1000)
        XCTAssertEqual(big.label(200), "200")
        let flat = Ticks.covering([5, 5, 5])
        XCTAssertLessThan(flat.lo, 5); XCTAssertGreaterThan(flat.hi, 5)
        XCTAssertEqual(Ticks.covering([]).values, [0, 0.2, 0.4, 0.6, 0.8, 1.0])
        XCTAssertEqual(formatValue(-0.0001, decimals: 2), "0.00")
        XCTAssertEqual(formatValue(-1.5, decimals: 1), "\u{2212}1.5")
        XCTAssertEqual(svgNum(.nan), "0")
    }
}
