"""Why a report's numbers cannot be set beside published ones, and what chance is.

A number is comparable only when nothing behind it is random or stood in for a missing
pretrained network: not the networks that score it (a random Inception, a DAMSM whose image
backbone is random or trained from scratch) and not those the generator was trained with (a
random VGG19 in its fidelity loss, a text encoder DAMSM on such a backbone). Every reason is a
label of its own, so a report lists them all; `comparable` is true only without any.
Retrieval and classification numbers are shown with their chance level beside them.
"""
from __future__ import annotations

from typing import Any

from ..data.damsm_folder import resolve_damsm_dir
from ..data.damsm_vocab import read_json
from ..errors import GtganError

RANDOM_VGG_LABEL = ("NOT COMPARABLE: the generator was trained with a RANDOM VGG19 in its "
                    "fidelity loss (loss.vgg_weights=random), not the paper's ImageNet VGG19")
RANDOM_LITE0_LABEL = ("NOT COMPARABLE: the generator was trained with a RANDOM EfficientNet-Lite0 "
                      "in its fidelity loss (loss.lite0_weights=random)")
# How a DAMSM's image backbone was initialised ("weights" in its damsm.json) -> what that means.
_DAMSM_WEIGHTS = {"random": "a RANDOM image backbone",
                  "from scratch": "an image encoder trained from scratch (no ImageNet features)"}
# R-precision's ceiling (real pictures) below this many times chance cannot tell a model that
# follows its captions from one that does not.
CEILING_TIMES_CHANCE = 10.0


def damsm_backbone_label(image_info: dict | None, role: str) -> str | None:
    """The label for a DAMSM of `role` ("R-precision's DAMSM", "the generator's text encoder")
    whose image backbone was random or trained from scratch; None otherwise."""
    what = _DAMSM_WEIGHTS.get(str((image_info or {}).get("weights")))
    return None if what is None else f"NOT COMPARABLE: {role} is a DAMSM with {what}"


def _encoder_image_info(cfg, encoder) -> dict | None:
    """The text encoder's DAMSM image description: from the loaded encoder, else from the
    encoder folder the config names (a training run); None for other kinds or when unreadable."""
    damsm = getattr(encoder, "damsm", None)
    if damsm is not None:
        return damsm.info.get("image")
    enc = getattr(getattr(cfg, "data", None), "encoder", None)
    if enc is None or enc.kind != "damsm" or not enc.name:
        return None
    try:
        return read_json(resolve_damsm_dir(enc.name) / "damsm.json", "DAMSM description").get("image")
    except (GtganError, OSError, AttributeError):
        return None


def training_labels(cfg, encoder=None) -> list[str]:
    """Reasons the generator itself is not the paper's model: random or missing pretrained
    networks in its training (`cfg` is its run config, None when unknown)."""
    labels = []
    loss = getattr(cfg, "loss", None)
    if loss is not None and loss.fidelity and loss.fidelity_features == "vgg19" \
            and loss.vgg_weights == "random":
        labels.append(RANDOM_VGG_LABEL)
    if loss is not None and loss.fidelity and loss.fidelity_features == "efficientnet-lite0" \
            and getattr(loss, "lite0_weights", "") == "random":
        labels.append(RANDOM_LITE0_LABEL)
    label = damsm_backbone_label(_encoder_image_info(cfg, encoder), "the generator's text encoder")
    if label:
        labels.append(label)
    return labels


def merge_labels(*groups) -> list[str]:
    out: list[str] = []
    for group in groups:
        out += [x for x in group if x not in out]
    return out


def r_precision_ceiling_warning(result: dict[str, Any]) -> str | None:
    """A warning when the DAMSM cannot tell real pictures' captions apart much better than
    chance: its R-precision of generated pictures then says little."""
    real, chance = (result.get("real") or {}).get("mean"), result.get("chance")
    if real is None or not chance or real >= CEILING_TIMES_CHANCE * chance:
        return None
    return (f"R-precision's DAMSM ranks the real pictures' own captions first only {real:.3f} of "
            f"the time (chance {chance:.3f}, under {CEILING_TIMES_CHANCE:g}x chance): its "
            "R-precision cannot tell a model that follows captions from one that does not; "
            "train a better DAMSM (docs/text-encoders.md)")


TRAINED_AGAINST_WARNING = (
    "R-precision is scored by the DAMSM the generator was trained to satisfy (loss.damsm_match, "
    "AttnGAN's DAMSM loss; AttnGAN scores it this way too): it is not an independent measure of "
    "how well the pictures follow their captions. The attribute judge's accuracy is; or give "
    "--rp-encoder another DAMSM")


def trained_against_warning(cfg, encoder_identity: dict | None,
                            results: dict[str, dict[str, Any]]) -> str | None:
    """A warning when R-precision's DAMSM is the very one the generator's DAMSM loss used."""
    loss = getattr(cfg, "loss", None)
    if loss is None or not (getattr(loss, "damsm_match", False) and loss.damsm_weight > 0):
        return None
    own = (encoder_identity or {}).get("hash")
    scored = {(res.get("r_precision") or {}).get("damsm_hash") for res in results.values()}
    return TRAINED_AGAINST_WARNING if own is not None and own in scored else None


def report_warnings(results: dict[str, dict[str, Any]]) -> list[str]:
    """Warnings about the numbers themselves (not labels: they do not depend on randomness)."""
    out: list[str] = []
    for res in results.values():
        text = r_precision_ceiling_warning(res.get("r_precision") or {})
        if text and text not in out:
            out.append(text)
    return out
