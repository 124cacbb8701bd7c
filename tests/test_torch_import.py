"""CASM's starting point: torchvision-layout ResNet state dicts in hrcam.casm.build_resnet, equal to torch's
forward pass on random weights (the reference ResNets are written here in plain torch.nn, with torchvision's
module names; skipped without torch), and from an .npz export without torch."""

from __future__ import annotations

import numpy as np
import pytest

from hrcam.casm.resnet import build_resnet
from hrcam.casm.torch_import import (
    load_torchvision_state,
    read_state_dict,
    resnet_from_torchvision,
    resnet_layout,
)

MEAN, STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])


def torch_resnet(blocks, widths, stem, bottleneck, num_classes, seed=0):
    """torchvision's ResNet (v1.5: stride on the 3x3 convolution) in plain torch.nn, same module names."""
    import torch
    from torch import nn

    class Basic(nn.Module):
        expansion = 1

        def __init__(self, cin, planes, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = None
            if stride != 1 or cin != planes:
                self.downsample = nn.Sequential(
                    nn.Conv2d(cin, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)
                )

        def forward(self, x):
            y = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
            return self.relu(y + (x if self.downsample is None else self.downsample(x)))

    class Bottleneck(nn.Module):
        expansion = 4

        def __init__(self, cin, planes, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(planes * 4)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = None
            if stride != 1 or cin != planes * 4:
                self.downsample = nn.Sequential(
                    nn.Conv2d(cin, planes * 4, 1, stride, bias=False), nn.BatchNorm2d(planes * 4)
                )

        def forward(self, x):
            y = self.relu(self.bn1(self.conv1(x)))
            y = self.bn3(self.conv3(self.relu(self.bn2(self.conv2(y)))))
            return self.relu(y + (x if self.downsample is None else self.downsample(x)))

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            block = Bottleneck if bottleneck else Basic
            self.conv1 = nn.Conv2d(3, stem, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(stem)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            cin = stem
            for i, (n, w) in enumerate(zip(blocks, widths), start=1):
                mods = []
                for j in range(n):
                    mods.append(block(cin, w, 2 if (j == 0 and i > 1) else 1))
                    cin = w * block.expansion
                setattr(self, f"layer{i}", nn.Sequential(*mods))
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(cin, num_classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            for i in range(1, 5):
                x = getattr(self, f"layer{i}")(x)
            return self.fc(torch.flatten(self.avgpool(x), 1))

    torch.manual_seed(seed)
    net = ResNet()
    with torch.no_grad():  # non-trivial BN statistics, as a trained network has
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    return net.eval()


def _torch_logits(net, images):
    import torch

    x = (images - MEAN) / STD
    with torch.no_grad():
        return net(torch.from_numpy(x.transpose(0, 3, 1, 2).astype(np.float32))).numpy()


def _keras_logits(model, images):
    import keras

    return keras.Model(model.inputs[0], model.get_layer("fc").output)(images.astype(np.float32)).numpy()


CASES = {
    "resnet18-layout": ((2, 2, 2, 2), (8, 16, 24, 32), 8, False, (64, 64, 3)),
    "resnet50-layout": ((1, 2, 1, 1), (4, 8, 8, 16), 8, True, (64, 64, 3)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_equal_to_torch(case, tmp_path):
    torch = pytest.importorskip("torch")
    blocks, widths, stem, bottleneck, shape = CASES[case]
    net = torch_resnet(blocks, widths, stem, bottleneck, num_classes=7)
    path = tmp_path / "model.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}}, path)  # as CASM saves
    model = resnet_from_torchvision(path, shape)
    assert resnet_layout(read_state_dict(path)) == {
        "num_classes": 7,
        "blocks": blocks,
        "widths": widths,
        "stem": stem,
        "bottleneck": bottleneck,
    }
    images = np.random.default_rng(0).uniform(0, 1, (3, *shape))
    want = _torch_logits(net, images)
    np.testing.assert_allclose(_keras_logits(model, images), want, rtol=1e-4, atol=2e-4)


def test_resnet50_equal_to_torch():
    """The torchvision ResNet-50 itself (random weights) at 224x224: CASM's classifier and encoder."""
    pytest.importorskip("torch")
    net = torch_resnet((3, 4, 6, 3), (64, 128, 256, 512), 64, True, num_classes=1000)
    model = resnet_from_torchvision(net.state_dict())
    assert model.count_params() == sum(p.numel() for p in net.parameters()) + sum(
        b.numel() for n, b in net.named_buffers() if not n.endswith("num_batches_tracked")
    )
    images = np.random.default_rng(1).uniform(0, 1, (2, 224, 224, 3))
    logits = _keras_logits(model, images)
    np.testing.assert_allclose(logits, _torch_logits(net, images), rtol=1e-3, atol=1e-3)
    assert (logits.argmax(1) == _torch_logits(net, images).argmax(1)).all()


def test_npz_export_without_torch(tmp_path):
    """An .npz export (one array per key, torch's layout) loads without importing torch."""
    rng = np.random.default_rng(2)
    ref = build_resnet(
        5, (32, 32, 3), blocks=(1, 1, 1, 1), widths=(4, 4, 8, 8), stem=4, preprocessing="imagenet"
    )
    state = {}
    for layer in ref.layers:
        key = layer.name.replace("downsample_", "downsample.")
        key = key if not key.startswith("layer") else ".".join(key.split("_", 2))
        w = [rng.uniform(0.5, 1.5, v.shape).astype(np.float32) for v in layer.weights]
        if not w:
            continue
        if type(layer).__name__ == "BatchNormalization":
            state.update(
                {f"{key}.{n}": a for n, a in zip(("weight", "bias", "running_mean", "running_var"), w)}
            )
            state[f"{key}.num_batches_tracked"] = np.array(3)
        elif type(layer).__name__ == "Dense":
            state[f"{key}.weight"], state[f"{key}.bias"] = w[0].T, w[1]
        else:
            state[f"{key}.weight"] = w[0].transpose(3, 2, 0, 1)
        layer.set_weights(w)
    np.savez(tmp_path / "r.npz", **state)
    model = resnet_from_torchvision(tmp_path / "r.npz", (32, 32, 3))
    for a, b in zip(model.get_weights(), ref.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    state.pop("layer2.0.conv1.weight")
    state["layer9.weight"] = np.zeros(3)
    with pytest.raises(ValueError, match=r"layer2_0_conv1: no \['layer2.0.conv1.weight'\].*layer9.weight"):
        load_torchvision_state(ref, state)
