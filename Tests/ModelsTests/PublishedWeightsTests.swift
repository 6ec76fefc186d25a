import XCTest
import Models

/// torchvision's published ImageNet files, declared once per architecture, and the name rule of
/// torch.hub (`HASH_REGEX = -([a-f0-9]*)\.`, "the first eight or more digits" of the SHA-256).
final class PublishedWeightsTests: XCTestCase {
    func testEveryArchitectureDeclaresTorchvisionsFiles() {
        for arch in Architecture.allCases {
            let w = arch.spec.imagenetWeights
            XCTAssertFalse(w.isEmpty, "\(arch.rawValue): no published ImageNet file declared")
            for p in w {
                XCTAssertNotNil(PublishedWeights.parse(p.fileName), "\(arch.rawValue): \(p.fileName) is not STEM-HASH.pth")
                XCTAssertEqual(p.hashPrefix.count, 8, p.fileName)
                XCTAssertTrue(p.stem.hasPrefix(arch.rawValue), "\(p.fileName): a stem of \(arch.rawValue)")
                XCTAssertTrue(p.enumName.hasPrefix("IMAGENET1K_V"), p.enumName)
            }
            XCTAssertEqual(Set(w.map(\.fileName)).count, w.count, "\(arch.rawValue): a file listed twice")
        }
        // The study's code: resnet50(weights="IMAGENET1K_V2"), listed first.
        XCTAssertEqual(Architecture.resnet50.spec.imagenetWeights.first, PublishedWeights("IMAGENET1K_V2", "resnet50-11ad3fa6.pth"))
        XCTAssertEqual(Architecture.resnet50.spec.imagenetWeights.last, PublishedWeights("IMAGENET1K_V1", "resnet50-0676ba61.pth"))
        XCTAssertEqual(Architecture.densenet161.spec.imagenetWeights.map(\.fileName), ["densenet161-8d451a50.pth"])
        XCTAssertEqual(Architecture.efficientnet_b0.spec.imagenetWeights.first?.stem, "efficientnet_b0_rwightman")
        XCTAssertEqual(Architecture.vit_b_16.spec.imagenetWeights.map(\.fileName), ["vit_b_16-c867db91.pth"])
    }

    func testNamesAreReadAsTorchHubReadsThem() {
        XCTAssertEqual(PublishedWeights.parse("resnet50-11ad3fa6.pth")?.stem, "resnet50")
        XCTAssertEqual(PublishedWeights.parse("resnet50-11ad3fa6.pth")?.hash, "11ad3fa6")
        XCTAssertEqual(PublishedWeights.parse("efficientnet_b0_rwightman-7f5810bc.pth")?.stem, "efficientnet_b0_rwightman")
        XCTAssertEqual(PublishedWeights.parse("vit_b_16-c867db91ffffffff.pth")?.hash, "c867db91ffffffff", "eight or more digits")
        for bad in ["resnet50-11ad3fa.pth", "resnet50-11AD3FA6.pth", "resnet50-11ad3fa6.pth.partial", "resnet50.pth", "-11ad3fa6.pth",
                    "resnet50-11ad3fa6.pt", "resnet50-11ad3fa6x.pth", "resnet50-finetuned.pth"] {
            XCTAssertNil(PublishedWeights.parse(bad), bad)
        }
    }
}
