"""Inception v3 as IS classifier and FID feature extractor, one forward pass for both.

Weights (`spec`):
- "imagenet": torchvision's Inception_V3_Weights.IMAGENET1K_V1 (the paper's choice), fetched
  once by torchvision into the torch hub cache; refused with a clear message when it cannot be
  had.
- a file path: a state dict for torchvision's `inception_v3` architecture with any number of
  classes (e.g. an Inception fine-tuned on CUB), read with safetensors or
  torch.load(weights_only=True). The class count is read from fc.weight.
- "pytorch-fid" or "pytorch-fid:PATH": the TF-ported FID Inception (1008 classes) from the
  pytorch-fid package (`pip install pytorch-fid`), from its download cache or a local copy of
  pt_inception-2015-12-05-6726825d.pth. Its pool3 features are the ones the field's FID
  numbers use; still not bit-identical to TF's (resize differs).
- "random": seeded random initialisation, only with allow_random_weights; `is_random` is then
  True and every number must be labelled NOT COMPARABLE.

Input: images in [-1, 1] of any size, resized bilinearly to 299x299 (align_corners=False,
antialias=False: 64 and 128 px are upsampled, where antialiasing does nothing). For torchvision
weights they are then normalised with ImageNet mean/std, as torchvision's transform does, and
the network's transform_input maps that back to the [-1, 1] scaling Google's weights expect;
the TF-ported weights take [-1, 1] directly. The original papers used the TF graph, whose
resize and weights differ, so numbers are comparable only with the same extractor.
"""
from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn
from torchvision.models import Inception_V3_Weights, inception_v3

from ..fileio import FileFormatError, cut, load_torch_weights
from ..fileio import sha256_file  # noqa: F401 (part of this module's API)
from ..models.fidelity import IMAGENET_MEAN, IMAGENET_STD, WeightsError

INPUT_SIZE = 299
RESIZE = {"mode": "bilinear", "size": INPUT_SIZE, "align_corners": False, "antialias": False}
RANDOM_LABEL = "NOT COMPARABLE: random weights (no pretrained Inception-v3 for IS/FID)"
PYTORCH_FID_FILE = "pt_inception-2015-12-05-6726825d.pth"


class InceptionOutput(NamedTuple):
    pool: torch.Tensor  # (n, 2048) pool3 features, float32
    logits: torch.Tensor  # (n, num_classes), float32


class InceptionNet(nn.Module):
    """Frozen Inception v3 returning pool3 features and class logits of images in [-1, 1]."""

    def __init__(self, net: nn.Module, identity: dict, imagenet_normalise: bool):
        super().__init__()
        self.fc = net.fc
        net.fc = nn.Identity()
        self.net = net
        self.identity = identity
        self.is_random = bool(identity.get("random"))
        self.num_classes = self.fc.out_features
        self.imagenet_normalise = imagenet_normalise
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "InceptionNet":
        return super().train(False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> InceptionOutput:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected (n, 3, H, W) images, got {tuple(images.shape)}")
        x = images.to(self.mean.device, torch.float32)
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear",
                          align_corners=False, antialias=False)
        if self.imagenet_normalise:
            x = ((x + 1) / 2 - self.mean) / self.std
        pool = torch.flatten(self.net(x), 1)
        return InceptionOutput(pool, self.fc(pool))


def sha256_state(state: dict[str, torch.Tensor]) -> str:
    """Hash of a state dict's names and values (for weights that have no file)."""
    h = hashlib.sha256()
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].detach().to("cpu").contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _read_state_file(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise WeightsError(f"{path}: Inception weights file not found")
    try:
        if path.suffix == ".safetensors":
            state = load_file(str(path))
        else:
            state = load_torch_weights(path)
    except FileFormatError as exc:
        raise WeightsError(f"{exc}; give Inception weights saved with "
                           "torch.save(model.state_dict()) or safetensors") from None
    except Exception as exc:
        raise WeightsError(f"{path}: cannot read Inception weights ({cut(str(exc), 200)}); give a "
                           "state dict saved with torch.save(model.state_dict()) or safetensors"
                           ) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path}: expected a state dict of tensors")
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def _load_strict(net: nn.Module, state: dict, source: str) -> None:
    own = net.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        raise WeightsError(
            f"{source}: not an Inception v3 state dict of the expected architecture "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]}, wrong shapes {wrong[:3]})")
    net.load_state_dict(state)


