import XCTest
@testable import Sweep

final class ShardSplitTests: XCTestCase {
    /// Every unit in exactly one shard, in plan order, shards contiguous.
    func assertPartition(_ s: ShardSplit, units n: Int, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(s.bounds.first, 0, file: file, line: line)
        XCTAssertEqual(s.bounds.last, n, file: file, line: line)
        XCTAssertEqual(s.bounds, s.bounds.sorted(), file: file, line: line)
        for i in 0..<n { XCTAssertTrue(s.units(ofShard: s.shard(ofUnit: i)).contains(i), "unit \(i)", file: file, line: line) }
    }

    func testSplitIsDeterministicAndAPartition() throws {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            let n = Int.random(in: 0...300, using: &rng)
            let costs = (0..<n).map { _ in Double.random(in: 0...20, using: &rng) }
            let shards = Int.random(in: 1...40, using: &rng)
            let a = try ShardSplit(costs: costs, shards: shards), b = try ShardSplit(costs: costs, shards: shards)
            XCTAssertEqual(a, b)
            XCTAssertEqual(a.shards, shards)
            assertPartition(a, units: n)
            XCTAssertEqual(a.costs.reduce(0, +), costs.reduce(0, +), accuracy: 1e-9)
        }
    }

    /// Every shard's estimated cost is within one unit's cost of the mean share.
    func testSplitIsBalancedByCost() throws {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            let n = Int.random(in: 1...500, using: &rng)
            let costs = (0..<n).map { _ in Double.random(in: 0.1...10, using: &rng) * (Bool.random(using: &rng) ? 1 : 30) }
            let shards = Int.random(in: 1...min(n, 32), using: &rng)
            let s = try ShardSplit(costs: costs, shards: shards)
            let mean = costs.reduce(0, +) / Double(shards)
            let maxUnit = costs.max()!
            for (k, c) in s.costs.enumerated() {
                XCTAssertLessThanOrEqual(abs(c - mean), maxUnit + 1e-9, "shard \(k) of \(shards): cost \(c), mean \(mean), largest unit \(maxUnit)")
            }
        }
    }

    /// A plan whose first half is cheap (ResNet-like) and second half expensive (ViT-like): an
    /// equal-count split gives one shard 8× the other's work; the cost split gives equal work, up
    /// to half a unit at the cut.
    func testCostNotCountDecides() throws {
        let costs = Array(repeating: 1.0, count: 40) + Array(repeating: 8.0, count: 40)
        let s = try ShardSplit(costs: costs, shards: 2)
        XCTAssertEqual(s.costs[0], 180, accuracy: 4)
        XCTAssertEqual(s.costs[1], 180, accuracy: 4)
        XCTAssertEqual(s.units(ofShard: 0).count, 57)
        XCTAssertEqual(s.units(ofShard: 1).count, 23)
    }

    func testMoreShardsThanUnitsLeavesEmptyShards() throws {
        let s = try ShardSplit(costs: [1, 1, 1], shards: 5)
        assertPartition(s, units: 3)
        XCTAssertEqual(s.bounds.count, 6)
        XCTAssertEqual((0..<5).map { s.units(ofShard: $0).count }.reduce(0, +), 3)
        XCTAssertEqual(try ShardSplit(costs: [], shards: 3).bounds, [0, 0, 0, 0])
    }

    func testBadInputsAreRefused() {
        XCTAssertThrowsError(try ShardSplit(costs: [1], shards: 0))
        XCTAssertThrowsError(try ShardSplit(costs: [1, .nan], shards: 2)) { XCTAssertTrue("\($0)".contains("unit 1")) }
        XCTAssertThrowsError(try ShardSplit(costs: [-1], shards: 1))
        for bad in ["", "1", "3/3", "-1/2", "a/b", "1/0", "0/2/3", "2/"] {
            XCTAssertThrowsError(try ShardSplit.parse(bad), bad) { XCTAssertTrue("\($0)".contains("--shard '\(bad)'"), "\($0)") }
        }
        XCTAssertEqual(try ShardSplit.parse("0/1").index, 0)
        XCTAssertEqual(try ShardSplit.parse("3/4").count, 4)
    }

    /// The split of a real plan depends only on the configuration (expanding twice gives the same
    /// units, keys and shards), and the shards' estimates add up to the plan's.
    func testPlanSplitIsDeterministic() throws {
        let fx = try SweepFixture.shared()
        let config = try SweepConfig.read(path: fx.config)
        let a = try Plan.expand(config), b = try Plan.expand(config)
        XCTAssertEqual(a.units, b.units)
        let sa = try ShardSplit(plan: a, shards: 3), sb = try ShardSplit(plan: b, shards: 3)
        XCTAssertEqual(sa, sb)
        assertPartition(sa, units: a.units.count)
        XCTAssertEqual(Set(a.units.map(\.key)).count, a.units.count, "unit keys are unique")
    }

    /// Comparison units (Consist) are charged for recomputing their maps in a shard that did not
    /// compute them; model units keep the plan's estimate.
    func testComparisonUnitsCostTheirRecomputedMaps() throws {
        let fx = try SweepFixture.shared()
        let plan = try Plan.expand(try SweepConfig.read(path: fx.config))
        let costs = ShardSplit.unitCosts(plan)
        let consist = plan.units.filter { $0.kind == .consist }
        XCTAssertEqual(consist.count, 3)
        for u in plan.units where u.kind == .model { XCTAssertEqual(costs[u.index], u.cost) }
        // Two models' forwards and Grad-CAMs of two images cost more than one model's alone.
        let forwardAndCAM = plan.units.first { $0.kind == .model }!.cost
        for u in consist { XCTAssertGreaterThan(costs[u.index], 0.5 * forwardAndCAM, "unit \(u.index)") }
    }

    func testPlanCommandPrintsUnitsAndSplit() throws {
        let fx = try SweepFixture.shared()
        let r = try runCamaudit(["sweep", "--config", fx.config, "--plan", "--shards", "3"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("→ 9 units"), r.stdout)
        let shardLines = r.stdout.split(separator: "\n").filter { $0.range(of: #"^\s+[0-2]\s+\d+…\d+"#, options: .regularExpression) != nil }
        XCTAssertEqual(shardLines.count, 3, r.stdout)
    }
}
