import XCTest
import TensorCore
import NN
import Models
import TestSupport

/// Every architecture declares every fact about itself, and each stated number is held against the
/// model it builds.
final class ArchitectureRegistryTests: XCTestCase {
    func testEveryArchitectureDeclaresEveryFactAndItsNumbersHold() throws {
        for arch in Architecture.allCases {
            let spec = arch.spec
            let model = try makeModel(arch, numClasses: 1000)
            let params = model.namedParameters()
            let keys = Set(params.map(\.0))
            // Parameters (not buffers), as torchvision counts them.
            let count = params.filter { $0.1.kind == .parameter }.reduce(0) { $0 + $1.1.value.count }
            XCTAssertEqual(count, spec.cost.parameters, "\(arch.rawValue): parameter count")
            XCTAssertEqual(arch.parameterCount(numClasses: 3),
                           try makeModel(arch, numClasses: 3).namedParameters().filter { $0.1.kind == .parameter }.reduce(0) { $0 + $1.1.value.count },
                           "\(arch.rawValue): parameters with another head")
            let head = try XCTUnwrap(params.first { $0.0 == spec.classifierWeightKey }, "\(arch.rawValue): \(spec.classifierWeightKey)").1
            XCTAssertEqual(head.value.shape, [1000, spec.cost.features], arch.rawValue)
            let macs = try model.multiplyAccumulates(imageSize: 224) / 1e9
            XCTAssertEqual(macs, spec.cost.gmacs224, accuracy: spec.cost.gmacs224 * 0.02, "\(arch.rawValue): GMACs at 224 px, counted \(macs)")
            XCTAssertGreaterThan(spec.cost.activationBytesPerPixel, 0, arch.rawValue)
            // The default CAM layer is a module of the model; each cascade block names parameters.
            var paths: [String] = []
            func walk(_ m: Module) { paths.append(m.path); for (_, c) in m.children { walk(c) } }
            walk(model)
            XCTAssertTrue(paths.contains(spec.defaultCAMLayer), "\(arch.rawValue): \(spec.defaultCAMLayer) is not a module")
            XCTAssertFalse(spec.cascadeBlocks.isEmpty, arch.rawValue)
            for block in spec.cascadeBlocks {
                XCTAssertTrue(block.contains { p in keys.contains { $0.hasPrefix(p) } }, "\(arch.rawValue): cascade block \(block) names no parameter")
            }
            // The initialisation gives every parameter finite values.
            model.initialize(seed: 1)
            XCTAssertTrue(params.allSatisfy { p in (0..<p.1.value.count).allSatisfy { p.1.value.data[$0].isFinite } }, arch.rawValue)
            // The input-size rule and the size a state dict was trained for.
            if let patch = spec.patchSize {
                XCTAssertThrowsError(try arch.checkImageSize(patch * 14 + 1), arch.rawValue)
                XCTAssertThrowsError(try makeModel(arch, numClasses: 3, imageSize: patch * 14 + 1), arch.rawValue)
                let at128 = try makeModel(arch, numClasses: 3, imageSize: 128).stateDict()
                XCTAssertEqual(spec.imageSizeOfWeights?(at128), 128, arch.rawValue)
                XCTAssertNotNil(model.vanishingGradientHint(for: "encoder.layers.encoder_layer_11"), "a block's output has no patch gradient")
                XCTAssertNil(model.vanishingGradientHint(for: spec.defaultCAMLayer))
            } else {
                XCTAssertNoThrow(try arch.checkImageSize(225), arch.rawValue)
                XCTAssertNil(spec.imageSizeOfWeights, arch.rawValue)
            }
        }
    }
}
