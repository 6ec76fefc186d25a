import XCTest
import TensorCore
import NN

/// A module's parameters and children are its stored properties, named once: the state dict and
/// the layer paths come from the property names, in declaration order, as PyTorch's attribute
/// assignment registers them.
final class ModuleRegistrationTests: XCTestCase {
    final class Block: Module {
        let positionScale = Parameter(Tensor(zeros: [2]))
        let inProj: Linear
        let runningNorm = BatchNorm2d(2)
        let skip: Linear?
        let width = 2                       // not a module or parameter: not registered
        init(skip: Bool) {
            inProj = Linear(2, 2)
            self.skip = skip ? Linear(2, 2, bias: false) : nil
        }
    }

    func testStoredPropertiesRegisterUnderPyTorchNamesInDeclarationOrder() {
        let b = Block(skip: true)
        b.assignPaths()
        XCTAssertEqual(b.children.map(\.0), ["in_proj", "running_norm", "skip"])
        XCTAssertEqual(b.namedParameters().map(\.0), [
            "position_scale", "in_proj.weight", "in_proj.bias", "running_norm.weight", "running_norm.bias",
            "running_norm.running_mean", "running_norm.running_var", "running_norm.num_batches_tracked", "skip.weight",
        ])
        XCTAssertEqual(b.namedModules().map(\.0), ["", "in_proj", "running_norm", "skip"])
        XCTAssertTrue(b.children[0].1 === b.inProj)
    }

    func testAnAbsentOptionalChildRegistersNothing() {
        XCTAssertEqual(Block(skip: false).children.map(\.0), ["in_proj", "running_norm"])
    }
}