def _torchvision_net(num_classes: int, aux_logits: bool, transform_input: bool) -> nn.Module:
    return inception_v3(weights=None, num_classes=num_classes, aux_logits=aux_logits,
                        transform_input=transform_input, init_weights=False)


def _drop_aux(net: nn.Module) -> None:
    net.AuxLogits = None  # training-only head
    net.aux_logits = False


LOCAL_FILE_HINT = ("give a local copy with --classifier FILE and --fid-features FILE (an "
                   "inception_v3 state dict, .pth or .safetensors)")


def _imagenet(allow_random_weights: bool) -> InceptionNet:
    weights = Inception_V3_Weights.IMAGENET1K_V1
    name = weights.url.rsplit("/", 1)[-1]
    cached = Path(torch.hub.get_dir()) / "checkpoints" / name
    if allow_random_weights and not cached.is_file():  # random weights were accepted: no download
        raise WeightsError(f"no {name} in {cached.parent} (no download tried: random weights "
                           f"were allowed); for real numbers {LOCAL_FILE_HINT}")
    try:
        state = weights.get_state_dict(progress=True, check_hash=True, weights_only=True)
    except Exception as exc:  # network, cache or hash problems
        raise WeightsError(
            f"could not get torchvision's ImageNet Inception v3 weights ({type(exc).__name__}: "
            f"{exc}). Fetch them on a machine with internet access (torchvision stores "
            f"{name} in {cached.parent}), {LOCAL_FILE_HINT}, or pass --allow-random-weights to "
            "run with random weights (numbers then NOT comparable)") from None
    net = _torchvision_net(1000, True, True)
    _load_strict(net, state, weights.url)
    _drop_aux(net)
    identity = {"kind": "torchvision-imagenet", "weights": "Inception_V3_Weights.IMAGENET1K_V1",
                "source": weights.url, "file": str(cached),
                "sha256": sha256_file(cached) if cached.exists() else sha256_state(state),
                "num_classes": 1000, "transform_input": True, "random": False}
    return InceptionNet(net, identity, imagenet_normalise=True)


def _from_file(path: Path, transform_input: bool) -> InceptionNet:
    state = _read_state_file(path)
    if "fc.weight" not in state:
        raise WeightsError(f"{path}: no fc.weight; expected a torchvision inception_v3 state dict")
    num_classes = int(state["fc.weight"].shape[0])
    aux = any(k.startswith("AuxLogits.") for k in state)
    net = _torchvision_net(num_classes, aux, transform_input)
    _load_strict(net, state, str(path))
    _drop_aux(net)
    identity = {"kind": "torchvision-file", "file": str(path.resolve()), "sha256": sha256_file(path),
                "num_classes": num_classes, "transform_input": transform_input, "random": False}
    return InceptionNet(net, identity, imagenet_normalise=True)


