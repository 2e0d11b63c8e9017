"""Data: the data kinds (`data.kind`, registry.py: CUB and Oxford-102 flowers in the StackGAN
layout, one's own captioned images, built-in synthetic birds, ...) and the text encoders that
turn captions into sentence vectors (see docs/data.md)."""
from __future__ import annotations

from typing import Any

# Every module that registers a data kind or a text encoder kind, imported here once
# (registry.py imports none of them).
from . import coco, cub, flowers, folder, synthetic  # noqa: F401  register their data kinds
from . import damsm as _damsm  # noqa: F401  registers the "damsm" text encoder kind
from .encoders import (BOW_DIM, EncoderError, TextEncoder, build_encoder,
                       check_encoder_compatible, encoder_from_identity)
from ..errors import DataError
from .identity import data_identity
from .loader import EpochSampler, make_loader
from .registry import DataKind, data_kind, data_kinds, detect_kind, known_data_kinds, register_data_kind
from .settle import build_run_encoder, check_widths, dataset_sentences, settle_conditioning

__all__ = ["build_run_encoder", "check_widths", "dataset_sentences", "settle_conditioning", "BOW_DIM", "EncoderError", "TextEncoder", "build_encoder", "check_encoder_compatible",
           "encoder_from_identity", "build_dataset", "check_data_available", "data_identity",
           "EpochSampler", "make_loader", "DataKind", "data_kind", "data_kinds", "detect_kind",
           "known_data_kinds", "register_data_kind"]


def build_dataset(data_cfg: Any, split: str, image_sizes: list[int], train: bool, seed: int,
                  encoder: TextEncoder | None = None):
    """The data set `data_cfg.kind` for `split` ("train"/"test" or data_cfg.train_split /
    test_split); items as in docs/CONTRIBUTING-interfaces.md.

    `train` selects random crops, flips and caption draws (else centre crop, caption 0).
    `seed` drives that per-item randomness with the epoch (`set_epoch`). Pass `encoder` to
    share one already built (e.g. a sentence-transformers model) between splits. Items carry
    the encoder's word features where it has them (a DAMSM).
    """
    dataset, encoder = _build_dataset(data_cfg, split, image_sizes, train, seed, encoder)
    if encoder.has_word_features:
        dataset.word_encoder = encoder
    if train and _check_hard_negatives(data_cfg):
        dataset.hard_negatives = float(data_cfg.hard_negatives)
    return dataset


def _check_hard_negatives(data_cfg: Any) -> bool:
    """Whether data.hard_negatives is on; a DataError if the data kind cannot use it."""
    hard = float(getattr(data_cfg, "hard_negatives", 0.0))
    if hard > 0 and not data_kind(data_cfg.kind).knows_caption_contents:
        able = [k.name for k in data_kinds().values() if k.knows_caption_contents]
        raise DataError(f"data.hard_negatives = {hard:g}: data.kind {data_cfg.kind!r} cannot "
                        "tell which pictures contradict a caption (only "
                        f"{', '.join(repr(n) for n in able)} can); set data.hard_negatives=0")
    return hard > 0


def _build_dataset(data_cfg: Any, split: str, image_sizes: list[int], train: bool, seed: int,
                   encoder: TextEncoder | None) -> tuple[Any, TextEncoder]:
    kind = data_kind(data_cfg.kind)
    # char-cnn-rnn looks its vectors up under a StackGAN-layout root; no other kind has them
    encoder = encoder or build_encoder(data_cfg.encoder,
                                       data_root=data_cfg.root if kind.layout else None)
    return kind.build(data_cfg, _split_name(data_cfg, split), encoder, image_sizes, train,
                      seed), encoder


def check_data_available(data_cfg: Any) -> None:
    """The data a run will read is there (folders, split files, listed files, a prepared
    folder's manifest), checked without decoding anything or encoding any caption: a run
    does this before its expensive set-up."""
    data_kind(data_cfg.kind).check(data_cfg, _split_name(data_cfg, "train"))
    _check_hard_negatives(data_cfg)


def _split_name(data_cfg: Any, split: str) -> str:
    if split == "train":
        return data_cfg.train_split or "train"
    if split == "test":
        return data_cfg.test_split or "test"
    return split
