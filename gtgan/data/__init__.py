"""Data: CUB in the StackGAN layout, one's own captioned images, built-in synthetic birds, and
the text encoders that turn captions into sentence vectors (see docs/data.md)."""
from __future__ import annotations

from typing import Any

from ..errors import DataError
from . import damsm as _damsm  # noqa: F401  registers the "damsm" text encoder kind
from .cub import CubDataset, check_split
from .cub_files import char_cnn_rnn_path
from .encoders import (BOW_DIM, EncoderError, TextEncoder, build_encoder,
                       check_encoder_compatible, encoder_from_identity)
from .folder import FolderDataset, check_prepared
from .identity import data_identity
from .loader import EpochSampler, make_loader
from .settle import build_run_encoder, check_widths, dataset_sentences, settle_conditioning
from .synthetic import SyntheticBirds

__all__ = ["build_run_encoder", "check_widths", "dataset_sentences", "settle_conditioning", "BOW_DIM", "EncoderError", "TextEncoder", "build_encoder", "check_encoder_compatible",
           "encoder_from_identity", "build_dataset", "check_data_available", "data_identity",
           "EpochSampler", "make_loader"]


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
    return dataset


def _build_dataset(data_cfg: Any, split: str, image_sizes: list[int], train: bool, seed: int,
                   encoder: TextEncoder | None) -> tuple[Any, TextEncoder]:
    kind = data_cfg.kind
    if kind == "cub":
        encoder = encoder or build_encoder(data_cfg.encoder, data_root=data_cfg.root)
        return CubDataset(data_cfg.root, _split_name(data_cfg, split), encoder, image_sizes,
                          train, seed, skip_missing=data_cfg.skip_missing), encoder
    if kind == "folder":
        encoder = encoder or build_encoder(data_cfg.encoder)
        return FolderDataset(data_cfg.root, _split_name(data_cfg, split), encoder, image_sizes,
                             train, seed, skip_missing=data_cfg.skip_missing), encoder
    if kind == "synthetic":
        encoder = encoder or build_encoder(data_cfg.encoder)
        return SyntheticBirds(_split_name(data_cfg, split), data_cfg.synthetic_count,
                              data_cfg.synthetic_seed, encoder, image_sizes, train, seed), encoder
    raise DataError(f"data.kind = {kind!r}: must be cub, folder or synthetic")


def check_data_available(data_cfg: Any) -> None:
    """The data a run will read is there (folders, split files, listed files, a prepared
    folder's manifest), checked without decoding anything or encoding any caption: a run
    does this before its expensive set-up."""
    if data_cfg.kind == "cub":
        info = check_split(data_cfg.root, _split_name(data_cfg, "train"), data_cfg.skip_missing)
        if data_cfg.encoder.kind == "char-cnn-rnn":
            char_cnn_rnn_path(info.birds, info.split)
    elif data_cfg.kind == "folder":
        check_prepared(data_cfg.root, _split_name(data_cfg, "train"))
    elif data_cfg.kind != "synthetic":
        raise DataError(f"data.kind = {data_cfg.kind!r}: must be cub, folder or synthetic")


def _split_name(data_cfg: Any, split: str) -> str:
    if split == "train":
        return data_cfg.train_split or "train"
    if split == "test":
        return data_cfg.test_split or "test"
    return split