def _pytorch_fid(path: Path | None, allow_random_weights: bool = False) -> InceptionNet:
    try:  # an optional extra (gtgan[fid]): imported on use
        from pytorch_fid import inception as pfi
    except ImportError:
        raise WeightsError("the TF-ported FID Inception needs the pytorch-fid package: "
                           "pip install pytorch-fid (or pip install 'gtgan[fid]')") from None
    if path is None:
        name = pfi.FID_WEIGHTS_URL.rsplit("/", 1)[-1]
        if allow_random_weights and not (Path(torch.hub.get_dir()) / "checkpoints" / name).is_file():
            raise WeightsError(f"no {name} in the torch hub cache (no download tried: random "
                               "weights were allowed); give it as pytorch-fid:/path/to/it")
        try:
            state = torch.hub.load_state_dict_from_url(pfi.FID_WEIGHTS_URL, progress=True,
                                                       weights_only=True)
        except Exception as exc:
            raise WeightsError(
                f"could not get pytorch-fid's Inception weights ({type(exc).__name__}: {exc}); "
                f"download {pfi.FID_WEIGHTS_URL.rsplit('/', 1)[-1]} elsewhere and pass "
                "pytorch-fid:/path/to/it") from None
        path = Path(torch.hub.get_dir()) / "checkpoints" / pfi.FID_WEIGHTS_URL.rsplit("/", 1)[-1]
    else:
        state = _read_state_file(path)
    # The same construction as pytorch_fid.inception.fid_inception_v3, from a local state dict.
    net = pfi._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    net.Mixed_5b = pfi.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = pfi.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = pfi.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = pfi.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = pfi.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = pfi.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = pfi.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = pfi.FIDInceptionE_1(1280)
    net.Mixed_7c = pfi.FIDInceptionE_2(2048)
    _load_strict(net, state, str(path))
    identity = {"kind": "pytorch-fid", "weights": "TF Inception 2015-12-05 ported by pytorch-fid",
                "file": str(path), "sha256": sha256_file(path) if path.exists() else sha256_state(state),
                "num_classes": 1008, "transform_input": False, "random": False}
    return InceptionNet(net, identity, imagenet_normalise=False)


def _random(seed: int) -> InceptionNet:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = inception_v3(weights=None, num_classes=1000, aux_logits=False, transform_input=True,
                           init_weights=True)
    identity = {"kind": "random", "weights": f"random initialisation (torch seed {seed})",
                "sha256": sha256_state(net.state_dict()), "num_classes": 1000,
                "transform_input": True, "random": True, "label": RANDOM_LABEL}
    return InceptionNet(net, identity, imagenet_normalise=True)


def load_inception(spec: str = "imagenet", *, allow_random_weights: bool = False,
                   transform_input: bool = True, random_seed: int = 0,
                   device: str | torch.device = "cpu") -> InceptionNet:
    """Build the Inception for IS/FID from `spec` (see the module docstring).

    allow_random_weights: "random" is accepted only with it, and a spec whose pretrained
    weights cannot be had then falls back to random weights (labelled) instead of failing.
    transform_input: for a state dict file, whether the network maps ImageNet-normalised input
    back to [-1, 1] (True for anything fine-tuned from torchvision's pretrained Inception).
    """
    spec = str(spec)
    if spec == "random":
        if not allow_random_weights:
            raise WeightsError("Inception with random weights was asked for; pass "
                               "--allow-random-weights to accept numbers that are NOT comparable")
        net = _random(random_seed)
    else:
        try:
            if spec == "imagenet":
                net = _imagenet(allow_random_weights)
            elif spec == "pytorch-fid":
                net = _pytorch_fid(None, allow_random_weights)
            elif spec.startswith("pytorch-fid:"):
                net = _pytorch_fid(Path(spec.split(":", 1)[1]).expanduser())
            else:
                net = _from_file(Path(spec).expanduser(), transform_input)
        except WeightsError as exc:
            if not allow_random_weights:
                raise
            warnings.warn(f"{exc}; using RANDOM Inception weights ({RANDOM_LABEL})", stacklevel=2)
            net = _random(random_seed)
            net.identity["requested"] = spec
            net.identity["fallback_reason"] = str(exc)
    return net.to(device)


def describe_inception(identity: dict) -> str:
    """One line naming the network and its weights, for reports."""
    kind = identity.get("kind", "?")
    names = {"torchvision-imagenet": "torchvision ImageNet Inception v3",
             "torchvision-file": f"Inception v3 from {identity.get('file', '?')}",
             "pytorch-fid": "TF-ported FID Inception (pytorch-fid)",
             "random": "RANDOM Inception v3"}
    return f"{names.get(kind, kind)} ({identity.get('num_classes', '?')} classes, sha256 " \
           f"{str(identity.get('sha256', ''))[:12]})"
