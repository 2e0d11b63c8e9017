"""VGG19 feature extractor for the paper's fidelity loss (docs/paper.md#fidelity-loss)."""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn
from torchvision.models import VGG19_Weights, vgg19

from ..errors import GtganError
from ..fileio import FileFormatError, cut, follow_umask, load_torch_weights

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VGG19_CONV5_4 = 35  # features[:35] ends at conv5_4, before its ReLU


class WeightsError(GtganError, RuntimeError):
    """Pretrained weights could not be found or do not fit; the message says what to do."""


_NO_IMAGENET = (
    "could not get torchvision's ImageNet VGG19 weights ({}). Download them on a machine with "
    "internet access (they go to ~/.cache/torch/hub/checkpoints), pass a local file with "
    "loss.vgg_weights=/path/vgg19.pth, or use loss.vgg_weights=random (results are then not "
    "comparable)")


def ensure_vgg19_weights(weights: str) -> None:
    """Make sure `VGGFeatures(weights)` will find its weights, without building the network:
    torchvision's ImageNet file in the torch hub cache (downloaded there now if missing, as
    torchvision would), or a local file that exists. Run before any expensive set-up."""
    if weights == "random":
        return
    if weights != "imagenet":
        if not Path(weights).expanduser().is_file():
            raise WeightsError(f"{weights}: VGG19 weights file not found (loss.vgg_weights)")
        return
    url = VGG19_Weights.IMAGENET1K_V1.url
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name
    if cached.is_file():
        return
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        digest = re.search(r"-([a-f0-9]+)\.", cached.name)  # torchvision checks it the same way
        torch.hub.download_url_to_file(url, str(cached), digest and digest.group(1), progress=False)
        follow_umask(cached)  # torch.hub downloads through a 0600 temporary file
    except Exception as exc:  # no network, no space, no permission
        raise WeightsError(_NO_IMAGENET.format(f"{type(exc).__name__}: {exc}")) from None


class VGGFeatures(nn.Module):
    """Frozen `vgg19().features[:35]` on images in [-1, 1].

    weights: "imagenet" (torchvision's IMAGENET1K_V1, downloaded once into the torch cache),
    a path to a vgg19 state dict (.pth with full or features-only keys, or .safetensors), or
    "random", which must be asked for explicitly; `is_random` then stays True so that every
    number depending on it can say so.
    """

    def __init__(self, weights: str = "imagenet"):
        super().__init__()
        self.weights_source = weights
        self.is_random = weights == "random"
        if weights == "imagenet":
            try:
                model = vgg19(weights=VGG19_Weights.IMAGENET1K_V1)
            except Exception as exc:  # network or cache problems
                raise WeightsError(_NO_IMAGENET.format(exc)) from None
        else:
            model = vgg19(weights=None)
            if not self.is_random:
                _load_vgg_file(model, Path(weights))
            else:
                warnings.warn("VGG19 fidelity features use RANDOM weights: fidelity losses are not "
                              "the paper's", stacklevel=2)
        self.features = model.features[:VGG19_CONV5_4]
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "VGGFeatures":
        return super().train(False)  # always frozen, whatever the parent does

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = ((images + 1) / 2 - self.mean.to(images.dtype)) / self.std.to(images.dtype)
        return self.features(x)


class PixelFeatures(nn.Module):
    """Images averaged down to `size` x `size`: the fidelity L1 on colours and layout alone.

    The demo's stand-in for VGG19 (loss.fidelity_features=pixels): it needs no pretrained
    weights and costs nothing, and on flat-coloured synthetic birds the colour layout is what
    the fidelity term should enforce. Not the paper's choice; documented as a deviation."""

    is_random = False

    def __init__(self, size: int = 16):
        super().__init__()
        self.size = size
        self.weights_source = f"pixels@{size}"

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.adaptive_avg_pool2d(images, self.size)


def _load_vgg_file(model: nn.Module, path: Path) -> None:
    if not path.exists():
        raise WeightsError(f"{path}: VGG19 weights file not found")
    try:
        if path.suffix == ".safetensors":
            state = load_file(str(path))
        else:
            state = load_torch_weights(path)
    except FileFormatError as exc:
        raise WeightsError(f"{exc}; give VGG19 weights saved as a state dict") from None
    except Exception as exc:
        raise WeightsError(f"{path}: cannot read VGG19 weights ({cut(str(exc), 200)})") from None
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: expected a state dict, found {type(state).__name__}")
    if not any(k.startswith("features.") for k in state):
        state = {f"features.{k}": v for k, v in state.items()}
    wanted = {k for k in model.state_dict() if k.startswith("features.")}
    state = {k: v for k, v in state.items() if k.startswith("features.")}
    missing = sorted(wanted - set(state))
    if missing:
        raise WeightsError(f"{path}: not a VGG19 state dict; missing {missing[:4]}")
    try:
        model.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise WeightsError(f"{path}: VGG19 weights do not fit: {exc}") from None
