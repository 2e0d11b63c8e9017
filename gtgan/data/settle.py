"""The one point where the settings that follow from the text encoder are decided.

Widths (`data.encoder.dim`, `model.text_dim`): a width the user did not state takes the
encoder's output size; a stated one that differs is an error naming both.

`model.text_scale` = 0 means "derive it": text_scale = sqrt(d) / (mean L2 norm of the training
captions' sentence vectors), so that the vector reaching conditioning augmentation has
entries of about unit size whatever the encoder. One rule for every encoder: 32 for the unit-norm
1024-d bag of words, about 3.5 for a 128-d DAMSM of norm 3.2. A stated value wins. The derived
value is written into the config, which the run saves, so a resumed run or a saved model reads
the number, never the rule.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable

import torch

from ..config import ConfigError, RunConfig
from .encoders import TextEncoder, build_encoder

WIDTH_KEYS = ("data.encoder.dim", "model.text_dim")


def is_stated(key: str, value: int, stated: set[str] | None) -> bool:
    """Whether the user gave `key`: it is in `stated`, or (stated None) it is not 0."""
    return bool(value) if stated is None else key in stated


def build_run_encoder(cfg: RunConfig, stated: set[str] | None = None) -> TextEncoder:
    """The run's text encoder; a width the user did not state does not constrain it."""
    spec = cfg.data.encoder
    if not is_stated("data.encoder.dim", spec.dim, stated):
        spec = dataclasses.replace(spec, dim=0)
    return build_encoder(spec, data_root=cfg.data.root or None)


def check_widths(cfg: RunConfig, encoder: TextEncoder, stated: set[str] | None = None) -> None:
    """Raise ConfigError when a stated width differs from the encoder's, or the model or loss
    reads what the encoder does not give (word features, a DAMSM); nothing is changed."""
    what = f"{encoder.kind} {encoder.identity.get('name')!r}"
    if cfg.model.word_attention and not encoder.has_word_features:
        raise ConfigError(f"model.word_attention = true needs a text encoder with word features "
                          f"(data.encoder.kind=damsm); the {what} encoder has none")
    if cfg.loss.damsm_match and cfg.loss.damsm_weight > 0 and encoder.kind != "damsm":
        raise ConfigError(f"loss.damsm_match = true needs a DAMSM text encoder "
                          f"(data.encoder.kind=damsm, its full folder); the encoder is {what}")
    values = {"data.encoder.dim": cfg.data.encoder.dim, "model.text_dim": cfg.model.text_dim}
    for key, value in values.items():
        if is_stated(key, value, stated) and value != encoder.dim:
            raise ConfigError(f"{key} = {value} but the text encoder {encoder.kind} "
                              f"{encoder.identity.get('name')!r} gives {encoder.dim}-d vectors; leave "
                              f"{key} out (it follows the encoder) or set it to {encoder.dim}")


def mean_norm(vectors: torch.Tensor) -> float:
    return float(vectors.float().norm(dim=1).mean()) if len(vectors) else 0.0


def derive_text_scale(dim: int, norm: float) -> float:
    """sqrt(dim) / norm, rounded to 4 significant digits (a number a person can read back)."""
    if not norm > 0 or not math.isfinite(norm):
        raise ConfigError(f"model.text_scale = 0 (derive it) needs sentence vectors of non-zero "
                          f"norm; the training captions' mean norm is {norm}: state model.text_scale")
    value = math.sqrt(dim) / norm
    return float(f"{value:.4g}")


def settle_conditioning(cfg: RunConfig, encoder: TextEncoder, stated: set[str] | None = None,
                        sentences: Callable[[], torch.Tensor] | None = None) -> list[str]:
    """Decide, in `cfg` (changed in place), every setting that follows from `encoder`: the
    widths and model.text_scale (see the module). `sentences()` gives the training captions'
    sentence vectors (n, d); it is called only when text_scale is derived and the encoder is
    not unit-norm. Returns one line per decided setting, for the run's log."""
    check_widths(cfg, encoder, stated)
    notes = []
    opened = [k for k, v in (("data.encoder.dim", cfg.data.encoder.dim),
                             ("model.text_dim", cfg.model.text_dim))
              if not is_stated(k, v, stated) and v != encoder.dim]
    cfg.data.encoder.dim = cfg.model.text_dim = encoder.dim
    what = f"{encoder.kind} {encoder.identity.get('name')!r}"
    if opened:
        notes.append(f"{' and '.join(opened)} = {encoder.dim}, the output size of the text "
                     f"encoder ({what})")
    if cfg.model.text_scale == 0:
        if encoder.unit_norm:
            norm, source = 1.0, "unit-norm vectors"
        elif sentences is None and encoder.recorded_norm:
            norm, source = encoder.recorded_norm, "the norm recorded with the encoder"
        else:
            if sentences is None:
                raise ConfigError("model.text_scale = 0 (derive it) needs the training captions' "
                                  f"sentence vectors for the {what} encoder")
            norm, source = mean_norm(sentences()), "the training captions' mean norm"
        cfg.model.text_scale = derive_text_scale(encoder.dim, norm)
        notes.append(f"model.text_scale = {cfg.model.text_scale:g} = sqrt({encoder.dim}) / "
                     f"{norm:.4g} ({source}, {what})")
    cfg.validate()
    return notes


def dataset_sentences(dataset) -> torch.Tensor:
    """Every caption's sentence vector of a data set, (n, d)."""
    return torch.cat([dataset.embeddings(i).float() for i in range(len(dataset))])
