"""Writes Tests/Fixtures/models/<arch>/state_dict_keys.json: torchvision's state_dict() keys, shapes and
dtypes for each architecture with 3 classes, so the Swift tests can check our parameter names and
order without PyTorch. Run by hand: /tmp/tv/bin/python scripts/gen_state_dict_keys.py"""
import json, os
import torchvision

ROOT = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "models")
for arch in ["resnet50", "resnet101", "densenet161", "efficientnet_b0", "vit_b_16"]:
    m = getattr(torchvision.models, arch)(num_classes=3)
    sd = m.state_dict()
    doc = {"fixture_version": 1, "command": "/tmp/tv/bin/python scripts/gen_state_dict_keys.py",
           "torchvision": torchvision.__version__, "arch": arch,
           "keys": [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in sd.items()]}
    os.makedirs(os.path.join(ROOT, arch), exist_ok=True)
    with open(os.path.join(ROOT, arch, "state_dict_keys.json"), "w") as f:
        json.dump(doc, f)
    print(arch, len(sd))
